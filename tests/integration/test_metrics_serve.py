"""`appliance serve` with monitoring.metrics_listen on loopback (no root): /metrics agrees with
status, a taken metrics port is a clear error, `appliance diagnose` reads the running appliance and
its history; in holdover the metrics and the diagnosis say so."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from appliance import config
from appliance.control_socket import request
from appliance.runtime.app import Appliance
from appliance.runtime.clocks import ServeError
from helpers.appliance_proc import REPO, ApplianceProc, write_config
from helpers.wait import wait_for


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(addr: str) -> dict:
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def http_get(url: str) -> tuple[int, str]:
    import urllib.error

    try:
        r = urllib.request.urlopen(url, timeout=5)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def diagnose(*args):
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "diagnose", "--json", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert "Traceback" not in r.stderr, r.stderr
    return json.loads(r.stdout)


def test_metrics_of_a_running_appliance(tmp_path):
    mport = free_port()
    cfg = write_config(
        tmp_path / "c.yaml",
        "m0",
        [f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"],
        oscillator="tcxo",
        extra={"monitoring": {"metrics_listen": f"127.0.0.1:{mport}"}, "clock": {"discipline": {"interval_s": 0.25}}},
    )
    app = ApplianceProc(cfg).start()
    try:
        m = scrape(f"127.0.0.1:{mport}")
        st = app.status()
        # the drift trend needs a few locked samples in the history: wait for them (a loaded
        # machine may run the diagnosis right after the lock otherwise)
        wait_for(
            lambda: [
                r
                for r in request(app.sock, "history")["samples"][-8:]
                if r["state"] == "locked" and r["offset_ns"] is not None
            ],
            20,
            0.25,
            "8 locked samples in the history",
            until=lambda locked: len(locked) >= 8,
        )
        report = diagnose("--control-socket", app.sock)
        health = http_get(f"http://127.0.0.1:{mport}/healthz")
        elsewhere = http_get(f"http://127.0.0.1:{mport}/")
        # a second instance on the same metrics port: a clear error, nothing half-started
        clash = write_config(
            tmp_path / "d.yaml",
            "m1",
            [f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"],
            extra={"monitoring": {"metrics_listen": f"127.0.0.1:{mport}"}},
        )
        r = subprocess.run(
            [sys.executable, "-m", "appliance", "serve", "--config", str(clash)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
        )
    finally:
        app.stop()
    assert m[("appliance_sync_state", (("state", "locked"),))] == 1
    assert m[("appliance_synchronized", ())] == 1 and m[("appliance_ntp_stratum", ())] == 1
    assert 0 < m[("appliance_error_bound_seconds", ())] < 1e-3
    assert m[("appliance_max_error_bound_seconds", ())] == 0.1
    assert abs(m[("appliance_reference_offset_seconds", ())]) < 1e-5
    # the simulated temperature moves between the two reads; both are the same profile
    assert abs(m[("appliance_temperature_celsius", ())] - st["clock"]["temperature_c"]) < 1.0
    assert r.returncode == 2 and f"cannot serve metrics on 127.0.0.1:{mport} (monitoring.metrics_listen)" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "m1.sock").exists()
    assert health == (200, "ok\n") and elsewhere[0] == 404
    c = {x["name"]: x for x in report["checks"]}
    assert c["appliance"]["verdict"] == "ok" and c["appliance"]["evidence"]["node"] == "m0"
    assert any(t["source"] == "appliance:offset_to_reference" for t in report["drift"])


def test_holdover_in_metrics_and_diagnosis(tmp_path):
    mport = free_port()
    cfg = config.parse(
        {
            "node": {"name": "hold", "state_dir": str(tmp_path / "state")},
            "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": 5}, "discipline": {"interval_s": 0.2}},
            "ntp": {"listen": [f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"], "allow": ["all"]},
            "monitoring": {"metrics_listen": f"127.0.0.1:{mport}", "control_socket": str(tmp_path / "hold.sock")},
        }
    )
    app = Appliance(cfg)
    app.start()
    try:
        wait_for(lambda: app.status()["sync"]["state"], 30, 0.1, "the lock", until=lambda s: s == "locked")
        app.reference.stop()
        time.sleep(2.5)
        m = scrape(f"127.0.0.1:{mport}")
        report = diagnose("--control-socket", app.control_path)
        history = app.history.reply({"last": 5})
    finally:
        app.stop()
    assert m[("appliance_sync_state", (("state", "holdover"),))] == 1
    assert m[("appliance_reference_available", ())] == 0
    assert 1.5 < m[("appliance_holdover_seconds", ())] < 10
    assert ("appliance_reference_offset_seconds", ()) not in m
    c = {x["name"]: x for x in report["checks"]}
    assert c["appliance"]["verdict"] == "warn" and "holdover" in c["appliance"]["summary"]
    (bound,) = [t for t in report["drift"] if t["source"].startswith("appliance:error_bound")]
    assert bound["rate_s_per_s"] > 0 and bound["threshold_s"] == 0.1 and bound["crossing_in_s"] > 0
    assert len(history["samples"]) == 5 and history["samples"][-1]["state"] == "holdover"


def test_healthz_is_503_with_the_reason_while_not_stratum_1(tmp_path):
    mport = free_port()
    cfg = config.parse(
        {
            "node": {"name": "noref", "state_dir": str(tmp_path / "state")},
            "clock": {
                "source": "sim",
                "sim": {"oscillator": "tcxo", "seed": 6, "reference": False},
                "discipline": {"interval_s": 0.2, "max_error_bound_s": 1e-9},
            },
            "ntp": {"listen": [f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"], "allow": ["all"]},
            "monitoring": {"metrics_listen": f"127.0.0.1:{mport}", "control_socket": str(tmp_path / "noref.sock")},
        }
    )
    app = Appliance(cfg)
    app.start()
    try:
        wait_for(
            lambda: app.status()["served"]["unsynchronized_reason"],
            20,
            0.1,
            "a reason not to serve",
            until=lambda r: r not in (None, "starting"),
        )
        code, body = http_get(f"http://127.0.0.1:{mport}/healthz")
        st = app.status()
    finally:
        app.stop()
    assert st["ntp"]["stratum"] != 1
    assert code == 503 and body.strip() == st["served"]["unsynchronized_reason"], (code, body)


def test_metrics_port_conflict_in_process(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    cfg = config.parse(
        {
            "node": {"name": "x"},
            "clock": {"source": "sim"},
            "ntp": {"listen": [f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"]},
            "monitoring": {"metrics_listen": f"127.0.0.1:{port}", "control_socket": str(tmp_path / "x.sock")},
        }
    )
    app = Appliance(cfg)
    try:
        try:
            app.start()
            raise AssertionError("started on a taken metrics port")
        except ServeError as exc:
            assert f"127.0.0.1:{port}" in str(exc) and "in use" in str(exc)
        assert not (tmp_path / "x.sock").exists()  # the control socket was closed again
    finally:
        taken.close()
