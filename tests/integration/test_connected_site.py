"""A connected site: upstream NTP servers (reference.ntp) as the node's reference, in test hosts.

The upstreams are chronyd (`-x`: it never touches the host's clock; `local stratum 1`: it serves
the host clock as stratum 1) and, for the one that steps, an appliance on a simulated ideal clock
stepped with `appliance sim inject --step 1`: chronyd -x cannot be stepped (it keeps no clock of
its own to step: "Could not step system clock"), and the simulated clock serves a forward jump as
it is. The node under test runs a simulated TCXO started 2 ms off; its truth, like chronyd's
served time, is the host clock.
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.chrony import Chrony
from helpers.requirements import require_tool
from helpers.wait import wait_for

REPO = Path(__file__).resolve().parents[2]
LOCK_S = 100e-6


@pytest.fixture(scope="module")
def net():
    from helpers.netns import TestNet
    from helpers.requirements import require_root_netns

    require_root_netns()
    require_tool("chronyd")
    with TestNet(["app", "solo", "up0", "up1", "up2", "up3", "client"]) as n:
        yield n


@pytest.fixture(scope="module")
def chronyds(net, tmp_path_factory):
    out = []
    for name in ("up0", "up1"):
        c = Chrony(net[name], tmp_path_factory.mktemp(name), ["local stratum 1", "allow all"]).start()
        out.append(c)
    yield out
    for c in out:
        c.stop()


def _sim_upstream(tmp_path, host, name):
    """A free-running appliance on an ideal simulated clock: stratum 1 at the host's time until stepped."""
    cfg = write_config(
        tmp_path / f"{name}.yaml",
        name,
        [f"{host.addr}:123"],
        oscillator="ideal",
        extra={
            "node": {"name": name, "state_dir": str(tmp_path / f"{name}-state")},
            "clock": {
                "source": "sim",
                "sim": {"oscillator": "ideal", "reference": False},
                "discipline": {"max_error_bound_s": 10.0},
            },
            "bootstrap": {"required": False},
        },
    )
    return ApplianceProc(cfg, host).start(wait_state="freerun")


def _node(tmp_path, host, name, servers):
    cfg = write_config(
        tmp_path / f"{name}.yaml",
        name,
        [f"{host.addr}:123"],
        oscillator="tcxo",
        extra={
            "node": {"name": name, "state_dir": str(tmp_path / f"{name}-state")},
            "clock": {
                "source": "sim",
                "sim": {"oscillator": "tcxo", "seed": 5, "reference": False, "initial_error_ns": 2_000_000},
            },
            "reference": {"ntp": {"servers": [f"{s}:123" for s in servers], "poll_interval_s": 1}},
        },
    )
    return ApplianceProc(cfg, host).start(wait_state="locked", timeout_s=90)


def _offset(client, target):
    r = client.run([sys.executable, "-m", "appliance", "query", "--json", target], cwd=REPO, timeout=20)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _served_error_s(app) -> float:
    """Served - true time: chronyd -x serves the host clock, which is also the simulated clock's
    truth, so this is the node's distance from its upstreams (clock - system, less what served time
    has still to absorb)."""
    st = app.status()
    return st["clock"]["offset_to_system_ns"] * 1e-9 - st["served"]["correction_s"]


def _client_sees(client_chrony, node_addr, chrony_addr) -> float:
    """node - chronyd as a chronyd client measures them (kernel timestamps, median of its sources' last
    samples over a few polls)."""
    diffs = []
    for _ in range(5):
        rows = {r["address"]: r for r in client_chrony.sources()}
        if node_addr in rows and chrony_addr in rows and rows[node_addr]["reach"] and rows[chrony_addr]["reach"]:
            # measured_offset_s is the source's time - the client's: node - chronyd
            diffs.append(rows[node_addr]["measured_offset_s"] - rows[chrony_addr]["measured_offset_s"])
        time.sleep(0.6)
    assert diffs, "the client chronyd reached neither"
    return statistics.median(diffs)


def _inject_step(proc, seconds):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "sim",
            "inject",
            "--control-socket",
            str(proc.sock),
            "--step",
            f"{seconds}s",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=20,
    )
    assert r.returncode == 0, r.stderr


