"""appliance model simulate: an oscillator locked for a training period, the model fitted on it, then
held over, beside the frozen last frequency, chrony's tempcomp quadratic and an oracle; an optional
plot of temperature, frequency and time error."""

from __future__ import annotations

import json

from .common import EXIT_FAIL, EXIT_OK, CommandError, output_file, plural, write_error


def _hours(args, name: str) -> float | None:
    """--duration / --train-duration (a duration), or their old spellings in hours; None if not given."""
    old = getattr(args, name.replace("duration", "hours"))
    new = getattr(args, name)
    if old is not None:
        return float(old)
    return None if new is None else new / 3600.0


def _ratio(a: float, b: float, digits: int = 2) -> str | None:
    """a / b as 'N.NN x', or None when it means nothing (both 0, or b 0)."""
    if b == 0:
        return None
    return f"{a / b:.{digits}f} x"


def _simulate_args(args) -> tuple[float, float | None]:
    from ..catalog import oscillator_classes

    if args.plot:
        output_file("--plot", args.plot)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CommandError(
                "--plot needs matplotlib, which is not installed: pip install 'appliance[plot]' (or drop --plot)"
            ) from None
    if args.oscillator not in oscillator_classes():
        raise CommandError(
            f"--oscillator {args.oscillator!r}: expected one of " + ", ".join(sorted(oscillator_classes()))
        )
    given = _hours(args, "duration")
    hours = 24.0 if given is None else given
    train_hours = _hours(args, "train_duration")
    if not 0 < hours <= 24 * 30:
        raise CommandError(f"--duration {hours:g}h: expected more than 0 and at most 30d")
    if train_hours is not None and not 6 <= train_hours <= 24 * 60:
        raise CommandError(f"--train-duration {train_hours:g}h: expected 6h..60d")
    if not 1 <= args.interval <= 60:
        raise CommandError(f"--interval {args.interval:g}s: expected 1s..60s")
    return hours, train_hours


