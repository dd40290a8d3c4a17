"""`appliance lab run --device` against every real /dev/ptpN of this machine (lab machines).

It adjusts the PHC (frequency sweeps, steps, slews; put back afterwards), so it runs only with
APPLIANCE_HW_TESTS=1, and never on a PHC that a production ptp4l is disciplining. CLOCK_REALTIME is
only read. Skipped where there is no PHC.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hardware
DEVICES = sorted(glob.glob("/dev/ptp[0-9]*"))
if not DEVICES:
    pytest.skip("no /dev/ptpN on this machine (hardware suite)", allow_module_level=True)
if os.environ.get("APPLIANCE_HW_TESTS") != "1":
    pytest.skip("adjusts a real PHC: set APPLIANCE_HW_TESTS=1", allow_module_level=True)
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("device", DEVICES)
def test_lab_run_on_a_real_phc(device, tmp_path):
    from appliance.hw.phc import PhcClock

    with PhcClock(device, readonly=True, find_sensor=False) as clock:
        freq_before = clock.get_frequency_ppb()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "lab",
            "run",
            "--device",
            device,
            "--duration",
            "2m",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode in (0, 1, 2), r.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    names = {c["name"] for c in data["checks"]}
    assert "read.methods" in names and "frequency.refusal" in names and "phase.step_error_ns" in names
    assert {c["name"]: c["verdict"] for c in data["checks"]}["frequency.refusal"] == "pass"
    assert data["device"]["kind"] == "phc" and data["device"]["caps"]["max_adj_ppb"] > 0
    assert data["adev"]
    assert (tmp_path / "report.html").stat().st_size > 0
    with PhcClock(device, readonly=True, find_sensor=False) as clock:
        assert abs(clock.get_frequency_ppb() - freq_before) < 1.0  # the frequency correction as found
