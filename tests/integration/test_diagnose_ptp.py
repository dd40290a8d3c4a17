"""`appliance diagnose` reads ptp4l's data sets (pmc over ptp4l's Unix socket) from two real ptp4l
instances in test namespaces (software timestamping, free_running 1: no clock is adjusted)."""

import json
import sys

import pytest

from helpers.appliance_proc import REPO
from helpers.netns import TestNet
from helpers.requirements import require_root_netns, require_tool
from helpers.wait import wait_for

pytestmark = pytest.mark.integration

BASE = ["[global]", "free_running 1", "domainNumber 24", "logAnnounceInterval -2", "announceReceiptTimeout 2"]


def diagnose(*args):
    import subprocess

    r = subprocess.run(
        [sys.executable, "-m", "appliance", "diagnose", "--json", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert "Traceback" not in r.stderr, r.stderr
    return {c["name"]: c for c in json.loads(r.stdout)["checks"]}


def test_grandmaster_and_follower(tmp_path):
    require_root_netns()
    require_tool("ptp4l", "pmc")
    tmp_path.chmod(0o755)
    socks = {}
    with TestNet(["gm", "follower"]) as net:
        for name, prio in (("gm", 128), ("follower", 200)):
            conf = tmp_path / f"{name}.conf"
            socks[name] = tmp_path / f"{name}.sock"
            conf.write_text("\n".join(BASE + [f"priority1 {prio}", f"uds_address {socks[name]}"]) + "\n")
            net[name].popen(["/usr/sbin/ptp4l", "-S", "-f", str(conf), "-i", "eth0"])
        gm, fo = wait_for(
            lambda: (
                diagnose("--ptp4l-socket", socks["gm"])["ptp"],
                diagnose("--ptp4l-socket", socks["follower"])["ptp"],
            ),
            20,
            0.5,
            "the gm MASTER and the follower measuring its path delay to it",
            until=lambda v: (
                v[0]["evidence"].get("port_state") == "MASTER"
                and v[1]["evidence"].get("gm_identity") == v[0]["evidence"].get("clock_identity")
                and v[1]["evidence"].get("mean_path_delay_ns")
            ),
        )
        wrong_domain = diagnose("--ptp4l-socket", socks["gm"], "--ptp-domain", "0")["ptp"]
    assert gm["verdict"] == "ok" and "grandmaster" in gm["summary"] and gm["evidence"]["domain"] == 24
    # free_running: the servo never locks, so the follower stays UNCALIBRATED (a warning, with the reason)
    assert fo["evidence"]["port_state"] in ("UNCALIBRATED", "SLAVE") and fo["evidence"]["steps_removed"] == 1
    assert fo["evidence"]["gm_present"] is True
    assert wrong_domain["verdict"] in ("warn", "fail") and "did not answer" in wrong_domain["summary"]
