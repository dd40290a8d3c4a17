"""One control node as a pure state machine: ``Node.tick(inputs) -> actions``.

The shell (appliance.runtime) measures and hands in everything a tick needs: the clock's offset
to the system clock, the references (its own primary one, or the PTP grandmaster through
ptp4l), the temperature, the other control nodes' filtered estimates, a fit it finished, and the
instants (monotonic and wall). The node decides everything a control node decides and returns it
as ``TickActions`` (appliance.core.node_types): the clock's step and frequency, the new
served-time map, what NTP replies advertise, what ptp4l must say, what to persist, a fit to run
off the tick, and the events. No I/O, no threads, no clock reads happen here, so a whole cluster
runs in virtual time (appliance.sim.cluster) with exactly the code that serves.

One tick, in order:
  1. the reading becomes the new anchor of the served-time map (a jump of the clock that the node
     did not make is detected here; once served, time never steps back: appliance.core.clock.timemap);
  2. the reference is chosen: the own primary reference first, else the upstream NTP servers that
     agree (appliance.core.ntp.upstream), else the PTP grandmaster (with software timestamping
     ptp4l measures CLOCK_REALTIME, so clock - system is added);
  3. the discipline (servo, sync state, error bound, the holdover model) decides the frequency and a
     step, which the node applies to its map at once (a step lands exactly: ADJ_SETOFFSET);
  4. the vote (appliance.core.cluster) judges served time against the other control nodes; a
     demoted node without linuxptp steps its clock onto the cluster and served time slews;
  5. the advertisement is built: stratum 1 only while healthy, not demoted, within
     max_error_bound_s and bootstrapped (something vouched for the clock: a bootstrap record, a
     last-known-good of this boot, or a reference that locked it; never earlier than the
     last-known-good: appliance.core.node_checks); root dispersion is the served bound at the tick
     plus its growth rate, so
     every reply carries the bound of its own instant (``ServerState.advertise``).

What a reply advertises is ``node.advertise(instant_ns)``: a pure function of the node's state and
of the reply's instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .clock.discipline import Decision, Discipline
from .clock.states import SyncEvent, SyncState
from .clock.timemap import TimeMap
from .cluster.crosscheck import ClusterCheck
from .holdover.predictor import TempCompPredictor
from .node_checks import snapshot, why_not
from .node_types import (
    Event,
    NodeConfig,
    PtpAdvice,
    Snapshot,
    TickActions,
    TickInputs,
)
from .node_vote import vote
from .ntp.answer import Advertisement, ServerState
from .ntp.upstream import UpstreamChoice, choose_upstream, reference_id
from .served import ServedTime

MAX_STATUS_EVENTS = 20


class Node:
    def __init__(self, cfg: NodeConfig, predictor: TempCompPredictor | None = None):
        self.cfg = cfg
        self.predictor = predictor
        if predictor is not None:
            predictor.defer_refit = True  # a fit takes ~1 s: it runs off the tick (TickActions.refit)
        self.discipline = Discipline(cfg.discipline, predictor=predictor)
        self.cluster = ClusterCheck(cfg.name, cfg.peers, cfg.vote, enabled=cfg.crosscheck)
        self.served = ServedTime(cfg.slew_ppb)
        self.serve = ServerState.unsynchronized(cfg.precision_log2)
        self.decision: Decision | None = None
        self.snapshot: Snapshot | None = None
        self._ref_source: str | None = None
        self._reference: str | None = None  # which reference was followed last ("primary", a grandmaster id)
        self.vouched = cfg.bootstrapped  # something vouches for the clock (set for good once it locks)
        self.upstream: UpstreamChoice | None = None
        self._upstream_ad: tuple[int, bytes, float] | None = None  # stratum, refid, root delay of the last lock
        self._ntp_sample_s = float("-inf")  # the upstream sample the servo saw last
        self.unsynchronized_reason: str | None = "starting"  # why replies say leap 3, None while stratum 1
        self._status_events: tuple[Mapping[str, Any], ...] = ()
        self._eligible = False
        self._last_persist_s: float | None = None

    @property
    def timemap(self) -> TimeMap:
        return self.served.timemap

    # -- what replies say ---------------------------------------------------------------------
    def advertise(self, reply_instant_ns: int) -> Advertisement:
        """Stratum, leap, refid, root delay and root dispersion of a reply sent at this instant
        (served time)."""
        return self.serve.advertise(reply_instant_ns)

    @property
    def grandmaster_eligible(self) -> bool:
        """Only while the clock is healthy, bootstrapped and the vote has not demoted it."""
        d = self.decision
        return bool(d and d.healthy) and not self.demoted and self.vouched

    @property
    def demoted(self) -> bool:
        return self.cluster.demoted

    def persist_state(self) -> dict[str, Any] | None:
        """The learned model's state to save now (at shutdown), or None without a model."""
        p = self.predictor
        return p.to_dict() if p is not None and p.model is not None else None

    # -- one tick -----------------------------------------------------------------------------
    def tick(self, inputs: TickInputs) -> TickActions:
        now_s, wall_ns = inputs.monotonic_s, inputs.wall_ns
        wall_s = wall_ns * 1e-9
        events: list[Event] = []
        # What the shell noticed (and logged) goes into the status events only.
        noticed = tuple({"time": n.time_s, n.kind: n.text} for n in inputs.notices if n.kind == "hotplug")
        if noticed:
            self._status_events = (self._status_events + noticed)[-MAX_STATUS_EVENTS:]
        if inputs.refit is not None and self.predictor is not None:
            self.predictor.install_refit(*inputs.refit)
        if inputs.reading is None:
            if inputs.reading_error:
                events.append(Event(wall_s, "clock", "error", f"clock read failed: {inputs.reading_error}"))
            return self._finish(inputs, self.discipline.fault(now_s), None, events, step_ns=0, freq=None, shift_ns=0)

        r = inputs.reading
        served = self.served
        shift_ns = served.measured(r.system_ns, r.offset_ns - self.cfg.tai_offset_ns, wall_ns)

        self.upstream = self._vote_upstream(inputs)
        offset_ns, source = choose_reference(inputs, self.cfg.tai_offset_ns, self.upstream)
        ref_bound_s = grandmaster_bound_s(inputs, self.cfg.refids.ptp) if source == "ptp" else 0.0
        fresh = True
        if source == "ntp" and self.upstream is not None:
            ref_bound_s = self.upstream.bound_s + self.upstream.root_delay_s / 2
            # each filtered sample reaches the servo once (the filter may keep choosing one for polls)
            fresh, self._ntp_sample_s = self.upstream.sample_s != self._ntp_sample_s, self.upstream.sample_s
        reference = inputs.ptp_grandmaster if source == "ptp" else source
        changed = offset_ns is not None and reference != self._reference
        if offset_ns is not None:
            self._reference = reference
        # A reference outside the guard is not followed unless the vote found this node the
        # minority (the majority agrees with the reference) or the reference itself changed.
        decision = self.discipline.tick(
            now_s,
            offset_ns,
            temp_c=inputs.temperature_c,
            reference_bound_s=ref_bound_s,
            accept_step=self.demoted,
            reference_changed=changed,
            fresh=fresh,
        )
        if decision.state is SyncState.LOCKED:
            self.vouched = True  # a reference set this clock: no bootstrap is needed any more
            u = self.upstream
            if source == "ntp" and u is not None and u.best is not None:
                self._upstream_ad = (u.stratum, reference_id(u.best), u.root_delay_s)
        step_ns, freq = 0, None
        if not inputs.ptp_steers_clock:  # otherwise ptp4l or phc2sys steers: the node only watches
            freq = decision.freq_ppb
            if decision.step_ns:
                step_ns = decision.step_ns
                served.stepped(step_ns)
                events.append(Event(wall_s, "clock", "warning", f"clock stepped by {step_ns / 1e9:+.9f} s"))
        if offset_ns is not None:
            served.referenced(wall_ns)
            self._ref_source = source
        if self.cluster.enabled:
            realign_ns = vote(self.cluster, self.served, self.cfg.realign, inputs, decision, shift_ns + step_ns, events)
            if realign_ns:
                served.stepped(realign_ns)
                step_ns += realign_ns
        return self._finish(inputs, decision, offset_ns, events, step_ns, freq, shift_ns + step_ns)

    def _vote_upstream(self, inputs: TickInputs) -> UpstreamChoice | None:
        if inputs.upstream is None:
            return None
        d = self.discipline
        own = d.error_bound_s if d.state in (SyncState.LOCKED, SyncState.HOLDOVER) else None
        return choose_upstream(inputs.upstream, own, inputs.monotonic_s)

    def _finish(
        self,
        inputs: TickInputs,
        decision: Decision,
        offset_ns: float | None,
        events: list[Event],
        step_ns: int,
        freq: float | None,
        shift_ns: int,
    ) -> TickActions:
        wall_ns, wall_s = inputs.wall_ns, inputs.wall_ns * 1e-9
        for old, new, event in decision.transitions:
            record = {"time": wall_s, "from": old.value, "to": new.value, "event": event.value}
            level = "warning" if event is SyncEvent.REFERENCE_SUSPECT else "info"  # a fault upstream: say it loudly
            events.append(
                Event(wall_s, "sync", level, f"sync state {old.value} -> {new.value} ({event.value})", record)
            )
        kept = [e.record for e in events if e.kind == "sync"]
        if kept:
            self._status_events = (self._status_events + tuple(kept))[-MAX_STATUS_EVENTS:]
        self.decision = decision
        self.serve = self._server_state(decision, inputs.monotonic_s, wall_ns, inputs.reading is not None)
        eligible = self.grandmaster_eligible
        changed, self._eligible = eligible != self._eligible, eligible
        jitter_s = self.discipline.jitter_ns() * 1e-9 if decision.state is SyncState.LOCKED else None
        # A clock nothing vouches for must not win the BMCA: PTP sees it as demoted until bootstrapped.
        ptp = PtpAdvice(
            decision.state, decision.error_bound_s, self._ref_source, self.demoted or not self.vouched, jitter_s or None
        )
        self.snapshot = snapshot(self, inputs, decision, offset_ns, wall_ns)
        return TickActions(
            timemap=self.timemap,
            serve=self.serve,
            snapshot=self.snapshot,
            ptp=ptp,
            step_ns=step_ns,
            freq_correction_ppb=freq,
            peer_shift_ns=shift_ns,
            eligible_changed=changed,
            persist=self._persist(inputs.monotonic_s),
            refit=self.predictor.take_refit() if self.predictor is not None else None,
            events=tuple(events),
        )

    def _server_state(self, decision: Decision, now_s: float, wall_ns: int, readable: bool) -> ServerState:
        cfg = self.cfg
        bound_s = self.served.bound_s(decision.error_bound_s, wall_ns)
        served_ns = self.served.timemap.to_served_ns(wall_ns)
        self.unsynchronized_reason = why_not(readable, decision, self.demoted, bound_s, cfg, self.vouched, served_ns)
        if self.unsynchronized_reason is not None:
            return ServerState.unsynchronized(cfg.precision_log2)
        rate = self.discipline.bound_rate(now_s, cfg.dispersion_horizon_ticks * cfg.interval_s)
        up = self._upstream_ad if self._ref_source == "ntp" else None
        return self.served.server_state(cfg, decision.state, bound_s, rate, self._ref_source, wall_ns, up)

    def _persist(self, now_s: float) -> dict[str, Any] | None:
        p = self.predictor
        if p is None or p.model is None:
            return None
        if self._last_persist_s is not None and now_s - self._last_persist_s < self.cfg.persist_every_s:
            return None
        self._last_persist_s = now_s
        return p.to_dict()


