"""One source flooding at 100 times its rate limit beside 50 well-behaved clients (each from its
own address on another test host): the clients lose less than 1 %, the flooder gets at most one
RATE Kiss-o'-Death per rate-limit interval, and the server's memory stays flat.

The full-speed flood, beside chronyd under the same flood, is measured in bench/ntp_flood.py (a
figure that depends on the machine's load is a benchmark, not a test)."""

import json
import sys
from pathlib import Path

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.netns import TestNet
from helpers.requirements import require_root_netns

pytestmark = pytest.mark.integration
LOAD = str(Path(__file__).resolve().parents[1] / "helpers" / "load_clients.py")
INTERVAL_S = 0.25  # the rate limit: one request per 0.25 s a client, burst 8
BURST = 8
CLIENTS = 50
FLOOD_S = 15.0
FLOOD_RATE = 100 / INTERVAL_S  # 100 times the limit


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    with TestNet(["server", "flooder", "clients"]) as n:
        yield n


def test_a_flood_at_100_times_the_limit_costs_the_good_clients_nothing(net, tmp_path):
    server, clients = net["server"], net["clients"]
    addrs = [net.address(100 + i) for i in range(CLIENTS)]
    for a in addrs:
        clients.run(["ip", "addr", "add", f"{a}/24", "dev", "eth0"], check=True)
    cfg = write_config(
        tmp_path / "srv.yaml",
        "srv",
        [f"{server.addr}:123"],
        ratelimit={"interval_s": INTERVAL_S, "burst": BURST, "kod": True},
    )
    app = ApplianceProc(cfg, host=server).start()
    try:
        rss_before = rss_kib(app.proc.pid)
        flooder = net["flooder"].popen(
            [sys.executable, LOAD, "flood", server.addr, "123", str(FLOOD_RATE), str(FLOOD_S)]
        )
        rounds = int(FLOOD_S / 0.5)
        r = clients.run(
            [sys.executable, LOAD, "polite", server.addr, "123", "0.5", str(rounds), *addrs], timeout=FLOOD_S + 60
        )
        assert r.returncode == 0, r.stderr
        polite = json.loads(r.stdout)
        out, _ = flooder.communicate(timeout=FLOOD_S + 30)
        flood = json.loads(out.decode().strip().splitlines()[-1])
        rss_after = rss_kib(app.proc.pid)
        st = app.status()["ntp"]
        print(f"flood at {FLOOD_RATE:g}/s: {flood}")
        print(f"{CLIENTS} polite clients: sent {polite['sent']}, answered {polite['answered']}, kod {polite['kod']}")
        print(f"server RSS {rss_before} KiB before, {rss_after} KiB after; dropped {st['dropped']['ratelimited']}")

        assert flood["sent"] >= 0.8 * FLOOD_RATE * FLOOD_S, flood
        loss = 1 - polite["answered"] / polite["sent"]
        assert loss < 0.01, polite
        assert polite["kod"] == 0
        # the flooder: its burst, then one answer per interval, and at most one KoD per interval
        allowed = BURST + flood["seconds"] / INTERVAL_S
        assert flood["replies"] - flood["kod"] <= allowed + 4, flood
        assert 1 <= flood["kod"] <= flood["seconds"] / INTERVAL_S + 2, flood
        assert st["dropped"]["ratelimited"] >= 0.9 * (flood["sent"] - allowed)
        assert rss_after - rss_before < 16 * 1024, (rss_before, rss_after)
    finally:
        app.stop()
