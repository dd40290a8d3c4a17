"""Upstream NTP servers as the node's reference (a connected site), pure: which servers to believe,
and what they say together.

Each server's answers go through its own clock filter (appliance.core.ntp.clockfilter; the
adapter is appliance.ntp.peers.PeerPoller), so one estimate per server comes in, in the node's
clock domain (offset = local clock - server). Every tick the estimates of the servers that claim to
be synchronised become correctness intervals in "true time - local clock" coordinates (centre
-offset, half-width the server's distance: half the round trip + its root delay / 2 + its root
dispersion + age + jitter) and are intersected with the control nodes' own algorithm
(appliance.core.cluster.vote.select, Marzullo's).

The node's own clock takes part as one more interval, [-bound, +bound], while it can vouch for
itself (locked or in holdover, with its error bound): so a server that steps is outvoted by the
others and by the node's own clock (three servers: the falseticker is rejected), and a single
server that steps disagrees with the node, no majority is left, the reference counts as lost and
the node holds over instead of following. Only once the holdover bound has run out (the node can
no longer vouch for itself) does a lone server win again.

The reference offset is the mean of the agreeing servers' newest samples weighted by 1 / distance
(the node's own interval is a check, not a measurement): the servo needs the latest measurement, not
the lowest-delay one of the last few polls, which was taken before its latest corrections. Its
bound is how far true time may lie from that point within the majority's intersection.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..cluster.vote import SELF, Interval, select
from .clockfilter import PeerEstimate


@dataclass(frozen=True)
class UpstreamChoice:
    offset_ns: float | None  # local clock - the agreeing servers; None: no majority / nothing fit
    bound_s: float  # how far the reference (offset_ns) may be from true time
    truechimers: tuple[str, ...] = ()
    falsetickers: tuple[str, ...] = ()
    unfit: tuple[str, ...] = ()  # no answer, or not synchronised
    stratum: int = 16  # the lowest stratum among the agreeing servers
    root_delay_s: float = 0.0  # of the best agreeing server, plus the round trip to it
    best: str | None = None  # the agreeing server with the smallest distance
    reason: str = ""  # why there is no reference (empty while there is one)
    sample_s: float = 0.0  # monotonic time of the newest agreeing sample: a new measurement or not

    def status(self) -> dict[str, Any]:
        return {
            "offset_ns": self.offset_ns,
            "bound_s": self.bound_s,
            "truechimers": list(self.truechimers),
            "falsetickers": list(self.falsetickers),
            "unfit": list(self.unfit),
            "stratum": self.stratum,
            "selected": self.best,
            "reason": self.reason or None,
        }


def choose_upstream(
    estimates: Mapping[str, PeerEstimate | None], own_bound_s: float | None, now_s: float = 0.0
) -> UpstreamChoice:
    """``own_bound_s``: the node's error bound while it can vouch for its clock, else None.
    ``now_s``: the monotonic instant of the estimates (their ages are counted back from it)."""
    fit = {n: e for n, e in sorted(estimates.items()) if e is not None and e.fit}
    unfit = tuple(sorted(n for n in estimates if n not in fit))
    if not fit:
        return UpstreamChoice(None, 0.0, unfit=unfit, reason="no upstream server answers as synchronised")
    intervals = [Interval.around(n, -e.offset_s, e.distance_s) for n, e in fit.items()]
    if own_bound_s is not None:
        intervals.append(Interval.around(SELF, 0.0, own_bound_s))
    sel = select(intervals)
    if sel is None:
        said = ", ".join(f"{n} {e.offset_s * 1e3:+.3f} ms" for n, e in fit.items())
        return UpstreamChoice(
            None, 0.0, (), tuple(fit), unfit, reason=f"no majority among the upstream servers and this clock ({said})"
        )
    true = tuple(n for n in sel.truechimers if n != SELF)
    false = tuple(n for n in sel.falsetickers if n != SELF)
    if not true:  # only the node's own clock is in the majority: nothing measures it
        return UpstreamChoice(None, 0.0, (), false, unfit, reason="every upstream server disagrees with this clock")
    # Each agreeing server's newest sample, where it lies in the majority's intersection; else its
    # chosen one (the newest may be the first after a step, which the filter has not caught up with).
    use = {n: _latest(fit[n], sel.low_s, sel.high_s) for n in true}
    weights = {n: 1.0 / max(fit[n].distance_s, 1e-9) for n in true}
    total = sum(weights.values())
    offset_s = sum(use[n][0] * w for n, w in weights.items()) / total
    point = -offset_s  # true - local at the chosen offset
    bound_s = max(point - sel.low_s, sel.high_s - point, 0.0)
    best = min(true, key=lambda n: fit[n].distance_s)
    b = fit[best]
    newest = max(now_s - use[n][1] for n in true)
    return UpstreamChoice(
        offset_s * 1e9,
        bound_s,
        true,
        false,
        unfit,
        min(fit[n].stratum for n in true),
        b.root_delay_s + b.delay_s,
        best,
        sample_s=newest,
    )


def _latest(e: PeerEstimate, low_s: float, high_s: float) -> tuple[float, float]:
    """(offset, age) of the sample the servo takes from this server."""
    if e.latest_offset_s is not None and e.latest_age_s is not None and low_s <= -e.latest_offset_s <= high_s:
        return e.latest_offset_s, e.latest_age_s
    return e.offset_s, e.age_s


def reference_id(name: str) -> bytes:
    """RFC 5905 7.3: a server above stratum 1 names its upstream by IPv4 address, else by the first
    four octets of the MD5 of the address (IPv6) or, for a name, of the name."""
    host = name
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return hashlib.md5(host.encode(), usedforsecurity=False).digest()[:4]
    if addr.version == 4:
        return addr.packed
    return hashlib.md5(addr.packed, usedforsecurity=False).digest()[:4]
