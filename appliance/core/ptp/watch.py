"""What the appliance makes of ptp4l, poll by poll, pure: PtpWatch takes each poll's data sets (portDS,
TIME_STATUS_NP, parentDS, currentDS) with the poll's ``now_s`` and decides what the shell must do:
the node PTP state event (states.py), which offset samples count and which are handed out, the
clockClass of the grandmaster it follows, and the settings wanted in ptp4l (priority1, priority2,
GRANDMASTER_SETTINGS_NP, SYNCHRONIZATION_UNCERTAIN_NP) with why. Nothing here reads a clock: every
time comes in as an argument (seconds of one monotonic clock). The shell (linuxptp/manager.py)
does the management I/O, the logging and the locking, and reports back what it could set.

Samples. TIME_STATUS_NP.master_offset is ptp4l's offsetFromMaster (local PTP clock - grandmaster's,
the appliance's sign convention); each new ingress_time is one new measurement. After ptp4l starts
following a grandmaster (or another one), its offset means nothing until it has measured the path
delay: samples are ignored for ``settle_s``. A sample older than ``stale_s`` is not handed out, and
a follower that has had no fresh sample (and is past its settling) has lost sync.

Settings are wanted values; each is set once and again only when it changes or after ptp4l
restarted from its rendered file (``ptp4l_started`` forgets what was applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..clock.states import SyncState
from . import watch_status
from .datasets import (
    CurrentDataSet,
    GrandmasterSettingsNp,
    ParentDataSet,
    PortDataSet,
    PortState,
    TimeStatusNp,
)
from .profile import (
    DEMOTED_PRIORITY1,
    STANDBY_PRIORITY2,
    NodeSync,
    Phase,
    Priority2Policy,
    ProfileConfig,
    Role,
    grandmaster_settings,
    role,
    sync_uncertain,
)
from .states import PtpEvent, PtpNodeMachine, PtpState, classify

PRIMARY_FRESH_S = 2.0  # a ts2phc offset older than this is not handed out (it pulses once a second)
_FOLLOWING_PORT = (PortState.UNCALIBRATED, PortState.SLAVE)


@dataclass(frozen=True)
class WatchTiming:
    """How long a sample stays fresh and how long a new follower's samples are ignored."""

    stale_s: float
    settle_s: float

    @classmethod
    def for_intervals(
        cls, log_sync_interval: int, log_min_delay_req_interval: int, poll_interval_s: float
    ) -> WatchTiming:
        sync_interval_s = 2.0**log_sync_interval
        # No sync measurement for this long while following = the grandmaster is gone.
        stale_s = max(4 * sync_interval_s, 3 * poll_interval_s)
        # ptp4l's offset needs a path delay (tsproc): two delay-request intervals and one sync.
        settle_s = 2 * 2.0**log_min_delay_req_interval + sync_interval_s
        return cls(stale_s=stale_s, settle_s=settle_s)


@dataclass(frozen=True)
class StateChange:
    """The node PTP state moved (for the log and the events)."""

    old: PtpState
    new: PtpState
    event: PtpEvent
    role: str


@dataclass(frozen=True)
class PhaseChange:
    """The priority2 policy moved to another phase."""

    old: Phase
    new: Phase
    reason: str


@dataclass(frozen=True)
class Setting:
    """One value to set in ptp4l: ``key`` priority1 | priority2 | grandmaster_settings |
    sync_uncertain; ``text`` says what and why, for the log."""

    key: str
    value: Any
    text: str


@dataclass(frozen=True)
class PollActions:
    """What one poll asks of the shell: log the changes, then set ``settings`` in order (each one
    reported back with ``applied`` once ptp4l took it)."""

    state_change: StateChange | None
    phase_change: PhaseChange | None
    settings: tuple[Setting, ...]


