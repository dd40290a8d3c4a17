"""Is the oscillator the class it is sold as? Checks against a class of hardware/oscillators.yaml,
and the class it behaves as (pure).

Per class (classes.py gives its promise):
  stability.adev              the measured ADEV against the class's line, raised by the measurement
                              floor (the white phase noise of reading the clock). Judged only at the
                              averaging times where the floor is below the class's own line (else the
                              reading, not the oscillator, would be judged); a point passes within one
                              sigma of its estimate above the line, fails when even its lower 2-sigma
                              estimate is above it, and warns in between.
                              When a temperature response was fitted, the ADEV of the frequency with that
                              response taken out is judged (the response has checks of its own).
  stability.frequency_offset  the mean frequency offset against the class's accuracy over the
                              temperatures seen
  temperature.slope_ppm_per_c the fitted slope against the steepest slope the class allows

The class a part behaves as (``estimate``): the tightest class none of whose checks fails and whose
ADEV could be judged at one averaging time at least. Without that evidence a tighter class is not
claimed: a short run against CLOCK_REALTIME cannot tell an OCXO from a TCXO, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..verdict import Verdict
from .checks import Check
from .classes import OscillatorClass
from .stability import DevPoint

ASSUMED_ROOM_C = (20.0, 30.0)  # no temperature sensor: the accuracy is judged for a room in this range
OFFSET_WARN_FACTOR = 1.5
TEMP_STEADY_C = 0.5  # the temperature moved less than this during the stability phase: no warning
UNCLASSIFIED = "unclassified"


@dataclass
class Evidence:
    adev: list[DevPoint]
    interval_s: float
    floor_s: float  # sigma_x of a reading (0 for a log measured against a reference elsewhere)
    compensated: bool  # adev is of the frequency with the fitted temperature response removed
    freq_offset_ppm: float | None
    temp_lo_c: float | None = None
    temp_hi_c: float | None = None
    slope_ppm_per_c: float | None = None
    slope_sigma_ppm_per_c: float | None = None
    temp_range_stability_c: float | None = None  # how far the temperature moved during the stability record
    # tau -> ADEV the sensor's noise adds through the fitted response; "sensor_sigma_c": that noise (K)
    sensor_adev: dict[float | str, float] = field(default_factory=dict)

    @property
    def temps(self) -> tuple[float, float, bool]:
        if self.temp_lo_c is None or self.temp_hi_c is None or not math.isfinite(self.temp_lo_c):
            return ASSUMED_ROOM_C[0], ASSUMED_ROOM_C[1], True
        return self.temp_lo_c, self.temp_hi_c, False


def adev_check(cls: OscillatorClass, ev: Evidence) -> tuple[Check | None, int]:
    """The ADEV check and how many averaging times it judged."""
    if not ev.adev:
        return None, 0
    name = "stability.adev_temperature_compensated" if ev.compensated else "stability.adev"
    judged: list[tuple[int, float, DevPoint, float, Verdict]] = []
    limited: list[float] = []
    for p in ev.adev:
        own = float(cls.adev_line(p.tau_s))
        floor = math.sqrt(3.0) * ev.floor_s / p.tau_s
        if floor > own:
            limited.append(p.tau_s)
            continue
        line = float(cls.adev_line(p.tau_s, ev.floor_s, ev.interval_s))
        if ev.compensated:
            line = math.hypot(line, ev.sensor_adev.get(p.tau_s, 0.0))
        ratio = p.value / line
        lower = p.value * max(1.0 - 2.0 * p.rel_err, 0.0) / line
        # within one sigma of the line: the estimate cannot tell it from a part exactly at the class's edge
        verdict = Verdict.OK if ratio <= 1.0 + p.rel_err else Verdict.FAIL if lower > 1.0 else Verdict.WARN
        judged.append((verdict.rank, ratio, p, line, verdict))
    floor_text = f"read floor sigma_x {ev.floor_s * 1e9:.2f} ns" if ev.floor_s else "no read floor (a log)"
    if not judged:
        return Check(
            name,
            Verdict.WARN,
            None,
            None,
            "fractional frequency",
            f"not judged: the measurement floor ({floor_text}) is above the {cls.name} line at every "
            f"averaging time measured (up to {ev.adev[-1].tau_s:g} s); a longer run or --reference "
            f"would resolve it",
        ), 0
    _, ratio, p, line, verdict = max(judged, key=lambda j: (j[0], j[1]))
    detail = (
        f"worst at tau {p.tau_s:g} s: ADEV {p.value:.3g} vs the {cls.name} line {line:.3g} "
        f"({ratio:.2f} x, estimate +-{p.rel_err * 100:.0f} %); judged at {len(judged)} averaging time(s)"
    )
    if ev.compensated and ev.sensor_adev.get("sensor_sigma_c"):
        detail += (
            f"; the line includes what the sensor's noise ({ev.sensor_adev['sensor_sigma_c']:.3f} K) adds "
            f"through the fitted response"
        )
    if limited:
        detail += f"; not judged at tau {', '.join(f'{t:g}' for t in limited)} s (below the {floor_text})"
    return Check(name, verdict, float(f"{p.value:.4g}"), float(f"{line:.4g}"), "fractional frequency", detail), len(
        judged
    )


def offset_check(cls: OscillatorClass, ev: Evidence) -> Check | None:
    if ev.freq_offset_ppm is None or not math.isfinite(ev.freq_offset_ppm):
        return None
    lo, hi, assumed = ev.temps
    acc = cls.accuracy_ppm(lo, hi)
    v = ev.freq_offset_ppm
    verdict = Verdict.OK if abs(v) <= acc else Verdict.WARN if abs(v) <= OFFSET_WARN_FACTOR * acc else Verdict.FAIL
    where = (
        f"a room of {lo:g}..{hi:g} degC assumed (no temperature reading)"
        if assumed
        else f"over {lo:.1f}..{hi:.1f} degC"
    )
    return Check(
        "stability.frequency_offset_ppm",
        verdict,
        round(v, 6),
        round(acc, 6),
        "ppm",
        f"mean fractional frequency offset of the free-running oscillator; the {cls.name} class allows "
        f"+-{acc:.4g} ppm {where}",
    )


def tempco_check(cls: OscillatorClass, ev: Evidence) -> Check | None:
    if ev.slope_ppm_per_c is None or ev.temp_lo_c is None or ev.temp_hi_c is None:
        return None
    limit = cls.tempco_limit_ppm_per_c(ev.temp_lo_c, ev.temp_hi_c)
    s = ev.slope_ppm_per_c
    sigma = ev.slope_sigma_ppm_per_c or 0.0
    verdict = Verdict.OK if abs(s) <= limit else Verdict.WARN if abs(s) - 2 * sigma <= limit else Verdict.FAIL
    return Check(
        "temperature.slope_ppm_per_c",
        verdict,
        float(f"{s:.4g}"),
        float(f"{limit:.4g}"),
        "ppm/degC",
        f"slope of the fitted response at the mean temperature (+-{sigma:.2g}); the steepest the "
        f"{cls.name} class allows over {ev.temp_lo_c:.1f}..{ev.temp_hi_c:.1f} degC",
    )


def steady_check(ev: Evidence) -> Check | None:
    r = ev.temp_range_stability_c
    if r is None or ev.compensated:
        return None
    verdict = Verdict.OK if r <= TEMP_STEADY_C else Verdict.WARN
    return Check(
        "stability.temperature_range_c",
        verdict,
        round(r, 3),
        TEMP_STEADY_C,
        "K",
        "how far the (1-minute averaged) temperature moved while stability was recorded: the class lines "
        "hold at a steady temperature, and the range was too small to fit the response and take it out",
    )


def class_checks(cls: OscillatorClass, ev: Evidence) -> tuple[list[Check], int]:
    out: list[Check] = []
    adev, judged = adev_check(cls, ev)
    for c in (adev, offset_check(cls, ev), tempco_check(cls, ev)):
        if c is not None:
            out.append(c)
    return out, judged


def estimate(ordered: list[OscillatorClass], ev: Evidence) -> tuple[str | None, str]:
    """(class name, or UNCLASSIFIED, or None when there is nothing to judge; the reason)."""
    if not ev.adev and ev.freq_offset_ppm is None:
        return None, "no stability record: nothing to judge the oscillator by"
    skipped: list[str] = []
    for cls in ordered:
        checks, judged = class_checks(cls, ev)
        failed = [c.name for c in checks if c.verdict is Verdict.FAIL]
        if failed:
            skipped.append(f"not {cls.name} ({', '.join(failed)} fail)")
            continue
        if ev.adev and judged == 0:
            skipped.append(f"{cls.name} not resolvable (its ADEV is below the measurement floor)")
            continue
        return cls.name, "; ".join(skipped + [f"meets every {cls.name} check"])
    return UNCLASSIFIED, "; ".join(skipped) + "; worse than every class of hardware/oscillators.yaml"
