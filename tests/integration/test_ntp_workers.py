"""Two forked serving workers on one SO_REUSEPORT address, reading one published served-time
state: both answer, and both serve the same time."""

import socket
import struct
import time

from appliance.core.clock.timemap import TimeMap
from appliance.core.ntp import packet as P
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import NtpServerCore, ServerState
from appliance.ntp.server import open_socket
from appliance.ntp.shared import SharedServedState
from appliance.ntp.workers import Workers, shared_timemap

OFFSET_NS = 7_000_000_000


def request(transmit: int) -> bytes:
    return bytes([(4 << 3) | 3, 0, 6, 0xEC]) + bytes(36) + struct.pack("!Q", transmit)


def make_core() -> NtpServerCore:
    return NtpServerCore(AccessList(["127.0.0.0/8"]))


def test_worker_core_follows_the_published_state():
    shared = SharedServedState(TimeMap(0, 1), ServerState.unsynchronized())
    core = make_core()
    tm = shared_timemap(shared, core)
    shared.publish(TimeMap(5, 9), ServerState(synchronized=True, stratum=2))
    assert tm() == TimeMap(5, 9) and core.state.stratum == 2
    shared.close()


def test_two_workers_answer_with_the_same_time():
    probe = open_socket("127.0.0.1", 0, reuse_port=True)  # picks the port, then leaves it to the workers
    addr = probe.getsockname()[:2]
    probe.close()
    shared = SharedServedState(TimeMap(time.time_ns(), 0), ServerState.unsynchronized())
    workers = Workers(2, shared, [addr], make_core)
    workers.start()
    shared.publish(TimeMap(time.time_ns(), OFFSET_NS), ServerState(synchronized=True))
    seen: dict[int, tuple[int, int, int]] = {}  # client port -> (before, served rx - offset, after), ns
    try:
        deadline = time.monotonic() + 10
        port_ok = False
        while time.monotonic() < deadline and len(seen) < 16:
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(0.5)
            try:
                before = time.time_ns()
                c.sendto(request(1), addr)
                r = P.parse(c.recv(2048))
                after = time.time_ns()
                port_ok = True
                rx = P.ntp_to_ns(r.receive_ts, (before + OFFSET_NS) // 10**9)
                seen[c.getsockname()[1]] = (before, rx - OFFSET_NS, after)
            except TimeoutError:
                time.sleep(0.1)  # the workers are still starting
            finally:
                c.close()
        assert port_ok
    finally:
        workers.stop()
        shared.close()
    # Every reply, whichever worker the kernel chose, carries the published served time (system +
    # 7 s) within the exchange's own span.
    assert all(b - 1000 <= rx <= a + 1000 for b, rx, a in seen.values()), seen
