"""Real chronyd clients (-x: they never adjust the host clock) against `appliance serve` in test
hosts: a client configured with `xleave` gets interleaved replies (chronyc ntpdata says so), a
client without it gets basic replies; served from a thread and from two worker processes."""

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.chrony import Chrony
from helpers.netns import TestNet
from helpers.requirements import require_root_netns, require_tool
from helpers.wait import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    require_tool("chronyd", "chronyc")
    with TestNet(["server", "xleave", "basic"]) as n:
        yield n


def interleaved(chrony: Chrony, address: str) -> str:
    for line in chrony.chronyc("ntpdata", address).splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Interleaved":
            return value.strip()
    return ""


@pytest.mark.parametrize("workers", [0, 2], ids=["thread", "2-workers"])
def test_xleave_client_gets_interleaved_and_plain_client_basic(net, tmp_path, workers):
    server = net["server"]
    cfg = write_config(tmp_path / "server.yaml", "srv", [f"{server.addr}:123"], extra={"ntp": {"workers": workers}})
    app = ApplianceProc(cfg, host=server).start()
    xl = Chrony(net["xleave"], tmp_path / "xl", [f"server {server.addr} iburst minpoll -2 maxpoll -2 xleave"])
    basic = Chrony(net["basic"], tmp_path / "basic", [f"server {server.addr} iburst minpoll -2 maxpoll -2"])
    xl.start()
    basic.start()
    try:
        wait_for(lambda: interleaved(xl, server.addr), 30, 0.5, "interleaved replies", until=lambda v: v == "Yes")
        basic.wait_selected(server.addr, timeout_s=60)
        assert interleaved(basic, server.addr) == "No"
        wait_for(lambda: interleaved(xl, server.addr), 10, 0.5, "still interleaved", until=lambda v: v == "Yes")
        assert app.status()["ntp"]["interleaved"] >= 1
    finally:
        xl.stop()
        basic.stop()
        app.stop()
