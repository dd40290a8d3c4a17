"""The cross-check as one node runs it, pure: the other control nodes' filtered estimates in, the
vote (appliance.core.cluster.vote) and what follows from it out.

* Demotion: a node outside the majority by more than ``threshold_s`` answers NTP with leap
  indicator 3 (stratum 16), is not eligible as PTP grandmaster, and records an event; status shows
  ``crosscheck.demoted``.
* Return: while demoted and a majority exists, the node may step its *clock* onto the cluster's
  time (``realign_step_ns``) and served time absorbs the step by slewing
  (appliance.core.clock.timemap), so it never steps backward; it is promoted again after staying
  within half the threshold for promote_after_s. The node realigns only where nothing else steers
  the clock (no linuxptp: the simulated nodes). With linuxptp running, a demoted node is brought
  back by following an eligible grandmaster instead.
* No peer answers (isolated), or peers answer but no majority of the configured nodes agrees: the
  node keeps serving on its own sync state. A lone node cannot tell that it is wrong; clients that
  see two agreeing servers (chrony with minsources 2) reject it if it is, SNTP clients that see
  only it follow it. A node that was demoted stays demoted while it has no majority.

The peers' estimates arrive in the node's *clock* domain (the poller converts its timestamps
through the served-time map to the clock); ``update`` turns them into served time with the
correction served time has still to absorb (clock - served), because the vote compares served
times: what clients see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ntp.clockfilter import PeerEstimate
from .vote import SELF, CrossCheck, Vote, VoteConfig, realign_step_ns

MAX_EVENTS = 20


@dataclass(frozen=True)
class VoteEventRecord:
    """One change of the vote's state, for logs and status."""

    time_s: float  # wall clock
    old: str
    new: str
    event: str
    distance_s: float | None
    cluster_offset_s: float | None

    @property
    def warning(self) -> bool:
        return "demoted" in (self.old, self.new)

    def text(self) -> str:
        detail = "" if self.distance_s is None else f", {self.distance_s * 1e3:.3f} ms outside the majority"
        return f"cross-check {self.old} -> {self.new} ({self.event}{detail})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time_s,
            "from": self.old,
            "to": self.new,
            "event": self.event,
            "distance_s": self.distance_s,
            "cluster_offset_s": self.cluster_offset_s,
        }


class ClusterCheck:
    def __init__(self, node: str, peers: tuple[str, ...], cfg: VoteConfig, enabled: bool = True):
        self.node = node
        self.peer_names = peers
        self.enabled = bool(enabled and peers)
        self.cfg = cfg
        self.check = CrossCheck(cfg)
        self.vote: Vote | None = None
        self.events: tuple[VoteEventRecord, ...] = ()
        self._served: dict[str, PeerEstimate | None] = {}

    @property
    def demoted(self) -> bool:
        return self.enabled and self.check.demoted

    def update(
        self,
        now_s: float,
        wall_s: float,
        own_bound_s: float,
        estimates: Mapping[str, PeerEstimate | None],
        correction_ns: int,
    ) -> tuple[VoteEventRecord, ...]:
        """One vote; returns the changes it made (also kept in ``events``)."""
        if not self.enabled:
            return ()
        served = {name: None if est is None else est.shifted(-correction_ns * 1e-9) for name, est in estimates.items()}
        self._served = served
        vote = self.check.update(now_s, own_bound_s, served)
        self.vote = vote
        new = tuple(
            VoteEventRecord(wall_s, old.value, state.value, event.value, vote.distance_s, vote.cluster_offset_s)
            for old, state, event in vote.transitions
        )
        if new:
            self.events = (self.events + new)[-MAX_EVENTS:]
        return new

    def realign_step_ns(self, correction_ns: int) -> int:
        if self.vote is None:
            return 0
        return realign_step_ns(self.vote, correction_ns, self.cfg.threshold_s)

    def realign_uncertainty_s(self) -> float:
        """How far truth may be from the majority's midpoint: half the intersection's width."""
        sel = self.vote.selection if self.vote else None
        return 0.0 if sel is None else (sel.high_s - sel.low_s) / 2

    def view(self) -> ClusterView:
        """The vote's state now, frozen: status renders it later without touching the check."""
        return ClusterView(
            self.node,
            self.peer_names,
            self.cfg,
            self.enabled,
            self.check.state.value if self.enabled else "disabled",
            self.vote,
            self.events,
            tuple(self._served.items()),
        )


@dataclass(frozen=True)
class ClusterView:
    node: str
    peer_names: tuple[str, ...]
    cfg: VoteConfig
    enabled: bool
    state: str
    vote: Vote | None
    events: tuple[VoteEventRecord, ...]
    served: tuple[tuple[str, PeerEstimate | None], ...]

    @property
    def demoted(self) -> bool:
        return self.enabled and self.state == "demoted"

    def peer_rows(self) -> dict[str, dict[str, Any]]:
        """Per peer: the vote's view of it (served-time offset, role)."""
        vote = self.vote
        sel = vote.selection if vote else None
        served = dict(self.served)
        rows = {}
        for name in self.peer_names:
            est = served.get(name)
            if est is None:
                role = "no_data"
            elif not est.fit:
                role = "unsynchronized"
            elif sel is None or not (vote and vote.majority):
                role = "candidate"
            else:
                role = "truechimer" if name in sel.truechimers else "falseticker"
            rows[name] = {
                "offset_s": est.offset_s if est else None,  # local served - peer
                "delay_s": est.delay_s if est else None,
                "jitter_s": est.jitter_s if est else None,
                "distance_s": est.distance_s if est else None,
                "samples": est.samples if est else 0,
                "vote": role,
            }
        return rows

    def status(self, grandmaster_eligible: bool) -> dict[str, Any]:
        v = self.vote
        sel = v.selection if v else None

        def named(names: tuple[str, ...]) -> list[str]:
            return [self.node if c == SELF else c for c in names]

        return {
            "enabled": self.enabled,
            "state": self.state,
            "demoted": self.demoted,
            "grandmaster_eligible": grandmaster_eligible,
            "configured_nodes": self.cfg.configured_nodes,
            "quorum": self.cfg.quorum,
            "threshold_s": self.cfg.threshold_s,
            "majority": bool(v and v.majority),
            "distance_s": v.distance_s if v else None,
            "cluster_offset_s": v.cluster_offset_s if v else None,  # local served - cluster
            "intersection_s": [sel.low_s, sel.high_s] if sel else None,
            "candidates": named(v.candidates) if v else [],
            "truechimers": named(sel.truechimers) if sel else [],
            "falsetickers": named(sel.falsetickers) if sel else [],
            "events": [e.as_dict() for e in self.events],
        }
