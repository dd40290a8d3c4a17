"""appliance model fit|predict|simulate|adev: the learned TCXO temperature model for people and scripts.

CSV in and out, with a header line; column names are part of the interface:
  fit       --samples FILE (time_s,temperature_c,freq_offset_ppm) --output MODEL.json
  predict   --model MODEL.json --temps FILE (time_s,temperature_c)
            -> stdout (or --output) time_s,freq_offset_ppm,time_error_bound_s
  simulate  --scenario NAME [--duration 24h] [--plot FILE.png]
  adev      --samples FILE (time_s,freq_offset_ppm) -> stdout (or --output) tau_s,n,adev,mdev
freq_offset_ppm is the oscillator's fractional frequency offset (positive = fast) over the
interval that ends at time_s (fit) or that starts there (predict: the frequency to hold until the
next row); time_error_bound_s covers the time error accumulated since the first row, 99 %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import EXIT_FAIL, EXIT_OK, EXIT_UNKNOWN, CommandError, duration, number, output_file, plural, write_error
from .model_simulate import cmd_simulate

# appliance.sim.scenarios.SCENARIO_NAMES (named here so that building the parser imports no numpy)
SCENARIO_NAMES = ("diurnal", "cooling-failure", "door-open", "cold-start")
PREDICT_START_TOLERANCE_S = 60.0
EPILOG = (
    "exit status: 0 done, 2 the output cannot be written, 3 bad usage or an input (CSV, model) that cannot "
    "be read or used."
)


def register(sub) -> None:
    p = sub.add_parser(
        "model",
        help="fit, predict, simulate and inspect the learned TCXO temperature model",
        description="The learned TCXO temperature model, for people and scripts: fit it to locked "
        "samples, predict a holdover, simulate one against baselines, and the Allan deviation of a "
        "frequency log. CSV in and out with a header line; the column names are the interface. "
        "freq_offset_ppm is the oscillator's frequency offset, positive = runs fast.",
    )
    msub = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    msub.required = True

    f = msub.add_parser(
        "fit",
        help="fit a model to samples taken while locked",
        epilog=EPILOG,
        description="Fit the temperature model (curve, thermal lag, aging, noise) to samples taken "
        "while the clock was locked, and write it as JSON; prints what was learned.",
    )
    f.add_argument(
        "--samples",
        required=True,
        metavar="FILE",
        help="CSV: time_s,temperature_c,freq_offset_ppm (s, degC, ppm; positive = the oscillator runs fast)",
    )
    f.add_argument(
        "--output",
        "-o",
        "--out",
        dest="output",
        required=True,
        metavar="MODEL.json",
        help="where the model goes; its directory must exist",
    )
    f.add_argument(
        "--uncompensated",
        action="store_true",
        help="the oscillator is a plain crystal (XO), not a TCXO/OCXO: beyond the trained range "
        "its curve continues along its slope instead of being held",
    )
    f.add_argument("--json", action="store_true", help="what was fitted as JSON; errors as JSON too")
    f.set_defaults(func=cmd_fit)

    pr = msub.add_parser(
        "predict",
        help="predicted frequency and 99 %% time-error bound for a holdover",
        epilog=EPILOG,
        description="A holdover from the first row of --temps: for each row the "
        "frequency offset to hold (ppm, until the next row) and the 99 % bound of the time error "
        "accumulated since the first row (s), as CSV time_s,freq_offset_ppm,time_error_bound_s.",
    )
    pr.add_argument("--model", required=True, metavar="MODEL.json", help="a model written by `model fit`")
    pr.add_argument(
        "--temps",
        required=True,
        metavar="FILE",
        help="CSV: time_s,temperature_c (s, degC; holdover from the first row, on the time axis of the fitted samples)",
    )
    pr.add_argument("--output", "-o", metavar="FILE", help="write the CSV here (default: standard output)")
    pr.set_defaults(func=cmd_predict)

    s = msub.add_parser(
        "simulate",
        help="train on a simulated locked period, hold over, compare with baselines",
        epilog=EPILOG,
        description="Simulate an oscillator locked for the training period, fit "
        "the model on it, hold over, and compare the model with the frozen last frequency and "
        "chrony's tempcomp quadratic; the 99 % bound beside an oracle's.",
    )
    s.add_argument(
        "--scenario",
        required=True,
        metavar="NAME",
        choices=SCENARIO_NAMES,
        help="temperature scenario: " + ", ".join(SCENARIO_NAMES),
    )
    hold = s.add_mutually_exclusive_group()
    hold.add_argument(
        "--duration", type=duration(), default="24h", metavar="DURATION", help="holdover duration, at most 30d"
    )
    hold.add_argument("--hours", type=number(unit="hours"), metavar="H", help="old spelling of --duration, in hours")
    train = s.add_mutually_exclusive_group()
    train.add_argument(
        "--train-duration", type=duration(), metavar="DURATION", help="locked training period, 6h..60d (default 168h)"
    )
    train.add_argument(
        "--train-hours", type=number(unit="hours"), metavar="H", help="old spelling of --train-duration, in hours"
    )
    s.add_argument("--seed", type=int, default=1, metavar="N", help="seed of the simulated oscillator and temperatures")
    s.add_argument("--oscillator", default="tcxo", metavar="CLASS", help="class in hardware/oscillators.yaml")
    s.add_argument("--interval", type=duration(), default="10s", metavar="DURATION", help="sample interval, 1s..60s")
    s.add_argument("--plot", metavar="FILE.png", help="plot temperature, frequency and time error (needs matplotlib)")
    s.add_argument("--json", action="store_true", help="the comparison as JSON; errors as JSON too")
    s.set_defaults(func=cmd_simulate)

    a = msub.add_parser(
        "adev",
        help="Allan and modified Allan deviation of a frequency series",
        epilog=EPILOG,
        description="Allan and modified Allan deviation (fractional frequency) at octave averaging "
        "times, as CSV tau_s,n,adev,mdev; the power-law noise fit on stderr.",
    )
    a.add_argument("--samples", required=True, metavar="FILE", help="CSV: time_s,freq_offset_ppm (s, ppm)")
    a.add_argument("--output", "-o", metavar="FILE", help="write the CSV here (default: standard output)")
    a.set_defaults(func=cmd_adev)


def _fail(cmd: str, message: str, code: int = EXIT_UNKNOWN) -> int:
    raise CommandError(message, code)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _sample_error(cols, exc) -> str:
    line = cols.line_of(getattr(exc, "row", None))
    where = f"line {line}: " if line is not None else ""
    return f"{cols.path}: {where}{exc}"


class _Out:
    """Standard output, or --output written whole at the end (nothing half-written on an error)."""

    def __init__(self, path: str | None):
        self.path = output_file("--output", path) if path else None
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        if self.path is None:
            sys.stdout.write(text)
        else:
            self.parts.append(text)

    def close(self) -> None:
        if self.path is not None:
            try:
                self.path.write_text("".join(self.parts))
            except OSError as exc:
                raise CommandError(write_error(str(self.path), exc), EXIT_FAIL) from None


# --- fit ---------------------------------------------------------------------------------------


def _read(path: str, required: list[str], optional: tuple[str, ...] = ()):
    from ..samples_csv import CsvError, read_columns

    try:
        return read_columns(path, required, list(optional))
    except CsvError as exc:
        raise CommandError(str(exc)) from None


def cmd_fit(args) -> int:
    from ..core.holdover.fit import fit
    from ..core.holdover.series import SampleError
    from ..runtime.atomic import atomic_write_json

    out = output_file("--output", args.output)
    cols = _read(args.samples, ["time_s", "temperature_c", "freq_offset_ppm"])
    try:
        result = fit(
            cols["time_s"], cols["temperature_c"], cols["freq_offset_ppm"] * 1000.0, compensated=not args.uncompensated
        )
    except SampleError as exc:
        raise CommandError(_sample_error(cols, exc)) from None
    m, rep = result.model, result.report
    try:
        atomic_write_json(out, m.to_dict())
    except OSError as exc:
        raise CommandError(write_error(args.output, exc), EXIT_FAIL) from None
    for w in rep.warnings:
        _warn(w)
    span_h = (cols["time_s"][-1] - cols["time_s"][0]) / 3600
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(out),
                    "samples": rep.n_samples,
                    "span_h": span_h,
                    "interval_s": rep.interval_s,
                    "outliers": rep.n_outliers,
                    "trained_range_c": [m.temp_lo_c, m.temp_hi_c],
                    "lag_s": m.lag_s,
                    "aging_ppb_per_day": m.aging_ppb_per_day,
                    "level_ppb": m.level_ppb,
                    "rw_ppb_per_sqrt_s": m.noise.rw_ppb_per_sqrt_s,
                    "rms_residual_ppb": rep.rms_residual_ppb,
                    "warnings": list(rep.warnings),
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(
        f"{args.output}: model fitted to {rep.n_samples} samples ({span_h:.1f} h every {rep.interval_s:g} s), "
        f"{plural(rep.n_outliers, 'outlier')} rejected"
    )
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
    from .common import read_error

    try:
        text = Path(path).read_text()
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not a text file: expected a model written by `appliance model fit`") from None
    except OSError as exc:
        raise ModelError(read_error(path, exc)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}): expected a model written by "
            "`appliance model fit`"
        ) from None
    try:
        return TempCompModel.from_dict(data)
    except ModelError as exc:
        raise ModelError(f"{path}: not a usable model: {exc}") from None


def cmd_predict(args) -> int:
    import numpy as np

    from ..core.holdover.bound import predict_holdover
    from ..core.holdover.model_io import ModelError
    from ..core.holdover.series import SampleError, check_series

    out = _Out(args.output)
    try:
        model = load_model(args.model)
    except ModelError as exc:
        return _fail("predict", str(exc))
    cols = _read(args.temps, ["time_s", "temperature_c"])
    t, temp = cols["time_s"], cols["temperature_c"]
    try:
        check_series(
            t, temp, None, min_samples=2, min_span_s=0.0, interval_limits_s=None, allow_gaps=False, check_range=False
        )
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
            f"{ext.size} of {plural(t.size, 'row')} "
            f"(lines {cols.line_of(int(ext[0]))}..{cols.line_of(int(ext[-1]))}) are "
            f"outside the trained temperature range {model.temp_lo_c:.2f}..{model.temp_hi_c:.2f} degC "
            f"(up to {pred.extrapolation_c.max():.2f} K): extrapolated, the bound includes it"
        )
    gap_h = (t[0] - model.time_s) / 3600
    if gap_h > 24:
        _warn(f"the holdover starts {gap_h:.1f} h after the model's last sample: its level is that much older")
    out.write("time_s,freq_offset_ppm,time_error_bound_s\n")
    for ts, f, b in zip(t, pred.freq_ppb, pred.bound_s, strict=False):
        out.write(f"{ts:.15g},{f / 1000.0:.9f},{b:.6e}\n")
    out.close()
    return EXIT_OK


# --- adev -------------------------------------------------------------------------------------


def cmd_adev(args) -> int:
    import numpy as np

    from ..core.holdover.noise import MIN_POINTS, deviation_table, fit_noise
    from ..core.holdover.series import SampleError, check_series

    out = _Out(args.output)
    cols = _read(args.samples, ["time_s", "freq_offset_ppm"], ("temperature_c",))
    t, y = cols["time_s"], cols["freq_offset_ppm"]
    try:
        series = check_series(
            t,
            np.zeros_like(t),
            y * 1000.0,
            min_samples=MIN_POINTS,
            min_span_s=0.0,
            interval_limits_s=None,
            allow_gaps=False,
            check_range=False,
        )
    except SampleError as exc:
        return _fail("adev", _sample_error(cols, exc))
    table = deviation_table(y * 1e-6, series.interval_s)  # fractional frequency
    out.write("tau_s,n,adev,mdev\n")
    for r in table:
        out.write(f"{r.tau_s:.10g},{r.n},{r.adev:.6e},{r.mdev:.6e}\n")
    noise = fit_noise(
        [r.tau_s for r in table], [r.adev * 1e9 for r in table], [t.size * series.interval_s / r.tau_s for r in table]
    )
    print(
        f"power-law fit: white PM {noise.wpm_ppb2_s2:.3g} ppb^2 s^2, white FM {noise.wfm_ppb2_s:.3g} ppb^2 s, "
        f"random-walk FM {noise.rw_ppb_per_sqrt_s:.3g} ppb/sqrt(s) (point estimate)",
        file=sys.stderr,
    )
    out.close()
    return EXIT_OK
