"""The UDP adapter (appliance.ntp.server) on loopback, no root needed: kernel receive timestamps go
through the time map, the transmit timestamp is served time read just before sending, the send
path rehearsal (MSG_PROBE) transmits nothing, and malformed datagrams get no reply."""

import socket
import struct
import threading
import time

import pytest

from appliance.core.clock.timemap import TimeMap
from appliance.core.ntp import packet as P
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import NtpServerCore, ServerState
from appliance.ntp.server import NtpUdpServer, open_socket, probe_sends_nothing

OFFSET_NS = 5_000_000_000  # served time runs 5 s ahead of the system clock


def request(transmit: int) -> bytes:
    return bytes([(4 << 3) | 3, 0, 6, 0xEC]) + bytes(36) + struct.pack("!Q", transmit)


@pytest.fixture
def server():
    core = NtpServerCore(AccessList(["127.0.0.0/8"]))
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))
    tmap = TimeMap(time.time_ns(), OFFSET_NS)
    udp = NtpUdpServer(core, [open_socket("127.0.0.1", 0)], lambda: tmap)
    udp.start()
    yield udp
    udp.stop()


def exchange(addr, data: bytes, timeout_s: float = 2.0) -> list[bytes]:
    """Send one datagram, collect every reply until the socket stays quiet for 0.3 s."""
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(timeout_s)
    try:
        c.sendto(data, addr)
        out = []
        while True:
            try:
                out.append(c.recv(2048))
            except TimeoutError:
                return out
            c.settimeout(0.3)
    finally:
        c.close()


@pytest.mark.parametrize(
    "family,host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::1")]
)
def test_probe_sends_nothing_on_linux(family, host):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        try:
            s.bind((host, 0))
        except OSError as exc:
            pytest.skip(f"cannot bind {host}: {exc}")
        assert probe_sends_nothing(s)
    finally:
        s.close()


def test_reply_timestamps_are_served_time_and_one_reply_per_request(server):
    addr = server.addresses[0]
    assert server._rehearse == {server.sockets[0].fileno(): True}
    for i in range(3):
        time.sleep(0.05)  # idle before each request: every reply is rehearsed first
        before_ns = time.time_ns() + OFFSET_NS
        replies = exchange(addr, request(0x1234_0000 + i))
        after_ns = time.time_ns() + OFFSET_NS
        assert len(replies) == 1, replies  # the rehearsal transmitted nothing
        r = P.parse(replies[0])
        assert (r.mode, r.version, r.stratum, r.origin_ts) == (4, 4, 1, 0x1234_0000 + i)
        rx_ns = P.ntp_to_ns(r.receive_ts, before_ns // 10**9)
        tx_ns = P.ntp_to_ns(r.transmit_ts, before_ns // 10**9)
        assert before_ns - 1000 <= rx_ns <= tx_ns <= after_ns + 1000
    c = server.core.counters()
    assert (c["received"], c["answered"]) == (3, 3)
    assert server.send_errors == server.internal_errors == 0


def test_malformed_and_other_modes_get_no_reply(server):
    addr = server.addresses[0]
    for data in (
        b"",
        b"\x23" * 47,
        bytes([(4 << 3) | 6]) + bytes(47),
        bytes([(4 << 3) | 4]) + bytes(47),
        request(1) + bytes(7),
    ):
        assert exchange(addr, data, timeout_s=0.3) == []
    assert exchange(addr, request(7))  # still serving
    c = server.core.counters()
    assert c["answered"] == 1 and sum(c["dropped"].values()) == 5


def _late_server(limit_ns: int = 5_000_000, handle_s: float = 0.0, descheduled: bool = False) -> NtpUdpServer:
    """A server that drops requests behind others for more than ``limit_ns``; with ``handle_s``,
    each request takes that long to decide (a server that cannot keep up with its load), or with
    ``descheduled`` the serving thread is off its CPU that long in each (another process ran)."""
    core = NtpServerCore(AccessList(["127.0.0.0/8"]), max_request_age_ns=limit_ns)
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))
    if handle_s:
        decide = core.handle

        def slow_handle(*args):
            if descheduled:
                time.sleep(handle_s)
                return decide(*args)
            end = time.perf_counter() + handle_s
            while time.perf_counter() < end:  # work, not a sleep: the serving thread's own time
                pass
            return decide(*args)

        core.handle = slow_handle  # type: ignore[method-assign]
    tmap = TimeMap(time.time_ns(), OFFSET_NS)
    return NtpUdpServer(core, [open_socket("127.0.0.1", 0)], lambda: tmap)


