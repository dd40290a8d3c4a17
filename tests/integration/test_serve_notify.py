"""`appliance serve` under a service manager (Type=notify), with a NOTIFY_SOCKET of the test's own:
READY after the first tick, WATCHDOG=1 from the tick loop, RELOADING/READY around SIGHUP (a bad
configuration refused, the running one kept), STOPPING at SIGTERM. Loopback only, no root."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from helpers.wait import wait_for

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ready_watchdog_reload_and_stopping(tmp_path):
    port = _free_port()
    cfg = {
        "node": {"name": "n0", "state_dir": str(tmp_path / "state")},
        "clock": {"source": "sim", "sim": {"seed": 3}},
        "ntp": {"listen": [f"127.0.0.1:{port}"], "allow": ["127.0.0.0/8"]},
        "monitoring": {"metrics_listen": None, "control_socket": str(tmp_path / "c.sock")},
    }
    conf = tmp_path / "appliance.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance", "serve", "--config", str(conf)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []

    def receive():
        try:
            seen.extend(sock.recv(4096).decode().split("\n"))
        except TimeoutError:
            pass
        return seen

    try:
        wait_for(lambda: "READY=1" in receive(), 30, 0.01, "READY=1")
        assert any(line.startswith("STATUS=serving NTP on 127.0.0.1:") for line in seen)
        n = len(seen)
        wait_for(lambda: receive()[n:].count("WATCHDOG=1") >= 3, 10, 0.01, "three watchdog pings")
        # A bad configuration is refused and the running one kept.
        conf.write_text(yaml.safe_dump({**cfg, "clock": {"source": "sim", "sim": {"oscillator": "nope"}}}))
        n = len(seen)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "READY=1" in receive()[n:], 10, 0.01, "READY=1 after a refused reload")
        assert "RELOADING=1" in seen[n:] and any(line.startswith("MONOTONIC_USEC=") for line in seen[n:])
        assert proc.poll() is None
        # A good one with new access rules takes effect; a changed listen address needs a restart.
        conf.write_text(
            yaml.safe_dump(
                {**cfg, "ntp": {**cfg["ntp"], "allow": ["127.0.0.1/32"], "listen": [f"127.0.0.1:{_free_port()}"]}}
            )
        )
        n = len(seen)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "READY=1" in receive()[n:], 10, 0.01, "READY=1 after a reload")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "STOPPING=1" in receive(), 10, 0.01, "STOPPING=1")
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sock.close()
    assert proc.returncode == 0, out
    assert "reload refused, keeping the running configuration" in out and "clock.sim.oscillator" in out
    assert "configuration reloaded" in out and "ntp.listen" in out  # named as needing a restart
