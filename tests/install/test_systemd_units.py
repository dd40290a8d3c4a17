"""The units as systemd reads them: `systemd-analyze verify`, the exposure score of
`systemd-analyze security --offline=true`, and the properties the appliance relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import unitfile
from helpers.requirements import missing

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "image" / "systemd"
UNITS = ["appliance.service", "appliance-bootstrap.service"]
MAX_EXPOSURE = 2.5
# The prefix the units are written with; install.sh replaces it.
UNIT_PREFIX = "/opt/appliance"
CAPS = {"CAP_SYS_TIME", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"}


def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        missing("needs systemd-analyze (apt-get install systemd)")
    return path


def exposure(unit: Path) -> float:
    r = subprocess.run(
        [analyze(), "security", "--offline=true", "--no-pager", str(unit)], capture_output=True, text=True, timeout=60
    )
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", r.stdout)
    assert m, f"no exposure level in: {r.stdout[-400:]} {r.stderr[-400:]}"
    return float(m.group(1))


@pytest.fixture(scope="module")
def units_with_existing_prefix(tmp_path_factory):
    """The units with the prefix pointed at this checkout's venv, so verify finds ExecStart."""
    import sys

    venv = Path(sys.prefix)
    if not (venv / "bin" / "appliance").exists():
        pytest.skip("the appliance is not installed in the running Python's environment")
    d = tmp_path_factory.mktemp("units")
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace(f"{UNIT_PREFIX}/venv/", f"{venv}/")
        (d / name).write_text(text)
    return d


def test_verify_is_clean(units_with_existing_prefix):
    paths = [str(units_with_existing_prefix / u) for u in UNITS]
    r = subprocess.run([analyze(), "verify", "--man=no", *paths], capture_output=True, text=True, timeout=60)
    # Unknown keys and bad values are warnings, not failures: any output at all fails the test.
    problems = [
        line for line in (r.stdout + r.stderr).splitlines() if line.strip() and "Failed to connect to bus" not in line
    ]
    assert r.returncode == 0 and not problems, "\n".join(problems)


@pytest.mark.parametrize("unit", UNITS)
def test_exposure_at_most_target(unit, capsys):
    score = exposure(SYSTEMD / unit)
    chrony = Path("/lib/systemd/system/chrony.service")
    beside = f", chrony.service {exposure(chrony)}" if chrony.exists() else ""
    with capsys.disabled():
        print(f"\n  systemd-analyze security --offline=true: {unit} {score}{beside}")
    assert score <= MAX_EXPOSURE


def test_appliance_unit_properties():
    svc = unitfile.parse(SYSTEMD / "appliance.service")
    unit, service = svc["Unit"], svc["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["WatchdogSec"] and service["Restart"] == ["on-failure"]
    # one discipline per clock
    conflicts = set(unitfile.words(unit["Conflicts"]))
    assert {"chrony.service", "chronyd.service", "systemd-timesyncd.service", "ntp.service"} <= conflicts
    assert conflicts <= set(unitfile.words(unit["After"]))
    # exactly the capabilities the README explains, and the same for the children (ambient)
    assert set(unitfile.words(service["CapabilityBoundingSet"])) == CAPS
    assert set(unitfile.words(service["AmbientCapabilities"])) == CAPS
    assert service["User"] == ["appliance"] and service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"] and service["MemoryDenyWriteExecute"] == ["yes"]
    assert set(unitfile.words(service["RestrictAddressFamilies"])) == {
        "AF_INET",
        "AF_INET6",
        "AF_UNIX",
        "AF_NETLINK",
        "AF_PACKET",
    }
    assert service["DevicePolicy"] == ["closed"]
    assert {"char-ptp rw", "char-pps r", "char-rtc r"} == set(service["DeviceAllow"])
    # the clock calls stay allowed after the deny lists
    assert "@clock" in unitfile.words(service["SystemCallFilter"])[:2]
    assert not any("@privileged" in v for v in service["SystemCallFilter"])
    # reload validates first, then signals
    reload = service["ExecReload"]
    assert "config check" in reload[0] and reload[1].endswith("-HUP $MAINPID")
    # ExecStart runs the prefix's appliance on the configuration directory's file
    assert service["ExecStart"] == [
        f"{UNIT_PREFIX}/venv/bin/appliance serve --config "
        "${CONFIGURATION_DIRECTORY}/appliance.yaml --control-socket "
        "${RUNTIME_DIRECTORY}/control.sock"
    ]
    assert "appliance-bootstrap.service" in unitfile.words(unit["Wants"])
    assert "appliance-bootstrap.service" in unitfile.words(unit["After"])


def test_bootstrap_unit_runs_once_before_the_appliance():
    svc = unitfile.parse(SYSTEMD / "appliance-bootstrap.service")
    unit, service = svc["Unit"], svc["Service"]
    assert service["Type"] == ["oneshot"]
    assert "appliance.service" in unitfile.words(unit["Before"])
    assert unit["ConditionPathExists"] == ["!/var/lib/appliance/bootstrap.json"]
    start = service["ExecStart"][0]
    assert " bootstrap " in start and "--non-interactive" in start and "--apply" in start
    assert "--apply-system" not in start
    assert {"chrony.service", "systemd-timesyncd.service"} <= set(unitfile.words(unit["Conflicts"]))


def test_sysusers_and_tmpfiles_apply_to_a_root_tree(tmp_path):
    for tool in ("systemd-sysusers", "systemd-tmpfiles"):
        if shutil.which(tool) is None:
            missing(f"needs {tool} (apt-get install systemd)")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    sysusers = SYSTEMD / "sysusers.d" / "appliance.conf"
    tmpfiles = SYSTEMD / "tmpfiles.d" / "appliance.conf"
    r = subprocess.run(["systemd-sysusers", f"--root={root}", str(sysusers)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    passwd = (root / "etc" / "passwd").read_text()
    entry = next(line for line in passwd.splitlines() if line.startswith("appliance:"))
    assert entry.split(":")[5] == "/var/lib/appliance"
    r = subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create", str(tmpfiles)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    state = root / "var" / "lib" / "appliance"
    assert state.is_dir() and (state.stat().st_mode & 0o777) == 0o750
    uid = int(entry.split(":")[2])
    assert state.stat().st_uid == uid


def test_udev_rule_grants_the_device_classes_the_unit_allows():
    rules = (SYSTEMD / "udev" / "60-appliance.rules").read_text()
    svc = unitfile.parse(SYSTEMD / "appliance.service")["Service"]
    for allow in svc["DeviceAllow"]:
        cls = allow.split()[0].removeprefix("char-")
        assert f'SUBSYSTEM=="{cls}", GROUP="appliance"' in rules, cls


@pytest.mark.parametrize("active, refused", [("", False), ("ptp4l@eth0.service loaded active running PTP\n", True)])
def test_start_refused_beside_a_running_linuxptp_unit(tmp_path, active, refused):
    # ExecStartPre as written, with a systemctl that reports the given active units.
    fake = tmp_path / "systemctl"
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{active}'\n")
    fake.chmod(0o755)
    (pre,) = unitfile.parse(SYSTEMD / "appliance.service")["Service"]["ExecStartPre"]
    argv = unitfile.command_argv(pre, {})
    r = subprocess.run(argv, capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    if refused:
        assert r.returncode == 1 and "refusing to start" in r.stderr and "ptp4l@" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
