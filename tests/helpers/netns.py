"""Test hosts: network namespaces joined by a bridge, with addresses from 198.18.0.0/15.

    with TestNet(["server", "client"]) as net:
        net["server"].addr          # 198.18.X.1
        net["client"].run(["ping", "-c1", net["server"].addr])
        p = net["server"].popen([...])  # killed and reaped on exit

Every namespace, veth and bridge is created here and removed on exit; processes started through
``popen`` are terminated first. Names carry the pid and a counter so parallel runs do not clash.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

_counter = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


@dataclass
class Host:
    name: str
    ns: str
    addr: str
    addr6: str
    iface: str = "eth0"
    procs: list = field(default_factory=list)

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(self, argv: list[str], timeout: float = 30, check: bool = False, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout, check=check, **kw)

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        p = subprocess.Popen(self.cmd(argv), start_new_session=True, **kw)
        self.procs.append(p)
        return p


def stop_process(p: subprocess.Popen, timeout: float = 5.0) -> None:
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout)


class TestNet:
    __test__ = False  # not a pytest test class

    """Hosts on one bridge; the subnet 198.18.<n>.0/24 is chosen per instance."""

    def __init__(self, names: list[str], subnet: int | None = None):
        n = next(_counter)
        self.tag = f"{os.getpid() % 100000}{n}"
        self.subnet = subnet if subnet is not None else (os.getpid() + n) % 250 + 1
        self.names = names
        self.hosts: dict[str, Host] = {}
        self.bridge_ns = f"apl{self.tag}br"

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> TestNet:
        try:
            self._create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _create(self) -> None:
        _ip("netns", "add", self.bridge_ns)
        _ip("-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge_ns, "link", "set", "br0", "up")
        for i, name in enumerate(self.names, start=1):
            ns = f"apl{self.tag}h{i}"
            host = Host(name, ns, f"198.18.{self.subnet}.{i}", f"fd00:198:18:{self.subnet:x}::{i:x}")
            _ip("netns", "add", ns)
            self.hosts[name] = host
            outer = f"v{self.tag}h{i}"[:15]
            _ip("link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", outer, "netns", self.bridge_ns)
            _ip("-n", self.bridge_ns, "link", "set", outer, "master", "br0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{host.addr}/24", "dev", "eth0")
            _ip("-n", ns, "addr", "add", f"{host.addr6}/64", "dev", "eth0", "nodad")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def close(self) -> None:
        for host in self.hosts.values():
            for p in host.procs:
                stop_process(p)
            # anything else left in the namespace (daemons that forked)
            pids = _ip("netns", "pids", host.ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            if pids:
                time.sleep(0.1)
            _ip("netns", "del", host.ns, check=False)
        _ip("netns", "del", self.bridge_ns, check=False)
        self.hosts.clear()
