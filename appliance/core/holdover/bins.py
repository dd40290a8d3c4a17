"""Samples averaged into bins: the unit the batch fit works on.

The fit (fit.py) does not solve on every sample: it averages them into bins of BIN_S (6 samples
at 10 s, 60 at 1 s), which keeps a week of 1 s samples fast to fit. A bin never straddles a gap:
each gap-free segment of the series is binned on its own, and the bin remembers its segment (the
noise estimate wants long runs of full bins inside one segment). Samples rejected as outliers are
left out of their bin's means; a bin left empty is dropped. ``decimate`` averages blocks of
samples into a coarser series for the lag search (times and temperatures over all samples of a
block, the frequency over its good ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from .series import BoolArray, FloatArray, IntArray, Series

BIN_S = 60.0


@dataclass
class Bins:
    t: FloatArray  # mean time of the bin's samples
    temp: FloatArray  # mean lagged temperature
    y: FloatArray  # mean frequency
    count: FloatArray  # samples in the bin
    duration_s: FloatArray  # count x interval
    segment: IntArray  # the gap-free segment the bin belongs to


def bin_ids(series: Series, bin_n: int) -> tuple[IntArray, IntArray]:
    """Bin index of every sample (bins never straddle a gap) and the segment of every bin."""
    n = series.time_s.size
    starts = series.segment_starts
    seg_of = np.zeros(n, dtype=np.int64)
    seg_of[starts[1:]] = 1
    seg_of = np.cumsum(seg_of)
    local = np.arange(n) - starts[seg_of]
    seg_bins = np.diff(np.concatenate([starts, [n]]))
    seg_bins = -(-seg_bins // bin_n)
    offset = np.concatenate([[0], np.cumsum(seg_bins)[:-1]])
    ids = offset[seg_of] + local // bin_n
    bin_seg = np.repeat(np.arange(starts.size), seg_bins)
    return ids, bin_seg


def make_bins(
    series: Series, temp_eff: FloatArray, good: BoolArray, ids: IntArray, bin_seg: IntArray, interval_s: float
) -> Bins:
    """Means of the ``good`` samples per bin (``ids``, ``bin_seg``: from bin_ids); empty bins dropped."""
    freq = series.frequencies()
    nb = bin_seg.size
    w = good.astype(float)
    count = cast(FloatArray, np.bincount(ids, weights=w, minlength=nb))  # weighted: float64
    keep = count > 0
    c = np.where(keep, count, 1.0)
    t = np.bincount(ids, weights=w * series.time_s, minlength=nb) / c
    temp = np.bincount(ids, weights=w * temp_eff, minlength=nb) / c
    y = np.bincount(ids, weights=w * freq, minlength=nb) / c
    return Bins(t[keep], temp[keep], y[keep], count[keep], count[keep] * interval_s, bin_seg[keep])


def decimate(series: Series, good: BoolArray, factor: int) -> tuple[Series, BoolArray]:
    """Means over blocks of ``factor`` samples (never across a gap): a coarser series for searches."""
    if factor <= 1:
        return series, good
    freq = series.frequencies()
    ids, block_seg = bin_ids(series, factor)
    nb = block_seg.size
    w = good.astype(float)
    cnt_all = np.bincount(ids, minlength=nb).astype(float)
    cnt = np.bincount(ids, weights=w, minlength=nb)
    t = np.bincount(ids, weights=series.time_s, minlength=nb) / cnt_all
    temp = np.bincount(ids, weights=series.temp_c, minlength=nb) / cnt_all
    y = np.bincount(ids, weights=w * freq, minlength=nb) / np.maximum(cnt, 1.0)
    starts = np.flatnonzero(np.diff(block_seg, prepend=-1) != 0)
    return Series(t, temp, y, series.interval_s * factor, starts), cnt > 0
