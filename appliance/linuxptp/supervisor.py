"""Supervision of one program (ptp4l, phc2sys, ts2phc): start, readiness, health, restart with
exponential backoff (appliance.core.backoff), give up loudly after repeated failure.

Children never outlive the appliance:
  * each runs in its own session (process group) and ``stop`` signals the whole group, SIGTERM then
    SIGKILL;
  * each is started through ``setpriv --pdeathsig TERM`` (util-linux) so that the kernel sends it
    SIGTERM when the thread that started it dies, even if the appliance is killed with SIGKILL.
    That thread is the child's supervising thread, which lives exactly as long as the child.

Every output line goes to ``on_line`` (the manager parses it into events) and into a short tail
kept for status and for the error message when the supervisor gives up.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable

from ..core.backoff import RestartPolicy

log = logging.getLogger("appliance.linuxptp")

STOPPED, STARTING, RUNNING, BACKOFF, FAILED = "stopped", "starting", "running", "backoff", "failed"


def _pdeathsig_prefix() -> list[str]:
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class Child:
    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        policy: RestartPolicy,
        on_line: Callable[[str, str], None] | None = None,
        on_state: Callable[[str, str], None] | None = None,
        ready: Callable[[], bool] | None = None,
        ready_timeout_s: float = 10.0,
        settle_s: float = 1.0,
        healthy: Callable[[], bool] | None = None,
        health_interval_s: float = 1.0,
        unhealthy_limit: int = 5,
        tail_lines: int = 40,
    ):
        self.name = name
        self.argv = list(argv)
        self.policy = policy
        self.on_line = on_line
        self.on_state = on_state
        self.ready = ready
        self.ready_timeout_s = ready_timeout_s
        self.settle_s = settle_s
        self.healthy = healthy
        self.health_interval_s = health_interval_s
        self.unhealthy_limit = unhealthy_limit
        self.state = STOPPED
        self.pid: int | None = None
        self.starts = 0
        self.last_exit: int | None = None
        self.last_error: str | None = None
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.pdeathsig = bool(_pdeathsig_prefix())

    # -- public ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"supervise-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._kill(timeout_s)
        if self._thread is not None:
            self._thread.join(timeout_s + 1)
        self._set_state(STOPPED)

    def status(self) -> dict:
        return {
            "state": self.state,
            "pid": self.pid,
            "starts": self.starts,
            "restarts": max(0, self.starts - 1),
            "failures_in_window": self.policy.failures_in_window,
            "last_exit": self.last_exit,
            "last_error": self.last_error,
            "argv": self.argv,
        }

    # -- internals --------------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        with self._lock:
            old, self.state = self.state, state
        if old != state and self.on_state is not None:
            try:
                self.on_state(old, state)
            except Exception:
                log.exception("%s: state callback failed", self.name)

    def _spawn(self) -> subprocess.Popen:
        env = dict(os.environ, LC_ALL="C")
        return subprocess.Popen(
            _pdeathsig_prefix() + self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            text=True,
            errors="replace",
            bufsize=1,
        )

    def _reader(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            self.tail.append(line)
            log.debug("%s: %s", self.name, line)
            if self.on_line is not None:
                try:
                    self.on_line(self.name, line)
                except Exception:
                    log.exception("%s: line handler failed", self.name)

    def _kill(self, timeout_s: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, timeout_s)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _wait_ready(self, proc: subprocess.Popen) -> str | None:
        """None when ready; otherwise why not."""
        deadline = time.monotonic() + (self.ready_timeout_s if self.ready else self.settle_s)
        while not self._stop.is_set():
            if proc.poll() is not None:
                return f"exited with status {proc.returncode} while starting"
            if self.ready is not None:
                try:
                    if self.ready():
                        return None
                except Exception as exc:  # a readiness probe must not kill the supervisor
                    log.debug("%s: readiness probe: %s", self.name, exc)
            if time.monotonic() >= deadline:
                return None if self.ready is None else f"not ready within {self.ready_timeout_s:g} s"
            self._stop.wait(0.1)
        return "stopping"

    def _watch(self, proc: subprocess.Popen) -> str | None:
        """Wait while the child runs; None when asked to stop, otherwise why it failed."""
        bad = 0
        while not self._stop.is_set():
            try:
                proc.wait(self.health_interval_s)
                return f"exited with status {proc.returncode}"
            except subprocess.TimeoutExpired:
                pass
            if self.healthy is not None and not self._stop.is_set():
                try:
                    ok = self.healthy()
                except Exception:
                    ok = False
                bad = 0 if ok else bad + 1
                if bad >= self.unhealthy_limit:
                    return f"not answering for {bad} health checks"
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._set_state(STARTING)
            t0 = time.monotonic()
            why: str | None
            try:
                proc = self._spawn()
            except OSError as exc:
                why = f"cannot start {self.argv[0]}: {exc.strerror or exc}"
            else:
                self._proc = proc
                self.pid = proc.pid
                self.starts += 1
                reader = threading.Thread(target=self._reader, args=(proc,), name=f"read-{self.name}", daemon=True)
                reader.start()
                why = self._wait_ready(proc)
                if why is None:
                    self._set_state(RUNNING)
                    log.info("%s running (pid %d)", self.name, proc.pid)
                    why = self._watch(proc)
                if why is None or self._stop.is_set():  # None: asked to stop (even if start() came since)
                    break
                self._kill(3.0)
                reader.join(2.0)
                self.last_exit = proc.returncode
            ran_s = time.monotonic() - t0
            last_lines = [x.strip() for x in self.tail if x.strip()][-3:]
            self.last_error = why + (f"; last output: {' | '.join(last_lines)}" if last_lines else "")
            delay = self.policy.failed(time.monotonic(), ran_s)
            if delay is None:
                self._set_state(FAILED)
                log.error(
                    "%s FAILED %d times within %g s, not restarting it again: %s\n  command: %s\n"
                    "  last output:\n    %s",
                    self.name,
                    self.policy.failures_in_window,
                    self.policy.window_s,
                    self.last_error,
                    " ".join(self.argv),
                    "\n    ".join(list(self.tail)[-10:]) or "(none)",
                )
                return
            self._set_state(BACKOFF)
            log.warning("%s %s after %.1f s; restarting in %.1f s", self.name, self.last_error, ran_s, delay)
            self._stop.wait(delay)
