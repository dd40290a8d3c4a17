"""`appliance model fit|predict|simulate|adev`: contracts (columns, outputs) and bad input (exit 3: an
input that cannot be used; 2: an output that cannot be written)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from appliance.cli import main
from appliance.commands import model as model_cmd
from appliance.sim import scenarios

SEED = 3


@pytest.fixture(scope="module")
def scenario_run():
    return scenarios.run("diurnal", SEED, train_hours=48, holdover_hours=12, interval_s=30.0)


def write_samples(path, t, temp, ppm):
    lines = ["time_s,temperature_c,freq_offset_ppm"]
    lines += [f"{a:.1f},{b:.4f},{c:.9f}" for a, b, c in zip(t, temp, ppm, strict=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, scenario_run):
    d = tmp_path_factory.mktemp("model")
    r = scenario_run
    samples = write_samples(
        d / "samples.csv", r.time_s[r.train], r.sensor_c[r.train], r.measured_freq_ppb[r.train] / 1000
    )
    out = d / "model.json"
    assert main(["model", "fit", "--samples", str(samples), "--out", str(out)]) == 0
    return d, samples, out


def run_cli(argv, capsys):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_fit_writes_a_model(fitted):
    _, _, out = fitted
    data = json.loads(out.read_text())
    assert data["format"] == "appliance-tempcomp" and data["lag_s"] > 0
    assert len(data["covariance"]) == len(data["coefficients_ppb"]) + 2


def test_predict_outputs_the_contract_and_the_bound_covers_the_truth(fitted, scenario_run, capsys, tmp_path):
    _, _, out = fitted
    r = scenario_run
    h = r.holdover
    temps = tmp_path / "temps.csv"
    temps.write_text(
        "# holdover\ntime_s,temperature_c\n"
        + "".join(f"{a:.1f},{b:.4f}\n" for a, b in zip(r.time_s[h], r.sensor_c[h], strict=True))
    )
    rc, stdout, stderr = run_cli(["model", "predict", "--model", str(out), "--temps", str(temps)], capsys)
    assert rc == 0, stderr
    lines = stdout.strip().split("\n")
    assert lines[0] == "time_s,freq_offset_ppm,time_error_bound_s"
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert rows.shape == (r.time_s[h].size, 3)
    assert np.allclose(rows[:, 0], r.time_s[h])
    assert rows[0, 2] == 0.0 and np.all(np.diff(rows[:, 2]) >= 0)
    # The bound covers the simulated truth's accumulated error (same convention as holdover_eval).
    applied_ppb = rows[:, 1] * 1000
    err = np.concatenate([[0.0], np.cumsum((r.true_freq_ppb[r.split + 1 :] - applied_ppb[:-1]) * r.interval_s * 1e-9)])
    print(f"seed {SEED}: max |error| {np.abs(err).max() * 1e6:.1f} us, final bound {rows[-1, 2] * 1e6:.1f} us")
    assert np.mean(np.abs(err[1:]) <= rows[1:, 2]) >= 0.99


def test_predict_flags_extrapolation(fitted, capsys, tmp_path):
    _, _, out = fitted
    m = json.loads(out.read_text())
    t0 = m["time_s"] + 30
    temps = tmp_path / "hot.csv"
    temps.write_text("time_s,temperature_c\n" + "".join(f"{t0 + 30 * k},{m['temp_hi_c'] + 6}\n" for k in range(200)))
    rc, stdout, stderr = run_cli(["model", "predict", "--model", str(out), "--temps", str(temps)], capsys)
    assert rc == 0
    assert "outside the trained temperature range" in stderr and "extrapolated" in stderr


def test_simulate_prints_the_comparison_and_plots(capsys, tmp_path):
    png = tmp_path / "sim.png"
    argv = [
        "model",
        "simulate",
        "--scenario",
        "door-open",
        "--duration",
        "6h",
        "--train-duration",
        "1d",
        "--interval",
        "30s",
        "--seed",
        "2",
        "--plot",
        str(png),
    ]
    rc, stdout, stderr = run_cli(argv, capsys)
    assert rc == 0, stderr
    for text in (
        "seed 2",
        "frozen last frequency",
        "chrony-style quadratic",
        "this model",
        "stayed inside it on",
        "an oracle's exact bound",
    ):
        assert text in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "matplotlib" not in stderr and "INFO" not in stderr
    # the old spellings in hours still work, and give the same run
    argv_h = [
        "model",
        "simulate",
        "--scenario",
        "door-open",
        "--hours",
        "6",
        "--train-hours",
        "24",
        "--interval",
        "30s",
        "--seed",
        "2",
    ]
    rc, stdout_h, _ = run_cli(argv_h, capsys)
    assert rc == 0 and "then 6 h of holdover" in stdout_h
    rc, _, stderr = run_cli(argv_h[:4] + ["--duration", "6"], capsys)
    assert rc == 3 and "--duration: '6' has no unit" in stderr


def test_simulate_json_and_no_ratio_of_zeros(capsys):
    argv = [
        "model",
        "simulate",
        "--scenario",
        "diurnal",
        "--oscillator",
        "ideal",
        "--duration",
        "1h",
        "--train-duration",
        "8h",
        "--interval",
        "30s",
    ]
    rc, stdout, stderr = run_cli(argv, capsys)
    assert rc == 0, stderr
    oracle = next(line for line in stdout.splitlines() if "an oracle's exact bound" in line)
    assert "median |error|" not in oracle and "0.0 x" not in stdout  # both sides are 0 for an ideal clock
    rc, stdout, _ = run_cli(argv + ["--json"], capsys)
    data = json.loads(stdout)
    assert (
        rc == 0
        and data["oracle"]["median_abs_error_s"] == 0
        and set(data["max_abs_time_error_s"]) == {"frozen", "quadratic", "quadratic_raw", "model"}
    )


def test_simulate_plot_without_matplotlib_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, stdout, stderr = run_cli(
        ["model", "simulate", "--scenario", "diurnal", "--plot", str(tmp_path / "x.png")], capsys
    )
    assert rc == 3 and "--plot needs matplotlib" in stderr and not stdout


def test_scenario_names_in_help_match_the_scenarios():
    assert tuple(scenarios.SCENARIOS) == model_cmd.SCENARIO_NAMES


def test_adev_table(capsys, tmp_path):
    rng = np.random.default_rng(SEED)
    y_ppm = rng.normal(0, 1e-3, 4096)  # white FM, 1 ppb per 1 s sample
    f = tmp_path / "f.csv"
    f.write_text("time_s,freq_offset_ppm\n" + "".join(f"{k},{v:.9f}\n" for k, v in enumerate(y_ppm)))
    rc, stdout, stderr = run_cli(["model", "adev", "--samples", str(f)], capsys)
    assert rc == 0, stderr
    lines = stdout.strip().split("\n")
    assert lines[0] == "tau_s,n,adev,mdev"
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert table[0, 0] == 1.0 and table[0, 2] == pytest.approx(1e-9, rel=0.1)
    # white FM: adev falls as tau^-1/2
    assert table[4, 2] == pytest.approx(1e-9 / 4, rel=0.3)
    assert "random-walk FM" in stderr


def test_the_real_entry_point_runs(tmp_path):
    f = tmp_path / "missing.csv"
    p = subprocess.run(
        [sys.executable, "-m", "appliance", "model", "fit", "--samples", str(f), "--out", str(tmp_path / "m.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 3
    assert "cannot read: the file does not exist" in p.stderr and "Traceback" not in p.stderr


# --- bad input ------------------------------------------------------------------------------------


def _samples(tmp_path, rows, header="time_s,temperature_c,freq_offset_ppm"):
    f = tmp_path / "s.csv"
    f.write_text(header + "\n" + "\n".join(rows) + "\n")
    return f


def _good_rows(n=1000, dt=30.0):
    return [f"{k * dt},{24 + np.sin(k / 100):.4f},{0.1 + 0.01 * np.sin(k / 100):.9f}" for k in range(n)]


@pytest.mark.parametrize(
    "rows, header, message",
    [
        (_good_rows(), "time_s,temperature_c", "line 1: missing column freq_offset_ppm"),
        (_good_rows()[:3] + ["90,nan,0.1"] + _good_rows()[4:], None, "line 5: column temperature_c is 'nan'"),
        (
            _good_rows()[:3] + ["90,abc,0.1"] + _good_rows()[4:],
            None,
            "line 5: column temperature_c: 'abc' is not a number",
        ),
        (_good_rows()[:10] + ["0,24,0.1"] + _good_rows()[11:], None, "line 12: time_s is not increasing"),
        (
            [r for k, r in enumerate(_good_rows()) if k != 500][:499] + [f"{500 * 30 + 7},24,0.1"] + _good_rows()[501:],
            None,
            "irregular time",
        ),
        (_good_rows(50), None, "too few samples: 50 rows"),
        ([f"{k * 30.0},24.0,0.1" for k in range(1000)], None, "temperature range too narrow to fit"),
        (
            [f"{k * 120.0},{24 + np.sin(k / 30):.3f},0.1" for k in range(1000)],
            None,
            "sample interval 120 s is outside 1..60 s",
        ),
        ([], None, "too few samples: 0 rows"),
    ],
)
def test_fit_bad_input_names_the_problem(tmp_path, capsys, rows, header, message):
    f = _samples(tmp_path, rows, header or "time_s,temperature_c,freq_offset_ppm")
    out = tmp_path / "m.json"
    rc, stdout, stderr = run_cli(["model", "fit", "--samples", str(f), "--out", str(out)], capsys)
    assert rc == 3
    assert message in stderr, stderr
    assert "Traceback" not in stderr and not out.exists()


def test_fit_empty_file_and_narrow_range_warning(tmp_path, capsys):
    f = tmp_path / "empty.csv"
    f.write_text("# nothing here\n\n")
    rc, _, stderr = run_cli(["model", "fit", "--samples", str(f), "--out", str(tmp_path / "m.json")], capsys)
    assert rc == 3 and "empty" in stderr
    rows = [f"{k * 30.0},{24 + 0.25 * np.sin(k / 100):.4f},{0.1 + 0.002 * np.sin(k / 100):.9f}" for k in range(1000)]
    rc, _, stderr = run_cli(
        ["model", "fit", "--samples", str(_samples(tmp_path, rows)), "--out", str(tmp_path / "m.json")], capsys
    )
    assert rc == 0 and "warning: temperature range is narrow" in stderr


def test_predict_bad_inputs(fitted, tmp_path, capsys):
    _, _, out = fitted
    m = json.loads(out.read_text())
    temps = tmp_path / "t.csv"
    temps.write_text("time_s,temperature_c\n0,24\n30,24\n")
    rc, _, stderr = run_cli(["model", "predict", "--model", str(out), "--temps", str(temps)], capsys)
    assert rc == 3 and "before the end of the model's training data" in stderr
    times = m["time_s"] + 30 * np.arange(1, 12)
    times[8:] += 7
    temps.write_text("time_s,temperature_c\n" + "".join(f"{v},24\n" for v in times))
    rc, _, stderr = run_cli(["model", "predict", "--model", str(out), "--temps", str(temps)], capsys)
    assert rc == 3 and "irregular time at row 9" in stderr and "line 10" in stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, _, stderr = run_cli(["model", "predict", "--model", str(bad), "--temps", str(temps)], capsys)
    assert rc == 3 and "not JSON (line 1, column 2)" in stderr and "Expecting" not in stderr
    m.pop("covariance")
    bad.write_text(json.dumps(m))
    rc, _, stderr = run_cli(["model", "predict", "--model", str(bad), "--temps", str(temps)], capsys)
    assert rc == 3 and "not a usable model" in stderr and "covariance" in stderr


def test_simulate_bad_arguments(capsys):
    rc, _, stderr = run_cli(["model", "simulate", "--scenario", "volcano"], capsys)
    assert rc == 3 and "invalid choice: 'volcano'" in stderr and "'cold-start'" in stderr
    rc, _, stderr = run_cli(["model", "simulate", "--scenario", "diurnal", "--oscillator", "atomic"], capsys)
    assert rc == 3 and "--oscillator 'atomic'" in stderr
    rc, _, stderr = run_cli(["model", "simulate", "--scenario", "diurnal", "--duration", "31d"], capsys)
    assert rc == 3 and "at most 30d" in stderr


def test_fit_unwritable_output(fitted, tmp_path, capsys):
    _, samples, _ = fitted
    rc, _, stderr = run_cli(["model", "fit", "--samples", str(samples), "--out", "/proc/m.json"], capsys)
    assert rc == 2 and "cannot write /proc/m.json" in stderr  # FAIL: the input was fine, the write was not


def test_fit_creates_no_parent_directory(fitted, tmp_path, capsys):
    # `--out /nonexistent/m.json` used to create /nonexistent/
    _, samples, _ = fitted
    target = tmp_path / "no" / "such" / "m.json"
    rc, _, stderr = run_cli(["model", "fit", "--samples", str(samples), "-o", str(target)], capsys)
    assert rc == 3 and f"the directory {target.parent} does not exist" in stderr
    assert not (tmp_path / "no").exists()


def test_fit_output_spellings_and_json(fitted, tmp_path, capsys):
    _, samples, _ = fitted
    for flag in ("--output", "-o", "--out"):
        out = tmp_path / f"m{flag.strip('-')}.json"
        rc, stdout, _ = run_cli(["model", "fit", "--samples", str(samples), flag, str(out)], capsys)
        assert rc == 0 and out.exists()
    rc, stdout, _ = run_cli(
        ["model", "fit", "--samples", str(samples), "-o", str(tmp_path / "j.json"), "--json"], capsys
    )
    data = json.loads(stdout)
    assert rc == 0 and data["samples"] > 0 and data["lag_s"] >= 0


def test_a_row_with_an_extra_column_is_refused(tmp_path, capsys):
    rows = _good_rows()
    rows[6] = rows[6] + ",0.5"  # a stray field: once ignored silently
    f = _samples(tmp_path, rows)
    rc, _, stderr = run_cli(["model", "fit", "--samples", str(f), "-o", str(tmp_path / "m.json")], capsys)
    assert rc == 3 and "line 8: 4 fields, but the header (line 1) names 3" in stderr
    assert not (tmp_path / "m.json").exists()


def test_predict_and_adev_write_to_output(fitted, tmp_path, capsys):
    _, samples, model = fitted
    m = json.loads(model.read_text())
    temps = tmp_path / "t.csv"
    temps.write_text("time_s,temperature_c\n" + "".join(f"{m['time_s'] + 30 * k},24\n" for k in range(1, 5)))
    out = tmp_path / "p.csv"
    rc, stdout, _ = run_cli(["model", "predict", "--model", str(model), "--temps", str(temps), "-o", str(out)], capsys)
    assert rc == 0 and not stdout and out.read_text().startswith("time_s,freq_offset_ppm,time_error_bound_s\n")
    rc, _, stderr = run_cli(
        ["model", "predict", "--model", str(model), "--temps", str(temps), "-o", str(tmp_path / "x" / "p.csv")], capsys
    )
    assert rc == 3 and not (tmp_path / "x").exists()
