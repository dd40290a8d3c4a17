"""What goes into one tick of the node and what comes out of it (appliance.core.node).

Everything here is immutable. Instants are passed in: ``monotonic_s`` (the node's time axis for
the discipline, the model and the vote) and ``wall_ns`` (CLOCK_REALTIME, which the kernel stamps
packets with, at the moment the tick's results are installed). Units and signs as in
appliance.core.units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .clock.discipline import DisciplineConfig
from .clock.states import SyncState
from .clock.timemap import TimeMap
from .cluster.crosscheck import ClusterView
from .cluster.vote import VoteConfig
from .holdover.fit import FitResult
from .holdover.learn import RefitRequest
from .holdover.series import SampleError
from .ntp.answer import ServerState
from .ntp.clockfilter import PeerEstimate


@dataclass(frozen=True)
class RefIds:
    """The reference IDs a stratum-1 answer carries, by what the time rests on (RFC 5905 7.3)."""

    primary: bytes  # locked to its own primary reference (a GNSS/PPS input, or the simulated one)
    ptp: bytes = b"PTP\x00"  # locked to a PTP grandmaster
    holdover: bytes = b"HOLD"
    freerun: bytes = b"XO\x00\x00"  # free-running: the oscillator class actually in use


@dataclass(frozen=True)
class NodeConfig:
    name: str
    discipline: DisciplineConfig
    interval_s: float
    refids: RefIds
    max_error_bound_s: float = 0.1
    slew_ppb: float = 83_333_333.0  # served time absorbs corrections at this rate
    precision_log2: int = -20
    tai_offset_ns: int = 0  # the clock keeps TAI: clock - this = UTC
    vote: VoteConfig = VoteConfig(1)
    crosscheck: bool = False  # vote with the peers (needs peers)
    peers: tuple[str, ...] = ()
    realign: bool = True  # step onto the cluster when demoted (False where linuxptp brings it back)
    sim_reference: bool = False  # a simulated primary reference exists (status says available / lost)
    persist_every_s: float = 600.0  # save the learned model this often once it exists
    # Nothing vouches for the clock at start (no bootstrap record, no last-known-good of this boot):
    # it claims stratum 1 only once a reference has locked it (appliance.core.bootstrap.state).
    bootstrapped: bool = True
    bootstrap_command: str = "appliance bootstrap --config FILE --apply"
    not_before_ns: int = 0  # the last-known-good served time: never serve earlier (0: none)
    # How long the advertised dispersion rate is extrapolated over (a chord over a convex bound is
    # above it within this horizon), in ticks.
    dispersion_horizon_ticks: float = 2.0


@dataclass(frozen=True)
class ClockReading:
    """One measurement of the clock against the system clock: offset_ns = clock - system at
    system_ns, in the clock's own timescale (TAI for a PHC that keeps it)."""

    offset_ns: int
    system_ns: int
    method: str
    delay_ns: int = 0


@dataclass(frozen=True)
class Notice:
    """Something the shell saw that belongs in the node's events (a hot-plug, a failed write)."""

    time_s: float
    kind: str  # "hotplug" | "clock"
    text: str
    level: str = "warning"


@dataclass(frozen=True)
class TickInputs:
    monotonic_s: float
    wall_ns: int
    reading: ClockReading | None  # None: the clock could not be read
    reading_error: str | None = None
    primary_offset_ns: float | None = None  # clock - its own primary reference (sim, ts2phc)
    ptp_offset_ns: float | None = None  # ptp4l's offsetFromMaster: its PTP clock - grandmaster's
    ptp_measures_system: bool = False  # software timestamping: ptp4l's PTP clock is CLOCK_REALTIME
    # The grandmaster's own error bound where the shell knows it; None: the node takes it from the
    # control nodes' answers (appliance.core.node.grandmaster_bound_s).
    ptp_grandmaster_bound_s: float | None = None
    ptp_grandmaster: str | None = None  # which grandmaster the PTP offset is against (clock identity)
    ptp_steers_clock: bool = False  # ptp4l or phc2sys steers the clock: the node only watches
    temperature_c: float | None = None
    peers: Mapping[str, PeerEstimate | None] | None = None  # clock domain (local clock - peer)
    upstream: Mapping[str, PeerEstimate | None] | None = None  # reference.ntp servers, clock domain
    refit: tuple[RefitRequest, FitResult | SampleError] | None = None  # a finished fit
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class Event:
    """For logs and status: ``kind`` sync | crosscheck | clock | hotplug."""

    time_s: float
    kind: str
    level: str  # "info" | "warning" | "error"
    text: str
    record: Mapping[str, Any] = field(default_factory=dict)  # what status lists


@dataclass(frozen=True)
class PtpAdvice:
    """What the PTP side must tell ptp4l about this node (appliance.linuxptp.manager.update_sync)."""

    state: SyncState
    error_bound_s: float
    source: str | None
    demoted: bool
    stability_s: float | None = None  # the offsets' jitter while locked (for the advertised variance)


@dataclass(frozen=True)
class Snapshot:
    """The node's state for status, replaced whole every tick and never changed after."""

    state: SyncState
    healthy: bool
    error_bound_s: float | None
    freq_correction_ppb: float
    reading: ClockReading | None
    temperature_c: float | None
    offset_ns: float | None
    reference: str | None  # simulated reference: "available" | "lost"; None: none configured
    reference_source: str | None
    reference_suspect: bool  # the reference's offsets are outside the guard: not followed
    served_monotonic: bool
    unsynchronized_reason: str | None  # why replies say leap 3 (None while the node serves stratum 1)
    served_correction_ns: int
    served_bound_s: float
    events: tuple[Mapping[str, Any], ...]
    cluster: ClusterView
    tempcomp: Mapping[str, Any] | None
    eligible: bool
    demoted: bool
    bootstrapped: bool = True  # False: nothing vouched for the clock yet (not bootstrapped)
    upstream: Mapping[str, Any] | None = None  # the upstream servers' vote (reference.ntp), or None

    @property
    def crosscheck(self) -> dict[str, Any]:
        return self.cluster.status(self.eligible)

    @property
    def peers(self) -> dict[str, dict[str, Any]]:
        return self.cluster.peer_rows() if self.cluster.enabled else {}


@dataclass(frozen=True)
class TickActions:
    """Everything the shell must do after a tick, in this order: step, frequency, shift the peers'
    samples, publish the map and the server state, tell the PTP side, persist, start the fit."""

    timemap: TimeMap
    serve: ServerState
    snapshot: Snapshot
    ptp: PtpAdvice
    step_ns: int = 0
    freq_correction_ppb: float | None = None
    peer_shift_ns: int = 0
    eligible_changed: bool = False
    persist: Mapping[str, Any] | None = None  # the learned model's state to save
    refit: RefitRequest | None = None  # run request.run() off the tick and hand the result back
    events: tuple[Event, ...] = ()
