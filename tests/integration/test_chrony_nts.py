"""A real chronyd (-x) as an NTS client (`server ADDR nts`, `ntstrustedcerts FILE`) syncs to the
appliance with NTS (chronyc -N authdata: mode NTS, cookies held), and never syncs when the
appliance's certificate is signed by a CA it does not trust. The server's certificate is for its
IP address, signed by a test CA (on a site: the cluster's CA)."""

import time

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.certs import make_ca, make_server_cert
from helpers.chrony import Chrony
from helpers.netns import TestNet
from helpers.requirements import require_root_netns, require_tool
from helpers.wait import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    require_tool("chronyd", "chronyc")
    with TestNet(["server", "client"]) as n:
        yield n


def authdata(chrony: Chrony, addr: str) -> dict:
    """chronyc -c -N authdata's row for addr: name, mode, key id, type, key length, last, attempts,
    NAKs, cookies, cookie length."""
    for line in chrony.chronyc("-c", "-N", "authdata").splitlines():
        f = line.split(",")
        if f[0] == addr:
            keys = ("name", "mode", "key_id", "type", "key_len", "last", "attempts", "naks", "cookies", "cookie_len")
            return dict(zip(keys, f, strict=False))
    raise AssertionError(f"no authdata row for {addr}")


def _start(net, tmp_path, trusted_ca, options=""):
    server, client = net["server"], net["client"]
    _, ca_key, ca_cert = make_ca(tmp_path, "site CA")
    crt, key = make_server_cert(tmp_path, server.addr, ca_key, ca_cert)
    cfg = write_config(
        tmp_path / "server.yaml",
        "srv",
        [f"{server.addr}:123"],
        extra={"ntp": {"nts": {"certificate": str(crt), "key": str(key)}}},
    )
    app = ApplianceProc(cfg, host=server).start()
    chrony = Chrony(
        client,
        tmp_path / "chrony",
        [
            f"ntstrustedcerts {trusted_ca(tmp_path)}",
            "nosystemcert",
            f"ntsdumpdir {tmp_path / 'chrony'}",
            f"server {server.addr} nts iburst minpoll -2 maxpoll -2{options}",
        ],
    ).start()
    return server, app, chrony


def test_chronyd_syncs_over_nts(net, tmp_path):
    server, app, chrony = _start(net, tmp_path, lambda d: d / "site-CA.crt")
    try:
        chrony.wait_selected(server.addr, timeout_s=60)
        row = authdata(chrony, server.addr)
        print(f"chronyc -N authdata: {row}")
        assert row["mode"] == "NTS" and int(row["cookies"]) >= 1 and int(row["key_len"]) > 0, row
        nts = app.status()["nts"]
        print(f"appliance nts: {nts}")
        assert nts["enabled"] and nts["ke"]["served"] >= 1 and nts["answered"] >= 4 and nts["naks"] == 0
    finally:
        chrony.stop()
        app.stop()


def test_chronyd_with_nts_and_xleave_gets_authenticated_interleaved_replies(net, tmp_path):
    server, app, chrony = _start(net, tmp_path, lambda d: d / "site-CA.crt", " xleave")
    try:
        chrony.wait_selected(server.addr, timeout_s=60)

        def ntpdata() -> dict:
            rows = (line.partition(":") for line in chrony.chronyc("ntpdata", server.addr).splitlines())
            return {k.strip(): v.strip() for k, _, v in rows}

        data = wait_for(ntpdata, 30, 0.5, "interleaved NTS replies", until=lambda d: d.get("Interleaved") == "Yes")
        assert data["Authenticated"] == "Yes", data
        assert app.status()["ntp"]["interleaved"] >= 1
    finally:
        chrony.stop()
        app.stop()


def test_chronyd_does_not_sync_when_the_certificate_is_not_trusted(net, tmp_path):
    def other_ca(d):
        path, _, _ = make_ca(d, "another CA")
        return path

    server, app, chrony = _start(net, tmp_path, other_ca)
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            rows = [r for r in chrony.sources() if r["address"] == server.addr]
            assert not rows or rows[0]["state"] not in "*+", rows
            time.sleep(1)
        row = authdata(chrony, server.addr)
        print(f"chronyc -N authdata (untrusted): {row}")
        assert int(row["cookies"]) == 0, row
        nts = app.status()["nts"]
        assert nts["ke"]["served"] == 0 and nts["ke"]["failed"] >= 1 and nts["answered"] == 0
    finally:
        chrony.stop()
        app.stop()
