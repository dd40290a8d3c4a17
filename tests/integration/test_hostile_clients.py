"""What hostile or broken clients send gets no reply, and one client's flood does not starve another.

Packets are crafted with scapy and sent from a separate test host to `appliance serve`."""

import json
import struct
import sys
import threading
from pathlib import Path

import pytest
from scapy.layers.ntp import NTPControl, NTPHeader, NTPPrivate

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.netns import TestNet
from helpers.requirements import require_root_netns

pytestmark = pytest.mark.integration
PROBE = str(Path(__file__).resolve().parents[1] / "helpers" / "udp_probe.py")


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    with TestNet(["server", "client", "flooder"]) as n:
        yield n


@pytest.fixture(scope="module")
def server(net, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    cfg = write_config(
        tmp / "srv.yaml", "srv", [f"{net['server'].addr}:123"], ratelimit={"interval_s": 1, "burst": 8, "kod": True}
    )
    app = ApplianceProc(cfg, host=net["server"]).start()
    yield app
    app.stop()


def probe(host, target, payloads, wait_s=0.5):
    r = host.run([sys.executable, PROBE, target, "123", str(wait_s), *[p.hex() for p in payloads]], timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_malformed_and_wrong_modes_get_no_reply(net, server):
    client = net["client"]
    good = bytes(NTPHeader(version=4, mode=3))
    hostile = {
        "empty": b"",
        "short": good[:47],
        "one byte": b"\x1b",
        "oversized": good + bytes(1500),
        "version 0": bytes(NTPHeader(version=0, mode=3)),
        "version 5": bytes([(5 << 3) | 3]) + good[1:],
        "symmetric passive": bytes(NTPHeader(version=4, mode=2)),
        "server": bytes(NTPHeader(version=4, mode=4)),
        "broadcast": bytes(NTPHeader(version=4, mode=5)),
        "control": bytes(NTPControl()) + bytes(36),
        "control short": bytes(NTPControl()),
        "private": bytes(NTPPrivate()) + bytes(40),
        "private short": bytes(NTPPrivate()),
        "bad extension length": good + struct.pack("!HH", 0x0104, 4096) + bytes(12),
        "truncated extension": good + bytes(9),
        "unknown MAC": good + struct.pack("!I", 1) + bytes(16),
    }
    replies = probe(client, net["server"].addr, list(hostile.values()))
    answered = [name for name, r in zip(hostile, replies, strict=False) if r is not None]
    assert answered == []
    # ... while a well-formed request from the same host is answered, and no larger than itself.
    (reply,) = probe(client, net["server"].addr, [good], wait_s=2)
    assert reply is not None and len(bytes.fromhex(reply)) == 48
    st = server.status()["ntp"]
    assert st["internal_errors"] == 0
    dropped = st["dropped"]
    for reason in (
        "short",
        "oversized",
        "bad_version",
        "bad_extension",
        "mode_symmetric_passive",
        "mode_server",
        "mode_broadcast",
        "mode_control",
        "mode_private",
        "authenticated",
    ):
        assert dropped[reason] >= 1, (reason, dropped)


def test_a_flood_is_rate_limited_while_another_client_is_answered(net, server):
    result = {}

    def run_flood():
        r = net["flooder"].run([sys.executable, PROBE, "--flood", net["server"].addr, "123", "20000"], timeout=60)
        result.update(json.loads(r.stdout))

    t = threading.Thread(target=run_flood)
    t.start()
    polite = []
    import time

    for _ in range(5):
        polite += probe(net["client"], net["server"].addr, [bytes(NTPHeader(version=4, mode=3))], wait_s=1)
        time.sleep(1.1)
    t.join(60)
    print("flood:", result)
    assert all(p is not None for p in polite), polite
    assert result["sent"] >= 1000
    # the flood lasted a few seconds: burst + about one per second answered, plus at most one KoD a second
    assert result["replies"] - result["kod"] <= 8 + 15
    assert 1 <= result["kod"] <= 15
    st = server.status()["ntp"]
    assert st["dropped"]["ratelimited"] >= result["sent"] * 0.5
    assert st["kod_sent"] >= result["kod"]  # some may be lost in flight, none invented
