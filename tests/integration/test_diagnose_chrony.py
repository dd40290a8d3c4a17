"""`appliance diagnose` against a real chronyd (-x: it never adjusts the host clock) in a test
namespace, through its command socket: synchronised to `appliance serve`, no sources, an
unreachable server, and chronyd stopped. The values diagnose reports are chronyc's own."""

import json
import sys
import time

import pytest

from helpers.appliance_proc import REPO, ApplianceProc, write_config
from helpers.chrony import Chrony
from helpers.netns import TestNet
from helpers.requirements import require_root_netns, require_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    require_tool("chronyd", "chronyc")
    with TestNet(["server", "client"]) as n:
        yield n


def diagnose(host, *args):
    r = host.run([sys.executable, "-m", "appliance", "diagnose", "--json", *map(str, args)], cwd=REPO, timeout=60)
    assert "Traceback" not in r.stderr, r.stderr
    report = json.loads(r.stdout)
    assert r.returncode == report["exit_code"]
    return report, {c["name"]: c for c in report["checks"]}


def test_synchronised_to_the_appliance(net, tmp_path):
    server, client = net["server"], net["client"]
    cfg = write_config(tmp_path / "srv.yaml", "srv", [f"{server.addr}:123"], oscillator="ideal")
    app = ApplianceProc(cfg, host=server).start()
    chrony = Chrony(client, tmp_path / "chrony", [f"server {server.addr} iburst minpoll -2 maxpoll -2"]).start()
    try:
        chrony.wait_selected(server.addr, timeout_s=60)
        time.sleep(3)  # sourcestats needs a few samples for its regression
        report, c = diagnose(client, "--chronyc-socket", chrony.sock, "--control-socket", app.sock)
        tracking = chrony.tracking()
    finally:
        chrony.stop()
        app.stop()
    assert c["chrony"]["verdict"] == "ok", c["chrony"]
    ev = c["chrony"]["evidence"]
    assert ev["stratum"] == tracking["stratum"] == 2 and ev["reference_name"] == server.addr
    assert ev["leap_status"] == "Normal" and abs(ev["system_time"]) < 1e-3
    (src,) = c["chrony_sources"]["evidence"]["sources"]
    assert src["name"] == server.addr and src["state"] == "*" and src["stratum"] == 1
    assert c["clock"]["verdict"] == "ok" and "chronyd" in c["clock"]["summary"]
    # chronyd -x does not steer the kernel: whatever the host's state, diagnose must not claim chronyd does
    if c["kernel"]["verdict"] == "fail":
        assert "-x" in c["kernel"]["summary"]
    assert c["appliance"]["verdict"] == "ok" and "locked" in c["appliance"]["summary"]
    sources = {t["source"] for t in report["drift"]}
    assert f"chrony:{server.addr}" in sources and "appliance:offset_to_reference" in sources


def test_no_sources(net, tmp_path):
    client = net["client"]
    chrony = Chrony(client, tmp_path / "chrony", []).start()
    try:
        time.sleep(0.5)
        report, c = diagnose(client, "--chronyc-socket", chrony.sock)
    finally:
        chrony.stop()
    assert c["chrony_sources"]["verdict"] == "fail" and c["chrony_sources"]["summary"] == "chronyd has no sources"
    assert c["chrony"]["verdict"] == "fail" and c["chrony"]["evidence"]["leap_status"] == "Not synchronised"
    assert report["exit_code"] == 2


def test_unreachable_server_is_unsynchronised(net, tmp_path):
    client = net["client"]
    nobody = net.address(99)
    chrony = Chrony(client, tmp_path / "chrony", [f"server {nobody} iburst minpoll -2 maxpoll -2"]).start()
    try:
        time.sleep(2)
        _, c = diagnose(client, "--chronyc-socket", chrony.sock)
    finally:
        chrony.stop()
    assert c["chrony"]["verdict"] == "fail" and "not synchronised" in c["chrony"]["summary"]
    assert c["chrony_sources"]["verdict"] == "fail" and "none is reachable" in c["chrony_sources"]["summary"]
    (src,) = c["chrony_sources"]["evidence"]["sources"]
    assert src["name"] == nobody and src["reach"] == "0" and src["last_rx"] is None


def test_chronyd_not_running(net, tmp_path):
    client = net["client"]
    chrony = Chrony(client, tmp_path / "chrony", []).start()
    chrony.stop()
    report, c = diagnose(client, "--chronyc-socket", chrony.sock)
    assert c["chrony"]["state"] == "not running" and c["chrony"]["verdict"] == "fail"
    assert str(chrony.sock) in c["chrony"]["summary"]
    assert report["exit_code"] == 2
