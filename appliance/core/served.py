"""Served time as one node keeps it, pure: the map from the system clock to served time
(appliance.core.clock.timemap), what it still has to absorb, its error bound, and what a reply
advertises (appliance.core.ntp.answer.ServerState).

Served time follows the clock exactly until the node first answers as synchronized; from then on
it never steps back: the node's own steps and any backward jump are absorbed by slewing at
``slew_ppb`` (appliance.core.clock.timemap). Its error bound is the clock's, plus what it has
still to absorb, plus the uncertainty of a realignment onto the cluster until the clock's own
reference vouches for it again.
"""

from __future__ import annotations

from .clock.errorbound import MAX_DISPERSION_S
from .clock.states import SyncState
from .clock.timemap import STEP_DETECT_NS, TimeMap
from .node_types import NodeConfig
from .ntp.answer import ServerState


class ServedTime:
    def __init__(self, slew_ppb: float):
        self.slew_ppb = slew_ppb
        self.timemap = TimeMap(0, 0, slew_ppb=slew_ppb)
        self.started = False  # set at the first synchronized answer: never back from then on
        self.realign_bound_s = 0.0
        self.ref_time_ns = 0  # served time of the latest reference sample (NTP's reference timestamp)
        self._system_ns = 0
        self._clock_offset_ns = 0
        self._install_ns = 0

    def measured(self, system_ns: int, clock_offset_ns: int, install_ns: int) -> int:
        """A new reading (clock - system, UTC) becomes the map's anchor from ``install_ns`` on.
        Returns the jump of the clock that nobody announced (0 below STEP_DETECT_NS)."""
        jump_ns = self.timemap.clock_jump_ns(system_ns, clock_offset_ns)
        self._system_ns, self._clock_offset_ns, self._install_ns = system_ns, clock_offset_ns, install_ns
        self.timemap = self.timemap.advanced(
            system_ns, clock_offset_ns, self.started, self.slew_ppb, install_ns=install_ns
        )
        return jump_ns if abs(jump_ns) > STEP_DETECT_NS else 0

    def stepped(self, step_ns: int) -> None:
        """The node steps its clock by step_ns right after the reading (ADJ_SETOFFSET lands exactly)."""
        self._clock_offset_ns += step_ns
        self.timemap = self.timemap.advanced(
            self._system_ns,
            self._clock_offset_ns,
            self.started,
            self.slew_ppb,
            own_step_ns=step_ns,
            install_ns=self._install_ns,
        )

    def referenced(self, wall_ns: int) -> None:
        self.ref_time_ns = self.timemap.to_served_ns(wall_ns)

    def correction_ns(self, wall_ns: int) -> int:
        """clock - served: what served time has still to absorb."""
        return self.timemap.correction_at_ns(wall_ns)

    def bound_s(self, clock_bound_s: float, wall_ns: int) -> float:
        return clock_bound_s + abs(self.correction_ns(wall_ns)) * 1e-9 + self.realign_bound_s

    def server_state(
        self,
        cfg: NodeConfig,
        state: SyncState,
        bound_s: float,
        bound_rate: float,
        ref_source: str | None,
        wall_ns: int,
        upstream: tuple[int, bytes, float] | None = None,
    ) -> ServerState:
        """What replies advertise while the node may claim to be synchronized (the caller checked
        that). ``upstream``: (stratum, reference ID, root delay) while the time rests on upstream
        NTP servers: the node is then one stratum below the best of them, not stratum 1."""
        self.started = True
        stratum, root_delay_s = 1, 0.0
        if upstream is not None and ref_source == "ntp":
            stratum, root_delay_s = min(15, upstream[0] + 1), upstream[2]
        if state is SyncState.LOCKED and upstream is not None and ref_source == "ntp":
            ref_id = upstream[1]
        elif state is SyncState.LOCKED:
            ref_id = cfg.refids.ptp if ref_source == "ptp" else cfg.refids.primary
        elif state is SyncState.HOLDOVER:
            ref_id = cfg.refids.holdover
        else:
            ref_id = cfg.refids.freerun
        served_now_ns = self.timemap.to_served_ns(wall_ns)
        return ServerState(
            synchronized=True,
            stratum=stratum,
            ref_id=ref_id,
            ref_time_ns=self.ref_time_ns or served_now_ns,
            root_delay_s=root_delay_s,
            root_dispersion_s=min(bound_s, MAX_DISPERSION_S),
            precision_log2=cfg.precision_log2,
            dispersion_anchor_ns=served_now_ns,
            dispersion_rate=bound_rate,
            max_dispersion_s=cfg.max_error_bound_s,
        )