def _queued_before_start(udp: NtpUdpServer, count: int, timeout_s: float) -> socket.socket:
    """A client whose requests 1..count wait in the queue before ``udp`` starts serving."""
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(timeout_s)
    for i in range(1, count + 1):
        c.sendto(request(i), udp.addresses[0])
    time.sleep(0.05)
    udp.start()
    return c


def test_request_that_waited_for_a_stalled_server_is_answered():
    # The server does not read for 50 ms (the process was descheduled, or another thread held the
    # interpreter, as a module import at start-up does): the request is old, not late, and its
    # client still waits. Dropping it was why a freshly started `serve` answered no query.
    udp = _late_server()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(2)
    try:
        c.sendto(request(1), udp.addresses[0])
        time.sleep(0.05)
        udp.start()
        reply = P.parse(c.recv(2048))
    finally:
        c.close()
        udp.stop()
    assert reply.origin_ts == 1
    counters = udp.core.counters()
    assert counters["dropped"]["late"] == 0 and counters["answered"] == 1
    assert counters["queue_age_max_s"] >= 0.05  # its age is still told


def test_requests_while_another_thread_holds_the_interpreter_are_answered():
    # A thread running Python code keeps the serving thread waiting at least the interpreter's
    # switch interval (5 ms by default) after each wake-up: longer than the 2 ms limit here.
    udp = _late_server(limit_ns=2_000_000)
    udp.start()
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=busy, daemon=True)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(2)
    spinner.start()
    try:
        answered = []
        for i in range(1, 11):
            c.sendto(request(i), udp.addresses[0])
            answered.append(P.parse(c.recv(2048)).origin_ts)
            time.sleep(0.01)
    finally:
        stop.set()
        spinner.join()
        c.close()
        udp.stop()
    assert answered == list(range(1, 11))
    counters = udp.core.counters()
    assert counters["queue_age_max_s"] > 0.002  # the stall happened: requests older than the limit
    assert counters["dropped"]["late"] == 0


def test_requests_behind_a_backlog_are_dropped_and_counted():
    # Each request takes 3 ms of the serving thread's CPU to decide and 8 wait in the queue: from
    # the third on, each waited more than 5 ms behind the others, and is dropped rather than
    # answered ever later.
    udp = _late_server(handle_s=0.003)
    c = _queued_before_start(udp, 8, timeout_s=0.5)
    try:
        answered = []
        with pytest.raises(TimeoutError):
            while True:
                answered.append(P.parse(c.recv(2048)).origin_ts)
        c.sendto(request(9), udp.addresses[0])
        assert P.parse(c.recv(2048)).origin_ts == 9  # caught up: a fresh one is answered
    finally:
        c.close()
        udp.stop()
    assert answered[:1] == [1] and len(answered) <= 2 and answered == sorted(answered)
    counters = udp.core.counters()
    assert counters["dropped"]["late"] == 8 - len(answered)
    assert counters["received"] == 9 and counters["answered"] == len(answered) + 1


def test_requests_queued_while_the_server_was_descheduled_mid_queue_are_answered():
    # The same queue, but the 3 ms of each request are time the serving thread was off its CPU
    # (a sleep here; another process on its CPU, as with two workers on one core): its requests
    # grew old, not late, and every one is answered.
    udp = _late_server(handle_s=0.003, descheduled=True)
    c = _queued_before_start(udp, 8, timeout_s=2)
    try:
        answered = [P.parse(c.recv(2048)).origin_ts for _ in range(8)]
    finally:
        c.close()
        udp.stop()
    assert answered == list(range(1, 9))
    counters = udp.core.counters()
    assert counters["dropped"]["late"] == 0 and counters["queue_age_max_s"] > 0.02
