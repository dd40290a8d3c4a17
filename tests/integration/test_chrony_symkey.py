"""A real chronyd (-x) with `server ADDR key N` syncs to the appliance with the right key, its
replies authenticated (chronyc ntpdata), and never follows it with a wrong key."""

import time

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.chrony import Chrony
from helpers.netns import TestNet
from helpers.requirements import require_root_netns, require_tool

pytestmark = pytest.mark.integration

SERVER_KEYS = (
    "1 SHA1 HEX:00112233445566778899AABBCCDDEEFF00112233\n"
    "3 SHA256 HEX:00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF\n"
    "2 AES128 HEX:2b7e151628aed2a6abf7158809cf4f3c\n"
)


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    require_tool("chronyd", "chronyc")
    with TestNet(["server", "client"]) as n:
        yield n


def _run(net, tmp_path, client_keys: str, key_id: int):
    server, client = net["server"], net["client"]
    (tmp_path / "server.keys").write_text(SERVER_KEYS)
    (tmp_path / "client.keys").write_text(client_keys)
    cfg = write_config(
        tmp_path / "server.yaml",
        "srv",
        [f"{server.addr}:123"],
        extra={"ntp": {"keyfile": str(tmp_path / "server.keys")}},
    )
    app = ApplianceProc(cfg, host=server).start()
    chrony = Chrony(
        client,
        tmp_path / "chrony",
        [f"keyfile {tmp_path / 'client.keys'}", f"server {server.addr} key {key_id} iburst minpoll -2 maxpoll -2"],
    ).start()
    return server, app, chrony


@pytest.mark.parametrize("key_id", [1, 2, 3])
def test_right_key_syncs_authenticated(net, tmp_path, key_id):
    server, app, chrony = _run(net, tmp_path, SERVER_KEYS, key_id)
    try:
        chrony.wait_selected(server.addr, timeout_s=60)
        ntpdata = chrony.chronyc("-n", "ntpdata", server.addr)
        assert "Authenticated   : Yes" in ntpdata, ntpdata
    finally:
        chrony.stop()
        app.stop()


def test_wrong_key_never_followed(net, tmp_path):
    wrong = "1 SHA1 HEX:FF112233445566778899AABBCCDDEEFF00112233\n"
    server, app, chrony = _run(net, tmp_path, wrong, 1)
    try:
        time.sleep(8)
        row = [r for r in chrony.sources() if r["address"] == server.addr][0]
        assert row["state"] != "*", row
        assert row["reach"] == 0, row
    finally:
        chrony.stop()
        app.stop()
