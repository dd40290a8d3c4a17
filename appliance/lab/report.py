"""The lab's report: DIR/report.json (the fields a script reads), report.md and report.html (the
same content, for people; the HTML carries its plots inside), the plots as PNG, measurements.json
(everything measured, to judge again) and samples.csv (time_s,temperature_c,freq_offset_ppm: the
CSV `appliance lab report` and `appliance model fit` read)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..core.lab.analyze import Analysis
from ..core.lab.records import LabRecord
from . import plots
from .document import Doc, to_html, to_markdown


def _num(v):
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def report_json(a: Analysis, device: dict) -> dict:
    """Exactly the fields of report.json."""
    return {
        "verdict": a.verdict_word,
        "device": device,
        "checks": [c.to_json() for c in a.checks],
        "estimated_class": a.estimated_class,
        "temp_slope_ppm_per_c": _num(a.temp_slope_ppm_per_c),
        "adev": [{"tau_s": p.tau_s, "adev": p.value} for p in (a.stability.adev if a.stability else [])],
    }


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    return _num(x)


def measurements_json(a: Analysis, rec: LabRecord | None) -> dict:
    return _jsonable(
        {
            "record": rec.to_dict() if rec else None,
            "analysis": {
                "verdict": a.verdict_word,
                "judged_class": a.judged_class,
                "estimated_class": a.estimated_class,
                "estimate_reason": a.estimate_reason,
                "best_method": a.best_method,
                "floor_ns": a.floor_ns,
                "read": [s.to_dict() for s in a.read_stats],
                "linearity": a.linearity.to_dict() if a.linearity else None,
                "stability": a.stability.to_dict() if a.stability else None,
                "stability_temperature_compensated": a.stability_compensated.to_dict()
                if a.stability_compensated
                else None,
                "temperature": a.tempfit.to_dict() if a.tempfit else None,
                "model": a.model.to_dict() if a.model else None,
                "checks": [dict(c.to_json(), detail=c.detail) for c in a.checks],
                "notes": a.notes,
            },
        }
    )


def _summary(doc: Doc, a: Analysis, device: dict, rec: LabRecord | None) -> None:
    rows = [["device", device.get("name")], ["kind", device.get("kind")]]
    for key in (
        "model",
        "vendor",
        "serial",
        "driver",
        "firmware",
        "family",
        "clock_name",
        "interface",
        "pci_address",
        "kernel",
        "temperature_sensor",
        "temperature_profile",
        "source",
    ):
        if device.get(key) is not None:
            rows.append([key.replace("_", " "), device[key]])
    rows.append(["reference", a.reference or "-"])
    if rec is not None:
        rows.append(["started (UTC)", rec.started_utc])
        rows.append(
            [
                "duration",
                f"{rec.elapsed_s:.0f} s of {rec.requested_s:.0f} s requested"
                + (" (simulated time)" if device.get("kind") == "sim" else ""),
            ]
        )
        if rec.interrupted_in:
            rows.append(["interrupted", f"Ctrl-C during the {rec.interrupted_in} phase"])
    rows.append(
        ["class claimed", (rec.expect_class if rec else a.expected) or "none (judged against the class it meets)"]
    )
    rows.append(["class judged against", a.judged_class or "-"])
    rows.append(["estimated class", f"{a.estimated_class or '-'} ({a.estimate_reason})"])
    tempfit = a.tempfit
    if tempfit is not None and tempfit.slope_ppm_per_c is not None:  # a.temp_slope_ppm_per_c
        rows.append(
            ["temperature slope", f"{tempfit.slope_ppm_per_c * 1000:+.3f} ppb/degC at {tempfit.mean_c:.2f} degC"]
        )
    caps = device.get("caps")
    if caps:
        rows.append(["PHC caps", ", ".join(f"{k} {v}" for k, v in caps.items())])
    doc.table(["", "this run"], rows)


def _checks(doc: Doc, a: Analysis) -> None:
    doc.h2("Checks")
    doc.table(
        ["verdict", "check", "value", "limit", "unit", "how it was measured"],
        [[c.word, c.name, c.value, c.limit, c.unit, c.detail] for c in a.checks],
        numeric={2, 3},
        verdict_col=0,
    )


def _read(doc: Doc, a: Analysis, images: dict) -> None:
    if not a.read_stats:
        return
    doc.h2("Reading the PHC (PHC - CLOCK_REALTIME)")
    doc.table(
        [
            "method",
            "readings",
            "window p50 (ns)",
            "window p99 (ns)",
            "window max (ns)",
            "jitter sd (ns)",
            "jitter robust (ns)",
            "|dev| p99 (ns)",
        ],
        [
            [
                s.method + (" (best)" if s.method == a.best_method else ""),
                s.n,
                s.window_p50_ns,
                s.window_p99_ns,
                s.window_max_ns,
                s.jitter_ns,
                s.jitter_robust_ns,
                s.jitter_p99_ns,
            ]
            for s in a.read_stats
        ],
        numeric=set(range(1, 8)),
    )
    doc.p(
        f"The stability phase reads with {a.best_method} (best of 5); its jitter, {a.floor_ns:.2f} ns, is the "
        f"measurement floor drawn on the deviation plots.",
        note=True,
    )
    doc.image(images.get("read"), "offset jitter and read window per method")


def _frequency(doc: Doc, a: Analysis, images: dict, rec: LabRecord | None) -> None:
    if a.linearity is None:
        return
    doc.h2("Frequency adjustment (ADJ_FREQUENCY)")
    lin = a.linearity
    doc.table(
        ["commanded (ppb)", "measured (ppb)", "off the line (ppb)", "uncertainty (ppb)"],
        sorted([[c, m, float(r), s] for (c, m, s), r in zip(a.freq_points, lin.residuals_ppb, strict=False)]),
        numeric={0, 1, 2, 3},
    )
    doc.p(
        f"Gain {lin.gain:.7f} (measured / commanded), intercept {lin.intercept_ppb:+.2f} ppb, max_adj "
        f"{lin.max_adj_ppb:.0f} ppb. Measured = the offset's rate while commanded minus its rate at 0."
    )
    if rec and rec.refusals:
        doc.items(
            [
                f"{r.attempted_ppb:+.0f} ppb (beyond max_adj): {'refused' if r.refused else 'ACCEPTED'}: {r.message}"
                for r in rec.refusals
            ]
        )
    doc.image(images.get("linearity"), "frequency linearity")


def _phase_pins(doc: Doc, a: Analysis, images: dict, rec: LabRecord | None) -> None:
    if rec and rec.phase_steps:
        doc.h2("Phase steps (ADJ_SETOFFSET) and slews (ADJ_OFFSET)")
        doc.p(
            "Each step is bracketed by readings over 0.5 s before and after; landed = the offset change with the "
            "free-running drift taken out. The step beyond +-2^31 ns takes another path in some drivers.",
            note=True,
        )
        doc.table(
            ["kind", "commanded (ns)", "landed (ns)", "error (ns)", "settle (s)"],
            [
                [s.kind, s.commanded_ns, round(s.landed_ns, 1), round(s.landed_ns - s.commanded_ns, 1), s.settle_s]
                for s in rec.phase_steps
            ],
            numeric={1, 2, 3, 4},
        )
    if a.pps_offsets_ns is not None:
        doc.h2("Pins: 1 PPS loopback")
        off = a.pps_offsets_ns
        doc.p(
            f"{off.size} edges: mean {off.mean():.1f} ns, sd {off.std(ddof=1) if off.size > 1 else 0:.1f} ns, "
            f"range {off.min():.0f}..{off.max():.0f} ns from the PHC's full second."
        )
        doc.image(images.get("pps"), "pin loopback")


def _stability(doc: Doc, a: Analysis, images: dict, cls) -> None:
    st = a.stability
    if st is None:
        return
    doc.h2("Stability of the free-running oscillator")
    doc.p(
        f"Against {a.reference}, every {st.interval_s:g} s for {st.span_s:.0f} s; mean frequency offset "
        f"{st.freq_offset * 1e6:+.5f} ppm. The dashed lines are the {cls.name if cls else '-'} class's own noise "
        f"(hardware/oscillators.yaml, at constant temperature); the red line is the measurement floor."
    )
    mdev = {p.tau_s: p.value for p in st.mdev}
    tdev = {p.tau_s: p.value for p in st.tdev}
    mtie = {p.tau_s: p.value for p in st.mtie}
    comp = {p.tau_s: p.value for p in a.stability_compensated.adev} if a.stability_compensated else {}
    taus = sorted(set(mdev) | set(tdev) | set(mtie) | {p.tau_s for p in st.adev})
    adev = {p.tau_s: p.value for p in st.adev}
    headers = ["tau (s)", "ADEV", "MDEV", "TDEV (ns)", "MTIE (ns)"] + (["ADEV, temp. removed"] if comp else [])
    if cls:
        headers.append(f"limit ({cls.name} line + read floor)")
    rows = []
    for t in taus:
        row = [t, adev.get(t), mdev.get(t), tdev[t] * 1e9 if t in tdev else None, mtie[t] * 1e9 if t in mtie else None]
        if comp:
            row.append(comp.get(t))
        if cls:
            row.append(float(cls.adev_line(t, a.floor_ns * 1e-9, st.interval_s)) if t in adev else None)
        rows.append(row)
    doc.table(headers, rows, numeric=set(range(len(headers))))
    doc.image(images.get("deviations"), "ADEV, MDEV, TDEV")
    doc.image(images.get("tie_mtie"), "TIE and MTIE")


def _temperature(doc: Doc, a: Analysis, images: dict) -> None:
    fit = a.tempfit
    if fit is None and a.model is None:
        return
    doc.h2("Frequency against temperature")
    if fit is not None:
        doc.p(f"Temperature {fit.temp_lo_c:.2f}..{fit.temp_hi_c:.2f} degC (1st to 99th percentile).")
        if fit.slope_ppm_per_c is not None:
            rows = [[k, v] for k, v in fit.coefficients.items()]
            rows += [
                ["lag (s)", fit.lag_s],
                ["mean temperature (degC)", fit.mean_c],
                ["slope at the mean (ppm/degC)", fit.slope_ppm_per_c],
                ["slope uncertainty (ppm/degC, 1 sigma)", fit.slope_sigma_ppm_per_c],
                ["drift (ppm/day)", fit.drift_ppm_per_day],
                ["residual rms (ppb)", fit.residual_rms_ppb],
            ]
            doc.table(["fitted (polynomial in T_lagged - T_mean)", "value"], rows, numeric={1})
        else:
            doc.p(f"No slope: {fit.reason}", note=True)
    m = a.model
    if m is not None:
        if m.fitted:
            trained = m.trained_range_c  # set whenever the model is fitted
            doc.p(
                f"The appliance's temperature model (core.holdover) fitted: lag {m.lag_s:.0f} s, residual rms "
                f"{m.residual_rms_ppb:.3f} ppb"
                + (f", trained {trained[0]:.2f}..{trained[1]:.2f} degC" if trained is not None else "")
                + f", {m.n_outliers} outlier(s)."
            )
            if m.backtest:
                b = m.backtest
                doc.p(
                    f"Holdover backtest ({b['hours']:.1f} h on the temperatures alone, trained on the first two "
                    f"thirds): max |time error| {b['max_abs_error_us']:.2f} us (frozen frequency "
                    f"{b['frozen_max_abs_error_us']:.2f} us), 99 % bound at the end {b['bound_end_us']:.2f} us, "
                    f"inside the bound on {b['coverage'] * 100:.1f} % of rows."
                )
            elif m.backtest_reason:
                doc.p(f"No holdover backtest: {m.backtest_reason}", note=True)
        else:
            doc.p(f"The appliance's temperature model was not fitted: {m.reason}", note=True)
    doc.image(images.get("temperature"), "frequency against temperature")


def build(a: Analysis, device: dict, rec: LabRecord | None, cls, images: dict, known: list, problems: list[str]) -> Doc:
    name = device.get("model") or device.get("name") or "clock"
    doc = Doc(f"Lab report: {name} ({device.get('name')})")
    counts = {w: sum(1 for c in a.checks if c.word == w) for w in ("pass", "warn", "fail")}
    doc.verdict(
        a.verdict_word,
        f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail; "
        f"behaves as: {a.estimated_class or 'not judged'}",
    )
    _summary(doc, a, device, rec)
    _checks(doc, a)
    _read(doc, a, images)
    _frequency(doc, a, images, rec)
    _phase_pins(doc, a, images, rec)
    _stability(doc, a, images, cls)
    _temperature(doc, a, images)
    if known:
        doc.h2("Known failures of this NIC family (hardware/nics.yaml)")
        doc.table(
            ["check", "when", "effect", "sources"],
            [[k.check, k.when, k.effect, "; ".join(k.sources) if k.sources else "unverified"] for k in known],
        )
    notes = list(a.notes) + list(problems)
    if rec is not None:
        notes += [f"phase {p}: {s}" for p, s in rec.phases.items() if s != "done"]
    if notes:
        doc.h2("Notes and what was not measured")
        doc.items(list(dict.fromkeys(notes)))
    return doc


def _samples_csv(a: Analysis, path: Path) -> bool:
    s = a.series
    if s is None or s.time_s.size == 0:
        return False
    temp = s.temp_c if s.temp_c is not None and np.any(np.isfinite(s.temp_c)) else None
    with open(path, "w") as f:
        f.write(
            "# appliance lab: frequency offset of the free-running oscillator against " + (a.reference or "?") + "\n"
        )
        f.write("time_s,temperature_c,freq_offset_ppm\n" if temp is not None else "time_s,freq_offset_ppm\n")
        for i in range(s.time_s.size):
            if temp is not None:
                if not np.isfinite(temp[i]):
                    continue
                f.write(f"{s.time_s[i]:.3f},{temp[i]:.4f},{s.freq_ppm[i]:.9f}\n")
            else:
                f.write(f"{s.time_s[i]:.3f},{s.freq_ppm[i]:.9f}\n")
    return True


def write(out: Path, a: Analysis, device: dict, rec: LabRecord | None, cls, known: list, limit_fraction: float) -> dict:
    """Write everything into ``out``; returns report.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    images, problems = plots.draw_all(a, out, cls, limit_fraction)
    data = report_json(a, device)
    (out / "report.json").write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    (out / "measurements.json").write_text(json.dumps(measurements_json(a, rec), indent=1) + "\n")
    if rec is not None:
        _samples_csv(a, out / "samples.csv")
    doc = build(a, device, rec, cls, images, known, problems)
    (out / "report.md").write_text(to_markdown(doc) + "\n")
    (out / "report.html").write_text(to_html(doc, out) + "\n")
    return data
