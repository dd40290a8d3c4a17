"""`appliance diagnose` as a command: exit codes by worst verdict on the recorded bundles (0 OK, 1 WARN,
2 FAIL, 3 UNKNOWN for what could not be judged), --json, --save/--replay round trip, absent, broken,
hanging and lying tools, and clear errors for bad options."""

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures" / "diagnose"


def diagnose(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "appliance", "diagnose", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    "bundle, code",
    [
        ("worker-timesyncd", 0),
        ("kernel-leap-pending", 1),
        ("rtc-off", 1),
        ("chrony-synced", 2),  # chronyd -x leaves the kernel clock unsynchronised
        ("chrony-no-sources", 2),
        ("chrony-unsynchronised", 2),
        ("chrony-not-running", 2),
    ],
)
def test_exit_code_is_the_worst_verdict(bundle, code):
    r = diagnose("--replay", FIX / bundle, "--json")
    assert r.returncode == code, r.stderr
    report = json.loads(r.stdout)
    assert report["exit_code"] == code
    worst = max((c["verdict"] for c in report["checks"]), key=["skip", "ok", "warn", "unknown", "fail"].index)
    assert report["verdict"] == worst
    for c in report["checks"]:
        assert c["verdict"] in ("skip", "ok", "warn", "fail") and c["summary"]
        if c["verdict"] not in ("ok", "skip"):
            assert c["next_step"], c
        if c["state"] in ("not available", "not running") and c["verdict"] != "fail":
            assert c["verdict"] == "skip", c  # absent and not expected: nothing judged, not "OK"


def test_text_output():
    r = diagnose("--replay", FIX / "chrony-synced", "-v")
    assert r.returncode == 2
    assert "FAIL  kernel" in r.stdout and "next: " in r.stdout
    assert "drift trend (at the current rate):" in r.stdout and "chrony:" in r.stdout
    assert "system_time:" in r.stdout  # --verbose shows the evidence, with chrony's names


def test_save_replay_round_trip(tmp_path):
    # --save and --replay are exclusive
    a = diagnose("--replay", FIX / "appliance-holdover", "--save", tmp_path / "b")
    assert a.returncode == 3 and "not allowed with" in a.stderr
    a = diagnose("--replay", FIX / "appliance-holdover", "--save", tmp_path / "b", "--json")
    assert a.returncode == 3 and "not allowed with" in json.loads(a.stdout)["error"]  # --json: errors as JSON
    r = diagnose("--rtc-file", FIX / "rtc-off" / "proc-driver-rtc.txt", "--save", tmp_path / "b", "--json")
    first = json.loads(r.stdout)
    again = diagnose("--replay", tmp_path / "b", "--json")
    assert again.returncode == r.returncode
    assert json.loads(again.stdout)["checks"] == first["checks"]
    bundle = json.loads((tmp_path / "b" / "bundle.json").read_text())
    assert bundle["inputs"]["rtc"]["expected"] is True  # an explicit --rtc-file
    assert (tmp_path / "b" / "proc-driver-rtc.txt").read_text() == (FIX / "rtc-off" / "proc-driver-rtc.txt").read_text()


def fake(tmp_path: Path, name: str, script: str) -> Path:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + script + "\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def test_absent_tools_are_not_available(tmp_path):
    r = diagnose(
        "--chronyc",
        "/nonexistent/chronyc",
        "--timedatectl",
        "/nonexistent/timedatectl",
        "--rtc-file",
        tmp_path / "no-rtc",
        "--pmc",
        "/nonexistent/pmc",
        "--ptp4l-socket",
        tmp_path / "no-ptp4l",
        "--control-socket",
        tmp_path / "no.sock",
        "--json",
    )
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    # every explicit path implies --expect, and the message names the path given
    assert c["chrony"]["state"] == "not available" and c["chrony"]["verdict"] == "fail"
    assert "/nonexistent/chronyc does not exist" in c["chrony"]["summary"]
    assert c["timedatectl"]["state"] == "not available" and c["timedatectl"]["verdict"] == "fail"
    assert "/nonexistent/timedatectl" in c["timedatectl"]["summary"]
    assert c["rtc"]["state"] == "not available" and c["rtc"]["verdict"] == "fail"  # an explicit --rtc-file
    assert "/proc/driver/rtc" not in c["rtc"]["summary"] and str(tmp_path / "no-rtc") in c["rtc"]["summary"]
    assert c["ptp"]["state"] == "not available" and c["ptp"]["verdict"] == "fail"  # an explicit --pmc
    assert "/nonexistent/pmc does not exist" in c["ptp"]["summary"]
    assert c["appliance"]["state"] == "not running" and c["appliance"]["verdict"] == "fail"
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.parametrize("option, group", [("--chronyc", "chrony"), ("--timedatectl", "timedatectl"), ("--pmc", "ptp")])
def test_an_explicit_tool_path_that_does_not_exist_fails_and_is_named(option, group):
    r = diagnose(option, "/nonexistent/tool", "--json")
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    assert c[group]["verdict"] == "fail" and "/nonexistent/tool" in c[group]["summary"], c[group]
    assert r.returncode == 2


