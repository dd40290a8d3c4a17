"""`appliance serve` end to end on loopback (no root needed): command-line overrides, query, status."""

import json
import socket
import subprocess
import sys

from helpers.appliance_proc import ApplianceProc, write_config


def free_udp_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def appliance(*args):
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True, timeout=30)


def test_serve_query_status(tmp_path):
    port = free_udp_port()
    cfg = write_config(tmp_path / "c.yaml", "loop", ["127.0.0.1:1"], oscillator="tcxo")  # overridden below
    sock = tmp_path / "other.sock"
    app = ApplianceProc(cfg, args=["--listen", f"127.0.0.1:{port}", "--control-socket", str(sock)])
    app.sock = sock
    app.start()
    try:
        r = appliance("query", f"127.0.0.1:{port}", "--json")
        assert r.returncode == 0, r.stderr
        q = json.loads(r.stdout)
        assert q["stratum"] == 1 and q["leap"] == 0 and q["refid"] == "PHC"
        assert abs(q["offset_s"]) < 0.01
        for key in ("offset_s", "delay_s", "stratum", "leap", "refid", "root_delay_s", "root_dispersion_s"):
            assert key in q
        assert q["root_dispersion_s"] > 0  # the error bound, never a constant zero
        st = app.status()
        assert st["node"] == "loop" and st["clock"]["source"] == "sim" and st["sync"]["state"] == "locked"
        assert st["ntp"]["listen"] == [f"127.0.0.1:{port}"] and st["ntp"]["answered"] >= 1
        assert st["sync"]["error_bound_s"] > 0
        text = appliance("status", "--control-socket", str(sock))
        assert "sync state       : locked" in text.stdout
    finally:
        app.stop()


def test_status_without_a_running_instance(tmp_path):
    r = appliance("status", "--control-socket", str(tmp_path / "none.sock"))
    assert r.returncode == 2 and "no appliance is running" in r.stderr


def test_query_nobody(tmp_path):
    r = appliance("query", f"127.0.0.1:{free_udp_port()}", "--timeout", "500ms")
    assert r.returncode == 2 and "no answer" in r.stderr


def test_listen_conflict_is_reported(tmp_path):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    try:
        cfg = write_config(tmp_path / "c.yaml", "clash", [f"127.0.0.1:{port}"])
        r = appliance("serve", "--config", str(cfg))
        assert r.returncode == 2 and "cannot listen on 127.0.0.1" in r.stderr and "Traceback" not in r.stderr
    finally:
        s.close()
