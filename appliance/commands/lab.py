"""appliance lab run|report|compare: qualify a NIC, its PHC and its oscillator, with a report to read.

  run      --device /dev/ptpN | --interface IF | --sim CLASS [--sim-seed N] [--sim-temperature bench|chamber]
           [--duration 10m] --out-dir DIR [--expect-class CLASS] [--loopback PIN_OUT:PIN_IN] [--reference /dev/ptpM]
           [--append-to FILE.jsonl]
  report   --samples FILE (time_s,temperature_c,freq_offset_ppm) --out-dir DIR [--expect-class CLASS] [--append-to FILE]
  compare  FILE.jsonl
Exit 0 pass, 1 warn, 2 fail, 3 for bad input (with the reason on stderr).

A run on a real PHC adjusts that PHC only (frequency, steps, slews, pins), and puts it back; the host's
clock is only read. Do not run it on a PHC that a production ptp4l is disciplining.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
from pathlib import Path

from .common import EXIT_FAIL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARN, CommandError, output_dir, plural

DEFAULT_DURATION = "5m"
MAX_DURATION_S = 30 * 86_400.0
MIN_STABILITY_S = 60.0
EPILOG = (
    "exit status: 0 pass, 1 warn, 2 fail, 3 bad usage or an input (device, CSV, lab log) that cannot be read or used."
)


def register(sub) -> None:
    p = sub.add_parser(
        "lab",
        help="hardware lab: qualify a NIC's PHC and oscillator, with a report",
        description="Qualify a NIC, its PHC and its oscillator before they ship to a site: one "
        "command, one report to read (report.html, report.md, report.json). A run on a real PHC "
        "adjusts that PHC only and puts it back; do not run it on a PHC a production ptp4l "
        "disciplines.",
    )
    lsub = p.add_subparsers(dest="lab_command", metavar="SUBCOMMAND")
    lsub.required = True

    r = lsub.add_parser(
        "run",
        help="measure a PHC (or a simulated one) and write the report",
        epilog=EPILOG,
        description="Measure a PHC (or a simulated one): reading it, frequency adjustment, steps and "
        "slews, pins, free-running stability and its response to temperature; judge it against the "
        "limits of hardware/nics.yaml and the oscillator class; write the report. Ctrl-C ends the "
        "run early and writes the report of what was measured.",
    )
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", metavar="/dev/ptpN", help="the PHC to qualify")
    which.add_argument("--interface", metavar="IF", help="the PHC of this network interface")
    which.add_argument(
        "--sim",
        metavar="CLASS",
        help="a simulated PHC with an oscillator of this class (hardware/oscillators.yaml: xo, tcxo, ocxo, ideal)",
    )
    r.add_argument(
        "--sim-seed", type=int, default=None, metavar="N", help="seed of the simulated oscillator (default 1)"
    )
    r.add_argument(
        "--sim-temperature",
        choices=("bench", "chamber"),
        default=None,
        help="simulated ambient: a steady bench at 25 degC (default) or a climate chamber sweeping "
        "15..35 degC at 0.5 K/min",
    )
    r.add_argument(
        "--duration",
        default=DEFAULT_DURATION,
        metavar="DURATION",
        help=f"whole run, with a unit: 90s, 10m, 2h (default {DEFAULT_DURATION}); the stability "
        "phase gets what the other phases leave",
    )
    r.add_argument(
        "--out-dir",
        "--out",
        dest="out",
        required=True,
        metavar="DIR",
        help="where report.html, report.md, report.json go (created if its parent exists)",
    )
    r.add_argument(
        "--expect-class",
        metavar="CLASS",
        help="the oscillator class the part is sold as; its "
        "limits judge the oscillator (default: --sim's class, else the tightest class it meets)",
    )
    r.add_argument(
        "--loopback",
        metavar="PIN_OUT:PIN_IN",
        help="a cable joins these two pins: 1 PPS out on the first, timestamped on the second",
    )
    r.add_argument(
        "--reference",
        metavar="/dev/ptpM",
        help="measure stability against this PHC (read only; e.g. one ts2phc keeps on GNSS) instead of CLOCK_REALTIME",
    )
    r.add_argument("--append-to", metavar="FILE.jsonl", help="add one line for this part to a lab log")
    r.add_argument("--json", action="store_true", help="print report.json's content; errors as JSON too")
    r.set_defaults(func=cmd_run)

    rep = lsub.add_parser(
        "report",
        help="the stability and temperature report of a log recorded elsewhere",
        epilog=EPILOG,
        description="Judge a frequency log recorded elsewhere (a climate chamber, "
        "another tool): stability (ADEV, MDEV, TDEV) and the response to temperature, with the "
        "same report as `lab run`.",
    )
    rep.add_argument(
        "--samples",
        required=True,
        metavar="FILE",
        help="CSV: time_s,temperature_c,freq_offset_ppm (s, degC, ppm; temperature_c optional)",
    )
    rep.add_argument(
        "--out-dir",
        "--out",
        dest="out",
        required=True,
        metavar="DIR",
        help="where the report goes (created if its parent exists)",
    )
    rep.add_argument("--expect-class", metavar="CLASS", help="the oscillator class the part is sold as")
    rep.add_argument("--append-to", metavar="FILE.jsonl", help="add one line for this part to a lab log")
    rep.add_argument("--json", action="store_true", help="print report.json's content; errors as JSON too")
    rep.set_defaults(func=cmd_report)

    c = lsub.add_parser(
        "compare",
        help="the table of a lab log (--append-to)",
        epilog=EPILOG,
        description="One row per part of a lab log written with --append-to: model, serial, "
        "firmware, verdict, and the checks that did not pass.",
    )
    c.add_argument("log", metavar="FILE.jsonl", help="the lab log")
    c.add_argument("--json", action="store_true", help="the log's entries as JSON; errors as JSON too")
    c.set_defaults(func=cmd_compare)


def _fail(cmd: str, message: str, code: int = EXIT_UNKNOWN) -> int:
    raise CommandError(message, code)


def parse_duration(text: str) -> float:
    """A duration with a unit (the configuration's syntax); a bare number is refused: is 600 seconds or minutes?"""
    from ..durations import parse_duration_s

    return parse_duration_s(text)


def parse_loopback(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"{text!r}: expected PIN_OUT:PIN_IN, two pin numbers such as 0:1")
    a, b = int(m.group(1)), int(m.group(2))
    if a == b:
        raise ValueError(f"{text!r}: the output and the input must be different pins")
    return a, b


def _class_names(classes, promise_only: bool) -> list[str]:
    return sorted(n for n, c in classes.items() if c.is_promise or not promise_only)


@contextlib.contextmanager
def _finish_despite_ctrl_c():
    """While the report is written, Ctrl-C is noted but does not stop it (the run is already over)."""

    def handler(signum, frame):
        print("\nwriting the report; it will be done in a moment", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _validate_run(args, classes) -> tuple[float, tuple | None] | str:
    from ..lab.run import fixed_phases_s

    if args.sim is None and (args.sim_seed is not None or args.sim_temperature is not None):
        return "--sim-seed and --sim-temperature need --sim"
    if args.sim is not None and args.reference:
        return "--reference is for a real PHC; a simulated one is measured against simulated true time"
    if args.sim is not None and args.sim not in classes:
        return f"--sim {args.sim!r}: unknown oscillator class (one of {', '.join(_class_names(classes, False))})"
    if args.expect_class is not None and (
        args.expect_class not in classes or not classes[args.expect_class].is_promise
    ):
        return (
            f"--expect-class {args.expect_class!r}: expected one of {', '.join(_class_names(classes, True))} "
            f"(classes of hardware/oscillators.yaml with tolerances)"
        )
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        return f"--duration {exc}"
    loopback = None
    if args.loopback is not None:
        try:
            loopback = parse_loopback(args.loopback)
        except ValueError as exc:
            return f"--loopback {exc}"
    least = fixed_phases_s(loopback is not None) + MIN_STABILITY_S
    if duration < least:
        return (
            f"--duration {args.duration}: the run needs at least {least:.0f} s (about "
            f"{least - MIN_STABILITY_S:.0f} s of fixed phases, then a minute of stability)"
        )
    if duration > MAX_DURATION_S:
        return f"--duration {args.duration}: at most {MAX_DURATION_S / 86400:.0f} days"
    return duration, loopback


def _out_dir(path: str) -> Path:
    return output_dir("--out-dir", path)


def _print_result(data: dict, out: Path, extra: str = "", as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    counts = {w: sum(1 for c in data["checks"] if c["verdict"] == w) for w in ("pass", "warn", "fail")}
    print(
        f"{data['verdict'].upper()}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail; "
        f"behaves as {data['estimated_class'] or 'not judged'}{extra}"
    )
    for c in data["checks"]:
        if c["verdict"] != "pass":
            print(f"  {c['verdict']:4}  {c['name']}: {c['value']} (limit {c['limit']} {c['unit']})")
    print(f"report: {out / 'report.html'} (also report.md, report.json)")


def _append(args, data: dict, out: Path, cmd: str) -> int | None:
    if not args.append_to:
        return None
    from ..lab import labdb

    try:
        labdb.append(Path(args.append_to), labdb.entry(data, out, args.expect_class))
    except labdb.LabDbError as exc:
        return _fail(cmd, str(exc), EXIT_FAIL)
    return None


def _open_device(args):
    from ..lab.device import PhcLab, SimLab

    if args.sim is not None:
        return SimLab(
            args.sim, seed=1 if args.sim_seed is None else args.sim_seed, temperature=args.sim_temperature or "bench"
        )
    return PhcLab(device=args.device, interface=args.interface, reference=args.reference)


def cmd_run(args) -> int:
    from ..core.clock.interface import ClockError
    from ..core.lab.analyze import analyse_run
    from ..lab import limits, report
    from ..lab.progress import Progress
    from ..lab.run import LabRun, RunOptions

    try:
        classes = limits.classes()
    except limits.LabDataError as exc:
        return _fail("run", str(exc))
    checked = _validate_run(args, classes)
    if isinstance(checked, str):
        return _fail("run", checked)
    duration, loopback = checked
    out = _out_dir(args.out)
    expect = args.expect_class
    if expect is None and args.sim is not None and classes[args.sim].is_promise:
        expect = args.sim
    try:
        device = _open_device(args)
    except ClockError as exc:
        return _fail("run", str(exc))
    try:
        progress = Progress(simulated=device.timebase.simulated)
        run = LabRun(
            device,
            RunOptions(duration_s=duration, expect_class=expect, loopback=loopback, stream_path=out / "stability.csv"),
            progress,
        )
        record = run.run()
    finally:
        device.close()
    with _finish_despite_ctrl_c():
        try:
            family_limits, known = limits.family_lab((record.family or {}).get("id"))
        except limits.LabDataError as exc:
            return _fail("run", str(exc))
        analysis = analyse_run(record, classes, family_limits)
        cls = classes.get(analysis.judged_class) if analysis.judged_class else None
        data = report.write(
            out, analysis, record.device, record, cls, known, family_limits.frequency_nonlinearity_fraction[0]
        )
        rc = _append(args, data, out, "run")
    extra = f" (interrupted during {record.interrupted_in})" if record.interrupted_in else ""
    _print_result(data, out, extra, args.json)
    return rc if rc is not None else {"pass": EXIT_OK, "warn": EXIT_WARN, "fail": EXIT_FAIL}[data["verdict"]]


def _read_log(path: str):
    import numpy as np

    from ..core.lab.stability import MIN_POINTS
    from ..samples_csv import CsvError, read_columns

    try:
        cols = read_columns(path, ["time_s", "freq_offset_ppm"], ["temperature_c"])
    except CsvError as exc:
        raise ValueError(str(exc)) from None
    t, y = cols["time_s"], cols["freq_offset_ppm"]
    if t.size < MIN_POINTS:
        raise ValueError(f"{path}: {plural(int(t.size), 'row')}: need at least {MIN_POINTS}")
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        raise ValueError(
            f"{path}: line {cols.line_of(int(bad[0]) + 1)}: time_s {t[bad[0] + 1]:g} does not "
            f"increase (previous row {t[bad[0]]:g})"
        )
    big = np.flatnonzero(np.abs(y) > 1000.0)
    if big.size:
        raise ValueError(
            f"{path}: line {cols.line_of(int(big[0]))}: freq_offset_ppm {y[big[0]]:g} is beyond "
            f"1000 ppm: is the column in ppm (not ppb or Hz)?"
        )
    temp = cols.data.get("temperature_c")
    return t, y, temp


def cmd_report(args) -> int:
    from ..core.lab.analyze import analyse_log
    from ..core.lab.stability import StabilityError
    from ..lab import limits, report

    try:
        classes = limits.classes()
    except limits.LabDataError as exc:
        return _fail("report", str(exc))
    if args.expect_class is not None and (
        args.expect_class not in classes or not classes[args.expect_class].is_promise
    ):
        return _fail(
            "report", f"--expect-class {args.expect_class!r}: expected one of {', '.join(_class_names(classes, True))}"
        )
    try:
        t, y, temp = _read_log(args.samples)
    except ValueError as exc:
        return _fail("report", str(exc))
    out = _out_dir(args.out)
    try:
        analysis = analyse_log(t, y, temp, classes, args.expect_class)
    except StabilityError as exc:
        return _fail("report", f"{args.samples}: {exc}")
    device = {
        "name": Path(args.samples).name,
        "kind": "log",
        "source": str(Path(args.samples).resolve()),
        "rows": int(t.size),
        "span_s": float(t[-1] - t[0]),
    }
    cls = classes.get(analysis.judged_class) if analysis.judged_class else None
    defaults, _ = limits.family_lab(None)
    data = report.write(out, analysis, device, None, cls, [], defaults.frequency_nonlinearity_fraction[0])
    rc = _append(args, data, out, "report")
    _print_result(data, out, as_json=args.json)
    return rc if rc is not None else {"pass": EXIT_OK, "warn": EXIT_WARN, "fail": EXIT_FAIL}[data["verdict"]]


def cmd_compare(args) -> int:
    from ..lab import labdb

    try:
        entries = labdb.load(Path(args.log))
    except labdb.LabDbError as exc:
        return _fail("compare", str(exc))
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return EXIT_OK
    if not entries:
        print(f"{args.log}: no parts logged yet")
        return EXIT_OK
    print(labdb.table(entries))
    print()
    print(labdb.summary(entries))
    return EXIT_OK
