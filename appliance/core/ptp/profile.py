"""What this node tells the PTP domain about itself, pure: clock quality by sync state, priority2 by
designated order (and the preemption policy), and ptp4l's synchronization-uncertain flag.

Clock quality (the values ptp4l announces when this node is grandmaster; IEEE 1588-2019 7.6.2.5
clockClass / Table 4, 7.6.2.6 clockAccuracy / Table 5, timeSource / Table 6). The values are
those of ITU-T G.8275.1 (T-GM 6, T-BC holdover 135/165, default 248) and of the OCP data-centre PTP
profile (class 6 with clockAccuracy 0x21 and offsetScaledLogVariance 0x4E5D for a clock traceable to
a PRTC-A class reference), with one deliberate difference: OCP and G.8275.1 give a grandmaster in
holdover class 7 and a free-running one class 52, but the control nodes are grandmaster *and*
follower candidates, and ptp4l never lets a clock of class <= 127 be a slave (bmc.c: it goes
PASSIVE). So classes <= 127 are used only while the node is locked to its own primary reference:

  | node sync state | its time rests on                       | class | accuracy | variance | timeSource |
  |-----------------|-----------------------------------------|-------|----------|----------|------------|
  | locked          | own primary reference (GNSS/PPS, sim)   |   6   | 0x21     | 0x4E5D   | GNSS/OTHER |
  | locked          | PTP, grandmaster class 6 or 7           |  135  | 0xFE     | 0xFFFF   | INT. OSC.  |
  | locked          | PTP, grandmaster class 135 or 140-165   |  165  | 0xFE     | 0xFFFF   | INT. OSC.  |
  | holdover        | traceable time, bound <= holdover spec  |  135  | 0xFE     | 0xFFFF   | INT. OSC.  |
  | holdover        | traceable time, bound beyond the spec   |  165  | 0xFE     | 0xFFFF   | INT. OSC.  |
  | anything else   | nothing traceable (air-gapped free run) |  248  | 0xFE     | 0xFFFF   | INT. OSC.  |

A follower advertises the class it would have as grandmaster at that moment (its time is the
grandmaster's), never better than the class of an appliance grandmaster it follows (6, 135, 165 or
248): the BMCA cannot flap between them. Following a grandmaster in holdover within specification
(135), it advertises the class that grandmaster drops to next (165), not its equal: a follower
learns its grandmaster's new class only a poll and a tick after the grandmaster announces it, and
for that moment a follower still at 135 would beat a grandmaster at 165 and take over (the
simulated week, appliance.sim.cluster, showed the flap: the old grandmaster relocked to its own
follower and its holdover restarted every few hours). At 165 it ties, and priority2 keeps the order. Accuracy
and variance depend on the class only, so nodes of equal class compare equal up to priority2, and
the designated order decides (OCP profile 6.15: priority1 equal and unused, priority2 orders).

Priority2 and preemption (revertive after synchronization, "wait to restore"):
  * designated node #i advertises ``priority2_base + i``; nodes outside the designated list 255;
  * a node starts (and restarts ptp4l) at STANDBY_PRIORITY2 (255) and listens for ``listen_s``;
  * if it then follows a grandmaster that advertises a designated priority2 (a running domain), it
    is *rejoining*: it keeps 255 until it has been locked to that grandmaster for
    ``wait_to_restore_s``, and only then takes its designated priority2 back, preempting a lower
    designated grandmaster *with the grandmaster's own time*: no time step reaches the followers;
  * otherwise (it is alone, or every node is starting) it takes its designated priority2 at once;
  * a node whose clock is faulty advertises 255 so that it is never preferred.

Accuracy and variance (the columns above are what a node says when nothing better is known): a
grandmaster in its designated phase derives clockAccuracy from its current error bound (Table 5,
never better than the bound) and offsetScaledLogVariance from its measured stability, in every
healthy state, so a downstream ptp4l can tell a node 200 ns from the truth from one 2 ms away.
Every other node advertises them unknown (0xFE / 0xFFFF): equal classes then compare equal up to
priority2, and the designated order decides, as above; a grandmaster never loses to a follower on
accuracy, whose bound lags its own. A node in its designated phase that would preempt the
grandmaster it follows advertises that grandmaster's accuracy and variance, so that priority2
decides between them.

A standby grandmaster (listening or rejoining, priority2 255) advertises them unknown too. When a
grandmaster gives way (the vote demoted it), each follower hears only it for a moment and every
one of them becomes grandmaster until they hear each other's announces. Accuracy and variance come
before priority2 and the clock identity in the BMCA, so with its own bound in them the one whose
bound happened to be the smallest at that instant won (bounds differ by which peer answered last),
not the designated order; a rejoining node that stays grandmaster for ``listen_s`` takes its
designated priority2, and the others, still rejoining at 255, could no longer take the place from
it. Unknown while standby, the rejoining grandmasters tie up to the clock identity, as the module
says above; the one left takes its designated priority2, and its bound with it, after ``listen_s``.

A node the control nodes' vote demoted advertises clockClass 248, priority2 255 and
priority1 DEMOTED_PRIORITY1 (255, the others keep the equal configured value): priority1 comes
before everything else in the BMCA, so it loses to every other node whatever their phase. With
priority2 alone it would tie with nodes that are rejoining (255 too) in a free-running domain
(everyone 248), the clock identity would decide, and a wrong grandmaster could stay in place for a
whole wait-to-restore while the rejoining nodes lock to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from ..clock.states import SyncState
from .datasets import (
    FREQ_TRACEABLE,
    PTP_TIMESCALE,
    TIME_TRACEABLE,
    UTC_OFF_VALID,
    ClockQuality,
    GrandmasterSettingsNp,
)
from .states import PtpState

CLASS_PRIMARY_LOCKED = 6  # synchronized to a primary reference (PRTC), never a slave
CLASS_HOLDOVER_IN_SPEC = 135  # G.8275.1 T-BC in holdover within specification
CLASS_HOLDOVER_OUT_OF_SPEC = 165  # G.8275.1 T-BC in holdover beyond specification
CLASS_DEFAULT = 248  # default / free-running: nothing traceable to offer
TRACEABLE_UPSTREAM = frozenset({6, 7, 135})
DEGRADED_UPSTREAM = frozenset({140, 150, 160, 165})

ACCURACY_UNKNOWN = 0xFE
VARIANCE_PRTC_A = 0x4E5D  # OCP DC profile: PTPVAR 1.144e-15 s^2 (TDEV 30 ns)
VARIANCE_UNKNOWN = 0xFFFF

TIME_SOURCE_GNSS = 0x20
TIME_SOURCE_PTP = 0x40
TIME_SOURCE_OTHER = 0x90
TIME_SOURCE_INTERNAL_OSCILLATOR = 0xA0

# Sync states in which a grandmaster's bound means something for its quality.
HEALTHY_FOR_QUALITY = frozenset({SyncState.LOCKED, SyncState.HOLDOVER, SyncState.FREERUN})

STANDBY_PRIORITY2 = 255
DEMOTED_PRIORITY1 = 255  # a demoted node: behind every other node in the BMCA (module docstring)


@dataclass(frozen=True)
class ProfileConfig:
    utc_offset_s: int = 37
    ptp_timescale: bool = True  # hardware timestamping: the PHC keeps TAI; software: CLOCK_REALTIME (UTC)
    primary_is_gnss: bool = False  # ts2phc configured: the primary reference is a GNSS receiver
    holdover_spec_ns: float = 1400.0


@dataclass(frozen=True)
class NodeSync:
    """The node's sync state as the discipline reports it, and what its time rests on."""

    state: SyncState
    source: str | None  # "primary" | "ptp" | None: the reference in use, or the one lost (holdover)
    upstream_class: int | None  # the grandmaster's clockClass while following / when last followed
    error_bound_s: float
    demoted: bool = False  # the control nodes' vote found this node outside the majority
    stability_s: float | None = None  # the offsets' jitter while locked (a TDEV-like figure), if known


