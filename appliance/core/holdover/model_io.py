"""The stored form of a TempCompModel: a JSON object, checked field by field when read back.

The object carries its ``format`` and ``version``; a model of another format or version is refused
rather than guessed at. Units are in the field names (and restated in ``units``). Reading checks
every field a prediction relies on and raises ``ModelError`` naming the first one that is missing,
of the wrong type, not finite, or inconsistent with the others (a covariance of the wrong shape,
coefficients that do not cover the trained range); optional bookkeeping fields default.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from .noise import NoiseModel
from .series import FloatArray
from .table import grid_for

if TYPE_CHECKING:
    from .model import TempCompModel

MODEL_FORMAT = "appliance-tempcomp"
MODEL_VERSION = 1


class ModelError(ValueError):
    """A stored model that cannot be used; the message names the field."""


class ModelFields(TypedDict):
    """The keyword arguments of TempCompModel, as read from a stored model."""

    short_tau_s: FloatArray
    short_var_ppb2: FloatArray
    compensated: bool
    knot_spacing_c: float
    k_lo: int
    theta: FloatArray
    cov: FloatArray
    time_s: float
    lag_s: float
    crystal_c: float
    temp_lo_c: float
    temp_hi_c: float
    noise: NoiseModel
    n_samples: int
    n_outliers: int
    warnings: list[str]
    rejected_in_a_row: int


def encode(m: TempCompModel) -> dict[str, Any]:
    """The JSON object of a model (plain floats and lists)."""
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "units": "time s, temperature degC, frequency ppb (positive = oscillator fast)",
        "knot_spacing_c": m.knot_spacing_c,
        "k_lo": m.k_lo,
        "coefficients_ppb": [float(v) for v in m.theta[: m.n_coef]],
        "aging_ppb_per_day": m.aging_ppb_per_day,
        "level_ppb": m.level_ppb,
        "covariance": [[float(v) for v in row] for row in m.cov],
        "time_s": m.time_s,
        "lag_s": m.lag_s,
        "crystal_c": m.crystal_c,
        "temp_lo_c": m.temp_lo_c,
        "temp_hi_c": m.temp_hi_c,
        "noise": m.noise.to_dict(),
        "n_samples": m.n_samples,
        "n_outliers": m.n_outliers,
        "rejected_in_a_row": m.rejected_in_a_row,
        "compensated": m.compensated,
        "short_tau_s": [float(v) for v in m.short_tau_s],
        "short_var_ppb2": [float(v) for v in m.short_var_ppb2],
        "warnings": list(m.warnings),
    }


def decode(d: object) -> ModelFields:
    """The fields of a stored model, checked; ModelError names the first bad one."""
    if not isinstance(d, dict):
        raise ModelError("expected a JSON object")
    if d.get("format") != MODEL_FORMAT:
        raise ModelError(f"format: expected {MODEL_FORMAT!r}, got {d.get('format')!r}")
    if d.get("version") != MODEL_VERSION:
        raise ModelError(f"version: expected {MODEL_VERSION}, got {d.get('version')!r}")

    def num(key: str, positive: bool = False, allow_zero: bool = True) -> float:
        if key not in d:
            raise ModelError(f"{key}: required field is missing")
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ModelError(f"{key}: expected a finite number, got {v!r}")
        if positive and (v < 0 or (v == 0 and not allow_zero)):
            raise ModelError(f"{key}: expected a number > {'=' if allow_zero else ''}0, got {v!r}")
        return float(v)

    coef = d.get("coefficients_ppb")
    if not isinstance(coef, list) or len(coef) < 4:
        raise ModelError("coefficients_ppb: expected a list of at least 4 numbers")
    try:
        coef_a = np.array(coef, dtype=float)
        cov = np.array(d.get("covariance"), dtype=float)
    except (TypeError, ValueError):
        raise ModelError("coefficients_ppb / covariance: expected numbers") from None
    p = coef_a.size + 2
    if cov.shape != (p, p):
        raise ModelError(f"covariance: expected a {p}x{p} matrix, got shape {cov.shape}")
    if not (np.all(np.isfinite(coef_a)) and np.all(np.isfinite(cov))):
        raise ModelError("coefficients_ppb / covariance: not all finite")
    if np.any(np.diag(cov) < 0):
        raise ModelError("covariance: negative variance on the diagonal")
    k_lo = d.get("k_lo")
    if isinstance(k_lo, bool) or not isinstance(k_lo, int):
        raise ModelError(f"k_lo: expected an integer, got {k_lo!r}")
    spacing = num("knot_spacing_c", positive=True, allow_zero=False)
    lo, hi = num("temp_lo_c"), num("temp_hi_c")
    if hi < lo:
        raise ModelError(f"temp_hi_c {hi} is below temp_lo_c {lo}")
    k_need, n_need = grid_for(lo, hi, spacing)
    if k_need < k_lo or k_need + n_need > k_lo + coef_a.size:
        raise ModelError("coefficients_ppb do not cover temp_lo_c..temp_hi_c")
    try:
        noise = NoiseModel.from_dict(d.get("noise") or {})
    except (KeyError, TypeError) as exc:
        raise ModelError(f"noise: missing or malformed field {exc}") from None
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    theta = np.concatenate([coef_a, [num("aging_ppb_per_day"), num("level_ppb")]])
    warnings = d.get("warnings") or []
    compensated = d.get("compensated", True)
    if not isinstance(compensated, bool):
        raise ModelError(f"compensated: expected true or false, got {compensated!r}")
    try:
        short_tau = np.array(d.get("short_tau_s", []), dtype=float)
        short_var = np.array(d.get("short_var_ppb2", []), dtype=float)
    except (TypeError, ValueError):
        raise ModelError("short_tau_s / short_var_ppb2: expected lists of numbers") from None
    if (
        short_tau.shape != short_var.shape
        or short_tau.ndim != 1
        or np.any(~np.isfinite(short_tau))
        or np.any(short_tau <= 0)
        or np.any(np.diff(short_tau) <= 0)
        or np.any(~np.isfinite(short_var))
        or np.any(short_var < 0)
    ):
        raise ModelError("short_tau_s / short_var_ppb2: expected equal-length lists, times increasing and > 0")
    # The fields in the order the checks above and below run: the first bad one is reported.
    return {
        "short_tau_s": short_tau,
        "short_var_ppb2": short_var,
        "compensated": compensated,
        "knot_spacing_c": spacing,
        "k_lo": k_lo,
        "theta": theta,
        "cov": cov,
        "time_s": num("time_s"),
        "lag_s": num("lag_s", positive=True),
        "crystal_c": num("crystal_c"),
        "temp_lo_c": lo,
        "temp_hi_c": hi,
        "noise": noise,
        "n_samples": int(d.get("n_samples", 0)),
        "n_outliers": int(d.get("n_outliers", 0)),
        "warnings": [str(w) for w in warnings] if isinstance(warnings, list) else [],
        "rejected_in_a_row": int(d.get("rejected_in_a_row", 0)),
    }