def cmd_simulate(args) -> int:
    import numpy as np

    from ..core.holdover.series import SampleError
    from ..sim import scenarios
    from ..sim.holdover_eval import evaluate

    hours, train_hours = _simulate_args(args)
    sc = scenarios.SCENARIOS[args.scenario]
    run = scenarios.run(
        args.scenario,
        args.seed,
        holdover_hours=hours,
        train_hours=train_hours,
        interval_s=args.interval,
        oscillator=args.oscillator,
    )
    try:
        ev = evaluate(run)
    except SampleError as exc:
        raise CommandError(f"training data of scenario {args.scenario}: {exc}") from None
    train_h = run.time_s[run.split - 1] / 3600
    m = ev.model
    frozen, quad, raw, model = (ev.max_abs_s(k) for k in ("frozen", "quadratic", "quadratic_raw", "model"))
    best_quad = min(quad, raw)
    o_err, o_b = np.abs(ev.oracle.time_error_s[1:]), ev.oracle.bound_s[1:]
    oracle_cov, oracle_med = float(np.mean(o_err <= o_b)), (float(np.median(o_b)), float(np.median(o_err)))
    if args.json:
        print(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "seed": args.seed,
                    "oscillator": args.oscillator,
                    "train_h": train_h,
                    "holdover_h": hours,
                    "interval_s": args.interval,
                    "fit_s": ev.fit_s,
                    "lag_s": m.lag_s,
                    "max_abs_time_error_s": {"frozen": frozen, "quadratic": quad, "quadratic_raw": raw, "model": model},
                    "coverage": ev.coverage,
                    "median_bound_s": ev.median_bound_s,
                    "median_abs_error_s": ev.median_abs_error_s,
                    "oracle": {
                        "coverage": oracle_cov,
                        "median_bound_s": oracle_med[0],
                        "median_abs_error_s": oracle_med[1],
                    },
                    "extrapolated_fraction": ev.extrapolated_fraction,
                },
                indent=2,
            )
        )
    else:
        vs_quad = _ratio(model, best_quad)
        sharp = _ratio(ev.median_bound_s, ev.median_abs_error_s, 1)
        o_sharp = _ratio(*oracle_med, 1)
        print(f"scenario {args.scenario} ({sc.description}), seed {args.seed}, oscillator {args.oscillator}")
        print(f"trained on {train_h:.1f} h locked, then {hours:g} h of holdover, samples every {args.interval:g} s")
        print(
            f"fit: {ev.fit_s * 1e3:.0f} ms, lag {m.lag_s:.0f} s (simulated {run.params.lag_s:.0f} s), "
            f"trained {m.temp_lo_c:.2f}..{m.temp_hi_c:.2f} degC, {plural(ev.report.n_outliers, 'outlier')}"
        )
        print(f"max |time error| over the {hours:g} h holdover:")
        print(f"  no compensation (frozen last frequency) : {_us(frozen)}")
        print(
            f"  chrony-style quadratic                  : {_us(quad)}"
            "  (tracked frequency + tempcomp, as chronyd runs it)"
        )
        print(f"  chrony-style quadratic, fitted alone    : {_us(raw)}")
        print(
            f"  this model                              : {_us(model)}"
            + (f"  ({vs_quad} the better quadratic)" if vs_quad else "")
        )
        print(
            f"bound (99 %): the true error stayed inside it on {ev.coverage * 100:.1f} % of the rows; "
            f"median bound {_us(ev.median_bound_s)}, median |error| {_us(ev.median_abs_error_s)}"
            + (f" ({sharp})" if sharp else "")
            + f"; at the end {_us(ev.prediction.bound_s[-1])} vs {_us(abs(ev.time_error_s['model'][-1]))}"
        )
        print(
            f"  an oracle's exact bound, same run (knows all but the oscillator noise to come): inside on "
            f"{oracle_cov * 100:.1f} % of the rows" + (f", median bound / median |error| {o_sharp}" if o_sharp else "")
        )
        if ev.extrapolated_fraction:
            print(
                f"extrapolated beyond the trained range on {ev.extrapolated_fraction * 100:.1f} % of the rows "
                f"(up to {ev.prediction.extrapolation_c.max():.2f} K)"
            )
    if args.plot:
        try:
            plot(ev, args.plot)
        except OSError as exc:
            raise CommandError(write_error(args.plot, exc), EXIT_FAIL) from None
        if not args.json:
            print(f"plot: {args.plot}")
    return EXIT_OK


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def plot(ev, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    run = ev.run
    hours = run.time_s / 3600
    ho = run.holdover
    fig, ax = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    ax[0].plot(hours, run.sensor_c, lw=0.6, label="sensor")
    ax[0].plot(hours, run.crystal_c, lw=0.8, label="crystal (simulated truth)")
    ax[0].axhspan(ev.model.temp_lo_c, ev.model.temp_hi_c, color="0.9", label="trained range")
    ax[0].set_ylabel("temperature (degC)")
    ax[0].legend(loc="upper left", fontsize=8)
    ax[1].plot(hours, run.true_freq_ppb, lw=0.5, color="0.5", label="true frequency")
    labels = {"frozen": "frozen", "quadratic": "chrony-style quadratic", "model": "model"}
    for k, label in labels.items():
        ax[1].plot(hours[ho], ev.applied_ppb[k], lw=0.8, label=label)
    ax[1].set_ylabel("frequency offset (ppb)")
    ax[1].legend(loc="upper left", fontsize=8)
    for k, label in labels.items():
        ax[2].plot(hours[ho], ev.time_error_s[k] * 1e6, lw=0.9, label=label)
    b = ev.prediction.bound_s * 1e6
    ax[2].fill_between(hours[ho], -b, b, color="C2", alpha=0.15, label="99 % bound")
    lim = 3 * max(np.max(b), np.max(np.abs(ev.time_error_s["model"])) * 1e6)
    ax[2].set_ylim(-lim, lim)
    ax[2].set_ylabel("time error (us)")
    ax[2].set_xlabel(f"hours (holdover from {hours[run.split]:.0f} h)")
    ax[2].legend(loc="upper left", fontsize=8)
    for a in ax:
        a.axvline(hours[run.split], color="k", lw=0.6, ls="--")
    fig.suptitle(f"{run.name}, seed {run.seed}, {run.oscillator}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
