"""Input samples of the temperature model, checked: what the fit and the predictions accept.

Samples are rows of (time, sensor temperature, oscillator frequency offset). Times are seconds on
the caller's axis; temperatures degC; frequencies ppb (positive = the oscillator runs fast; ppm
only at the edges, where the column is read or written). ``check_series`` accepts a regularly
sampled series, possibly with gaps (whole multiples of the interval; each gap-free part is a
segment), and rejects anything else with a ``SampleError`` that names the row and the column.
Conditions that leave a fit possible but weak (a narrow temperature range, less than a day) are
warnings on the returned ``Series``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# The arrays every part of the model passes around.
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SECONDS_PER_DAY = 86_400.0  # aging is per day; everything else per second

# --- what the fit accepts ------------------------------------------------------------------------
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 60.0
MIN_SAMPLES = 100
MIN_SPAN_S = 6 * 3600.0
SHORT_SPAN_S = 24 * 3600.0  # below: warn that the noise estimate rests on less than a day
INTERVAL_TOLERANCE = 0.1  # each interval within 10 % of a multiple of the median interval
MIN_RANGE_C = 0.1  # below: the temperature did not vary at all, nothing to fit
NARROW_RANGE_C = 1.0  # below: warn, the curve is learned over a narrow span only
TEMP_LIMITS_C = (-60.0, 150.0)
MAX_ABS_FREQ_PPB = 1_000_000.0  # 1000 ppm: beyond it the column is not a frequency offset in ppm
FROZEN_WINDOW_S = 300.0  # "last frequency" means the mean over this window (baselines, service)


class SampleError(ValueError):
    """Input samples that cannot be fitted or predicted; the message names the problem."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.row = row  # 0-based index into the arrays, when one row is at fault
        self.column = column


@dataclass
class Series:
    time_s: FloatArray
    temp_c: FloatArray
    freq_ppb: FloatArray | None
    interval_s: float
    segment_starts: IntArray  # indices where a new gap-free segment begins (first is 0)
    warnings: list[str] = field(default_factory=list)

    def frequencies(self) -> FloatArray:
        """The frequency column, which a series to fit has."""
        if self.freq_ppb is None:
            raise SampleError("the samples have no frequency column")
        return self.freq_ppb


def check_series(
    time_s: npt.ArrayLike,
    temp_c: npt.ArrayLike,
    freq_ppb: npt.ArrayLike | None = None,
    *,
    min_samples: int = MIN_SAMPLES,
    min_span_s: float = MIN_SPAN_S,
    interval_limits_s: tuple[float, float] | None = (MIN_INTERVAL_S, MAX_INTERVAL_S),
    allow_gaps: bool = True,
    check_range: bool = True,
) -> Series:
    """Validate samples; raise SampleError naming the first problem, or return them with warnings."""
    t = np.asarray(time_s, dtype=float)
    temp = np.asarray(temp_c, dtype=float)
    y = None if freq_ppb is None else np.asarray(freq_ppb, dtype=float)
    if t.ndim != 1 or temp.shape != t.shape or (y is not None and y.shape != t.shape):
        raise SampleError("time_s, temperature_c and the frequency column must have the same length")
    n = t.size
    if n < min_samples:
        raise SampleError(f"too few samples: {n} rows, need at least {min_samples}")
    columns = [("time_s", t), ("temperature_c", temp)] + ([("freq_offset_ppm", y)] if y is not None else [])
    for name, col in columns:
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            raise SampleError(
                f"{name} is not a finite number at row {bad[0] + 1} ({col[bad[0]]}); {bad.size} such row(s)",
                row=int(bad[0]),
                column=name,
            )
    dt = np.diff(t)
    back = np.flatnonzero(dt <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise SampleError(
            f"time_s is not increasing at row {i + 1}: {t[i]:g} after {t[i - 1]:g}", row=i, column="time_s"
        )
    interval = float(np.median(dt))
    if interval_limits_s is not None:
        lo, hi = interval_limits_s
        if not lo * (1 - INTERVAL_TOLERANCE) <= interval <= hi * (1 + INTERVAL_TOLERANCE):
            raise SampleError(f"sample interval {interval:g} s is outside {lo:g}..{hi:g} s", column="time_s")
    ratio = dt / interval
    k = np.rint(ratio)
    irregular = np.flatnonzero((k < 1) | (np.abs(ratio - k) > INTERVAL_TOLERANCE))
    if not allow_gaps:
        irregular = np.union1d(irregular, np.flatnonzero(k > 1))
    if irregular.size:
        i = int(irregular[0]) + 1
        raise SampleError(
            f"irregular time at row {i + 1}: interval {dt[i - 1]:g} s where the sample interval is "
            f"{interval:g} s ({irregular.size} irregular interval(s))",
            row=i,
            column="time_s",
        )
    warnings: list[str] = []
    gaps = np.flatnonzero(k > 1)
    if gaps.size:
        warnings.append(
            f"{gaps.size} gap(s) in time_s (longest {dt[gaps].max():g} s): the parts are fitted as separate segments"
        )
    starts = np.concatenate([[0], gaps + 1]).astype(int)
    span = float(t[-1] - t[0])
    if span < min_span_s:
        raise SampleError(
            f"too few samples: they cover {span / 3600:.2f} h, need at least {min_span_s / 3600:g} h", column="time_s"
        )
    lo_c, hi_c = TEMP_LIMITS_C
    out = np.flatnonzero((temp < lo_c) | (temp > hi_c))
    if out.size:
        i = int(out[0])
        raise SampleError(
            f"temperature_c {temp[i]:g} at row {i + 1} is outside {lo_c:g}..{hi_c:g} degC",
            row=i,
            column="temperature_c",
        )
    if y is not None:
        big = np.flatnonzero(np.abs(y) > MAX_ABS_FREQ_PPB)
        if big.size:
            i = int(big[0])
            raise SampleError(
                f"freq_offset_ppm {y[i] / 1000:g} at row {i + 1} is beyond +-{MAX_ABS_FREQ_PPB / 1000:g} ppm "
                "(the column is a fractional frequency offset in ppm)",
                row=i,
                column="freq_offset_ppm",
            )
    if check_range:
        t_range = float(temp.max() - temp.min())
        if t_range < MIN_RANGE_C:
            raise SampleError(
                f"temperature range too narrow to fit: {t_range:.3f} K ({temp.min():.2f}..{temp.max():.2f} degC); "
                f"need at least {MIN_RANGE_C:g} K, and {NARROW_RANGE_C:g} K or more for a useful curve",
                column="temperature_c",
            )
        if t_range < NARROW_RANGE_C:
            warnings.append(
                f"temperature range is narrow: {t_range:.2f} K ({temp.min():.2f}..{temp.max():.2f} degC); the curve "
                "is known only there, predictions outside it are extrapolations with a wide bound"
            )
    if span < SHORT_SPAN_S:
        warnings.append(
            f"samples cover {span / 3600:.1f} h (< {SHORT_SPAN_S / 3600:g} h): the random-walk noise estimate, "
            "and with it the time-error bound, rests on little data"
        )
    return Series(t, temp, y, interval, starts, warnings)


def last_frequency_ppb(time_s: npt.ArrayLike, freq_ppb: npt.ArrayLike, window_s: float = FROZEN_WINDOW_S) -> float:
    """Mean frequency over the last ``window_s`` of samples (what "hold the last frequency" holds)."""
    t = np.asarray(time_s, dtype=float)
    y = np.asarray(freq_ppb, dtype=float)
    sel = t >= t[-1] - window_s
    return float(np.mean(y[sel]))
