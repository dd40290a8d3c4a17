"""Interleaved mode on loopback with a hand-built client (no root): kernel transmit timestamps
come back from the error queue, and a request naming the previous reply gets its transmit
timestamp; a lost reply, a basic client and a cold start get basic replies."""

import socket
import struct
import time

import pytest

from appliance.core.clock.timemap import TimeMap
from appliance.core.ntp import packet as P
from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import NtpServerCore, ServerState
from appliance.core.ntp.interleave import InterleaveTable
from appliance.core.ntp.symkey import KeyRing, SymmetricKey
from appliance.ntp.server import NtpUdpServer, open_socket

OFFSET_NS = 5_000_000_000


def request(origin: int, receive: int, transmit: int) -> bytes:
    return bytes([(4 << 3) | 3, 0, 6, 0xEC]) + bytes(20) + struct.pack("!QQQ", origin, receive, transmit)


@pytest.fixture
def server():
    core = NtpServerCore(AccessList(["127.0.0.0/8"]), interleave=InterleaveTable(16))
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))
    tmap = TimeMap(time.time_ns(), OFFSET_NS)
    udp = NtpUdpServer(core, [open_socket("127.0.0.1", 0)], lambda: tmap)
    udp.start()
    yield udp
    udp.stop()


@pytest.fixture
def client():
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(2)
    yield c
    c.close()


def ask(c, addr, data: bytes) -> P.NtpPacket:
    c.sendto(data, addr)
    return P.parse(c.recv(2048))


def test_interleaved_after_a_tracked_reply(server, client):
    addr = server.addresses[0]
    first = ask(client, addr, request(0, 0x0999, 0x1111))  # receive set, != transmit: may interleave
    assert first.origin_ts == 0x1111
    time.sleep(0.05)  # the transmit timestamp is back in the error queue by now
    second = ask(client, addr, request(first.receive_ts, 0x2222, 0x3333))
    assert second.origin_ts == 0x2222  # the request's receive field
    base_s = (time.time_ns() + OFFSET_NS) // 10**9
    first_rx = P.ntp_to_ns(first.receive_ts, base_s)
    first_tx_kernel = P.ntp_to_ns(second.transmit_ts, base_s)
    # The kernel's stamp of the first reply: after its receive, well before the second request.
    assert first_rx < first_tx_kernel < first_rx + 20_000_000
    assert P.ntp_to_ns(second.receive_ts, base_s) > first_tx_kernel
    assert server.core.counters()["interleaved"] == 1


def test_lost_reply_gets_basic(server, client):
    addr = server.addresses[0]
    first = ask(client, addr, request(0, 0x0999, 0x1111))
    time.sleep(0.05)
    second = ask(client, addr, request(first.receive_ts, 0x2222, 0x3333))  # interleaved
    time.sleep(0.05)
    # The second reply is "lost": the client names the first one again, already used.
    before_ns = time.time_ns() + OFFSET_NS
    third = ask(client, addr, request(first.receive_ts, 0x4444, 0x5555))
    after_ns = time.time_ns() + OFFSET_NS
    assert second.origin_ts == 0x2222
    assert third.origin_ts == 0x5555  # basic: the request's transmit field
    tx = P.ntp_to_ns(third.transmit_ts, before_ns // 10**9)
    assert before_ns - 1000 <= tx <= after_ns + 1000
    assert server.core.counters()["interleaved"] == 1


def test_basic_client_is_not_tracked(server, client):
    addr = server.addresses[0]
    first = ask(client, addr, request(0, 0x7777, 0x7777))  # receive == transmit: basic client
    time.sleep(0.05)
    second = ask(client, addr, request(first.receive_ts, 0x8888, 0x8888))
    assert second.origin_ts == 0x8888
    # chronyd in basic mode, SNTP clients, systemd-timesyncd: receive zero
    third = ask(client, addr, request(0, 0, 0x9999))
    assert third.origin_ts == 0x9999
    assert len(server.core.interleave) == 0


def test_signed_replies_interleave(client):
    # A reply with a MAC is longer than 48 bytes: its kernel stamp must still find the reply.
    key = SymmetricKey(3, "SHA1", b"secret")
    core = NtpServerCore(AccessList(["127.0.0.0/8"]), keys=KeyRing({3: key}), interleave=InterleaveTable(16))
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))
    tmap = TimeMap(time.time_ns(), OFFSET_NS)
    udp = NtpUdpServer(core, [open_socket("127.0.0.1", 0)], lambda: tmap)
    udp.start()
    try:

        def ask_signed(origin, receive, transmit):
            data = request(origin, receive, transmit)
            client.sendto(data + key.mac(data), udp.addresses[0])
            wire = client.recv(2048)
            assert len(wire) == 72 and wire[48:] == key.mac(wire[:48])
            return P.parse(wire[:48])

        first = ask_signed(0, 0x0999, 0x1111)
        time.sleep(0.05)
        second = ask_signed(first.receive_ts, 0x2222, 0x3333)
    finally:
        udp.stop()
    assert second.origin_ts == 0x2222 and core.counters()["interleaved"] == 1
    base_s = (time.time_ns() + OFFSET_NS) // 10**9
    first_rx = P.ntp_to_ns(first.receive_ts, base_s)
    assert first_rx < P.ntp_to_ns(second.transmit_ts, base_s) < first_rx + 20_000_000
