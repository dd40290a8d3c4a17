"""The state directory under faults, as an operator meets them: kill -9 in the middle of writes, a
corrupt or truncated file at start, a full disk while serving (appliance.runtime.state_files)."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.runtime.nts_keys import CookieKeyStore
from appliance.runtime.state_files import StateFiles
from helpers.appliance_proc import REPO, ApplianceProc, write_config
from helpers.wait import wait_for

SEED = int(os.environ.get("APPLIANCE_TEST_SEED", "20261202"))

# A child that writes the kinds of state file in turn, each version numbered, as fast as it can; the
# NTS cookie keys through their own store (a rotation a round).
_WRITER = r"""
import sys
from pathlib import Path
from appliance.runtime.atomic import atomic_write_json
from appliance.runtime.nts_keys import CookieKeyStore
d = Path(sys.argv[1])
big = [float(i) for i in range(20000)]  # the size of a week's model table, so a write takes a while
cookies = CookieKeyStore(d, 60.0, 3)
print("ready", flush=True)
n = int(sys.argv[2])
while True:
    n += 1
    cookies.keys(1_800_000_000.0 + 60.0 * n)
    for name in ("tempcomp.json", "last-known-good.json", "bootstrap.json"):
        atomic_write_json(d / name, {"version": n, "name": name, "table": big})
"""


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kill_9_during_100_rounds_of_writes_leaves_old_or_new_and_start_cleans_up(tmp_path):
    rng = random.Random(SEED)
    print(f"seed {SEED}")
    state = tmp_path / "state"
    state.mkdir()
    versions: dict[str, int] = {}
    leftovers_rounds = 0
    cookie_key, cookie_loads = 0, 0
    for round_ in range(100):
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(state), str(round_ * 100000)],
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        for name in ("tempcomp.json", "last-known-good.json", "bootstrap.json"):
            path = state / name
            if not path.exists():
                assert name not in versions, f"round {round_}: {name} vanished"
                continue
            data = json.loads(path.read_text())  # never half a file
            assert data["name"] == name and len(data["table"]) == 20000
            assert data["version"] >= versions.get(name, 0), f"round {round_}: {name} went back"
            versions[name] = data["version"]
        files = StateFiles(state)
        if files.sweep_temporaries():
            leftovers_rounds += 1
        assert not [p.name for p in state.iterdir() if p.name.endswith(".tmp")]
        if (state / "nts-cookie-keys.json").exists():
            keys = CookieKeyStore(state, 1e9, 3, files=files).keys(0.0)  # loads, never sets aside
            assert keys.current >= cookie_key, f"round {round_}: the cookie key went back"
            cookie_key = keys.current
            cookie_loads += 1
        assert not [p.name for p in state.iterdir() if ".corrupt-" in p.name]
    print(
        f"100 kills: {leftovers_rounds} left a temporary file behind, all removed at the next start; "
        f"the cookie keys loaded {cookie_loads} times"
    )
    assert versions, "no write ever completed: the kills came too early to test anything"
    assert cookie_loads, "the cookie keys were never written before a kill"


def _mount_tmpfs(path: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def _fill(path: Path) -> Path:
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def _metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def _query(port: int) -> dict:
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "query", f"127.0.0.1:{port}", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_full_disk_is_told_once_shown_in_status_and_metrics_and_clears(tmp_path):
    state = tmp_path / "state"
    _mount_tmpfs(state, "256k")
    try:
        port, mport = _free_udp_port(), _free_tcp_port()
        cfg = write_config(
            tmp_path / "c.yaml",
            "full",
            [f"127.0.0.1:{port}"],
            extra={
                "node": {"state_dir": str(state)},
                "bootstrap": {"lastgood_interval_s": 1},
                "monitoring": {"metrics_listen": f"127.0.0.1:{mport}"},
            },
        )
        app = ApplianceProc(cfg).start()
        try:
            wait_for(lambda: (state / "last-known-good.json").exists(), 20, 0.2, "a first last-known-good")
            filler = _fill(state)
            (state / "last-known-good.json").unlink()  # the next write needs new blocks
            st = wait_for(app.status, 20, 0.5, "the failure in status", until=lambda s: s["state"]["writable"] is False)
            failing = st["state"]["failing"]["last-known-good.json"]
            assert "No space left on device" in failing["error"]
            assert st["bootstrap"]["lastgood"]["last_error"].startswith("cannot write")
            time.sleep(5)  # five more failing writes at one a second: logged only once
            assert _query(port)["stratum"] == 1  # serving goes on
            st = app.status()
            assert st["state"]["failing"]["last-known-good.json"]["failures"] >= 5
            assert _metric(mport, "appliance_state_writable") == 0
            assert _metric(mport, "appliance_state_write_failures_total") >= 5
            filler.unlink()
            st = wait_for(app.status, 20, 0.5, "recovery", until=lambda s: s["state"]["writable"] is True)
            assert st["state"]["write_failures_total"] >= 5
            assert json.loads((state / "last-known-good.json").read_text())["node"] == "full"
            assert _metric(mport, "appliance_state_writable") == 1
        finally:
            app.stop()
        out = app.output()
        assert out.count("cannot write") == 1, out[-3000:]
        assert "written again" in out
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_corrupt_and_truncated_state_is_set_aside_once_and_the_node_serves(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "tempcomp.json").write_text(json.dumps({"format": "appliance-tempcomp-state", "saved_time_s": 0}))
    (state / "last-known-good.json").write_text('{"served_ns": 17')  # truncated by a crash
    (state / "bootstrap.json").write_text("[]")  # valid JSON, not a record
    (state / ".tempcomp.json.a1b2c3.tmp").write_text("{half")
    port = _free_udp_port()
    cfg = write_config(tmp_path / "c.yaml", "bad", [f"127.0.0.1:{port}"], extra={"node": {"state_dir": str(state)}})
    app = ApplianceProc(cfg).start()
    try:
        assert _query(port)["stratum"] == 1
        st = app.status()
        aside = sorted(Path(p).name.split(".corrupt-")[0] for p in st["state"]["set_aside"])
        assert aside == ["bootstrap.json", "last-known-good.json", "tempcomp.json"]
        assert st["state"]["temporaries_removed"] == [".tempcomp.json.a1b2c3.tmp"]
        assert sorted(p.name.split(".corrupt-")[0] for p in state.glob("*.corrupt-*")) == aside
    finally:
        app.stop()
    out = app.output()
    assert "the field 'predictor' is missing" in out
    assert "not valid JSON" in out
    for name in ("tempcomp.json", "last-known-good.json", "bootstrap.json"):
        assert out.count(f"{state / name}: ") == 1, out[-3000:]
    # the next start finds the files the first one wrote, and nothing to set aside
    app2 = ApplianceProc(cfg).start()
    try:
        assert app2.status()["state"]["set_aside"] == []
    finally:
        app2.stop()
