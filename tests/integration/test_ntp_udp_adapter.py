"""The UDP adapter (appliance.ntp.server) on loopback, no root needed: kernel receive timestamps go
through the time map, the transmit timestamp is served time read just before sending, the send
path rehearsal (MSG_PROBE) transmits nothing, and malformed datagrams get no reply."""

import socket
import struct
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


def test_request_aged_in_the_queue_is_dropped_and_counted():
    core = NtpServerCore(AccessList(["127.0.0.0/8"]), max_request_age_ns=5_000_000)
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))
    tmap = TimeMap(time.time_ns(), OFFSET_NS)
    udp = NtpUdpServer(core, [open_socket("127.0.0.1", 0)], lambda: tmap)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(0.5)
    try:
        c.sendto(request(1), udp.addresses[0])  # waits in the queue: the server is not reading yet
        time.sleep(0.05)
        udp.start()
        with pytest.raises(TimeoutError):
            c.recv(2048)
        c.sendto(request(2), udp.addresses[0])
        assert P.parse(c.recv(2048)).origin_ts == 2  # a fresh one is answered
    finally:
        c.close()
        udp.stop()
    counters = core.counters()
    assert counters["dropped"]["late"] == 1
    assert (counters["received"], counters["answered"]) == (2, 1)
    assert counters["queue_age_max_s"] >= 0.05