def test_three_upstreams_lock_and_outvote_one_that_steps(net, chronyds, tmp_path):
    up2 = _sim_upstream(tmp_path, net["up2"], "up2")
    servers = [net["up0"].addr, net["up1"].addr, net["up2"].addr]
    app = None
    try:
        app = _node(tmp_path, net["app"], "app", servers)
        st = wait_for(
            app.status,
            30,
            0.5,
            "all three upstreams agreeing",
            until=lambda s: len((s.get("upstream") or {}).get("truechimers", [])) == 3,
        )
        assert st["sync"]["reference_source"] == "ntp" and st["bootstrap"]["bootstrapped"] is True
        wait_for(
            lambda: [_served_error_s(app) for _ in range(5) if time.sleep(0.5) is None],
            60,
            1,
            f"the node within {LOCK_S * 1e6:.0f} us of its upstreams for 5 ticks",
            until=lambda errs: all(abs(e) < LOCK_S for e in errs),
        )
        q = _offset(net["client"], f"{net['app'].addr}:123")
        assert q["stratum"] == 2 and q["leap"] == 0 and q["refid"] in servers  # one below its upstreams
        client = Chrony(
            net["client"],
            tmp_path / "client-chrony",
            [f"server {a} iburst minpoll -2 maxpoll -2" for a in (net["app"].addr, net["up0"].addr)],
        ).start()
        try:
            wait_for(
                lambda: client.sources(),
                30,
                0.5,
                "the client chronyd to reach both",
                until=lambda rows: sum(1 for r in rows if r["reach"] >= 7) == 2,
            )
            seen = _client_sees(client, net["app"].addr, net["up0"].addr)
        finally:
            client.stop()
        assert abs(seen) < LOCK_S, seen
        _inject_step(up2, 1.0)
        wait_for(
            lambda: _offset(net["client"], f"{net['up2'].addr}:123")["offset_s"],
            10,
            0.5,
            "the stepped upstream to serve 1 s ahead",
            until=lambda off: abs(off - 1.0) < 0.01,
        )
        st = wait_for(
            app.status,
            20,
            0.5,
            "the stepped upstream to be a falseticker",
            until=lambda s: f"{net['up2'].addr}:123" in (s.get("upstream") or {}).get("falsetickers", []),
        )
        assert st["sync"]["state"] == "locked"
        rows = {r["name"]: r["vote"] for r in st["upstream"]["servers"]}
        assert rows[f"{net['up2'].addr}:123"] == "falseticker" and rows[f"{net['up0'].addr}:123"] == "truechimer"
        for _ in range(10):  # and it stays with the majority
            assert abs(_served_error_s(app)) < LOCK_S
            time.sleep(0.5)
        assert app.status()["sync"]["state"] == "locked"
    finally:
        if app is not None:
            app.stop()
        up2.stop()


def test_one_upstream_that_steps_is_not_followed_the_node_holds_over(net, tmp_path):
    up3 = _sim_upstream(tmp_path, net["up3"], "up3")
    app = None
    try:
        app = _node(tmp_path, net["solo"], "solo", [net["up3"].addr])
        assert abs(_served_error_s(app)) < 0.002  # locked to the upstream, which serves the host's time
        _inject_step(up3, 1.0)
        wait_for(
            lambda: _offset(net["client"], f"{net['up3'].addr}:123")["offset_s"],
            10,
            0.5,
            "the lone upstream to serve 1 s ahead",
            until=lambda off: abs(off - 1.0) < 0.01,
        )
        # Holdover comes first (the discipline refuses a 1 s jump at once); the vote says why once
        # the upstream's filter holds only stepped samples, a few polls later.
        wait_for(
            app.status,
            20,
            0.5,
            "holdover after the lone upstream stepped, the vote finding no majority",
            until=lambda s: (
                s["sync"]["state"] == "holdover" and (s["upstream"]["reason"] or "").startswith("no majority")
            ),
        )
        for _ in range(5):
            assert abs(_served_error_s(app)) < 0.002  # did not follow the 1 s step
            q = _offset(net["client"], f"{net['solo'].addr}:123")
            assert abs(q["offset_s"]) < 0.1 and q["leap"] == 0, q  # holdover is still served, its bound growing
            time.sleep(0.5)
        assert app.status()["sync"]["state"] == "holdover"
    finally:
        if app is not None:
            app.stop()
        up3.stop()


def test_fewer_than_three_upstreams_is_a_warning(net, tmp_path):
    up3 = _sim_upstream(tmp_path, net["up3"], "up3b")
    try:
        app = _node(tmp_path, net["solo"], "solo2", [net["up3"].addr])
        try:
            assert "fewer than 3" in app.status()["upstream"]["warning"]
        finally:
            app.stop()
        assert "with fewer than 3 one wrong server cannot be outvoted" in app.output()
    finally:
        up3.stop()
