"""An air-gapped site's first time, end to end, in test hosts (198.18.0.0/15): real `appliance serve`
processes on simulated clocks, `appliance bootstrap` against them and against the last-known-good
a stopped `serve` left behind. The host clock is never set (the simulated clock's --apply is a
recorded offset; --apply-system is never used)."""

import json
import sys
import time
from pathlib import Path

from appliance.core.bootstrap.evidence import iso, parse_iso_ns
from helpers.appliance_proc import ApplianceProc, write_config
from helpers.wait import wait_for

REPO = Path(__file__).resolve().parents[2]
NS = 1_000_000_000


def _config(
    tmp_path, name, host, *, reference=True, initial_error_ns=0, required=True, control=None, oscillator="tcxo"
):
    path = tmp_path / f"{name}.yaml"
    write_config(
        path,
        name,
        [f"{host.addr}:123"],
        oscillator=oscillator,
        extra={
            "node": {"name": name, "state_dir": str(tmp_path / f"{name}-state")},
            "clock": {
                "source": "sim",
                "sim": {
                    "oscillator": oscillator,
                    "seed": 3,
                    "reference": reference,
                    "initial_error_ns": initial_error_ns,
                },
            },
            "cluster": {
                "control_nodes": control or [{"name": name, "address": host.addr}],
                "crosscheck": {"enabled": False},
            },
            "bootstrap": {"cert_globs": [], "required": required, "lastgood_interval_s": 2},
        },
    )
    return path


def _run(host, *args, timeout=60):
    r = host.run([sys.executable, "-m", "appliance", *args], timeout=timeout, cwd=REPO)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def _query(host, target):
    r = _run(host, "query", "--json", target)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _bootstrap(host, config, *args):
    r = _run(host, "bootstrap", "--config", str(config), "--non-interactive", *args)
    return r.returncode, (json.loads(r.stdout) if "--json" in args else r.stdout + r.stderr)


def _row(out, source):
    return next(e for e in out["evidence"] if e["source"] == source)


def test_a_node_nothing_vouches_for_answers_leap_3_until_bootstrapped(make_net, tmp_path):
    net = make_net(["node", "client"])
    node, client = net["node"], net["client"]
    cfg = _config(tmp_path, "cp-0", node, reference=False)
    app = ApplianceProc(cfg, node).start(wait_state="freerun")
    try:
        st = app.status()
        command = f"appliance bootstrap --config {cfg} --apply"
        assert st["served"]["unsynchronized_reason"] == f"not bootstrapped: run `{command}`"
        assert st["bootstrap"]["bootstrapped"] is False and st["ntp"]["stratum"] == 16
        q = _query(client, f"{node.addr}:123")
        assert q["leap"] == 3 and q["stratum"] == 16
        text = _run(node, "status", "--control-socket", str(app.sock)).stdout
        assert "not bootstrapped" in text and command in text
        r = _run(node, "diagnose", "--json", "--control-socket", str(app.sock))
        check = next(c for c in json.loads(r.stdout)["checks"] if c["name"] == "appliance")
        assert check["verdict"] == "fail" and "not bootstrapped" in check["summary"] and command in check["next_step"]
        # --apply refuses while the appliance runs (it would take the step for a fault)
        rc, text = _bootstrap(node, cfg, "--apply", "--operator-time", iso(time.time_ns()))
        assert rc == 1 and "the appliance is running" in text
    finally:
        app.stop()
    chosen = time.time_ns() + 3600 * NS  # an hour ahead of the host clock: the served time must follow
    rc, table = _bootstrap(node, cfg, "--operator-time", iso(chosen), "--operator-uncertainty", "2s")
    print(table)  # the evidence table (a dry run) for the record
    assert rc == 0 and "dry run" in table
    rc, out = _bootstrap(node, cfg, "--json", "--apply", "--operator-time", iso(chosen), "--operator-uncertainty", "2s")
    assert rc == 0 and out["decision"] == "ok" and out["applied"]["clock"] == "simulated clock"
    app = ApplianceProc(cfg, node).start(wait_state="freerun")
    try:
        st = wait_for(app.status, 10, 0.2, "stratum 1 after the bootstrap", until=lambda s: s["ntp"]["stratum"] == 1)
        assert st["bootstrap"]["bootstrapped"] is True and st["served"]["unsynchronized_reason"] is None
        q = _query(client, f"{node.addr}:123")
        assert q["leap"] == 0 and q["stratum"] == 1
        # the chosen time, not the host's: the operator's "now" is when the command read it, a second
        # or two after the test computed it, so the applied offset is a little under an hour
        offset_s = out["applied"]["sim_offset_ns"] / NS
        assert 3590 < offset_s <= 3600 and abs(q["offset_s"] - offset_s) < 0.05, (q, offset_s)
    finally:
        app.stop()


