"""The cluster cross-check as the service uses it: peer polling (appliance.ntp.peers) feeding the
vote (appliance.core.cluster.vote), and what follows from it.

* Demotion: a node outside the majority by more than cluster.crosscheck.demote_threshold_s answers
  NTP with leap indicator 3 (stratum 16), is not eligible as PTP grandmaster, logs a warning and
  records an event; status shows ``crosscheck.demoted``.
* Return: while demoted and a majority exists, the node steps its *clock* onto the cluster's time
  (``realign_step_ns``) and served time absorbs the step by slewing (appliance.core.clock.timemap), so it
  never steps backward; the node is promoted again after staying within half the threshold for
  promote_after_s. The service applies the realignment only where nothing else steers the clock
  (ptp.enabled false: the simulated nodes). With linuxptp running, a demoted node is brought back
  by following an eligible grandmaster instead - that is the PTP supervisor's job, through
  ``grandmaster_eligible``.
* No peer answers (isolated), or peers answer but no majority of the configured nodes agrees: the
  node keeps serving on its own sync state - locked, or in holdover / free-run with the error bound
  the discipline grows (appliance.core.clock.errorbound). A lone node cannot tell that it is wrong;
  clients that see two agreeing servers (chrony with minsources 2) reject it if it is, SNTP clients
  that see only it follow it. A node that was demoted stays demoted while it has no majority.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from .config import Config
from .core.cluster.vote import SELF, CrossCheck, Vote, VoteConfig, realign_step_ns
from .core.clock.timemap import TimeMap

log = logging.getLogger("appliance.cluster")

MAX_EVENTS = 20


class ClusterCheck:
    def __init__(self, cfg: Config, clock_map: Callable[[], TimeMap]):
        cc = cfg.cluster.crosscheck
        self.node = cfg.node.name
        others = [(n.name, n.address) for n in cfg.cluster.control_nodes if n.name != cfg.node.name]
        self.configured_nodes = len(others) + 1
        self.enabled = bool(cc.enabled and others)
        self.threshold_s = cc.demote_threshold_s
        self.check = CrossCheck(VoteConfig(self.configured_nodes, cc.demote_threshold_s, cc.promote_after_s))
        self.poller = None
        if self.enabled:
            from .ntp.peers import PeerPoller

            self.poller = PeerPoller(others, clock_map, cc.poll_interval_s, cc.filter_window)
        self.vote: Vote | None = None
        self.events: list[dict] = []
        self._served: dict = {}

    def start(self) -> None:
        if self.poller is not None:
            self.poller.start()

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()

    @property
    def demoted(self) -> bool:
        return self.enabled and self.check.demoted

    def clock_stepped(self, delta_ns: int) -> None:
        if self.poller is not None:
            self.poller.shift(delta_ns)

    def update(self, now_s: float, own_bound_s: float, correction_ns: int) -> Vote | None:
        """One vote; ``correction_ns`` (clock - served) turns the clock-domain samples into served time."""
        if self.poller is None:
            return None
        served = {
            name: None if est is None else replace(est, offset_s=est.offset_s - correction_ns * 1e-9)
            for name, est in self.poller.estimates(now_s).items()
        }
        self._served = served
        vote = self.check.update(now_s, own_bound_s, served)
        self.vote = vote
        for old, new, event in vote.transitions:
            detail = "" if vote.distance_s is None else f", {vote.distance_s * 1e3:.3f} ms outside the majority"
            level = logging.WARNING if (new.value == "demoted" or old.value == "demoted") else logging.INFO
            log.log(level, "cross-check %s -> %s (%s%s)", old.value, new.value, event.value, detail)
            self.events = (self.events + [{
                "time": time.time(), "from": old.value, "to": new.value, "event": event.value,
                "distance_s": vote.distance_s, "cluster_offset_s": vote.cluster_offset_s,
            }])[-MAX_EVENTS:]
        return vote

    def realign_step_ns(self, correction_ns: int) -> int:
        if self.vote is None:
            return 0
        return realign_step_ns(self.vote, correction_ns, self.threshold_s)

    def realign_uncertainty_s(self) -> float:
        """How far truth may be from the majority's midpoint: half the intersection's width."""
        sel = self.vote.selection if self.vote else None
        return 0.0 if sel is None else (sel.high_s - sel.low_s) / 2

    # -- status ---------------------------------------------------------------------------------
    def peers_status(self) -> list[dict]:
        if self.poller is None:
            return []
        vote = self.vote
        sel = vote.selection if vote else None
        rows = []
        for snap in self.poller.snapshot():
            est = self._served.get(snap["name"])
            if est is None:
                role = "no_data"
            elif not est.fit:
                role = "unsynchronized"
            elif sel is None or not (vote and vote.majority):
                role = "candidate"
            else:
                role = "truechimer" if snap["name"] in sel.truechimers else "falseticker"
            rows.append({
                **snap,
                "offset_s": est.offset_s if est else None,  # local served - peer
                "delay_s": est.delay_s if est else None,
                "jitter_s": est.jitter_s if est else None,
                "distance_s": est.distance_s if est else None,
                "samples": est.samples if est else 0,
                "vote": role,
            })
        return rows

    def status(self, grandmaster_eligible: bool) -> dict:
        v = self.vote
        sel = v.selection if v else None
        return {
            "enabled": self.enabled,
            "state": self.check.state.value if self.enabled else "disabled",
            "demoted": self.demoted,
            "grandmaster_eligible": grandmaster_eligible,
            "configured_nodes": self.configured_nodes,
            "quorum": self.check.cfg.quorum,
            "threshold_s": self.threshold_s,
            "majority": bool(v and v.majority),
            "distance_s": v.distance_s if v else None,
            "cluster_offset_s": v.cluster_offset_s if v else None,  # local served - cluster
            "intersection_s": [sel.low_s, sel.high_s] if sel else None,
            "candidates": [self.node if c == SELF else c for c in v.candidates] if v else [],
            "truechimers": [self.node if c == SELF else c for c in sel.truechimers] if sel else [],
            "falsetickers": [self.node if c == SELF else c for c in sel.falsetickers] if sel else [],
            "events": self.events,
        }
