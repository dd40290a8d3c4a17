"""`appliance discover [--json] [--record FILE | --replay FILE]` as a person and a script use it."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "discovery"


def run(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "appliance", "discover", *args], capture_output=True, text=True,
                       cwd=REPO, timeout=60)
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


def test_errors_are_one_line_and_exit_2(tmp_path):
    r = run("--replay", str(tmp_path / "missing.yaml"), check=False)
    assert r.returncode == 2 and "not a discovery recording" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "nics.yaml"
    bad.write_text("schema: 1\nfamilies: [{id: x}]\n")
    r = run("--nics", str(bad), check=False)
    assert r.returncode == 2 and "families.0.name" in r.stderr
