"""Test hosts for network tests (house rule 7): network namespaces, veth pairs and bridges that the
test creates and removes, addresses from 198.18.0.0/15 (RFC 2544's benchmarking range), traffic only
between them.

    with TestNet(["server", "client"]) as net:     # or the make_net fixture (tests/conftest.py)
        net["server"].addr                         # 198.18.K.1 of this net's /24
        net["client"].run(["ping", "-c1", net["server"].addr])
        p = net["server"].popen([...])             # stopped and reaped on exit
        net["client"].ip("link", "set", "eth0", "mtu", "1400")   # ip -n <its namespace> ...
        net.address(99)                            # an address of the subnet that nobody has

Each host is a namespace with lo up and one veth ``eth0`` whose other end sits on a bridge ``br0`` in
a namespace of its own; the hosts' other ends are created inside the bridge namespace and the host
end is moved straight into the host, so nothing of a test net ever appears in the root namespace and
interface names cannot clash with anyone's.

The building blocks are public for other shapes: ``Netns.create(role)`` (one namespace),
``ns.veth(iface, other, other_iface)`` (a pair between two namespaces), ``ns.bridge(name)``,
``ns.cmd/run/popen/ip`` (exec inside it); deleting a namespace removes every interface in it, and a
veth dies with either end.

Cleanup is guaranteed: a net removes everything it made on exit, whether the test passed, failed or
was interrupted, and also when its construction fails half-way. Processes started through ``popen``
are terminated (process group: SIGTERM, then SIGKILL), anything else still inside a namespace is
killed, then the namespaces are deleted. A run that was killed outright (SIGKILL, a lost CI
runner) leaves its namespaces behind; the next run removes them: every name carries the creator's
pid namespace and pid (``tnet-<pidns>-<pid>-<n>-<role>``), and namespaces of a creator that no
longer exists in this pid namespace are swept before a new net is made. Names of live runs never
clash (pid + a per-process counter), so parallel runs do not collide.
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import signal
import subprocess
import sys
import time
import weakref

NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
SUBNETS = 2 ** (24 - NETWORK.prefixlen)  # /24s in NETWORK: one per net
PREFIX = "tnet"
_counter = itertools.count()
_live: weakref.WeakSet = weakref.WeakSet()
_swept = False


def _pidns() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def unique_name(role: str) -> str:
    """A namespace name no other live run uses: tnet-<pid namespace>-<pid>-<counter>-<role>."""
    if not re.fullmatch(r"[a-z0-9]{1,12}", role):
        raise ValueError(f"namespace role {role!r}: 1-12 lowercase letters or digits")
    return f"{PREFIX}-{_pidns()}-{os.getpid()}-{next(_counter)}-{role}"


def ip(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def stop_process(p: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate a process started with start_new_session (its whole group), then reap it."""
    if p.poll() is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        p.wait(timeout)
        return
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout)


def _pids_in(ns: str) -> list[int]:
    r = ip("netns", "pids", ns, check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Netns:
    """One network namespace: exec inside it, add interfaces to it, delete it (and what runs in it)."""

    def __init__(self, ns: str):
        self.ns = ns
        self.procs: list[subprocess.Popen] = []
        self.deleted = False

    @classmethod
    def create(cls, role: str) -> Netns:
        ns = cls(unique_name(role))
        ip("netns", "add", ns.ns)
        try:
            ns.ip("link", "set", "lo", "up")
        except BaseException:
            ns.delete()
            raise
        return ns

    # -- exec inside -------------------------------------------------------------------------------
    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def run(self, argv: list[str], timeout: float = 30, check: bool = False, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout, check=check, **kw)

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        """Start a process inside, in its own session; it is stopped when the namespace is deleted."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        p = subprocess.Popen(self.cmd(argv), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``ip -n <this namespace> ...``"""
        return ip("-n", self.ns, *args, check=check)

    # -- interfaces --------------------------------------------------------------------------------
    def veth(self, iface: str, other: Netns, other_iface: str) -> None:
        """A veth pair: ``iface`` here, ``other_iface`` in ``other`` (both down)."""
        self.ip("link", "add", iface, "type", "veth", "peer", "name", other_iface, "netns", other.ns)

    def bridge(self, name: str) -> None:
        self.ip("link", "add", name, "type", "bridge")
        self.ip("link", "set", name, "up")

    # -- removal -----------------------------------------------------------------------------------
    def delete(self) -> list[str]:
        """Stop our processes, kill anything else inside, delete the namespace. Returns what went wrong
        (never raises: cleanup of the rest must go on)."""
        if self.deleted:
            return []
        problems = []
        for p in self.procs:
            try:
                stop_process(p)
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                problems.append(f"stopping pid {p.pid} in {self.ns}: {exc}")
        leftover = _pids_in(self.ns)  # daemons that forked, helpers started with run() that hang
        for pid in leftover:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while leftover and time.monotonic() < deadline:
            leftover = [pid for pid in leftover if _alive(pid) and not _zombie(pid)]
            time.sleep(0.02)
        if leftover:
            problems.append(f"pids {leftover} in {self.ns} survived SIGKILL")
        r = ip("netns", "del", self.ns, check=False)
        if r.returncode != 0 and os.path.exists(f"/run/netns/{self.ns}"):
            problems.append(f"ip netns del {self.ns}: {r.stderr.strip()}")
        self.deleted = True
        return problems


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


class Host(Netns):
    """A test host: a namespace with ``eth0`` on the net's bridge and one IPv4 and one IPv6 address."""

    def __init__(self, name: str, ns: str, addr: str, addr6: str, iface: str = "eth0"):
        super().__init__(ns)
        self.name = name
        self.addr = addr
        self.addr6 = addr6
        self.iface = iface

    def __repr__(self) -> str:
        return f"Host({self.name!r}, ns={self.ns!r}, addr={self.addr!r})"


def sweep_orphans() -> list[str]:
    """Delete the namespaces of runs that no longer exist (same pid namespace, creator pid gone)."""
    mine = _pidns()
    removed = []
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"{PREFIX}-(\d+)-(\d+)-\d+-[a-z0-9]+", name)
        if not m or int(m.group(1)) != mine or int(m.group(2)) == os.getpid() or _alive(int(m.group(2))):
            continue
        Netns(name).delete()
        removed.append(name)
    return removed


