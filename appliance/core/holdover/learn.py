"""Learning the oscillator while locked: records into the model, and when to fit it again.

Locked ticks (time, temperature, oscillator frequency = minus the servo's drift) are averaged
into records on a regular RECORD_S grid (records.py). Until a model exists, records are buffered;
after MIN_SPAN_S of them a batch fit (fit.py) makes the model, and every record then updates it
(the Kalman filter of model.py). Every REFIT_EVERY_S the model is fitted again from the buffer
(the last BUFFER_S), which also re-estimates the lag and the noise, provided the buffer spans at
least the data the model was last fitted on (a model restored after a restart is not replaced by
a fit of fewer days).

A fit takes about a second for a week of records. In deferred mode (``defer_refit``) a due fit is
not run inside the locked tick: it is handed out once as a ``RefitRequest`` (``take_refit``), the
caller runs it wherever it likes and hands the result back (``install_refit``); meanwhile the
current model keeps learning from every record, and the new one is brought up to date with the
records that arrived while it ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from .fit import FitResult, fit
from .model import TempCompModel
from .model_io import ModelError
from .records import BUFFER_S, MAX_TICK_GAP_S, RECORD_S, Record, RecordBuffer
from .series import MAX_INTERVAL_S, MIN_SPAN_S, FloatArray, SampleError

REFIT_EVERY_S = 86_400.0


@dataclass(frozen=True, eq=False)
class RefitRequest:
    """A fit of the buffered records, to run off the tick (it takes about a second for a week)."""

    time_s: FloatArray
    temp_c: FloatArray
    freq_ppb: FloatArray
    compensated: bool

    def run(self) -> FitResult | SampleError:
        """The fit; pure, so it may run in any thread or process. A failure is returned, not raised."""
        try:
            return fit(self.time_s, self.temp_c, self.freq_ppb, compensated=self.compensated)
        except SampleError as exc:
            return exc


class ModelLearner:
    """The learned model and what it is learned from (see the module docstring)."""

    def __init__(
        self,
        model: TempCompModel | None = None,
        *,
        record_s: float = RECORD_S,
        min_train_s: float = MIN_SPAN_S,
        buffer_s: float = BUFFER_S,
        refit_every_s: float = REFIT_EVERY_S,
        compensated: bool = True,
        defer_refit: bool = False,
        tick_interval_s: float | None = None,
    ) -> None:
        self.model = model
        # Deferred: a due fit is handed out (take_refit) instead of run inside the locked tick.
        self.defer_refit = defer_refit
        self.pending_refit: RefitRequest | None = None
        self._refit_asked: RefitRequest | None = None
        self.compensated = compensated  # TCXO/OCXO; False for a plain crystal (see extrapolation.py)
        # A record holds at least one tick: with ticks slower than RECORD_S the records follow them
        # (up to what the fit takes), and a pause closes a record only when it is longer than a tick.
        tick_s = 0.0 if tick_interval_s is None else float(tick_interval_s)
        self.records = RecordBuffer(
            min(max(record_s, tick_s), max(record_s, MAX_INTERVAL_S)), max(MAX_TICK_GAP_S, 2.5 * tick_s), buffer_s
        )
        self.min_train_s = min_train_s
        self.refit_every_s = refit_every_s
        self._last_temp_s: float | None = None
        self._last_fit_s: float | None = model.time_s if model is not None else None
        self._fit_span_s = buffer_s if model is not None else 0.0  # data span behind the model's last fit
        self.last_error: str | None = None
        self.fits = 0
        self.updates = 0
        self.rejected = 0

    @property
    def record_s(self) -> float:
        return self.records.record_s

    @property
    def max_tick_gap_s(self) -> float:
        return self.records.max_tick_gap_s

    @property
    def buffer_s(self) -> float:
        return self.records.buffer_s

    def ready(self) -> bool:
        return self.model is not None

    def _tick(self, now_s: float, temp_c: float, freq_ppb: float) -> None:
        """A locked tick into the records; a record it closes is learned."""
        closed = self.records.tick(now_s, temp_c, freq_ppb)
        if closed is not None:
            self._learn(closed)

    def _stop_ticks(self) -> None:
        """The locked ticks stop: the open record is closed and learned."""
        closed = self.records.stop()
        if closed is not None:
            self._learn(closed)

    def _learn(self, record: Record) -> None:
        """A closed record: the fit, if one is due and the records suffice, else a Kalman update."""
        t = record.time_s
        span = self.records.span_s
        due = self.model is None or (
            self._last_fit_s is not None and t - self._last_fit_s >= self.refit_every_s and span >= self._fit_span_s
        )
        if due and span >= self.min_train_s:
            if not self.defer_refit:
                self._refit()
                return
            if self._refit_asked is None:
                self.pending_refit = self._refit_request()
                self._refit_asked = self.pending_refit
        self._update(t, record.temp_c, record.freq_ppb)

    def _update(self, t: float, temp: float, freq: float) -> None:
        """One record into the current model (Kalman)."""
        if self.model is not None:
            m = self.model
            gap = t - (self._last_temp_s if self._last_temp_s is not None else m.time_s)
            teff = m.advance_crystal(gap if gap < 3 * self.record_s else self.record_s * 1e6, temp)
            self._last_temp_s = t
            var = float(m.noise.mean_var_ppb2(self.record_s))
            if m.update(t, teff, freq, max(var, 1e-6)):
                self.updates += 1
            else:
                self.rejected += 1

    def _refit_request(self) -> RefitRequest:
        return RefitRequest(*self.records.arrays(), self.compensated)

    def _refit(self) -> None:
        request = self._refit_request()
        self.install_refit(request, request.run())

    def take_refit(self) -> RefitRequest | None:
        """The fit that is due (deferred mode), once; the caller runs ``request.run()`` wherever it
        likes and hands the result to ``install_refit``. Until then the current model keeps
        learning from every record."""
        request, self.pending_refit = self.pending_refit, None
        return request

    def install_refit(self, request: RefitRequest, result: FitResult | SampleError) -> None:
        """A finished fit of ``request``: the new model, brought up to date with the records that
        arrived while it ran; or the reason it failed."""
        if self._refit_asked is request:
            self._refit_asked = None
        end_s = float(request.time_s[-1])
        if isinstance(result, SampleError):
            self.last_error = f"fit from {request.time_s.size} records: {result}"
            self._last_fit_s = end_s
            return
        self.model = result.model
        self._last_temp_s = self.model.time_s
        self._last_fit_s = self.model.time_s
        self._fit_span_s = end_s - float(request.time_s[0])
        self.last_error = None
        self.fits += 1
        for record in self.records.since(end_s):
            self._update(record.time_s, record.temp_c, record.freq_ppb)

    # -- persistence ---------------------------------------------------------------------------
    def shift_time(self, delta_s: float) -> None:
        """Move every stored time by delta_s (the adapter maps a restored state to its time axis)."""
        if self.model is not None:
            self.model.time_s += delta_s
        self.records.shift_time(delta_s)
        if self._last_fit_s is not None:
            self._last_fit_s += delta_s
        self._last_temp_s = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict() if self.model is not None else None,
            "last_fit_s": self._last_fit_s,
            "fit_span_s": self._fit_span_s,
        }

    @classmethod
    def from_dict(cls, d: object, **kwargs: Any) -> Self:
        if not isinstance(d, dict):
            raise ModelError("expected a JSON object")
        model = TempCompModel.from_dict(d["model"]) if d.get("model") is not None else None
        p = cls(model, **kwargs)
        if isinstance(d.get("last_fit_s"), (int, float)):
            p._last_fit_s = float(d["last_fit_s"])
        if isinstance(d.get("fit_span_s"), (int, float)):
            p._fit_span_s = float(d["fit_span_s"])
        return p
