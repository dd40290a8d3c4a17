"""Three (or more) control nodes in virtual time, wired through an in-memory network: the code that
decides (appliance.core.node, appliance.core.ptp.profile) runs exactly as under `serve`, with no
sockets, no threads and no waiting.

Each simulated node has a SimPhc on the shared VirtualClock (true time; also the system clock the
nodes measure against), optionally a simulated primary reference, and a pure Node. Every tick:

* PTP: a BMCA over what each live node advertises (priority1, clockClass, priority2 from
  core.ptp.profile and its Priority2Policy, then the node's index as the clock identity) picks
  the grandmaster; the others follow it and measure ``their PHC - the grandmaster's PHC`` with
  ``ptp_noise_ns`` of white noise (hardware timestamping), after ``settle_ticks`` of a new
  grandmaster (ptp4l measuring the path first);
* NTP between the control nodes: each live node queries each other live node once a tick, the
  round trip ``delay_s`` plus exponential queueing, the timestamps going through both nodes'
  served-time maps as they do through the kernel's; the samples feed per-peer clock filters;
* the node ticks with those inputs and its actions are applied to its SimPhc.

Faults are methods: ``kill`` / ``revive`` a node (a revived node restarts with its persisted
model), ``step`` a clock, cut a node's PTP (``ptp_cut``) or its primary reference. ``truth_error``
and ``bound`` give what a test judges: served - true time, and the root dispersion a reply at that
instant carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.clock.discipline import DisciplineConfig
from ..core.clock.states import SyncState
from ..core.cluster.vote import VoteConfig
from ..core.holdover.predictor import TempCompPredictor
from ..core.node import Node
from ..core.node_types import ClockReading, NodeConfig, RefIds, TickActions, TickInputs
from ..core.ntp.clockfilter import ClockFilter
from ..core.ptp.datasets import ClockQuality
from ..core.ptp.profile import (
    DEMOTED_PRIORITY1,
    STANDBY_PRIORITY2,
    NodeSync,
    Priority2Policy,
    ProfileConfig,
    grandmaster_settings,
    role,
)
from ..core.ptp.states import PtpState
from .ntp_net import SimNtpNet
from .oscillator import Oscillator, draw_params
from .phc import SimPhc, VirtualClock
from .reference import SimReference
from .temperature import DiurnalHvac

PRIORITY1 = 128
PRIORITY2_BASE = 128


@dataclass
class SimNode:
    name: str
    index: int
    clock: SimPhc
    reference: SimReference | None
    node: Node
    policy: Priority2Policy
    alive: bool = True
    ptp_cut: bool = False
    filters: dict[str, ClockFilter] = field(default_factory=dict)
    last_leap: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)
    actions: TickActions | None = None
    ptp_state: PtpState = PtpState.LISTENING
    following: int | None = None  # index of the grandmaster followed
    follow_ticks: int = 0
    upstream_class: int | None = None
    ptp_dataset: tuple[int, int, int, int, int, int] | None = None  # what it advertised last (see _advertised_ptp)
    served_last_ns: int | None = None
    served_backwards: int = 0  # ticks at which served time went back: must stay 0

    @property
    def state(self) -> SyncState:
        return self.node.decision.state if self.node.decision else SyncState.STARTING

    def sync(self) -> NodeSync:
        s = self.node.snapshot
        bound = s.error_bound_s if s is not None and s.error_bound_s is not None else 16.0
        source = s.reference_source if s is not None else None
        return NodeSync(self.state, source, self.upstream_class, bound, self.node.demoted)


class SimCluster:
    def __init__(
        self,
        seed: int,
        n: int = 3,
        interval_s: float = 10.0,
        oscillator: str = "tcxo",
        primary: tuple[int, ...] = (0,),
        delay_s: float = 100e-6,
        ptp_noise_ns: float = 20.0,
        wait_to_restore_s: float = 600.0,
        settle_ticks: int = 2,
        max_error_bound_s: float = 0.1,
        crosscheck: bool = True,
        vote_every_ticks: int = 1,
        identities: tuple[int, ...] | None = None,
    ):
        self.seed = seed
        self.interval_s = interval_s
        self.truth = VirtualClock()
        self.t0_ns = self.truth()
        self.ptp_noise_ns = ptp_noise_ns
        self.settle_ticks = settle_ticks
        self.profile = ProfileConfig(utc_offset_s=37, ptp_timescale=False)
        self.rng = np.random.default_rng([seed, 0xC1])
        self.net = SimNtpNet(np.random.default_rng([seed, 0xC2]), delay_s, 8 * interval_s * vote_every_ticks)
        self.names = tuple(f"ctl-{i}" for i in range(n))
        self.wait_to_restore_s = wait_to_restore_s
        self.max_error_bound_s = max_error_bound_s
        self.crosscheck = crosscheck
        self.identities = identities or tuple(range(n))  # PTP clock identities: the BMCA's last tie-break
        self.vote_every_ticks = vote_every_ticks  # peers polled every this many ticks (a slow vote)
        self._ticks = 0
        self.nodes: list[SimNode] = []
        for i in range(n):
            osc_seed = seed * 100 + i
            profile = DiurnalHvac(24.0, 1.5, 0.6, 900.0, seed=osc_seed)
            clock = SimPhc(
                Oscillator(draw_params(oscillator, osc_seed), osc_seed, profile.temp_c(0.0)),
                profile.temp_c,
                truth_ns=self.truth,
                step_s=interval_s,
                name=self.names[i],
            )
            ref = SimReference(clock, 20.0, osc_seed) if i in primary else None
            self.nodes.append(
                SimNode(self.names[i], i, clock, ref, self._new_node(i, ref is not None, None), self._policy(i))
            )

    # -- construction -------------------------------------------------------------------------
    def _node_config(self, i: int, has_primary: bool) -> NodeConfig:
        peers = tuple(name for j, name in enumerate(self.names) if j != i)
        return NodeConfig(
            name=self.names[i],
            discipline=DisciplineConfig(
                max_freq_ppb=500_000, has_reference=has_primary, max_error_bound_s=self.max_error_bound_s
            ),
            interval_s=self.interval_s,
            refids=RefIds(primary=b"PHC\x00", freerun=b"TCXO"),
            max_error_bound_s=self.max_error_bound_s,
            vote=VoteConfig(len(self.names), 0.001, 6 * self.interval_s),
            crosscheck=self.crosscheck,
            peers=peers,
            realign=False,  # PTP brings a demoted node back, as with linuxptp
            sim_reference=has_primary,
        )

    def _new_node(self, i: int, has_primary: bool, state: dict | None) -> Node:
        predictor = (
            TempCompPredictor.from_dict(state, tick_interval_s=self.interval_s)
            if state
            else TempCompPredictor(tick_interval_s=self.interval_s)
        )
        return Node(self._node_config(i, has_primary), predictor)

    def _policy(self, i: int) -> Priority2Policy:
        listen_s = 4 * self.interval_s
        return Priority2Policy(i, PRIORITY2_BASE, listen_s=listen_s, wait_to_restore_s=self.wait_to_restore_s)

    # -- faults -------------------------------------------------------------------------------
    def kill(self, i: int) -> None:
        self.nodes[i].alive = False

    def revive(self, i: int) -> None:
        """The node's process starts again: a new Node with the model it persisted; its PHC kept
        running meanwhile."""
        sn = self.nodes[i]
        state = sn.node.persist_state()
        sn.node = self._new_node(i, sn.reference is not None, state)
        sn.policy = self._policy(i)
        sn.alive, sn.filters, sn.last_leap, sn.following, sn.follow_ticks = True, {}, {}, None, 0
        sn.served_last_ns = None
        sn.ptp_state, sn.ptp_dataset = PtpState.LISTENING, None

    def step(self, i: int, delta_s: float) -> None:
        self.nodes[i].clock.step(int(round(delta_s * 1e9)))

    # -- what a test judges --------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        return (self.truth() - self.t0_ns) * 1e-9

    def truth_error_s(self, i: int) -> float:
        """served - true time of node i now."""
        now = self.truth()
        return (self.nodes[i].node.timemap.to_served_ns(now) - now) * 1e-9

    def advertised(self, i: int):
        now = self.truth()
        return self.nodes[i].node.advertise(self.nodes[i].node.timemap.to_served_ns(now))

    def grandmaster(self) -> int | None:
        gms = [sn.index for sn in self.nodes if sn.alive and sn.ptp_state is PtpState.GRANDMASTER]
        return gms[0] if len(gms) == 1 else None

    # -- one tick of the whole cluster ----------------------------------------------------------
    def run(self, seconds: float, each=None) -> None:
        for _ in range(int(round(seconds / self.interval_s))):
            self.tick()
            if each is not None:
                each(self)

    def tick(self) -> None:
        self.truth.advance(self.interval_s)
        self._bmca()
        now_s, now_ns = self.now_s, self.truth()
        self._ticks += 1
        for sn in self.nodes:
            if sn.alive and self.crosscheck and self._ticks % self.vote_every_ticks == 0:
                self.net.poll(sn, self.nodes, now_ns, now_s)
        for sn in self.nodes:
            if not sn.alive:
                continue
            inputs = TickInputs(
                monotonic_s=now_s,
                wall_ns=now_ns,
                reading=ClockReading(int(round(sn.clock.error_ns())), now_ns, "sim"),
                primary_offset_ns=sn.reference.measure() if sn.reference is not None else None,
                ptp_offset_ns=self._ptp_offset(sn),
                ptp_grandmaster=self.names[sn.following] if sn.following is not None else None,
                temperature_c=sn.clock.temperature_c(),
                peers=self.net.estimates(sn, now_s),
            )
            a = sn.node.tick(inputs)
            if a.refit is not None:  # the fit runs "off the tick": here, handed back next tick
                sn.node.predictor.install_refit(a.refit, a.refit.run())  # type: ignore[union-attr]
            if a.step_ns:
                sn.clock.step(a.step_ns)
            if a.freq_correction_ppb is not None:
                sn.clock.adjust_frequency(a.freq_correction_ppb)
            if a.peer_shift_ns:
                for f in sn.filters.values():
                    f.shift(a.peer_shift_ns * 1e-9)
            sn.actions = a
            served = a.timemap.to_served_ns(now_ns)
            if sn.served_last_ns is not None and a.snapshot.served_monotonic and served < sn.served_last_ns:
                sn.served_backwards += 1
            sn.served_last_ns = served

    # -- PTP ------------------------------------------------------------------------------------
    def _advertised_ptp(self, sn: SimNode) -> tuple[int, int, int, int, int, int]:
        """(priority1, clockClass, clockAccuracy, variance, priority2, identity): the BMCA's order."""
        sync = sn.sync()
        gm = self.nodes[sn.following].ptp_dataset if sn.following is not None else None
        gm_p2 = gm[4] if gm is not None else None
        p2 = sn.policy.update(self.now_s, sn.ptp_state, gm_p2, sync.state, sync.demoted)
        gm_quality = ClockQuality(gm[1], gm[2], gm[3]) if gm is not None else None
        where = role(sn.ptp_state, sn.policy.phase, sn.policy.designated, gm_p2, gm_quality)
        q = grandmaster_settings(sync, self.profile, where)[0].quality
        p1 = PRIORITY1
        if sync.demoted:
            p1, p2 = DEMOTED_PRIORITY1, STANDBY_PRIORITY2
        return (p1, q.clock_class, q.clock_accuracy, q.offset_scaled_log_variance, p2, self.identities[sn.index])

    def _bmca(self) -> None:
        alive = [sn for sn in self.nodes if sn.alive]
        if not alive:
            return
        ranked = {sn.index: self._advertised_ptp(sn) for sn in alive}
        for sn in alive:
            sn.ptp_dataset = ranked[sn.index]
        best = min(ranked, key=lambda i: ranked[i])
        for sn in alive:
            if sn.index == best:
                sn.ptp_state, sn.following, sn.follow_ticks = PtpState.GRANDMASTER, None, 0
                continue
            if sn.following != best:
                sn.follow_ticks = 0
            sn.ptp_state, sn.following = PtpState.FOLLOWING, best
            sn.follow_ticks += 1
            sn.upstream_class = ranked[best][1]

    def _ptp_offset(self, sn: SimNode) -> float | None:
        if sn.ptp_cut or sn.following is None or sn.follow_ticks <= self.settle_ticks:
            return None
        gm = self.nodes[sn.following]
        noise = float(self.rng.normal(0.0, self.ptp_noise_ns)) if self.ptp_noise_ns else 0.0
        return sn.clock.error_ns() - gm.clock.error_ns() + noise
