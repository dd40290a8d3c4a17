"""NTP between simulated control nodes, in memory: each query's timestamps go through both
nodes' served-time maps as they would through the kernel's, with a round trip ``delay_s`` plus
exponential queueing; the samples feed per-peer clock filters (appliance.core.ntp.clockfilter)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..core.ntp.clockfilter import ClockFilter, PeerEstimate, PeerSample

if TYPE_CHECKING:
    from .cluster import SimNode


class SimNtpNet:
    def __init__(self, rng: np.random.Generator, delay_s: float, max_age_s: float):
        self.rng = rng
        self.delay_s = delay_s
        self.max_age_s = max_age_s

    def poll(self, sn: SimNode, nodes: list[SimNode], t1_sys: int, now_s: float) -> None:
        """``sn`` queries every other live node once."""
        queueing = self.rng.exponential(self.delay_s / 10, size=2 * len(nodes)).tolist()
        for peer in nodes:
            if peer is sn or not peer.alive:
                continue
            d_out = self.delay_s / 2 + queueing[2 * peer.index]
            d_back = self.delay_s / 2 + queueing[2 * peer.index + 1]
            t2_sys = t1_sys + int(d_out * 1e9)
            t4_sys = t2_sys + int(d_back * 1e9)
            t2 = peer.node.timemap.to_served_ns(t2_sys)  # the peer answers with its served time
            ad = peer.node.advertise(t2)
            t1, t4 = sn.node.timemap.to_clock_ns(t1_sys), sn.node.timemap.to_clock_ns(t4_sys)
            offset_ns = ((t1 - t2) + (t4 - t2)) / 2
            f = sn.filters.setdefault(peer.name, ClockFilter(4, self.max_age_s))
            f.add(
                PeerSample(
                    now_s,
                    offset_ns * 1e-9,
                    max(0.0, (t4 - t1) * 1e-9),
                    int(ad.leap),
                    ad.stratum,
                    ad.root_delay_s,
                    ad.root_dispersion_s,
                    ad.ref_id,
                )
            )
            sn.last_leap[peer.name] = (int(ad.leap), ad.stratum, ad.ref_id)

    @staticmethod
    def estimates(sn: SimNode, now_s: float) -> dict[str, PeerEstimate | None]:
        out: dict[str, PeerEstimate | None] = {}
        for name in sn.node.cfg.peers:
            f = sn.filters.get(name)
            est = f.estimate(now_s) if f is not None else None
            if est is not None and name in sn.last_leap and (est.leap, est.stratum, est.ref_id) != sn.last_leap[name]:
                leap, stratum, ref_id = sn.last_leap[name]
                est = replace(est, leap=leap, stratum=stratum, ref_id=ref_id)  # fitness follows the latest answer
            out[name] = est
        return out