@dataclass(frozen=True)
class Role:
    """Where the node stands in the domain, for its clock quality (see the module docstring)."""

    grandmaster: bool = True  # it is, or could become, the one whose quality the domain sees
    match: ClockQuality | None = None  # a grandmaster's quality to equal (preempting in the designated order)


# IEEE 1588-2019 Table 5: clockAccuracy codes by the time accuracy they promise (seconds).
ACCURACY_CODES = (
    (25e-9, 0x20),
    (100e-9, 0x21),
    (250e-9, 0x22),
    (1e-6, 0x23),
    (2.5e-6, 0x24),
    (10e-6, 0x25),
    (25e-6, 0x26),
    (100e-6, 0x27),
    (250e-6, 0x28),
    (1e-3, 0x29),
    (2.5e-3, 0x2A),
    (10e-3, 0x2B),
    (25e-3, 0x2C),
    (100e-3, 0x2D),
    (250e-3, 0x2E),
    (1.0, 0x2F),
    (10.0, 0x30),
)
ACCURACY_BEYOND_10S = 0x31


def accuracy_code(bound_s: float) -> int:
    """The best clockAccuracy a clock within ``bound_s`` of true time may claim (never better)."""
    for limit_s, code in ACCURACY_CODES:
        if bound_s <= limit_s:
            return code
    return ACCURACY_BEYOND_10S


