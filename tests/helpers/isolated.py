"""A network namespace with only loopback up, for what must work with no network (installing)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


class NoRouteNamespace:
    """A network namespace with only its loopback up: nothing leaves it, no name resolves."""

    def __init__(self):
        self.name = f"aplinst{os.getpid() % 100000}"
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> NoRouteNamespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, capture_output=True)
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if pids:
            time.sleep(0.1)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout, **kw)

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(
            self.cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kw
        )
        self.procs.append(p)
        return p
