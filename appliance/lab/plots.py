"""The report's plots as PNG files (matplotlib, Agg). ``available()`` says whether matplotlib is
there; without it the report is written without plots and says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DPI = 100


def available() -> str | None:
    """None when plots can be drawn, else why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed (pip install 'appliance[lab]')"
    return None


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _plt().close(fig)
    return path.name


def read_histograms(a, out: Path) -> str | None:
    if not a.read_stats:
        return None
    plt = _plt()
    n = len(a.read_stats)
    fig, ax = plt.subplots(2, n, figsize=(4.2 * n, 6), squeeze=False)
    for i, s in enumerate(a.read_stats):
        r = s.residuals_ns
        lim = max(5 * s.jitter_robust_ns, 1.0)
        inside = r[np.abs(r) <= lim]
        ax[0][i].hist(inside, bins=40, color="C0")
        ax[0][i].set_title(f"{s.method}{' (best)' if s.method == a.best_method else ''}")
        ax[0][i].set_xlabel(f"offset - line (ns); {r.size - inside.size} beyond +-{lim:.0f}")
        ax[0][i].set_ylabel("readings")
        ax[1][i].set_xlabel("read window (ns)")
        ax[1][i].set_ylabel("readings")
        if s.window_max_ns > 0:
            w = a.raw_windows.get(s.method, np.array([]))
            ax[1][i].hist(w, bins=40, color="C1", log=True)
        else:
            ax[1][i].text(
                0.5, 0.5, "no window\n(cross-timestamp)", ha="center", va="center", transform=ax[1][i].transAxes
            )
    fig.suptitle("PHC - CLOCK_REALTIME: offset jitter and read window per method")
    return _save(fig, out / "read.png")


def linearity(a, out: Path, limit_fraction: float) -> str | None:
    if a.linearity is None:
        return None
    plt = _plt()
    c, m, s = (np.array(v) for v in zip(*a.freq_points, strict=False))
    lin = a.linearity
    fig, ax = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    ax[0].plot(c, c, color="0.6", lw=1, label="ideal (measured = commanded)")
    ax[0].plot(c, m, "o", color="C0", label="measured")
    ax[0].set_ylabel("measured rate change (ppb)")
    ax[0].legend(fontsize=8)
    ax[1].errorbar(c, m - (lin.gain * c + lin.intercept_ppb), yerr=s, fmt="o", color="C0")
    band = limit_fraction * lin.max_adj_ppb
    ax[1].axhspan(-band, band, color="C2", alpha=0.15, label=f"limit +-{limit_fraction * 100:g} % of max_adj")
    ax[1].axhline(0, color="0.5", lw=0.8)
    ax[1].set_ylabel("off the fitted line (ppb)")
    ax[1].set_xlabel("commanded ADJ_FREQUENCY (ppb)")
    ax[1].legend(fontsize=8)
    fig.suptitle(f"frequency linearity: gain {lin.gain:.6f}, worst {lin.worst_residual_ppb:+.1f} ppb")
    return _save(fig, out / "linearity.png")


def _dev(ax, points, label, fmt, scale=1.0):
    if points:
        t = [p.tau_s for p in points]
        v = [p.value * scale for p in points]
        e = [p.value * p.rel_err * scale for p in points]
        ax.errorbar(t, v, yerr=e, fmt=fmt, label=label, ms=4, capsize=2)


def deviations(a, out: Path, cls) -> str | None:
    st = a.stability
    if st is None or not st.adev:
        return None
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(12, 5))
    _dev(ax[0], st.adev, "ADEV", "o-")
    _dev(ax[0], st.mdev, "MDEV", "s-")
    if a.stability_compensated is not None:
        _dev(ax[0], a.stability_compensated.adev, "ADEV, temperature response removed", "^--")
    taus = np.array([p.tau_s for p in st.adev] + [p.tau_s for p in st.tdev])
    grid = np.logspace(np.log10(taus.min()), np.log10(taus.max()), 50)
    floor = a.floor_ns * 1e-9
    if cls is not None:
        ax[0].plot(
            grid,
            cls.adev_line(grid, floor, st.interval_s),
            color="0.55",
            lw=2,
            alpha=0.5,
            label=f"limit: {cls.name} line + floor",
        )
        ax[0].plot(grid, cls.adev_line(grid), "k--", lw=1, label=f"{cls.name} ADEV line")
        ax[0].plot(grid, cls.mdev_line(grid), "k:", lw=1, label=f"{cls.name} MDEV line")
    if floor:
        ax[0].plot(
            grid, np.sqrt(3) * floor / grid, color="C3", lw=1, alpha=0.6, label=f"read floor ({a.floor_ns:.2g} ns)"
        )
    ax[0].set_xscale("log")
    ax[0].set_yscale("log")
    ax[0].set_xlabel("tau (s)")
    ax[0].set_ylabel("fractional frequency")
    ax[0].grid(True, which="both", alpha=0.3)
    ax[0].legend(fontsize=8)
    _dev(ax[1], st.tdev, "TDEV", "o-", 1e9)
    if cls is not None:
        ax[1].plot(grid, cls.tdev_line(grid) * 1e9, "k--", lw=1, label=f"{cls.name} TDEV line")
    if floor:
        ax[1].plot(grid, floor * np.sqrt(st.interval_s / grid) * 1e9, color="C3", lw=1, alpha=0.6, label="read floor")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("tau (s)")
    ax[1].set_ylabel("TDEV (ns)")
    ax[1].grid(True, which="both", alpha=0.3)
    ax[1].legend(fontsize=8)
    fig.suptitle(f"stability against {a.reference}")
    return _save(fig, out / "deviations.png")