def variance_code(stability_s: float | None) -> int:
    """offsetScaledLogVariance (IEEE 1588-2019 7.6.3.3): 256 log2(PTP variance) + 0x8000, the
    variance taken as the square of the measured stability; unknown without one."""
    if stability_s is None or not stability_s > 0:
        return VARIANCE_UNKNOWN
    return max(0, min(0xFFFE, round(0x8000 + 256 * math.log2(stability_s * stability_s))))


def clock_class(sync: NodeSync, cfg: ProfileConfig) -> tuple[int, str]:
    """(clockClass, why) for this node now."""
    st = sync.state
    if sync.demoted:
        return CLASS_DEFAULT, "demoted by the control nodes' vote: nothing to offer as grandmaster"
    traceable_ptp = sync.source == "ptp" and sync.upstream_class in TRACEABLE_UPSTREAM
    degraded_ptp = sync.source == "ptp" and sync.upstream_class in DEGRADED_UPSTREAM
    if st is SyncState.LOCKED:
        if sync.source == "primary":
            return CLASS_PRIMARY_LOCKED, "locked to its own primary reference"
        if traceable_ptp and sync.upstream_class == CLASS_HOLDOVER_IN_SPEC:
            return CLASS_HOLDOVER_OUT_OF_SPEC, "following a grandmaster in holdover: one class below it"
        if traceable_ptp:
            return CLASS_HOLDOVER_IN_SPEC, "following a grandmaster traceable to a primary reference"
        if degraded_ptp:
            return CLASS_HOLDOVER_OUT_OF_SPEC, "following a grandmaster in holdover beyond specification"
        return CLASS_DEFAULT, "following a grandmaster with no traceable time"
    if st is SyncState.HOLDOVER and (sync.source == "primary" or traceable_ptp or degraded_ptp):
        if not degraded_ptp and sync.error_bound_s * 1e9 <= cfg.holdover_spec_ns:
            return CLASS_HOLDOVER_IN_SPEC, "holdover within specification"
        return CLASS_HOLDOVER_OUT_OF_SPEC, "holdover beyond specification"
    if st is SyncState.FREERUN:
        return CLASS_DEFAULT, "free-running: nothing traceable"
    return CLASS_DEFAULT, f"sync state {st.value}: nothing traceable"


