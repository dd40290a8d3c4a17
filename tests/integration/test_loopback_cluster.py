"""The service's cross-check on loopback, no root needed: three in-process simulated control nodes
(appliance.demo.Demo) serving real NTP to each other; one single node for continuity on reference
loss; the `sim inject` and `demo` commands."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance import config
from appliance.control_socket import ControlError, request
from appliance.demo import NODES, Demo, free_udp_ports
from appliance.monitoring.metrics import ApplianceCollector
from appliance.ntp.query import query
from appliance.runtime.app import Appliance
from helpers.wait import wait_for

REPO = Path(__file__).resolve().parents[2]


def served_error_s(app) -> float:
    """served - true: truth is the host clock for simulated nodes."""
    now = time.time_ns()
    return (app.timemap().to_served_ns(now) - now) * 1e-9


@pytest.fixture
def cluster(tmp_path):
    demo = Demo(tmp_path, seed=7, poll_interval_s=0.5, max_slew_ppm=400_000)
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()


def test_falseticker_demotes_itself_returns_by_slewing_and_served_time_never_steps_back(cluster):
    apps = cluster.apps
    wait_for(lambda: all(a.status()["crosscheck"]["state"] == "agree" for a in apps), 20, 0.1, "all three agree")
    st = apps[0].status()
    assert [p["name"] for p in st["peers"]] == ["ctl-1", "ctl-2"]
    for p in st["peers"]:
        assert p["reachable"] and p["vote"] == "truechimer" and abs(p["offset_s"]) < 500e-6 and p["delay_s"] >= 0
    assert st["crosscheck"]["grandmaster_eligible"] and apps[0].grandmaster_eligible()
    b = apps[1]
    seen = []
    b.eligibility_listeners.append(seen.append)
    host, port = b.status()["ntp"]["listen"][0].split(":")

    # The node loses its reference (holdover: still healthy by its own account), then its clock jumps.
    request(b.control_path, "inject", reference="stop")
    wait_for(lambda: b.status()["sync"]["state"] == "holdover", 5, 0.1, "holdover")
    t_step = time.monotonic()
    request(b.control_path, "inject", step_s=2.0)
    wait_for(lambda: b.status()["crosscheck"]["demoted"], 10, 0.1, "demotion")
    demoted_after = time.monotonic() - t_step
    st = b.status()
    assert st["sync"]["healthy"] and st["sync"]["state"] == "holdover"  # only the vote demoted it
    assert st["ntp"]["stratum"] == 16 and not st["crosscheck"]["grandmaster_eligible"]
    assert st["crosscheck"]["falsetickers"] == ["ctl-1"]
    assert any(e["to"] == "demoted" for e in st["crosscheck"]["events"])
    assert seen and seen[-1] is False
    r = query(f"{host}:{port}")
    assert r["leap"] == 3 and r["stratum"] == 16
    # ... and the metrics say so, from the status the running node really has
    samples = {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for fam in ApplianceCollector(b.status, peer_names=["ctl-0", "ctl-2"]).collect()
        for x in fam.samples
    }
    assert samples[("appliance_self_demoted", ())] == 1
    assert samples[("appliance_peer_reachable", (("peer", "ctl-0"),))] == 1
    assert abs(samples[("appliance_peer_offset_seconds", (("peer", "ctl-0"),))] - 2.0) < 0.01

    # It returns by slewing: served time never goes back, and falls at most at the slew rate.
    last_t, last_e = time.monotonic(), served_error_s(b)
    worst_drop_rate = 0.0
    deadline = time.monotonic() + 30
    while not (b.status()["crosscheck"]["state"] == "agree") and time.monotonic() < deadline:
        time.sleep(0.05)
        t, e = time.monotonic(), served_error_s(b)
        assert e - last_e > -(t - last_t), "served time stepped backward"
        worst_drop_rate = max(worst_drop_rate, (last_e - e) / (t - last_t))
        last_t, last_e = t, e
    st = b.status()
    assert st["crosscheck"]["state"] == "agree", st["crosscheck"]
    assert abs(served_error_s(b)) < 1e-3
    assert worst_drop_rate <= 0.4 * 1.05 + 0.01  # 400000 ppm, with the sampling's own jitter
    assert st["ntp"]["stratum"] == 1 and seen[-1] is True
    print(f"demoted {demoted_after:.2f} s after the step; back in agreement after slewing")
    # The others kept agreeing (two of three) the whole time.
    for a in (apps[0], apps[2]):
        assert not a.status()["crosscheck"]["demoted"]


def test_two_of_three_stay_a_majority_and_a_lone_node_keeps_serving_isolated(cluster):
    apps = cluster.apps
    wait_for(lambda: all(a.status()["crosscheck"]["state"] == "agree" for a in apps), 20, 0.1, "all three agree")
    apps[2].stop()  # one of three gone: the other two are still a majority
    time.sleep(2)
    assert all(a.status()["crosscheck"]["state"] == "agree" for a in apps[:2])
    apps[1].stop()  # ctl-0 alone: isolated, keeps serving on its own state
    wait_for(lambda: apps[0].status()["crosscheck"]["state"] == "isolated", 10, 0.1, "isolation")
    st = apps[0].status()
    assert st["ntp"]["stratum"] == 1 and not st["crosscheck"]["demoted"]
    assert [p["reachable"] for p in st["peers"]] == [False, False]


def test_reference_loss_continues_served_time_without_a_step(tmp_path):
    cfg = config.parse(
        {
            "node": {"name": "solo"},
            "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": 3}, "discipline": {"interval_s": 0.25}},
            "ntp": {"listen": [f"127.0.0.1:{free_udp_ports(1)[0]}"], "allow": ["127.0.0.0/8"], "ratelimit": None},
            "monitoring": {"metrics_listen": None, "control_socket": str(tmp_path / "solo.sock")},
        }
    )
    app = Appliance(cfg)
    app.start()
    try:
        wait_for(lambda: app.status()["sync"]["state"] == "locked", 10, 0.1, "lock")
        time.sleep(1)
        errors = []
        t_end = time.monotonic() + 3
        stopped = False
        while time.monotonic() < t_end:
            if not stopped and time.monotonic() > t_end - 2:
                request(app.control_path, "inject", reference="stop")
                stopped = True
            errors.append(served_error_s(app))
            time.sleep(0.01)
        jumps = [abs(b - a) for a, b in zip(errors, errors[1:], strict=False)]
        assert max(jumps) < 5e-6, max(jumps)  # no step at the loss of the reference
        st = app.status()
        assert st["sync"]["state"] == "holdover" and st["ntp"]["stratum"] == 1
        b1 = st["served"]["error_bound_s"]
        time.sleep(1)
        assert app.status()["served"]["error_bound_s"] > b1  # the bound grows in holdover
        assert st["crosscheck"] == {**st["crosscheck"], "enabled": False, "state": "disabled"}
        assert st["peers"] == []
        # Faults are refused whole when any part is wrong.
        for bad in ({"step_s": "2"}, {"freq_ppm": float("nan")}, {"reference": "pause"}, {}, {"step_s": 1e9}):
            with pytest.raises(ControlError):
                request(app.control_path, "inject", **bad)
        reply = request(app.control_path, "inject", freq_ppm=10, reference="start")
        assert reply["applied"] == {"reference": "started", "freq_ppm": 10}
        assert app.clock.oscillator_freq_ppb() == pytest.approx(app.clock._osc.freq_ppb + 10_000)
    finally:
        app.stop()


def appliance(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


def test_sim_inject_cli(tmp_path, cluster):
    sock = str(cluster.apps[0].control_path)
    r = appliance("sim", "inject", "--control-socket", sock, "--freq", "1.5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["applied"] == {"freq_ppm": 1.5}
    r = appliance("sim", "inject", "--control-socket", sock, "--stop-reference")
    assert r.returncode == 0 and "reference stopped" in r.stdout
    r = appliance("sim", "inject", "--control-socket", str(tmp_path / "none.sock"), "--step", "1s")
    assert r.returncode == 2 and "no appliance is running" in r.stderr and "Traceback" not in r.stderr
    r = appliance("sim", "inject", "--control-socket", sock, "--step", "1s", "--freq", "2")
    assert r.returncode == 3 and "not allowed with" in r.stderr
    r = appliance("sim", "inject", "--control-socket", sock, "--step", "inf")
    assert r.returncode == 3 and "not a duration" in r.stderr
    r = appliance("sim", "inject", "--control-socket", sock, "--step", "1")  # no unit: 1 s or 1 ms?
    assert r.returncode == 3 and "has no unit" in r.stderr
    r = appliance("sim", "inject", "--control-socket", sock, "--freq", "inf")
    assert r.returncode == 3 and "finite" in r.stderr


def test_demo_runs_for_its_duration_and_stops_cleanly_on_ctrl_c():
    r = appliance("demo", "--duration", "7s", "--plain", timeout=60)
    assert r.returncode == 0, r.stderr
    last = r.stdout.rsplit("appliance demo: three", 1)[-1]
    for name in NODES:
        assert name in last
    assert "agree" in last and "grandmaster" in last
    assert r.stdout.rstrip().endswith("appliance demo: stopped")
    # -X faulthandler: if it does not stop, SIGABRT makes it print every thread's stack (below)
    p = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "appliance", "demo", "--plain"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "control sockets:" in p.stdout.readline()
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGABRT)
            out, err = p.communicate(timeout=10)
            pytest.fail(f"the demo did not stop within 15 s of SIGINT; its threads:\n{err[-6000:]}")
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.rstrip().endswith("appliance demo: stopped") and "Traceback" not in err