class TestNet:
    """Hosts on one bridge; this net's /24 of 198.18.0.0/15 is chosen per instance."""

    __test__ = False  # not a pytest test class

    def __init__(self, names: list[str], subnet_index: int | None = None):
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"host names must be unique and at least one: {names}")
        if len(names) > 250:
            raise ValueError("at most 250 hosts on one /24")
        n = next(_counter)
        index = subnet_index if subnet_index is not None else (os.getpid() * 7 + n) % SUBNETS
        self.network = list(NETWORK.subnets(new_prefix=24))[index]
        self.network6 = ipaddress.IPv6Network(f"fd00:198:18:{index:x}::/64")
        self.names = list(names)
        self.hosts: dict[str, Host] = {}
        self.bridge_ns: Netns | None = None
        self._closed = False

    def address(self, i: int) -> str:
        """The i-th IPv4 address of this net's /24 (host k of ``names`` has address(k + 1))."""
        if not 0 < i < 255:
            raise ValueError(f"host number {i}: 1..254")
        return str(self.network.network_address + i)

    def address6(self, i: int) -> str:
        return str(self.network6.network_address + i)

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> TestNet:
        global _swept
        if self.bridge_ns is not None or self._closed:
            raise RuntimeError("a TestNet is entered once (make_net(...) returns one already entered)")
        if not _swept:
            _swept = True
            removed = sweep_orphans()
            if removed:
                print(f"netns: removed {len(removed)} namespace(s) left by killed runs: {removed}", file=sys.stderr)
        _live.add(self)
        try:
            self._create()
        except BaseException:
            self.close(raise_errors=False)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(raise_errors=exc_type is None)

    def _create(self) -> None:
        self.bridge_ns = Netns.create("br")
        self.bridge_ns.bridge("br0")
        for i, name in enumerate(self.names, start=1):
            ns = Netns.create(f"h{i}")
            host = Host(name, ns.ns, self.address(i), self.address6(i))
            self.hosts[name] = host
            outer = f"vh{i}"
            self.bridge_ns.veth(outer, host, host.iface)
            self.bridge_ns.ip("link", "set", outer, "master", "br0", "up")
            host.ip("addr", "add", f"{host.addr}/24", "dev", host.iface)
            host.ip("addr", "add", f"{host.addr6}/64", "dev", host.iface, "nodad")
            host.ip("link", "set", host.iface, "up")

    def close(self, raise_errors: bool = True) -> None:
        """Remove everything this net made (hosts first: their processes, then the bridge)."""
        if self._closed:
            return
        self._closed = True
        problems = []
        for host in self.hosts.values():
            problems += host.delete()
        if self.bridge_ns is not None:
            problems += self.bridge_ns.delete()
        _live.discard(self)
        if problems:
            message = "test net cleanup: " + "; ".join(problems)
            if raise_errors:
                raise RuntimeError(message)
            print(message, file=sys.stderr)


@atexit.register
def _close_live_nets() -> None:  # an interpreter that exits with a net still open (sys.exit in a test)
    for net in list(_live):
        net.close(raise_errors=False)