def grandmaster_settings(sync: NodeSync, cfg: ProfileConfig, role: Role = Role()) -> tuple[GrandmasterSettingsNp, str]:
    """The GRANDMASTER_SETTINGS_NP the appliance sets in ptp4l for this sync state, and why."""
    cls, why = clock_class(sync, cfg)
    source = TIME_SOURCE_INTERNAL_OSCILLATOR
    if cls == CLASS_PRIMARY_LOCKED:
        source = TIME_SOURCE_GNSS if cfg.primary_is_gnss else TIME_SOURCE_OTHER
    if role.match is not None and role.match.clock_class == cls:
        quality = ClockQuality(cls, role.match.clock_accuracy, role.match.offset_scaled_log_variance)
    elif role.grandmaster and sync.state in HEALTHY_FOR_QUALITY and not sync.demoted:
        default_variance = VARIANCE_PRTC_A if cls == CLASS_PRIMARY_LOCKED else VARIANCE_UNKNOWN
        variance = variance_code(sync.stability_s) if sync.stability_s else default_variance
        quality = ClockQuality(cls, accuracy_code(sync.error_bound_s), variance)
    else:
        quality = ClockQuality(cls, ACCURACY_UNKNOWN, VARIANCE_UNKNOWN)
    flags = PTP_TIMESCALE if cfg.ptp_timescale else 0
    if cls in (CLASS_PRIMARY_LOCKED, CLASS_HOLDOVER_IN_SPEC):
        flags |= TIME_TRACEABLE | FREQ_TRACEABLE | UTC_OFF_VALID
    return GrandmasterSettingsNp(quality, cfg.utc_offset_s, flags, source), why


def role(
    ptp_state: PtpState, phase: Phase, designated: int, gm_priority2: int | None, gm_quality: ClockQuality | None
) -> Role:
    """Where a node stands for its clock quality: grandmaster in its designated phase (its quality
    is the domain's); a follower in its designated phase that would preempt the grandmaster it
    follows (equal that grandmaster's quality, priority2 decides); anything else, a standby
    grandmaster included (unknown quality: see the module docstring)."""
    if ptp_state is PtpState.GRANDMASTER:
        return Role(grandmaster=phase is Phase.DESIGNATED)
    if (
        ptp_state is PtpState.FOLLOWING
        and phase is Phase.DESIGNATED
        and gm_priority2 is not None
        and gm_quality is not None
        and gm_priority2 > designated
    ):
        return Role(grandmaster=False, match=gm_quality)
    return Role(grandmaster=False)


def sync_uncertain(sync_state: SyncState, ptp_state: PtpState) -> bool:
    """ptp4l's SYNCHRONIZATION_UNCERTAIN_NP. With free_running, ptp4l reports its port SLAVE (servo
    locked) only while this is false, UNCALIBRATED otherwise; as grandmaster it announces the
    synchronizationUncertain flag while this is true. False when the appliance's discipline has
    locked to the grandmaster it follows, or when this node is grandmaster in a healthy state."""
    if ptp_state is PtpState.FOLLOWING:
        return sync_state is not SyncState.LOCKED
    if ptp_state is PtpState.GRANDMASTER:
        return sync_state not in (SyncState.LOCKED, SyncState.HOLDOVER, SyncState.FREERUN)
    return True


class Phase(Enum):
    LISTEN = "listen"  # ptp4l (re)started: standby priority2 while finding out who is there
    REJOIN = "rejoin"  # a grandmaster runs the domain: follow it before taking our place back
    DESIGNATED = "designated"  # advertising the designated priority2


def _since(since_s: float | None, now_s: float) -> float:
    """When a condition that holds now began: ``since_s``, or now if it was not holding (a start at
    0.0 s is a start, not "not holding")."""
    return now_s if since_s is None else since_s


