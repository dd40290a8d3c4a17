"""helpers.netns itself: test hosts get addresses from 198.18.0.0/15, reach each other and nothing
else, leave nothing in the root namespace, and are removed with everything running in them whether
the test passes, fails or the net's construction breaks half-way; a killed run's namespaces are
swept by the next one."""

import ipaddress
import os
import subprocess
import sys

import pytest

from helpers import netns
from helpers.netns import Netns, TestNet, sweep_orphans
from helpers.requirements import require_root_netns
from helpers.wait import wait_for

pytestmark = pytest.mark.integration

ECHO = """
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
print("up", flush=True)
while True:
    d, a = s.recvfrom(100)
    s.sendto(d, a)
"""
ASK = """
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(2)
try:
    s.sendto(b"ping", (sys.argv[1], 9999))
    print(s.recv(100).decode())
except OSError as e:
    print(type(e).__name__, e.errno)
"""


def ours() -> set[str]:
    """Namespaces this test process created (and not yet removed)."""
    mine = f"{netns.PREFIX}-{netns._pidns()}-{os.getpid()}-"
    return {line.split()[0] for line in netns.ip("netns", "list").stdout.splitlines() if line.startswith(mine)}


def root_links() -> set[str]:
    return {line.split(":")[1].strip().split("@")[0] for line in netns.ip("-o", "link").stdout.splitlines()}


@pytest.fixture(autouse=True)
def _root():
    require_root_netns()


def test_hosts_reach_each_other_and_nothing_else_and_the_root_namespace_sees_nothing(make_net):
    before = root_links()
    net = make_net(["a", "b", "c"])
    assert root_links() == before
    addrs = [net[n].addr for n in ("a", "b", "c")]
    assert len(set(addrs)) == 3
    for a in addrs:
        assert ipaddress.ip_address(a) in ipaddress.ip_network("198.18.0.0/15")
        assert ipaddress.ip_address(a) in net.network
    assert net.network.subnet_of(netns.NETWORK) and net.network.prefixlen == 24
    assert net.address(1) == net["a"].addr and net.address(99) not in addrs
    for target in (net["b"].addr, net["b"].addr6):
        echo = net["b"].popen([sys.executable, "-c", ECHO, target])
        assert echo.stdout.readline() == b"up\n"
        assert net["a"].run([sys.executable, "-c", ASK, target]).stdout.strip() == "ping"
        net["b"].procs.remove(echo)
        netns.stop_process(echo)
    # No route out: the outside world (here TEST-NET-3 and the root namespace's own loopback) is unreachable.
    r = net["a"].run([sys.executable, "-c", ASK, "203.0.113.1"])
    assert r.stdout.strip() == "OSError 101", r  # ENETUNREACH
    assert net["a"].run(["ip", "-o", "link"]).stdout.count(": eth0@") == 1


def test_two_nets_at_once_do_not_collide():
    with TestNet(["x"]) as one, TestNet(["x"]) as two:
        assert one["x"].ns != two["x"].ns and one.bridge_ns.ns != two.bridge_ns.ns
        assert one.network != two.network
    assert ours() == set()


def test_everything_is_removed_when_the_test_fails_including_escaped_daemons():
    with pytest.raises(ZeroDivisionError):
        with TestNet(["srv", "cli"]) as net:
            names = {h.ns for h in net.hosts.values()} | {net.bridge_ns.ns}
            assert names <= ours()
            sleeper = net["srv"].popen(["sleep", "300"])
            # a daemon that leaves the process group we started (setsid + fork): only the namespace knows it
            net["cli"].run(["sh", "-c", "setsid sleep 301 >/dev/null 2>&1 < /dev/null &"])
            escaped = wait_for(lambda: netns._pids_in(net["cli"].ns), 5, 0.05, "the escaped daemon")
            raise ZeroDivisionError("the test body fails")
    assert not names & ours()
    assert sleeper.poll() is not None
    wait_for(
        lambda: not any(netns._alive(p) and not netns._zombie(p) for p in escaped), 5, 0.05, "the escaped daemon killed"
    )


def test_a_construction_that_breaks_half_way_leaves_nothing(monkeypatch):
    real = Netns.veth
    calls = []

    def veth(self, *a):
        calls.append(a)
        if len(calls) == 2:
            raise RuntimeError("planted: second veth fails")
        return real(self, *a)

    monkeypatch.setattr(Netns, "veth", veth)
    with pytest.raises(RuntimeError, match="planted"):
        TestNet(["a", "b", "c"]).__enter__()
    assert ours() == set()


def test_a_net_is_entered_once(make_net):
    net = make_net(["a"])
    with pytest.raises(RuntimeError, match="entered once"):
        net.__enter__()


def test_namespaces_of_a_killed_run_are_swept_and_live_ones_kept():
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    pidns = netns._pidns()
    orphan, alive, foreign = (
        f"tnet-{pidns}-{dead.pid}-0-h1",
        f"tnet-{pidns}-{live.pid}-0-h1",
        f"tnet-{pidns + 1}-{dead.pid}-0-h1",
    )
    try:
        for name in (orphan, alive, foreign):
            netns.ip("netns", "add", name)
        removed = sweep_orphans()
        listed = {line.split()[0] for line in netns.ip("netns", "list").stdout.splitlines()}
        assert orphan in removed and orphan not in listed
        assert alive in listed  # its creator still runs
        assert foreign in listed  # another pid namespace's: its pids mean nothing here
    finally:
        live.kill()
        live.wait()
        for name in (orphan, alive, foreign):
            netns.ip("netns", "del", name, check=False)