def test_absent_components_are_skipped_not_ok(tmp_path):
    r = diagnose("--replay", FIX / "worker-timesyncd", "--json")
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    assert c["chrony"]["verdict"] == "skip" and c["ptp"]["verdict"] == "skip" and c["appliance"]["verdict"] == "skip"
    assert r.returncode == 0 and json.loads(r.stdout)["verdict"] == "ok"
    text = diagnose("--replay", FIX / "worker-timesyncd").stdout
    assert "SKIP  chrony " in text and "OK    clock " in text


def test_next_steps_fit_their_check():
    for bundle in sorted(p for p in FIX.iterdir() if (p / "bundle.json").exists()):
        for c in json.loads(diagnose("--replay", bundle, "--json").stdout)["checks"]:
            step = c["next_step"] or ""
            if c["name"] in ("appliance", "ptp"):
                assert "chrony" not in step, (bundle.name, c)
            if c["name"].startswith("chrony"):
                assert "ptp4l" not in step, (bundle.name, c)


def test_no_date_from_a_rate_that_is_zero_within_its_error():
    # chrony's +0.002 ppm (+/- 1.555): dividing by it gave "reached in 289.4 days"
    r = diagnose("--replay", FIX / "chrony-synced", "--json")
    trends = {t["source"]: t for t in json.loads(r.stdout)["drift"]}
    t = trends["chrony:198.18.217.1"]
    assert not t["rate_measurable"] and t["crossing_in_s"] is None and t["worst_case_crossing_in_s"] > 0
    text = diagnose("--replay", FIX / "chrony-synced").stdout
    assert "no measurable drift (zero within its error)" in text and "289.4 days" not in text
    holdover = {
        t["source"]: t for t in json.loads(diagnose("--replay", FIX / "appliance-holdover", "--json").stdout)["drift"]
    }
    (bound,) = [t for k, t in holdover.items() if k.startswith("appliance:error_bound")]
    assert bound["rate_measurable"] and bound["crossing_in_s"] > 0  # a real growth keeps its date


def test_verbose_evidence_is_whole_json():
    r = diagnose("--replay", FIX / "chrony-synced", "-v")
    lines = r.stdout.splitlines()
    for line in lines:
        key, sep, value = line.strip().partition(": ")
        if sep and value[:1] in "[{":
            json.loads(value)  # never cut in the middle
    assert any('"state_name": "selected"' in line for line in lines)


def test_lying_hanging_and_failing_tools(tmp_path):
    chronyc = fake(tmp_path, "chronyc", 'echo "Welcome to the machine,1,2"; echo "\\377\\001 binary" ')
    hang = fake(tmp_path, "timedatectl", "sleep 30")
    sock = tmp_path / "ptp4l"
    sock.write_text("")  # exists: ptp4l "runs", but there is no pmc
    t0 = time.monotonic()
    r = diagnose("--chronyc", chronyc, "--timedatectl", hang, "--timeout", "500ms", "--ptp4l-socket", sock, "--json")
    assert time.monotonic() - t0 < 20
    assert "Traceback" not in r.stderr
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    assert c["chrony"]["verdict"] == "warn" and c["chrony"]["state"] == "unreadable"
    # an explicit --timedatectl is expected: a tool that hangs is then a failure, not a warning
    assert c["timedatectl"]["verdict"] == "fail" and "did not finish within 0.5 s" in c["timedatectl"]["summary"]
    # an explicit --ptp4l-socket: expected, so a missing pmc fails (without it, a warning: test_diagnosis)
    r = diagnose("--pmc", "pmc-not-installed", "--ptp4l-socket", sock, "--json")
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    assert c["ptp"]["verdict"] == "fail" and "pmc-not-installed is not installed" in c["ptp"]["summary"]
    broken = fake(tmp_path, "chronyc2", 'echo "501 Not authorised" >&2; exit 1')
    r = diagnose("--chronyc", broken, "--json")
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    assert c["chrony"]["verdict"] == "fail" and "run as root" in c["chrony"]["summary"]  # explicit: expected


