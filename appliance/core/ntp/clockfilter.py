"""Per-peer clock filter (the shape of RFC 5905 section 10 and chrony's sample filter), pure.

Each answer of a peer is one sample: the offset between this node's clock and the peer's served
time, the round-trip delay, and what the peer said about itself (leap, stratum, root delay, root
dispersion). Delay is the enemy of accuracy: queueing on either side makes the path asymmetric,
and the offset error of a sample is at most half its delay. So the filter keeps the last
``window`` samples and uses the one with the lowest delay; its dispersion grows with its age at
PHI (15 ppm, RFC 5905's frequency tolerance), and the spread of the other samples around it is the
jitter.

Sign convention (the house's): offset_s = local - peer. A positive offset means this node is ahead.
Offsets are kept in the node's *clock* domain (the disciplined PHC, before the served-time map), so
they stay valid while served time slews; when the clock itself is stepped, ``shift`` moves every
stored sample by the step.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

from .packet import NtpPacket, ntp_to_ns, short_to_seconds

PHI = 15e-6  # s/s: how fast an old sample's dispersion grows (RFC 5905 frequency tolerance)
LEAP_UNSYNCHRONIZED = 3
MAX_STRATUM = 16


@dataclass(frozen=True)
class PeerSample:
    time_s: float  # local monotonic time of the answer
    offset_s: float  # local clock - peer served time
    delay_s: float  # round trip, never below zero
    leap: int = 0
    stratum: int = 1
    root_delay_s: float = 0.0  # the peer's own, from its packet
    root_dispersion_s: float = 0.0
    ref_id: bytes = b""  # what the peer's time rests on (b"PTP\x00": it follows a grandmaster)


@dataclass(frozen=True)
class PeerEstimate:
    """The filtered view of one peer, as the vote uses it."""

    offset_s: float
    delay_s: float
    dispersion_s: float  # the chosen sample's age times PHI
    jitter_s: float
    root_delay_s: float
    root_dispersion_s: float
    leap: int  # from the latest answer
    stratum: int  # from the latest answer
    age_s: float  # of the chosen sample
    samples: int
    ref_id: bytes = b""  # from the latest answer
    # The newest sample, whatever its delay: what a clock servo needs (the chosen one can be polls old,
    # measured before the servo's latest corrections); None where not kept.
    latest_offset_s: float | None = None
    latest_age_s: float | None = None

    def shifted(self, delta_s: float) -> PeerEstimate:
        """The same estimate with the offset moved by delta_s (the local clock or domain moved)."""
        latest = None if self.latest_offset_s is None else self.latest_offset_s + delta_s
        return PeerEstimate(
            self.offset_s + delta_s,
            self.delay_s,
            self.dispersion_s,
            self.jitter_s,
            self.root_delay_s,
            self.root_dispersion_s,
            self.leap,
            self.stratum,
            self.age_s,
            self.samples,
            self.ref_id,
            latest,
            self.latest_age_s,
        )

    @property
    def fit(self) -> bool:
        """RFC 5905's fitness in the part that applies here: the peer claims to be synchronized."""
        return self.leap != LEAP_UNSYNCHRONIZED and 0 < self.stratum < MAX_STRATUM

    @property
    def distance_s(self) -> float:
        """Half-width of the peer's correctness interval: how far its time may be from the truth as
        seen from here (RFC 5905 root distance, plus the path's half delay)."""
        return self.delay_s / 2 + self.root_delay_s / 2 + self.root_dispersion_s + self.dispersion_s + self.jitter_s


def client_sample(pkt: NtpPacket, t1_ns: int, t4_ns: int, now_s: float) -> PeerSample:
    """One client/server exchange (RFC 5905 8): T1 and T4 in the local clock's domain, T2 and T3
    from the server's reply. offset = ((T1 - T2) + (T4 - T3)) / 2 = local - peer; the delay is the
    round trip less the server's time, never below zero. A Kiss-o'-Death or a reply without time
    becomes a sample with no offset (NaN) and leap 3: the peer answered but said nothing usable."""
    if pkt.stratum == 0 or pkt.receive_ts == 0 or pkt.transmit_ts == 0:
        return PeerSample(
            now_s,
            math.nan,
            0.0,
            LEAP_UNSYNCHRONIZED,
            pkt.stratum,
            short_to_seconds(pkt.root_delay),
            short_to_seconds(pkt.root_dispersion),
            pkt.ref_id,
        )
    pivot = t4_ns // 1_000_000_000
    t2 = ntp_to_ns(pkt.receive_ts, pivot)
    t3 = ntp_to_ns(pkt.transmit_ts, pivot)
    offset_ns = ((t1_ns - t2) + (t4_ns - t3)) / 2
    delay_ns = (t4_ns - t1_ns) - (t3 - t2)
    return PeerSample(
        now_s,
        offset_ns * 1e-9,
        max(0.0, delay_ns * 1e-9),
        pkt.leap,
        pkt.stratum,
        short_to_seconds(pkt.root_delay),
        short_to_seconds(pkt.root_dispersion),
        pkt.ref_id,
    )


class ClockFilter:
    def __init__(self, window: int = 4, max_age_s: float = 16.0):
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self.max_age_s = max_age_s
        self._samples: deque[PeerSample] = deque(maxlen=window)

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, sample: PeerSample) -> None:
        if not (math.isfinite(sample.offset_s) and math.isfinite(sample.delay_s)):
            return
        if sample.delay_s < 0:
            sample = replace(sample, delay_s=0.0)
        self._samples.append(sample)

    def reset(self) -> None:
        self._samples.clear()

    def shift(self, delta_s: float) -> None:
        """The local clock was stepped by delta_s: every stored offset moves with it."""
        self._samples = deque(
            (replace(s, offset_s=s.offset_s + delta_s) for s in self._samples),
            maxlen=self.window,
        )

    def estimate(self, now_s: float) -> PeerEstimate | None:
        """The lowest-delay sample of the window (None when no sample is younger than max_age_s)."""
        fresh = [s for s in self._samples if now_s - s.time_s <= self.max_age_s]
        if not fresh:
            return None
        # Lowest delay wins; among equal delays the newest.
        best = min(reversed(fresh), key=lambda s: s.delay_s)
        others = [s for s in fresh if s is not best]
        jitter = math.sqrt(sum((s.offset_s - best.offset_s) ** 2 for s in others) / len(others)) if others else 0.0
        latest = fresh[-1]
        age = max(0.0, now_s - best.time_s)
        return PeerEstimate(
            offset_s=best.offset_s,
            delay_s=best.delay_s,
            dispersion_s=PHI * age,
            jitter_s=jitter,
            root_delay_s=best.root_delay_s,
            root_dispersion_s=best.root_dispersion_s,
            leap=latest.leap,
            stratum=latest.stratum,
            age_s=age,
            samples=len(fresh),
            ref_id=latest.ref_id,
            latest_offset_s=latest.offset_s,
            latest_age_s=max(0.0, now_s - latest.time_s),
        )
