"""A lab check: a measured value, its limit, and the verdict (pure).

Verdicts are core.verdict's (ok / warn / fail); the lab's report words them pass / warn / fail.
Limits of the PHC's own behaviour come in as ``LabLimits`` (hardware/nics.yaml: the lab's defaults,
overridden per NIC family); each is a pair [pass up to, warn up to], beyond the second it fails.
The checks of the oscillator (its class) are in ``oscillator.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy.typing as npt

from ..verdict import Verdict
from . import hardware as hw
from .records import Refusal

VERDICT_WORD = {Verdict.OK: "pass", Verdict.WARN: "warn", Verdict.FAIL: "fail"}
JUMP_LIMIT_SIGMAS = (8.0, 24.0)  # a phase increment this many robust sigmas from the median: warn, fail


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    value: float | str | None
    limit: float | str | None
    unit: str
    detail: str = ""

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def word(self) -> str:
        return VERDICT_WORD[self.verdict]

    def to_json(self) -> dict[str, float | str | None]:
        """Exactly the report.json fields of a check."""
        value = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        return {"name": self.name, "verdict": self.word, "value": value, "limit": self.limit, "unit": self.unit}


def band(value: float | None, limits: tuple[float, float]) -> Verdict:
    """|value| within the first bound: ok; within the second: warn; else (or not a number): fail."""
    if value is None or not math.isfinite(value):
        return Verdict.FAIL
    a = abs(value)
    return Verdict.OK if a <= limits[0] else Verdict.WARN if a <= limits[1] else Verdict.FAIL


class LimitsError(ValueError):
    pass


def _pair(name: str, v: Any) -> tuple[float, float]:  # v: whatever the YAML held, checked here
    try:
        a, b = (float(x) for x in v)
    except (TypeError, ValueError):
        raise LimitsError(f"{name}: expected [pass up to, warn up to], got {v!r}") from None
    if not (0 <= a <= b) or not math.isfinite(b):
        raise LimitsError(f"{name}: expected 0 <= pass <= warn, got {v!r}")
    return a, b


@dataclass(frozen=True)
class LabLimits:
    read_jitter_ns: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "precise": (20.0, 100.0),
            "extended": (200.0, 1000.0),
            "basic": (1000.0, 10000.0),
            "sim": (20.0, 100.0),
        }
    )
    frequency_gain_error_ppm: tuple[float, float] = (1000.0, 10000.0)
    frequency_nonlinearity_fraction: tuple[float, float] = (0.001, 0.01)
    phase_step_error_ns: tuple[float, float] = (1000.0, 10000.0)
    adjphase_error_ns: tuple[float, float] = (1000.0, 10000.0)
    pps_offset_ns: tuple[float, float] = (1000.0, 10000.0)
    pps_jitter_ns: tuple[float, float] = (100.0, 1000.0)

    @classmethod
    def from_dict(
        cls, d: Mapping[str, object] | None, base: LabLimits | None = None, where: str = "lab.limits"
    ) -> LabLimits:
        """``d`` overrides ``base`` (default: the built-in values) key by key; unknown keys are errors."""
        base = base or cls()
        if not d:
            return base
        if not isinstance(d, dict):
            raise LimitsError(f"{where}: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise LimitsError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        values = {f.name: getattr(base, f.name) for f in fields(cls)}
        for key, v in d.items():
            if key == "read_jitter_ns":
                if not isinstance(v, dict):
                    raise LimitsError(f"{where}.read_jitter_ns: expected a mapping method -> [pass, warn]")
                merged = dict(values[key])
                merged.update({m: _pair(f"{where}.read_jitter_ns.{m}", p) for m, p in v.items()})
                values[key] = merged
            else:
                values[key] = _pair(f"{where}.{key}", v)
        return cls(**values)


# --- the PHC's checks ----------------------------------------------------------------------------


def read_checks(
    stats: list[hw.ReadStats], failed: dict[str, str], limits: LabLimits, cross_timestamping_claim: str | None
) -> list[Check]:
    out = []
    working = [s.method for s in stats]
    if not working:
        why = "; ".join(f"{m}: {e}" for m, e in failed.items()) or "no method was tried"
        return [
            Check(
                "read.methods", Verdict.FAIL, "none", "at least one", "methods", f"no sys-offset method worked: {why}"
            )
        ]
    verdict, detail = Verdict.OK, f"working: {', '.join(working)}"
    if failed:
        detail += "; refused: " + "; ".join(f"{m} ({e})" for m, e in failed.items())
    if cross_timestamping_claim == "yes" and "precise" not in working:
        verdict = Verdict.WARN
        detail += "; the NIC family has cross-timestamping (hardware/nics.yaml) but PTP_SYS_OFFSET_PRECISE did not work"
    out.append(Check("read.methods", verdict, ", ".join(working), "at least one", "methods", detail))
    for s in stats:
        lim = limits.read_jitter_ns.get(s.method, limits.read_jitter_ns.get("extended", (200.0, 1000.0)))
        # judged on the robust spread: a few readings with an interrupt inside their window should not
        # decide it (the stability phase takes the best of several readings, which drops them)
        out.append(
            Check(
                f"read.{s.method}.jitter_ns",
                band(s.jitter_robust_ns, lim),
                round(s.jitter_robust_ns, 3),
                lim[0],
                "ns",
                f"{s.n} single readings: window median {s.window_p50_ns:.0f} ns, p99 {s.window_p99_ns:.0f} ns; "
                f"offset jitter robust sigma {s.jitter_robust_ns:.1f} ns (sd {s.jitter_ns:.1f} ns, "
                f"p99 |dev| {s.jitter_p99_ns:.1f} ns)",
            )
        )
    return out


def frequency_checks(
    lin: hw.Linearity | None, n_points: int, refusals: list[Refusal], limits: LabLimits, reason: str | None = None
) -> list[Check]:
    out = []
    if lin is None:
        return [Check("frequency.linearity", Verdict.WARN, None, None, "", reason or "not measured")]
    noise_frac = 3.0 * lin.noise_ppb / lin.max_adj_ppb if lin.max_adj_ppb else 0.0
    gain_floor_ppm = 3.0 * lin.noise_ppb / max(lin.max_adj_ppb, 1.0) * 1e6
    gain_pass, gain_warn = limits.frequency_gain_error_ppm
    gain_lim = (max(gain_pass, gain_floor_ppm), max(gain_warn, gain_floor_ppm))
    out.append(
        Check(
            "frequency.gain_error_ppm",
            band(lin.gain_error_ppm, gain_lim),
            round(lin.gain_error_ppm, 3),
            gain_lim[0],
            "ppm",
            f"measured / commanded = {lin.gain:.6f} over {n_points} points across +-{lin.max_adj_ppb:.0f} ppb",
        )
    )
    nl_pass, nl_warn = limits.frequency_nonlinearity_fraction
    nl_lim = (max(nl_pass, noise_frac), max(nl_warn, noise_frac))
    out.append(
        Check(
            "frequency.nonlinearity",
            band(lin.nonlinearity_fraction, nl_lim),
            round(lin.nonlinearity_fraction * 100, 6),
            round(nl_lim[0] * 100, 6),
            "% of max_adj",
            f"worst point {lin.worst_residual_ppb:+.1f} ppb off the fitted line at {lin.worst_at_ppb:+.0f} ppb "
            f"commanded (measurement uncertainty per point up to {lin.noise_ppb:.1f} ppb)",
        )
    )
    if refusals:
        accepted = [r for r in refusals if not r.refused]
        out.append(
            Check(
                "frequency.refusal",
                Verdict.FAIL if accepted else Verdict.OK,
                len(accepted),
                0,
                "accepted beyond max_adj",
                "; ".join(
                    f"{r.attempted_ppb:+.0f} ppb: {'refused' if r.refused else 'ACCEPTED'} ({r.message})"
                    for r in refusals
                ),
            )
        )
    return out


def step_check(name: str, result: hw.StepResult, lim: tuple[float, float], floor_ns: float, detail: str) -> Check:
    lim = (max(lim[0], 5.0 * floor_ns), max(lim[1], 10.0 * floor_ns))
    errs = ", ".join(f"{e:+.0f}" for e in result.errors_ns)
    return Check(
        name,
        band(result.worst_error_ns, lim),
        round(result.worst_error_ns, 1),
        lim[0],
        "ns",
        f"{detail}; landed - commanded per step: {errs} ns (limit at least 5 x the read jitter)",
    )


def pps_checks(offsets_ns: npt.ArrayLike, limits: LabLimits, detail: str) -> list[Check]:
    import numpy as np

    off = np.asarray(offsets_ns, dtype=float)
    if off.size < 3:
        return [
            Check(
                "pins.pps_events",
                Verdict.FAIL,
                int(off.size),
                3,
                "events",
                f"{detail}: {off.size} external timestamp event(s) from the periodic output",
            )
        ]
    mean, sd = float(off.mean()), float(off.std(ddof=1))
    return [
        Check(
            "pins.pps_offset_ns",
            band(mean, limits.pps_offset_ns),
            round(mean, 1),
            limits.pps_offset_ns[0],
            "ns",
            f"{detail}: {off.size} edges, mean distance from the PHC's second (cable and pin delays included)",
        ),
        Check(
            "pins.pps_jitter_ns",
            band(sd, limits.pps_jitter_ns),
            round(sd, 1),
            limits.pps_jitter_ns[0],
            "ns",
            f"{detail}: standard deviation over {off.size} edges",
        ),
    ]


def jump_check(max_dev_ns: float, spread_ns: float) -> Check:
    sigmas = max_dev_ns / spread_ns if spread_ns > 0 else 0.0
    return Check(
        "stability.phase_jump",
        band(sigmas, JUMP_LIMIT_SIGMAS),
        round(sigmas, 2),
        JUMP_LIMIT_SIGMAS[0],
        "robust sigmas",
        f"largest single-interval phase change {max_dev_ns:.1f} ns from the median (robust spread "
        f"{spread_ns:.2f} ns): a PHC that jumps, or a reading gone wrong, shows here",
    )


def overall(checks: list[Check]) -> Verdict:
    return Verdict.worst(c.verdict for c in checks)