def test_recorded_outputs_through_fake_tools(tmp_path):
    """The same recorded chronyc and timedatectl outputs, this time through the command's own gathering."""
    src = FIX / "chrony-leap-pending"
    chronyc = fake(tmp_path, "chronyc", f'for last; do :; done; cat "{src}/chronyc-$last.csv"')
    td = fake(tmp_path, "timedatectl", f'cat "{FIX}/worker-timesyncd/timedatectl-show.txt"')
    r = diagnose("--chronyc", chronyc, "--timedatectl", td, "--json")
    c = {x["name"]: x for x in json.loads(r.stdout)["checks"]}
    assert c["chrony"]["verdict"] == "warn" and "leap second pending" in c["chrony"]["summary"]
    assert c["chrony"]["evidence"]["leap_status"] == "Insert second"
    assert c["timedatectl"]["verdict"] == "ok" and c["timedatectl"]["evidence"]["NTPSynchronized"] == "yes"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--replay", "/nonexistent/dir"], "--replay /nonexistent/dir: does not exist"),
        (["--replay", REPO / "examples" / "sim.yaml"], "sim.yaml: is a file, not a directory"),
        (["--threshold", "fast"], "--threshold: 'fast' is not a duration"),
        (["--threshold", "50"], "--threshold: '50' has no unit"),
        (["--threshold", "0s"], "--threshold: '0s': expected a duration greater than zero"),
        (["--timeout", "0s"], "--timeout"),
        (["--timeout", "5"], "--timeout: '5' has no unit"),
        (["--config", "/nonexistent.yaml"], "cannot read"),
        (["--save", "{tmp}/no/x"], "its parent directory {tmp}/no does not exist"),
        (["--expect", "ntpd"], "invalid choice"),
    ],
)
def test_bad_options(args, message, tmp_path):
    # UNKNOWN (3): nothing was judged; 2 is for a FAIL verdict only
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    r = diagnose(*args)
    assert r.returncode == 3 and message.replace("{tmp}", str(tmp_path)) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "no").exists()  # no parent directory is created


@pytest.mark.parametrize(
    "content, message",
    [
        (json.dumps({"collected_at_s": 1.0, "inputs": {"nope": {}}}), "inputs.nope: unknown input"),
        ("garbage", "bundle.json is not JSON (line 1, column 1)"),
        (json.dumps({"collected_at_s": 1.0, "inputs": {"rtc": {"state": "sunny"}}}), "inputs.rtc.state 'sunny'"),
    ],
)
def test_bad_bundle(tmp_path, content, message):
    (tmp_path / "bundle.json").write_text(content)
    r = diagnose("--replay", tmp_path)
    assert r.returncode == 3 and message in r.stderr and "Expecting value" not in r.stderr
    r = diagnose("--replay", tmp_path, "--json")
    assert r.returncode == 3 and message in json.loads(r.stdout)["error"] and not r.stderr


def test_adjtimex_is_read_only_and_readable():
    from appliance.core.diagnose.sysclock_report import decode_timex
    from appliance.diagnose.adjtimex import read_timex

    raw = read_timex()
    k = decode_timex(raw)
    assert raw["modes"] == 0 and k.state in ("TIME_OK", "TIME_INS", "TIME_DEL", "TIME_OOP", "TIME_WAIT", "TIME_ERROR")
    assert abs(raw["time_sec"] - time.time()) < 5
