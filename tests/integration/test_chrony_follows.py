"""A real chronyd (-x: it never adjusts the host clock) in one test host follows `appliance serve`
in another: it selects the appliance (^*), reports stratum 2, and measures an offset within 100 us."""

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
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


@pytest.mark.parametrize("oscillator", ["ideal", "tcxo"])
def test_chronyd_selects_appliance(net, tmp_path, oscillator):
    server, client = net["server"], net["client"]
    cfg = write_config(
        tmp_path / "server.yaml", "srv", [f"{server.addr}:123", f"[{server.addr6}]:123"], oscillator=oscillator
    )
    app = ApplianceProc(cfg, host=server).start()
    chrony = Chrony(
        client,
        tmp_path / "chrony",
        [
            f"server {server.addr} iburst minpoll -2 maxpoll -2",
            "makestep 1 -1",
        ],
    ).start()
    try:
        row = chrony.wait_selected(server.addr, timeout_s=60)
        assert row["stratum"] == 1
        tracking = chrony.tracking()
        assert tracking["stratum"] == 2
        # A few more samples so the offset estimate settles, then check it.
        import time

        time.sleep(4)
        row = [r for r in chrony.sources() if r["address"] == server.addr][0]
        assert row["state"] == "*"
        assert abs(row["offset_s"]) < 100e-6, row
        st = app.status()
        assert st["ntp"]["answered"] >= 3
        assert st["sync"]["state"] == "locked"
    finally:
        chrony.stop()
        app.stop()


def test_chronyd_over_ipv6(net, tmp_path):
    server, client = net["server"], net["client"]
    cfg = write_config(tmp_path / "server6.yaml", "srv6", [f"[{server.addr6}]:123"])
    app = ApplianceProc(cfg, host=server).start()
    chrony = Chrony(client, tmp_path / "chrony6", [f"server {server.addr6} iburst minpoll -2 maxpoll -2"]).start()
    try:
        row = chrony.wait_selected(server.addr6, timeout_s=60)
        assert row["stratum"] == 1
    finally:
        chrony.stop()
        app.stop()
