"""The serving workers' pure parts: the source-address program (run here by a small classic-BPF
interpreter, on the IP headers it reads in the kernel), the counters' sum, ntp.workers."""

import ipaddress
import random
import socket

import pytest

from appliance.config import ConfigError, parse
from appliance.ntp import reuseport as R
from appliance.ntp.workers import merge_counters, resolve_count


def run_cbpf(program: list[tuple[int, int]], ip_header: bytes) -> int:
    """The five instructions the program uses; loads at SKF_NET_OFF read the IP header."""
    a = x = 0
    for code, k in program:
        if code == R.BPF_LD_W_ABS:
            off = k - (R.SKF_NET_OFF & 0xFFFFFFFF)
            a = int.from_bytes(ip_header[off : off + 4], "big")
        elif code == R.BPF_TAX:
            x = a
        elif code == R.BPF_ALU_XOR_X:
            a ^= x
        elif code == R.BPF_ALU_MOD_K:
            a %= k
        elif code == R.BPF_RET_A:
            return a
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("no return")


def ipv4_header(src: str) -> bytes:
    return bytes(12) + socket.inet_aton(src) + socket.inet_aton("198.18.0.1")


def ipv6_header(src: str) -> bytes:
    return bytes(8) + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, "2001:db8::1")


@pytest.mark.parametrize("count", [1, 2, 3, 8, 64])
def test_the_program_picks_the_worker_source_index_names(count):
    rng = random.Random(20261203)
    print(f"seed 20261203, count {count}")
    for _ in range(300):
        v4 = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        v6 = str(ipaddress.IPv6Address(rng.getrandbits(128)))
        assert run_cbpf(R.steering_program(socket.AF_INET, count), ipv4_header(v4)) == R.source_index(v4, count)
        assert run_cbpf(R.steering_program(socket.AF_INET6, count), ipv6_header(v6)) == R.source_index(v6, count)


def test_consecutive_addresses_spread_evenly():
    hits = [0, 0, 0]
    for i in range(1, 241):
        hits[R.source_index(f"198.18.1.{i}", 3)] += 1
    assert hits == [80, 80, 80]


def test_a_group_needs_a_socket():
    with pytest.raises(ValueError, match="at least one"):
        R.steering_program(socket.AF_INET, 0)


def test_counters_sum_keep_the_largest_maximum_and_sum_by_reason():
    a = {"received": 5, "queue_age_max_s": 0.002, "queue_age_sum_s": 0.01, "dropped": {"late": 1, "denied": 0}}
    b = {"received": 7, "queue_age_max_s": 0.001, "queue_age_sum_s": 0.02, "dropped": {"late": 2, "denied": 3}}
    m = merge_counters([a, {}, b])
    assert m["received"] == 12 and m["queue_age_max_s"] == 0.002
    assert m["queue_age_sum_s"] == pytest.approx(0.03)
    assert m["dropped"] == {"late": 3, "denied": 3}


def test_workers_setting(monkeypatch):
    assert resolve_count(0) == 0 and resolve_count(3) == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert resolve_count("auto") == 0  # one CPU: a thread of the node's process
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(32)))
    assert resolve_count("auto") == 8


@pytest.mark.parametrize("bad", [-1, 65, "many", 2.5, True])
def test_a_bad_workers_setting_is_named(bad):
    with pytest.raises(ConfigError, match=r"ntp\.workers.*auto.*0\.\.64"):
        parse({"node": {"name": "n"}, "ntp": {"workers": bad}})
