"""The holdover predictor the discipline holds: learns the oscillator while locked, predicts in holdover.

``TempCompPredictor`` is the optional hook of ``core.clock.discipline.Discipline``: a ModelLearner
(learn.py: locked ticks into records, the batch fit, Kalman updates, refits, the stored state)
that also predicts. When the reference is lost it starts a HoldoverRun (bound.py) from the current
model: the frequency is predicted every APPLY_INTERVAL_S and the time-error bound grows as
described there. When the reference is back the run's lagged temperature is kept and learning
goes on. ``status`` is what the service reports of both halves.
"""

from __future__ import annotations

import math
from typing import Any

from .bound import APPLY_INTERVAL_S, HoldoverRun
from .learn import REFIT_EVERY_S, ModelLearner, RefitRequest
from .model import TempCompModel
from .records import BUFFER_S, RECORD_S
from .series import MIN_SPAN_S

# The predictor's surface: the refit requests it hands out (take_refit) belong to it.
__all__ = ["RefitRequest", "TempCompPredictor"]


class TempCompPredictor(ModelLearner):
    """Optional hook of Discipline: learns the oscillator while locked (ModelLearner), predicts in
    holdover (HoldoverRun)."""

    def __init__(
        self,
        model: TempCompModel | None = None,
        *,
        record_s: float = RECORD_S,
        apply_interval_s: float = APPLY_INTERVAL_S,
        min_train_s: float = MIN_SPAN_S,
        buffer_s: float = BUFFER_S,
        refit_every_s: float = REFIT_EVERY_S,
        compensated: bool = True,
        defer_refit: bool = False,
        tick_interval_s: float | None = None,
    ) -> None:
        super().__init__(
            model,
            record_s=record_s,
            min_train_s=min_train_s,
            buffer_s=buffer_s,
            refit_every_s=refit_every_s,
            compensated=compensated,
            defer_refit=defer_refit,
            tick_interval_s=tick_interval_s,
        )
        self.apply_interval_s = apply_interval_s
        self.run: HoldoverRun | None = None
        self._last_apply_s = 0.0

    # -- Discipline hook --------------------------------------------------------------------
    def observe(self, now_s: float, temp_c: float | None, freq_ppb: float) -> None:
        """A locked tick: oscillator frequency ``freq_ppb`` (positive = fast) at ``temp_c``."""
        if temp_c is None or not (math.isfinite(temp_c) and math.isfinite(freq_ppb)):
            return
        if self.run is not None:
            self.end_holdover()
        self._tick(now_s, temp_c, freq_ppb)

    def start_holdover(self, now_s: float, temp_c: float | None) -> float | None:
        """Reference lost: the predicted oscillator frequency (ppb) to hold, or None (no model)."""
        self._stop_ticks()
        if self.model is None:
            return None
        temp0 = temp_c if temp_c is not None and math.isfinite(temp_c) else self.model.crystal_c
        self.run = HoldoverRun(self.model, now_s, temp0, interval_s=self.apply_interval_s)
        self._last_apply_s = now_s
        return self.run.freq_ppb

    def predict_freq_ppb(self, now_s: float, temp_c: float | None) -> float | None:
        """In holdover, every tick: the frequency to hold (changes every apply_interval_s)."""
        if self.run is None:
            return None
        self.run.temperature(now_s, temp_c)
        if now_s - self._last_apply_s >= self.apply_interval_s:
            self._last_apply_s = now_s
            self.run.apply(now_s)
        return self.run.freq_ppb

    def bound_s(self, elapsed_s: float) -> float | None:
        if self.run is None:
            return None
        return self.run.bound_s(self.run.t0 + elapsed_s)

    def end_holdover(self) -> None:
        """Reference back: keep the lagged temperature the run tracked."""
        if self.run is not None and self.model is not None:
            self.model.crystal_c = self.run.model.crystal_c
            self._last_temp_s = self.run.temp_time_s
        self.run = None

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        m = self.model
        out: dict[str, Any] = {
            "ready": m is not None,
            "records_buffered": len(self.records),
            "fits": self.fits,
            "updates": self.updates,
            "rejected": self.rejected,
            "last_error": self.last_error,
            "holdover": self.run is not None,
        }
        if m is not None:
            out.update(
                trained_range_c=[round(m.temp_lo_c, 3), round(m.temp_hi_c, 3)],
                lag_s=m.lag_s,
                aging_ppb_per_day=round(m.aging_ppb_per_day, 4),
                rw_ppb_per_sqrt_s=round(m.noise.rw_ppb_per_sqrt_s, 6),
            )
            # The frequency correction the model applies now: minus the predicted oscillator
            # frequency while holding over, nothing while the reference steers the clock.
            out["compensation_ppm"] = -self.run.freq_ppb * 1e-3 if self.run is not None else 0.0
        if self.run is not None:
            out["extrapolation_c"] = round(self.run.extrapolation_c, 3)
        return out
