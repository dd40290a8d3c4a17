"""The pure interleave table: one-shot lookups, bounded memory under many distinct sources; signed
requests interleave like bare ones."""

import struct

import pytest

from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import NtpServerCore, ServerState
from appliance.core.ntp.interleave import InterleaveTable, wants_tracking
from appliance.core.ntp.packet import ns_to_ntp
from appliance.core.ntp.symkey import CRYPTO_NAK, KeyRing, SymmetricKey


def test_take_is_once():
    t = InterleaveTable(4)
    t.record(100, 200)
    assert t.take(100) == 200
    assert t.take(100) is None


def test_zero_origin_is_never_interleaved():
    t = InterleaveTable(4)
    t.record(0, 5)
    assert t.take(0) is None


def test_stays_within_limit_under_1e5_sources():
    limit = 1000
    t = InterleaveTable(limit)
    for i in range(1, 100_001):
        t.record(i << 20, (i << 20) + 7)
        assert len(t) <= limit
    assert len(t) == limit
    assert t.evicted == 100_000 - limit
    assert t.take(1 << 20) is None  # the oldest went
    assert t.take(100_000 << 20) == (100_000 << 20) + 7  # the newest stays


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        InterleaveTable(0)


def test_wants_tracking():
    same = bytes(32) + b"\x01" * 8 + b"\x01" * 8
    differ = bytes(32) + b"\x02" * 8 + b"\x01" * 8
    zero_receive = bytes(32) + bytes(8) + b"\x01" * 8  # chronyd in basic mode, SNTP, timesyncd
    assert not wants_tracking(same)
    assert wants_tracking(differ)
    assert not wants_tracking(zero_receive)


def test_a_request_with_a_zero_receive_field_is_not_tracked():
    core = NtpServerCore(AccessList(["198.18.0.0/15"]), interleave=InterleaveTable(8))
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))
    sntp = bytes([0x23]) + bytes(39) + struct.pack("!Q", 0x1111)
    with_field = sntp + struct.pack("!HH", 0x2005, 16) + bytes(12)  # an extension field: the general path
    for data in (sntp, with_field):
        assert not core.handle(data, "198.18.0.7", 40000, 1_800_000_000_000_000_000, 0.0).track_tx


def test_signed_requests_take_part_in_interleaved_mode():
    key = SymmetricKey(7, "SHA1", b"secret")
    core = NtpServerCore(AccessList(["198.18.0.0/15"]), keys=KeyRing({7: key}), interleave=InterleaveTable(8))
    core.set_state(ServerState(synchronized=True, ref_id=b"PHC\x00"))

    def signed(origin, receive, transmit):
        data = bytes([0x23]) + bytes(23) + struct.pack("!QQQ", origin, receive, transmit)
        return data + key.mac(data)

    first = core.handle(signed(0, 0x0999, 0x1111), "198.18.0.7", 40000, 1_800_000_000_000_000_000, 0.0)
    assert first.track_tx and first.sign is not None
    wire = first.finish(0xAAAA)
    assert len(wire) == 48 + 24 and wire[48:] == key.mac(wire[:48])
    core.record_tx(wire, 1_800_000_000_000_500_000)
    rx_ntp = struct.unpack_from("!Q", wire, 32)[0]
    second = core.handle(signed(rx_ntp, 0x2222, 0x3333), "198.18.0.7", 40000, 1_800_000_001_000_000_000, 0.0)
    wire2 = second.finish(0xBBBB)
    origin, _, transmit = struct.unpack_from("!QQQ", wire2, 24)
    assert origin == 0x2222 and transmit == ns_to_ntp(1_800_000_000_000_500_000)
    assert wire2[48:] == key.mac(wire2[:48]) and core.interleaved == 1
    # a bad MAC gets a crypto-NAK, which is neither interleaved nor tracked
    nak = core.handle(signed(0, 0x4444, 0x5555)[:-1] + b"\0", "198.18.0.7", 40000, 1_800_000_002_000_000_000, 0.0)
    assert not nak.track_tx and nak.finish(0)[48:] == CRYPTO_NAK
