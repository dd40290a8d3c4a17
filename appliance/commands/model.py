"""appliance model fit|predict|simulate|adev: the learned TCXO temperature model for people and scripts.

CSV in and out, with a header line; column names are part of the interface:
  fit       --samples FILE (time_s,temperature_c,freq_offset_ppm) --out MODEL.json
  predict   --model MODEL.json --temps FILE (time_s,temperature_c)
            -> stdout time_s,freq_offset_ppm,time_error_bound_s
  simulate  --scenario NAME [--hours H] [--plot FILE.png]
  adev      --samples FILE (time_s,freq_offset_ppm) -> stdout tau_s,n,adev,mdev
freq_offset_ppm is the oscillator's fractional frequency offset (positive = fast) over the
interval that ends at time_s (fit) or that starts there (predict: the frequency to hold until the
next row); time_error_bound_s covers the time error accumulated since the first row, 99 %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FAIL = 0, 2
# appliance.sim.scenarios.SCENARIOS (named here so that building the parser imports no numpy)
SCENARIO_NAMES = ("diurnal", "cooling-failure", "door-open", "cold-start")
PREDICT_START_TOLERANCE_S = 60.0


def register(sub) -> None:
    p = sub.add_parser("model", help="fit, predict, simulate and inspect the learned TCXO temperature model")
    msub = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    msub.required = True

    f = msub.add_parser("fit", help="fit a model to samples taken while locked")
    f.add_argument("--samples", required=True, metavar="FILE", help="CSV: time_s,temperature_c,freq_offset_ppm")
    f.add_argument("--out", required=True, metavar="MODEL.json")
    f.add_argument("--uncompensated", action="store_true",
                   help="the oscillator is a plain crystal (XO), not a TCXO/OCXO: beyond the trained range "
                        "its curve continues along its slope instead of being held")
    f.set_defaults(func=cmd_fit)

    pr = msub.add_parser("predict", help="predicted frequency and 99 %% time-error bound for a holdover")
    pr.add_argument("--model", required=True, metavar="MODEL.json")
    pr.add_argument("--temps", required=True, metavar="FILE", help="CSV: time_s,temperature_c (holdover from the first row)")
    pr.set_defaults(func=cmd_predict)

    s = msub.add_parser("simulate", help="train on a simulated locked period, hold over, compare with baselines")
    s.add_argument("--scenario", required=True, metavar="NAME", help="one of: " + ", ".join(SCENARIO_NAMES))
    s.add_argument("--hours", type=float, default=24.0, help="holdover duration (default 24)")
    s.add_argument("--train-hours", type=float, default=None, help="locked training period (default 168)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--oscillator", default="tcxo", help="class in hardware/oscillators.yaml (default tcxo)")
    s.add_argument("--interval", type=float, default=10.0, help="sample interval, s (default 10)")
    s.add_argument("--plot", metavar="FILE.png", help="plot temperature, frequency and time error (needs matplotlib)")
    s.set_defaults(func=cmd_simulate)

    a = msub.add_parser("adev", help="Allan and modified Allan deviation of a frequency series")
    a.add_argument("--samples", required=True, metavar="FILE", help="CSV: time_s,freq_offset_ppm")
    a.set_defaults(func=cmd_adev)


def _fail(cmd: str, message: str) -> int:
    print(f"appliance model {cmd}: {message}", file=sys.stderr)
    return EXIT_FAIL


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _sample_error(cols, exc) -> str:
    line = cols.line_of(getattr(exc, "row", None))
    where = f"line {line}: " if line is not None else ""
    return f"{cols.path}: {where}{exc}"


# --- fit ---------------------------------------------------------------------------------------


def cmd_fit(args) -> int:
    from ..core.holdover.fit import fit
    from ..core.holdover.series import SampleError
    from ..samples_csv import CsvError, read_columns
    from ..runtime.atomic import atomic_write_json

    try:
        cols = read_columns(args.samples, ["time_s", "temperature_c", "freq_offset_ppm"])
    except CsvError as exc:
        return _fail("fit", str(exc))
    try:
        result = fit(cols["time_s"], cols["temperature_c"], cols["freq_offset_ppm"] * 1000.0,
                     compensated=not args.uncompensated)
    except SampleError as exc:
        return _fail("fit", _sample_error(cols, exc))
    m, rep = result.model, result.report
    try:
        atomic_write_json(Path(args.out), m.to_dict())
    except OSError as exc:
        return _fail("fit", f"{args.out}: cannot write: {exc.strerror or exc}")
    for w in rep.warnings:
        _warn(w)
    span_h = (cols["time_s"][-1] - cols["time_s"][0]) / 3600
    print(f"{args.out}: model fitted to {rep.n_samples} samples ({span_h:.1f} h every {rep.interval_s:g} s), "
          f"{rep.n_outliers} outlier(s) rejected")
    print(f"  trained range   {m.temp_lo_c:.2f}..{m.temp_hi_c:.2f} degC (lagged temperature)")
    print(f"  thermal lag     {m.lag_s:.0f} s")
    print(f"  aging           {m.aging_ppb_per_day:+.3f} ppb/day")
    print(f"  level now       {m.level_ppb:+.3f} ppb (plus the curve at the current temperature)")
    print(f"  random-walk FM  {m.noise.rw_ppb_per_sqrt_s:.5f} ppb/sqrt(s) (90 % upper limit, from the Allan deviation)")
    print(f"  residual rms    {rep.rms_residual_ppb:.3f} ppb per sample")
    return EXIT_OK


# --- predict ----------------------------------------------------------------------------------


def load_model(path: str):
    from ..core.holdover.model import TempCompModel
    from ..core.holdover.model_io import ModelError

    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not JSON: {exc}") from None
    try:
        return TempCompModel.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"{path}: not a usable model: {exc}") from None


def cmd_predict(args) -> int:
    import numpy as np

    from ..core.holdover.bound import predict_holdover
    from ..core.holdover.model_io import ModelError
    from ..core.holdover.series import SampleError, check_series
    from ..samples_csv import CsvError, read_columns

    try:
        model = load_model(args.model)
    except ModelError as exc:
        return _fail("predict", str(exc))
    try:
        cols = read_columns(args.temps, ["time_s", "temperature_c"])
    except CsvError as exc:
        return _fail("predict", str(exc))
    t, temp = cols["time_s"], cols["temperature_c"]
    try:
        check_series(t, temp, None, min_samples=2, min_span_s=0.0, interval_limits_s=None,
                     allow_gaps=False, check_range=False)
    except SampleError as exc:
        return _fail("predict", _sample_error(cols, exc))
    if t[0] < model.time_s - PREDICT_START_TOLERANCE_S:
        return _fail(
            "predict",
            f"{cols.path}: line {cols.line_of(0)}: time_s {t[0]:g} is before the end of the model's training data "
            f"({model.time_s:g}): time_s must continue the time axis of the samples the model was fitted on",
        )
    pred = predict_holdover(model, t, temp)
    ext = np.flatnonzero(pred.extrapolation_c > 0)
    if ext.size:
        _warn(
            f"{ext.size} of {t.size} row(s) (lines {cols.line_of(int(ext[0]))}..{cols.line_of(int(ext[-1]))}) are "
            f"outside the trained temperature range {model.temp_lo_c:.2f}..{model.temp_hi_c:.2f} degC "
            f"(up to {pred.extrapolation_c.max():.2f} K): extrapolated, the bound includes it"
        )
    gap_h = (t[0] - model.time_s) / 3600
    if gap_h > 24:
        _warn(f"the holdover starts {gap_h:.1f} h after the model's last sample: its level is that much older")
    out = sys.stdout
    out.write("time_s,freq_offset_ppm,time_error_bound_s\n")
    for ts, f, b in zip(t, pred.freq_ppb, pred.bound_s):
        out.write(f"{ts:.15g},{f / 1000.0:.9f},{b:.6e}\n")
    return EXIT_OK


# --- simulate ---------------------------------------------------------------------------------


def cmd_simulate(args) -> int:
    import numpy as np

    from ..sim import scenarios
    from ..sim.holdover_eval import evaluate
    from ..catalog import oscillator_classes

    if args.scenario not in scenarios.SCENARIOS:
        return _fail("simulate", f"--scenario {args.scenario!r}: expected one of {', '.join(scenarios.SCENARIOS)}")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _fail("simulate", "--plot needs matplotlib, which is not installed: "
                         "pip install 'appliance[plot]' (or drop --plot)")
    if args.oscillator not in oscillator_classes():
        return _fail("simulate", f"--oscillator {args.oscillator!r}: expected one of "
                     + ", ".join(sorted(oscillator_classes())))
    if not 0 < args.hours <= 24 * 30:
        return _fail("simulate", f"--hours {args.hours:g}: expected more than 0 and at most 720")
    if args.train_hours is not None and not 6 <= args.train_hours <= 24 * 60:
        return _fail("simulate", f"--train-hours {args.train_hours:g}: expected 6..1440")
    if not 1 <= args.interval <= 60:
        return _fail("simulate", f"--interval {args.interval:g}: expected 1..60 s")
    from ..core.holdover.series import SampleError

    sc = scenarios.SCENARIOS[args.scenario]
    run = scenarios.run(args.scenario, args.seed, holdover_hours=args.hours, train_hours=args.train_hours,
                        interval_s=args.interval, oscillator=args.oscillator)
    try:
        ev = evaluate(run)
    except SampleError as exc:
        return _fail("simulate", f"training data of scenario {args.scenario}: {exc}")
    train_h = run.time_s[run.split - 1] / 3600
    m = ev.model
    print(f"scenario {args.scenario} ({sc.description}), seed {args.seed}, oscillator {args.oscillator}")
    print(f"trained on {train_h:.1f} h locked, then {args.hours:g} h of holdover, samples every {args.interval:g} s")
    print(f"fit: {ev.fit_s * 1e3:.0f} ms, lag {m.lag_s:.0f} s (simulated {run.params.lag_s:.0f} s), "
          f"trained {m.temp_lo_c:.2f}..{m.temp_hi_c:.2f} degC, {ev.report.n_outliers} outlier(s)")
    frozen, quad, raw, model = (ev.max_abs_s(k) for k in ("frozen", "quadratic", "quadratic_raw", "model"))
    best_quad = min(quad, raw)
    print(f"max |time error| over the {args.hours:g} h holdover:")
    print(f"  no compensation (frozen last frequency) : {_us(frozen)}")
    print(f"  chrony-style quadratic                  : {_us(quad)}  (tracked frequency + tempcomp, as chronyd runs it)")
    print(f"  chrony-style quadratic, fitted alone    : {_us(raw)}")
    print(f"  this model                              : {_us(model)}  ({model / best_quad:.2f} x the better quadratic)")
    print(f"bound (99 %): the true error stayed inside it on {ev.coverage * 100:.1f} % of the rows; "
          f"median bound {_us(ev.median_bound_s)}, median |error| {_us(ev.median_abs_error_s)} "
          f"({ev.median_bound_s / max(ev.median_abs_error_s, 1e-15):.1f} x); "
          f"at the end {_us(ev.prediction.bound_s[-1])} vs {_us(abs(ev.time_error_s['model'][-1]))}")
    o_err, o_b = np.abs(ev.oracle.time_error_s[1:]), ev.oracle.bound_s[1:]
    print(f"  an oracle's exact bound, same run (knows all but the oscillator noise to come): inside on "
          f"{np.mean(o_err <= o_b) * 100:.1f} % of the rows, median bound / median |error| "
          f"{np.median(o_b) / max(float(np.median(o_err)), 1e-15):.1f} x")
    if ev.extrapolated_fraction:
        print(f"extrapolated beyond the trained range on {ev.extrapolated_fraction * 100:.1f} % of the rows "
              f"(up to {ev.prediction.extrapolation_c.max():.2f} K)")
    if args.plot:
        try:
            plot(ev, args.plot)
        except OSError as exc:
            return _fail("simulate", f"{args.plot}: cannot write: {exc.strerror or exc}")
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
    ax[2].set_xlabel("hours (holdover from %.0f h)" % hours[run.split])
    ax[2].legend(loc="upper left", fontsize=8)
    for a in ax:
        a.axvline(hours[run.split], color="k", lw=0.6, ls="--")
    fig.suptitle(f"{run.name}, seed {run.seed}, {run.oscillator}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- adev -------------------------------------------------------------------------------------


def cmd_adev(args) -> int:
    import numpy as np

    from ..core.holdover.noise import MIN_POINTS, deviation_table, fit_noise
    from ..core.holdover.series import SampleError, check_series
    from ..samples_csv import CsvError, read_columns

    try:
        cols = read_columns(args.samples, ["time_s", "freq_offset_ppm"], ["temperature_c"])
    except CsvError as exc:
        return _fail("adev", str(exc))
    t, y = cols["time_s"], cols["freq_offset_ppm"]
    try:
        series = check_series(t, np.zeros_like(t), y * 1000.0, min_samples=MIN_POINTS, min_span_s=0.0,
                              interval_limits_s=None, allow_gaps=False, check_range=False)
    except SampleError as exc:
        return _fail("adev", _sample_error(cols, exc))
    table = deviation_table(y * 1e-6, series.interval_s)  # fractional frequency
    out = sys.stdout
    out.write("tau_s,n,adev,mdev\n")
    for r in table:
        out.write(f"{r.tau_s:.10g},{r.n},{r.adev:.6e},{r.mdev:.6e}\n")
    noise = fit_noise([r.tau_s for r in table], [r.adev * 1e9 for r in table],
                      [t.size * series.interval_s / r.tau_s for r in table])
    print(
        f"power-law fit: white PM {noise.wpm_ppb2_s2:.3g} ppb^2 s^2, white FM {noise.wfm_ppb2_s:.3g} ppb^2 s, "
        f"random-walk FM {noise.rw_ppb_per_sqrt_s:.3g} ppb/sqrt(s) (point estimate)",
        file=sys.stderr,
    )
    return EXIT_OK