def choose_reference(
    inputs: TickInputs, tai_offset_ns: int, upstream: UpstreamChoice | None = None
) -> tuple[float | None, str | None]:
    """clock - reference, and which one: the own primary reference first, else the upstream NTP
    servers' majority, else the grandmaster. ptp4l measures its own PTP clock: the PHC with
    hardware timestamping, CLOCK_REALTIME with software timestamping, where (clock -
    CLOCK_REALTIME) is added. The upstream offsets come through the served-time map, which is in
    UTC already."""
    if inputs.primary_offset_ns is not None:
        return inputs.primary_offset_ns, "primary"
    if upstream is not None and upstream.offset_ns is not None:
        return upstream.offset_ns, "ntp"
    off = inputs.ptp_offset_ns
    if off is None:
        return None, None
    if inputs.ptp_measures_system:
        assert inputs.reading is not None
        off += inputs.reading.offset_ns - tai_offset_ns
    return off, "ptp"


def grandmaster_bound_s(inputs: TickInputs, ptp_refid: bytes) -> float:
    """How far the grandmaster a follower locks to may itself be from true time: what the shell
    says, else the largest root distance among the control nodes whose time does not rest on PTP
    (the grandmaster is the one control node that does not follow another: its reference ID is its
    own primary reference, HOLD or its oscillator, never PTP; the followers are left out, so no two
    followers feed each other's bounds). 0 where none answers: a grandmaster outside the control
    nodes is taken at its word."""
    if inputs.ptp_grandmaster_bound_s is not None:
        return inputs.ptp_grandmaster_bound_s
    bounds = [
        est.root_dispersion_s + est.dispersion_s + est.root_delay_s / 2
        for est in (inputs.peers or {}).values()
        if est is not None and est.fit and est.ref_id != ptp_refid
    ]
    return max(bounds, default=0.0)