class PtpWatch:
    """The node's view of ptp4l and what it wants ptp4l to say. Not thread-safe: the shell locks."""

    def __init__(self, timing: WatchTiming, priority2: Priority2Policy, profile: ProfileConfig, priority1: int) -> None:
        self.timing = timing
        self.priority2 = priority2
        self.profile = profile
        self.priority1 = priority1
        self.machine = PtpNodeMachine()
        # the latest poll's data sets
        self.port_ds: PortDataSet | None = None
        self.time_status: TimeStatusNp | None = None
        self.parent_ds: ParentDataSet | None = None
        self.current_ds: CurrentDataSet | None = None
        self.upstream_class: int | None = None  # the followed grandmaster's clockClass, kept after it is gone
        self._follow_since_s: float | None = None
        self._follow_gm: bytes | None = None
        self._last_ingress: int | None = None
        self._last_sample: tuple[float, float] | None = None  # (now_s, offset ns)
        self._new_samples: list[float] = []
        self._primary: tuple[float, float] | None = None  # ts2phc: (now_s, offset ns)
        # what the node wants ptp4l to say, and what ptp4l last took
        self.sync = NodeSync(SyncState.STARTING, None, None, 16.0)
        self.want_gm: GrandmasterSettingsNp | None = None
        self.want_gm_why = ""
        self.applied_settings: dict[str, Any] = {}
        self._restarted = False

    @property
    def state(self) -> PtpState:
        return self.machine.state

    # -- the discipline's side ------------------------------------------------------------------
    def update_sync(
        self,
        state: SyncState,
        error_bound_s: float,
        source: str | None,
        demoted: bool = False,
        stability_s: float | None = None,
    ) -> None:
        """The node's sync decision; the grandmaster settings wanted follow from it."""
        self.sync = NodeSync(state, source, self.upstream_class, error_bound_s, demoted, stability_s)
        self.want_gm, self.want_gm_why = grandmaster_settings(self.sync, self.profile, self._role())

    def _role(self) -> Role:
        """Where the node stands for its clock quality (appliance.core.ptp.profile.role)."""
        state, parent = self.machine.state, self.parent_ds
        gm_p2, gm_quality = (parent.gm_priority2, parent.gm_quality) if parent is not None else (None, None)
        return role(state, self.priority2.phase, self.priority2.designated, gm_p2, gm_quality)

    def take_offset_ns(self, now_s: float) -> float | None:
        """The mean of the samples since the last call; the latest again if none is new yet but it is
        fresh; None when not following."""
        if self.machine.state is not PtpState.FOLLOWING or self._last_sample is None:
            self._new_samples.clear()
            return None
        if self._new_samples:
            value = sum(self._new_samples) / len(self._new_samples)
            self._new_samples.clear()
            return value
        t, off = self._last_sample
        return off if now_s - t <= self.timing.stale_s else None

    def primary_sample(self, now_s: float, offset_ns: float) -> None:
        """One ts2phc offset (PHC - the GNSS/PPS input)."""
        self._primary = (now_s, offset_ns)

    def take_primary_offset_ns(self, now_s: float) -> float | None:
        """The latest ts2phc offset once, when fresh."""
        if self._primary is None:
            return None
        t, off = self._primary
        self._primary = None
        return off if now_s - t <= PRIMARY_FRESH_S else None

    # -- ptp4l's side ---------------------------------------------------------------------------
    def ptp4l_started(self) -> None:
        """ptp4l (re)started from its file: every setting must be set again, old samples are void,
        and the next poll restarts the priority2 policy."""
        self.applied_settings.clear()
        self._last_ingress = None
        self._last_sample = None
        self._new_samples.clear()
        self._restarted = True

    def ptp4l_stopped(self, failed: bool) -> StateChange | None:
        """ptp4l exited (the supervisor restarts it) or, ``failed``, the supervisor gave up."""
        return self._feed(PtpEvent.FAILED if failed else classify(None, False))

    def poll(
        self, now_s: float, port: PortDataSet, time_status: TimeStatusNp, parent: ParentDataSet, current: CurrentDataSet
    ) -> PollActions:
        """One poll's answers -> what the shell must log and set."""
        self.port_ds, self.time_status, self.parent_ds, self.current_ds = port, time_status, parent, current
        fresh = self._take_sample(now_s, port, time_status, parent)
        sync = self.sync
        change = self._feed(classify(port.port_state, fresh))
        state = self.machine.state
        if state is PtpState.FOLLOWING:
            self.upstream_class = parent.gm_quality.clock_class
        return self._decide(now_s, state, parent, sync, change)

    @property
    def following_gm(self) -> bytes | None:
        """The grandmaster identity followed now (None when the port does not follow)."""
        return self._follow_gm

    def applied(self, setting: Setting) -> None:
        """ptp4l took ``setting``: it is not asked for again until it changes or ptp4l restarts."""
        self.applied_settings[setting.key] = setting.value

    def _take_sample(self, now_s: float, port: PortDataSet, ts: TimeStatusNp, parent: ParentDataSet) -> bool:
        """Accept the sample if it is new and the follower has settled; True while sync is fresh."""
        following_port = port.port_state in _FOLLOWING_PORT
        if not following_port:
            self._follow_since_s = self._follow_gm = None
        elif self._follow_gm != parent.gm_identity:
            self._follow_since_s, self._follow_gm = now_s, parent.gm_identity
            self._last_sample = None
            self._new_samples.clear()
        since = self._follow_since_s
        settled = since is not None and now_s - since >= self.timing.settle_s
        if settled and ts.ingress_time_ns and ts.ingress_time_ns != self._last_ingress:
            self._last_sample = (now_s, float(ts.master_offset_ns))
            self._new_samples.append(float(ts.master_offset_ns))
        self._last_ingress = ts.ingress_time_ns
        recent = self._last_sample is not None and now_s - self._last_sample[0] <= self.timing.stale_s
        settling = since is not None and now_s - since <= self.timing.settle_s + self.timing.stale_s
        return recent or settling

    def _feed(self, event: PtpEvent) -> StateChange | None:
        change = self.machine.feed(event)
        if change is None:
            return None
        old, new, ev = change
        return StateChange(old, new, ev, self.machine.role)

    def _decide(
        self, now_s: float, state: PtpState, parent: ParentDataSet, sync: NodeSync, change: StateChange | None
    ) -> PollActions:
        if self._restarted:
            self._restarted = False
            self.priority2.restart()
        gm_p2 = parent.gm_priority2 if state is PtpState.FOLLOWING else None
        before = self.priority2.phase
        p2 = self.priority2.update(now_s, state, gm_p2, sync.state, sync.demoted)
        p2_why = self.priority2.reason
        p1, p1_why = self.priority1, "configured"
        if sync.demoted:
            p2, p2_why = STANDBY_PRIORITY2, "demoted by the control nodes' vote"
            p1, p1_why = DEMOTED_PRIORITY1, "demoted by the control nodes' vote: behind every other node"
        phase = None
        if self.priority2.phase is not before:
            phase = PhaseChange(before, self.priority2.phase, self.priority2.reason)
        self.want_gm, self.want_gm_why = grandmaster_settings(sync, self.profile, self._role())
        wanted = [
            Setting("priority1", p1, f"priority1 {p1} ({p1_why})"),
            Setting("priority2", p2, f"priority2 {p2} ({p2_why})"),
        ]
        gm = self.want_gm
        if gm is not None:
            q = gm.quality
            wanted.append(
                Setting(
                    "grandmaster_settings",
                    gm,
                    f"clockClass {q.clock_class} clockAccuracy 0x{q.clock_accuracy:02X} "
                    f"timeSource 0x{gm.time_source:02X} ({self.want_gm_why})",
                )
            )
        uncertain = sync_uncertain(sync.state, state)
        wanted.append(Setting("sync_uncertain", uncertain, f"synchronization uncertain {str(uncertain).lower()}"))
        todo = tuple(s for s in wanted if self.applied_settings.get(s.key) != s.value)
        return PollActions(change, phase, todo)

    # -- status (appliance.core.ptp.watch_status) ------------------------------------------------
    def observed_status(self, own_identity: bytes | None) -> dict[str, Any]:
        """The status keys that describe ptp4l as observed (role .. steps_removed)."""
        return watch_status.observed(self, own_identity)

    def settings_status(self) -> dict[str, Any]:
        """The status keys that describe what this node advertises (priority1 .. sync_uncertain)."""
        return watch_status.settings(self)
