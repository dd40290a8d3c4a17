"""`appliance discover [--json] [--record FILE | --replay FILE]` as a person and a script use it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "discovery"


def run(*args, check=True):
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "discover", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_table_of_a_grandmaster_capable_machine():
    out = run("--replay", str(FIXTURES / "intel-i350.yaml")).stdout
    header = next(line for line in out.splitlines() if line.startswith("INTERFACE"))
    for col in ("DRIVER", "PHC", "HW-TX", "HW-RX", "MAX-ADJ", "PINS", "TEMPERATURE", "VERDICT"):
        assert col in header
    row = next(line for line in out.splitlines() if line.startswith("enp3s0f1 "))
    assert "ptp1" in row and "62500 ppm" in row and "i350bb (adapter) 51.0 degC" in row and "can be grandmaster" in row
    assert "Why:" in out and "Summary: can be grandmaster on" in out


def test_json_has_the_same_content():
    inv = json.loads(run("--json", "--replay", str(FIXTURES / "intel-e810.yaml")).stdout)
    assert inv["summary"]["ptp_hardware"] is True
    assert {i["name"]: i["verdict"] for i in inv["interfaces"]}["ens2f2"] == "can be grandmaster"
    assert inv["phcs"][0]["interfaces"] == ["ens2f0", "ens2f1", "ens2f2", "ens2f3"]


def test_this_machine_without_ptp_hardware_succeeds_and_says_so(tmp_path):
    r = run("--record", str(tmp_path / "rec.yaml"))
    assert "Summary:" in r.stdout and "lo" in r.stdout
    replay = run("--json", "--replay", str(tmp_path / "rec.yaml")).stdout
    assert json.loads(replay)["source"]["kind"] == "live"


def test_errors_are_one_line_and_exit_3(tmp_path):
    r = run("--replay", str(tmp_path / "missing.yaml"), check=False)
    assert r.returncode == 3 and "missing.yaml: does not exist" in r.stderr and "Traceback" not in r.stderr
    assert "Errno" not in r.stderr
    bad = tmp_path / "nics.yaml"
    bad.write_text("schema: 1\nfamilies: [{id: x}]\n")
    r = run("--nics", str(bad), check=False)
    assert r.returncode == 3 and "families.0.name" in r.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ("{}", "no 'devices'"),
        ("", "the file is empty"),
        ("[1, 2]", "expected a mapping with 'source' and 'devices', got list"),
        ("devices: [1]", "a list of device records"),
        ("devices: [", "not YAML or JSON (line 1"),
    ],
)
def test_a_replay_of_something_that_is_not_a_recording_is_refused(tmp_path, content, message):
    # `{}` once printed "no PTP hardware clock on this machine" and exited 0
    f = tmp_path / "rec.json"
    f.write_text(content)
    r = run("--replay", str(f), check=False)
    assert r.returncode == 3 and message in r.stderr and "not a discovery recording" in r.stderr, r.stderr
    assert "NoneType" not in r.stderr and "Traceback" not in r.stderr and not r.stdout


def test_record_refuses_a_missing_directory(tmp_path):
    r = run("--record", str(tmp_path / "no" / "x.yaml"), check=False)
    assert r.returncode == 3 and f"the directory {tmp_path / 'no'} does not exist" in r.stderr
    assert "Errno" not in r.stderr and not (tmp_path / "no").exists()


def test_a_replay_never_says_this_machine(tmp_path):
    out = run("--replay", str(FIXTURES / "virtio-vm-no-ptp.yaml")).stdout
    assert "this machine" not in out and "the machine recorded in" in out
    inv = json.loads(run("--json", "--replay", str(FIXTURES / "virtio-vm-no-ptp.yaml")).stdout)
    assert "this machine" not in inv["summary"]["text"]


@pytest.mark.parametrize("fixture, code", [("intel-i350.yaml", 0), ("virtio-vm-no-ptp.yaml", 2)])
def test_expect_ptp_gates_on_what_the_interfaces_can_do(fixture, code):
    r = run("--expect-ptp", "--replay", str(FIXTURES / fixture), check=False)
    assert r.returncode == code, r.stderr
    r = run("--expect-ptp", "--json", "--replay", str(FIXTURES / fixture), check=False)
    assert r.returncode == code and json.loads(r.stdout)["exit_code"] == code
    assert run("--replay", str(FIXTURES / fixture)).returncode == 0  # without it: a report, exit 0


def test_expect_ptp_warns_when_interfaces_can_only_follow(tmp_path):
    from appliance.commands.discover import expect_ptp_code
    from appliance.hw import discovery

    inv = discovery.build_inventory(discovery.load_snapshot(FIXTURES / "intel-i350.yaml"))
    for i in inv.interfaces:
        if i.verdict == "can be grandmaster":
            i.verdict = "can follow"
    assert expect_ptp_code(inv) == 1
