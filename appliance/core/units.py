"""Units and the sign convention, written once for the whole appliance.

Inside the core, instants and offsets are integer nanoseconds (``*_ns``); durations measured on
the monotonic clock and everything that is read by people (bounds, intervals) are float seconds
(``*_s``); frequencies are float parts per billion (``*_ppb``). Seconds, ppm and ratios appear only
at the edges: configuration, status JSON, metrics, the NTP wire format. Every name carries its unit.

Sign convention, used everywhere:

* **offset = local - reference.** A positive offset means the local clock is ahead. "Local" is
  this node's clock (or served time, where the name says so); the reference is whatever it is
  compared with: the PTP grandmaster, the GNSS input, a peer, the system clock
  (``PHC - CLOCK_REALTIME``).
* **a frequency offset (``freq_offset_ppb``) is positive when the clock runs fast.** It is what an
  oscillator *does*: the oscillator model learns it, a lab measures it.
* **a frequency correction (``freq_correction_ppb``, and the status field ``clock.freq_ppb``) is
  positive when it makes the clock run faster.** It is what the appliance *applies*, as the
  kernel's ADJ_FREQUENCY does. To cancel an oscillator that runs fast by y ppb, apply -y ppb:
  ``correction = -offset``, always through ``correction_for`` / ``offset_of`` below.
"""

from __future__ import annotations

NS_PER_S = 1_000_000_000
PPB_PER_PPM = 1_000.0


def s_to_ns(seconds: float) -> int:
    return int(round(seconds * NS_PER_S))


def ns_to_s(nanoseconds: float) -> float:
    return nanoseconds / NS_PER_S


def ppm_to_ppb(ppm: float) -> float:
    return ppm * PPB_PER_PPM


def ppb_to_ppm(ppb: float) -> float:
    return ppb / PPB_PER_PPM


def ppb_to_ratio(ppb: float) -> float:
    """1 ppb = 1e-9 (what Prometheus and node_exporter export)."""
    return ppb * 1e-9


def correction_for(freq_offset_ppb: float) -> float:
    """The frequency correction that cancels an oscillator running ``freq_offset_ppb`` fast."""
    return -freq_offset_ppb


def offset_of(freq_correction_ppb: float) -> float:
    """The oscillator's frequency offset that a correction (which cancels it) reveals."""
    return -freq_correction_ppb