def tie_mtie(a, out: Path) -> str | None:
    st = a.stability
    if st is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    tie = st.tie_s
    hours = st.time_s / 3600.0
    unit, k = ("us", 1e6) if np.max(np.abs(tie)) > 1e-5 else ("ns", 1e9)
    ax[0].plot(hours, tie * k, lw=0.8, label="TIE")
    ax[0].plot(hours, (tie - st.freq_offset * st.time_s) * k, lw=0.8, label="TIE, mean frequency offset removed")
    ax[0].set_xlabel("hours")
    ax[0].set_ylabel(f"time interval error ({unit})")
    ax[0].legend(fontsize=8)
    if st.mtie:
        ax[1].loglog([p.tau_s for p in st.mtie], [p.value * 1e9 for p in st.mtie], "o-")
    ax[1].set_xlabel("tau (s)")
    ax[1].set_ylabel("MTIE (ns), frequency offset removed")
    ax[1].grid(True, which="both", alpha=0.3)
    fig.suptitle(f"TIE and MTIE (mean frequency offset {st.freq_offset * 1e6:+.4f} ppm)")
    return _save(fig, out / "tie_mtie.png")


def temperature(a, out: Path) -> str | None:
    s, fit = a.series, a.tempfit
    if s is None or s.temp_c is None or not np.any(np.isfinite(s.temp_c)):
        return None
    plt = _plt()
    model = a.model if (a.model and a.model.series) else None
    cols = 3 if model else 2
    fig, ax = plt.subplots(1, cols, figsize=(5.5 * cols, 4.5))
    ok = np.isfinite(s.temp_c)
    x = fit.lagged_c if (fit is not None and fit.lagged_c is not None) else s.temp_c[ok]
    ax[0].plot(x, s.freq_ppm[ok], ".", ms=2, alpha=0.5, label="measured")
    if fit is not None and fit.slope_ppm_per_c is not None:
        d = np.linspace(x.min(), x.max(), 100) - fit.mean_c
        c = [fit.coefficients[k] for k in sorted(fit.coefficients)]
        ax[0].plot(
            d + fit.mean_c,
            sum(ck * d**i for i, ck in enumerate(c)),
            "k-",
            label=f"fit: slope {fit.slope_ppm_per_c * 1000:+.2f} ppb/degC at {fit.mean_c:.1f} degC",
        )
        ax[0].set_xlabel(f"temperature, lagged {fit.lag_s:g} s (degC)")
    else:
        ax[0].set_xlabel("temperature (degC)")
    ax[0].set_ylabel("frequency offset (ppm)")
    ax[0].legend(fontsize=8)
    hours = s.time_s / 3600.0
    ax[1].plot(hours, s.freq_ppm, lw=0.7, color="C0")
    ax[1].set_xlabel("hours")
    ax[1].set_ylabel("frequency offset (ppm)", color="C0")
    tw = ax[1].twinx()
    tw.plot(hours, s.temp_c, lw=0.7, color="C3")
    tw.set_ylabel("temperature (degC)", color="C3")
    if model:
        m = model.series
        ax[2].plot(m["time_h"], m["error_us"], lw=0.9, label="model: time error")
        ax[2].plot(m["time_h"], m["frozen_us"], lw=0.8, color="0.5", label="frozen frequency")
        ax[2].fill_between(m["time_h"], -m["bound_us"], m["bound_us"], color="C2", alpha=0.2, label="99 % bound")
        lim = 3 * max(np.max(m["bound_us"]), np.max(np.abs(m["error_us"])))
        ax[2].set_ylim(-lim, lim)
        ax[2].set_xlabel("hours of holdover")
        ax[2].set_ylabel("time error (us)")
        ax[2].legend(fontsize=8)
        ax[2].set_title("holdover backtest of the temperature model")
    fig.suptitle("frequency against temperature")
    return _save(fig, out / "temperature.png")


def pps(a, out: Path) -> str | None:
    if a.pps_offsets_ns is None or a.pps_offsets_ns.size == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(a.pps_offsets_ns, bins=20, color="C4")
    ax.set_xlabel("external timestamp - PHC second (ns)")
    ax.set_ylabel("edges")
    fig.suptitle("pin loopback: 1 PPS out, timestamped in")
    return _save(fig, out / "pps.png")


def draw_all(a, out: Path, cls, limit_fraction: float) -> tuple[dict[str, str], list[str]]:
    """{plot name: file name}, and the problems met (a plot that fails does not stop the report)."""
    why = available()
    if why:
        return {}, [f"plots not drawn: {why}"]
    files, problems = {}, []
    for name, draw in (
        ("read", lambda: read_histograms(a, out)),
        ("linearity", lambda: linearity(a, out, limit_fraction)),
        ("pps", lambda: pps(a, out)),
        ("deviations", lambda: deviations(a, out, cls)),
        ("tie_mtie", lambda: tie_mtie(a, out)),
        ("temperature", lambda: temperature(a, out)),
    ):
        try:
            f = draw()
        except Exception as exc:  # noqa: BLE001 - a plot is not worth losing the report over
            problems.append(f"plot {name} failed: {type(exc).__name__}: {exc}")
            continue
        if f:
            files[name] = f
    return files, problems