def test_last_known_good_from_a_stopped_serve(make_net, tmp_path):
    net = make_net(["node"])
    node = net["node"]
    cfg = _config(tmp_path, "cp-0", node, reference=True)
    app = ApplianceProc(cfg, node).start(wait_state="locked")
    lkg_path = tmp_path / "cp-0-state" / "last-known-good.json"
    try:
        wait_for(lkg_path.exists, 10, 0.2, "the last-known-good while serving")
    finally:
        app.stop()
    lkg = json.loads(lkg_path.read_text())
    assert lkg["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert abs(lkg["served_ns"] - time.time_ns()) < 30 * NS and lkg["error_bound_s"] < 1e-3
    assert {"monotonic_ns", "boottime_ns"} <= set(lkg)
    rc, out = _bootstrap(node, cfg, "--json")
    est = _row(out, "last-known-good, this boot")
    assert rc == 0 and est["kind"] == "estimate" and est["verdict"] == "used" and est["uncertainty_s"] < 0.1
    assert _row(out, "last-known-good")["kind"] == "lower_bound"
    # an operator time before it is refused naming it
    rc, out = _bootstrap(node, cfg, "--json", "--operator-time", iso(time.time_ns() - 3600 * NS))
    assert rc == 2 and f"is before the last-known-good {iso(lkg['served_ns'])}" in out["reason"]
    # another boot: only a lower bound, and the next serve is not vouched for by it
    lkg["boot_id"] = "0" * 32
    lkg_path.write_text(json.dumps(lkg))
    rc, out = _bootstrap(node, cfg, "--json")
    assert [e["kind"] for e in out["evidence"] if e["source"].startswith("last-known-good")] == ["lower_bound"]
    cfg2 = _config(tmp_path, "cp-0", node, reference=False)
    app = ApplianceProc(cfg2, node).start(wait_state="freerun")
    try:
        st = app.status()
        assert st["bootstrap"]["bootstrapped"] is False and "earlier boot" in st["bootstrap"]["at_start"]
        assert st["bootstrap"]["not_before_utc"] == iso(lkg["served_ns"])
    finally:
        app.stop()


def _control(net, names):
    return [{"name": n, "address": f"{net[n].addr}:123"} for n in names]


def test_peers_as_appliance_nodes(make_net, tmp_path):
    names = ["cp-0", "cp-1", "cp-2"]
    net = make_net(["cp0", "cp1", "cp2"])
    hosts = {"cp-0": net["cp0"], "cp-1": net["cp1"], "cp-2": net["cp2"]}
    control = [{"name": n, "address": f"{hosts[n].addr}:123"} for n in names]
    cfg0 = _config(tmp_path, "cp-0", hosts["cp-0"], reference=False, control=control)

    def run_peers(errors):
        return [
            ApplianceProc(
                _config(
                    tmp_path / f"r{i}",
                    n,
                    hosts[n],
                    reference=errors[i] == 0,
                    required=False,
                    initial_error_ns=errors[i],
                    control=control,
                    oscillator="ideal",
                ),
                hosts[n],
            )
            for i, n in enumerate(names[1:])
        ]

    for d in ("r0", "r1"):
        (tmp_path / d).mkdir()
    # two synchronised peers: the node takes their time, to within their round trip
    peers = [p.start(wait_state="locked") for p in run_peers([0, 0])]
    try:
        rc, out = _bootstrap(hosts["cp-0"], cfg0, "--json")
        rc_text, table = _bootstrap(hosts["cp-0"], cfg0)
        print(table)
    finally:
        for p in peers:
            p.stop()
    assert rc == 0 and out["decision"] == "ok", out["reason"]
    assert _row(out, "peer cp-1")["verdict"] == _row(out, "peer cp-2")["verdict"] == "used"
    assert out["uncertainty_s"] < 0.01 and abs(parse_iso_ns(out["time_utc"]) - time.time_ns()) < 5 * NS
    # peers an hour and two hours ahead, the operator at the host's time: no majority, refused naming each
    peers = [p.start(wait_state="freerun") for p in run_peers([3600 * NS, 7200 * NS])]
    try:
        rc, out = _bootstrap(hosts["cp-0"], cfg0, "--json", "--operator-time", iso(time.time_ns()))
    finally:
        for p in peers:
            p.stop()
    assert rc == 2 and out["reason"].startswith("no majority")
    assert "peer cp-1" in out["reason"] and "peer cp-2" in out["reason"] and "operator time" in out["reason"]
