"""Process supervision with stand-in programs (no root, no linuxptp): backoff, giving up loudly,
readiness, health, and children that never outlive the appliance."""

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.core.backoff import RestartPolicy
from appliance.linuxptp.supervisor import BACKOFF, FAILED, RUNNING, STOPPED, Child
from helpers.wait import wait_for

PY = sys.executable


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_crashing_child_is_restarted_with_backoff_then_given_up_loudly(caplog):
    states, lines = [], []
    child = Child(
        "crasher",
        [PY, "-c", "print('bad interface eth9'); raise SystemExit(3)"],
        policy=RestartPolicy(base_s=0.05, factor=2, max_s=1, limit=3, window_s=60),
        on_state=lambda old, new: states.append(new),
        on_line=lambda n, line: lines.append(line),
        settle_s=0.5,
    )
    with caplog.at_level(logging.WARNING, logger="appliance.linuxptp"):
        child.start()
        wait_for(lambda: child.state, 10, 0.02, "the child given up", until=lambda s: s == FAILED)
    assert child.starts == 3 and child.last_exit == 3
    assert "exited with status 3" in child.last_error and "bad interface eth9" in child.last_error
    assert states.count(BACKOFF) == 2 and states[-1] == FAILED
    assert lines.count("bad interface eth9") == 3
    assert any("FAILED 3 times" in r.message and r.levelno == logging.ERROR for r in caplog.records)
    assert child.status()["restarts"] == 2
    child.stop()


def test_readiness_then_stop_kills_the_process_group(tmp_path):
    flag = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import pathlib, subprocess, time
        grand = subprocess.Popen(["sleep", "60"])
        print("grandchild", grand.pid, flush=True)
        time.sleep(0.3)
        pathlib.Path({str(flag)!r}).touch()
        time.sleep(60)
    """)
    lines = []
    child = Child(
        "slow",
        [PY, "-c", script],
        policy=RestartPolicy(),
        ready=flag.exists,
        ready_timeout_s=5,
        on_line=lambda n, line: lines.append(line),
    )
    child.start()
    wait_for(lambda: child.state, 10, 0.02, "the child running", until=lambda s: s == RUNNING)
    wait_for(lambda: any(x.startswith("grandchild") for x in lines), 10, 0.02, "the grandchild's pid line")
    grand = int(next(x for x in lines if x.startswith("grandchild")).split()[1])
    pid = child.pid
    assert _alive(pid) and _alive(grand)
    child.stop()
    assert child.state == STOPPED
    wait_for(lambda: not _alive(pid) and not _alive(grand), 5, 0.02, "the child and its grandchild gone")


def test_not_ready_in_time_counts_as_failure():
    child = Child(
        "never-ready",
        [PY, "-c", "import time; time.sleep(60)"],
        policy=RestartPolicy(base_s=0.05, limit=2, window_s=60),
        ready=lambda: False,
        ready_timeout_s=0.3,
    )
    child.start()
    wait_for(lambda: child.state, 10, 0.02, "the child given up", until=lambda s: s == FAILED)
    assert "not ready within 0.3 s" in child.last_error
    child.stop()


def test_unhealthy_child_is_restarted():
    healthy = {"ok": True}
    child = Child(
        "hangs",
        [PY, "-c", "import time; time.sleep(60)"],
        policy=RestartPolicy(base_s=0.05, limit=10, window_s=60),
        settle_s=0.1,
        healthy=lambda: healthy["ok"],
        health_interval_s=0.05,
        unhealthy_limit=3,
    )
    child.start()
    wait_for(lambda: child.state, 10, 0.02, "the child running", until=lambda s: s == RUNNING)
    first = child.pid
    healthy["ok"] = False
    wait_for(lambda: child.starts, 10, 0.02, "a restart", until=lambda n: n >= 2)
    healthy["ok"] = True
    wait_for(lambda: child.state == RUNNING and child.pid != first, 10, 0.02, "a new child running")
    assert "not answering" in child.last_error
    wait_for(lambda: not _alive(first), 5, 0.02, "the unhealthy child gone")
    child.stop()


def test_missing_program_is_reported():
    child = Child("nope", ["/nonexistent/ptp4l", "-f", "x"], policy=RestartPolicy(base_s=0.05, limit=2))
    child.start()
    wait_for(lambda: child.state, 10, 0.02, "the child given up", until=lambda s: s == FAILED)
    assert "cannot start /nonexistent/ptp4l" in child.last_error or "exited with status" in child.last_error
    child.stop()


def test_children_die_with_a_killed_appliance(tmp_path):
    """SIGKILL the supervising process: the kernel's parent-death signal ends the child."""
    if shutil.which("setpriv") is None:
        from helpers.requirements import missing

        missing("needs util-linux setpriv for the parent-death signal")
    repo = Path(__file__).resolve().parents[2]
    script = textwrap.dedent("""
        import sys, time
        from appliance.core.backoff import RestartPolicy
        from appliance.linuxptp.supervisor import Child, RUNNING
        c = Child("sleeper", ["sleep", "60"], policy=RestartPolicy(), settle_s=0.1)
        c.start()
        while c.state != RUNNING:
            time.sleep(0.01)
        print(c.pid, flush=True)
        time.sleep(60)
    """)
    host = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, text=True, cwd=repo, start_new_session=True)
    try:
        line = host.stdout.readline()
        assert line.strip(), "the supervising process did not start its child"
        pid = int(line)
        # setpriv execs the program: the supervised pid is sleep itself
        assert _alive(pid) and "sleep" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        os.kill(host.pid, signal.SIGKILL)
        host.wait(5)
        wait_for(lambda: not _alive(pid), 5, 0.02, "the child to die with the killed appliance (not outlive it)")
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


@pytest.mark.parametrize("bad", [0, -1])
def test_policy_is_validated(bad):
    with pytest.raises(ValueError):
        RestartPolicy(limit=bad)
