"""Figures of a set of holdover evaluations per horizon bucket, beside two anchors of the same runs.

  error oracle   a bound that knows the model's error distribution on these runs relative to its
                 own bound: in each bucket, our bound scaled by the 99 % quantile of |error| /
                 bound over the runs' rows, so that it covers exactly 99 % there with our bound's
                 shape. ``ratio`` is median(our bound) / median(its bound) (target <= 1.25; below
                 1 the bound is too tight, its coverage short of 99 %).
  noise oracle   holdover_eval.oracle: the exact 99 % bound of the oscillator noise still to come,
                 per run (the physical floor: the model's own error is not in it).
  quadratic      chrony's tempcomp quadratic on the same training data (holdover_eval.py), anchored
                 as chronyd runs it: ``max_te_ratio`` is the model's 24 h max |TE| / the
                 quadratic's, per part; ``best_quad_ratio`` the same against the better of the
                 anchored and the raw quadratic on each part (a choice no node could make).

All runs of one report must have the same holdover rows (same interval and length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .holdover_eval import Evaluation

HORIZONS_H = ((0.0, 1.0), (1.0, 3.0), (3.0, 6.0), (6.0, 24.0))


@dataclass(frozen=True)
class Bucket:
    lo_h: float
    hi_h: float
    coverage: float  # fraction of rows with |error| <= bound
    med_bound_over_err: float  # median(bound) / median(|error|)
    oracle_bound_over_err: float  # the same for the error oracle
    ratio: float  # median(bound) / median(error-oracle bound)
    noise_ratio: float  # median(bound) / median(noise-oracle bound)


@dataclass(frozen=True)
class Report:
    buckets: list[Bucket]
    max_te_ratio: np.ndarray  # per part: model max |TE| / chronyd's anchored quadratic's
    best_quad_ratio: np.ndarray  # per part: model max |TE| / the better of both quadratics on it
    seeds: list[int]

    def lines(self, title: str) -> list[str]:
        r = self.max_te_ratio
        out = [
            f"{title}: {len(self.seeds)} parts, seeds {self.seeds[0]}..{self.seeds[-1]}",
            f"  {'hours':>9s} | {'coverage':>9s} {'medB/medE':>10s} | {'oracle medB/medE':>16s} | "
            f"{'medB/oracle':>11s} {'medB/noise':>10s}",
        ]
        for b in self.buckets:
            out.append(
                f"  {b.lo_h:>4g}-{b.hi_h:<4g} | {b.coverage * 100:8.2f}% {b.med_bound_over_err:10.2f} | "
                f"{b.oracle_bound_over_err:16.2f} | {b.ratio:11.2f} {b.noise_ratio:10.2f}"
            )
        out.append(
            f"  24 h max|TE| model / quadratic: median {np.median(r):.2f}, max {np.max(r):.2f}, "
            f"parts above 1.0: {int(np.sum(r > 1.0))}"
        )
        q = self.best_quad_ratio
        out.append(
            f"  the same / the better of anchored and raw quadratic on each part: median {np.median(q):.2f}, "
            f"max {np.max(q):.2f}, parts above 1.0: {int(np.sum(q > 1.0))}"
        )
        return out


@dataclass(frozen=True)
class Scored:
    """What a report needs of one evaluation (the run's arrays are let go)."""

    seed: int
    hours: np.ndarray  # holdover rows after the first
    abs_error_s: np.ndarray
    bound_s: np.ndarray
    noise_bound_s: np.ndarray
    max_te_s: float
    quadratic_max_te_s: float  # chronyd's: the anchored quadratic
    best_quadratic_max_te_s: float  # the better of the anchored and the raw quadratic on this part


def score(ev: Evaluation, method: str = "model") -> Scored:
    """``method``: "model" (the table, fit.py and bound.py) or "adaptive" (select.py)."""
    assert ev.oracle is not None
    p = ev.adaptive if method == "adaptive" else ev.prediction
    assert p is not None, "evaluate(run, adaptive=True) for the adaptive method"
    return Scored(
        ev.run.seed,
        (p.time_s[1:] - p.time_s[0]) / 3600.0,
        np.abs(ev.time_error_s[method][1:]),
        p.bound_s[1:],
        ev.oracle.bound_s[1:],
        ev.max_abs_s(method),
        ev.max_abs_s("quadratic"),
        min(ev.max_abs_s("quadratic"), ev.max_abs_s("quadratic_raw")),
    )


def report(scored: list[Scored]) -> Report:
    err = np.array([s.abs_error_s for s in scored])
    bound = np.array([s.bound_s for s in scored])
    noise = np.array([s.noise_bound_s for s in scored])
    hours = scored[0].hours
    buckets = []
    for lo, hi in HORIZONS_H:
        m = (hours > lo) & (hours <= hi + 1e-9)
        if not m.any():
            continue
        e, b = err[:, m], bound[:, m]
        o = b * float(np.quantile(e / np.maximum(b, 1e-30), 0.99))
        med_e = float(np.median(e))
        buckets.append(
            Bucket(
                lo,
                hi,
                float(np.mean(e <= b)),
                float(np.median(b)) / med_e,
                float(np.median(o)) / med_e,
                float(np.median(b) / np.median(o)),
                float(np.median(b) / np.median(noise[:, m])),
            )
        )
    ratio = np.array([s.max_te_s / s.quadratic_max_te_s for s in scored])
    best = np.array([s.max_te_s / s.best_quadratic_max_te_s for s in scored])
    return Report(buckets, ratio, best, [s.seed for s in scored])