class Priority2Policy:
    """Priority2 over time (see the module docstring). Feed ``update`` once per poll."""

    def __init__(self, designated_index: int | None, base: int, listen_s: float, wait_to_restore_s: float):
        self.designated = STANDBY_PRIORITY2 if designated_index is None else min(254, base + designated_index)
        self.listen_s = listen_s
        self.wait_to_restore_s = wait_to_restore_s
        self.phase = Phase.LISTEN
        self._since_s: float | None = None
        self._locked_since_s: float | None = None
        self._gm_since_s: float | None = None
        self._gm_seen_s: float | None = None  # when a designated grandmaster was first followed
        self.reason = "starting: standby until the domain is known"

    def restart(self) -> None:
        """ptp4l (re)started: it came up with the standby priority2 of the rendered file."""
        self.phase = Phase.LISTEN
        self._since_s = None
        self._locked_since_s = None
        self._gm_since_s = None
        self._gm_seen_s = None
        self.reason = "ptp4l started: standby until the domain is known"

    def update(
        self, now_s: float, ptp_state: PtpState, gm_priority2: int | None, sync_state: SyncState, demoted: bool = False
    ) -> int:
        if self._since_s is None:
            self._since_s = now_s
        designated_gm = (
            ptp_state is PtpState.FOLLOWING and gm_priority2 is not None and gm_priority2 != STANDBY_PRIORITY2
        )
        if designated_gm and self._gm_seen_s is None:
            self._gm_seen_s = now_s
        elif not designated_gm:
            self._gm_seen_s = None
        if demoted:
            # Back from a demotion the node rejoins: it follows for wait_to_restore_s first.
            if self.phase is not Phase.REJOIN or self._locked_since_s is not None:
                self.phase, self._locked_since_s, self._gm_since_s = Phase.REJOIN, None, None
                self.reason = (
                    f"demoted by the control nodes' vote: rejoins, following for "
                    f"{self.wait_to_restore_s:g} s before its designated place"
                )
        elif self.phase is Phase.LISTEN and now_s - self._since_s >= self.listen_s:
            # A grandmaster is "running" only if it was there when this node began to listen: one
            # that appeared within the window started with this node (a site power cut), and then
            # the designated order decides at once.
            running = (
                designated_gm
                and gm_priority2 is not None
                and self._gm_seen_s is not None
                and (self._gm_seen_s - self._since_s <= self.listen_s / 2 or gm_priority2 < self.designated)
            )
            if running:
                self.phase = Phase.REJOIN
                self.reason = (
                    f"rejoining: following the running grandmaster (priority2 {gm_priority2}) "
                    f"until locked for {self.wait_to_restore_s:g} s"
                )
            elif designated_gm:
                self.phase = Phase.DESIGNATED
                self.reason = (
                    "the grandmaster started with this node, which is designated before it: designated priority2"
                )
            else:
                self.phase = Phase.DESIGNATED
                self.reason = "no running grandmaster found: designated priority2"
        elif self.phase is Phase.REJOIN:
            locked = ptp_state is PtpState.FOLLOWING and sync_state is SyncState.LOCKED
            locked_since_s = self._locked_since_s = _since(self._locked_since_s, now_s) if locked else None
            alone = ptp_state is PtpState.GRANDMASTER
            gm_since_s = self._gm_since_s = _since(self._gm_since_s, now_s) if alone else None
            if locked_since_s is not None and now_s - locked_since_s >= self.wait_to_restore_s:
                self.phase = Phase.DESIGNATED
                self.reason = f"locked to the grandmaster for {self.wait_to_restore_s:g} s: designated priority2"
            elif gm_since_s is not None and now_s - gm_since_s >= self.listen_s:
                self.phase = Phase.DESIGNATED
                self.reason = "grandmaster with nobody better: designated priority2"
        if sync_state is SyncState.FAULT:
            return STANDBY_PRIORITY2
        return self.designated if self.phase is Phase.DESIGNATED else STANDBY_PRIORITY2
