import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.ntp import packet as P


def packet(**kw):
    base = dict(
        leap=0,
        version=4,
        mode=3,
        stratum=0,
        poll=6,
        precision=-20,
        root_delay=0,
        root_dispersion=0,
        ref_id=b"\x00" * 4,
        ref_ts=0,
        origin_ts=0,
        receive_ts=0,
        transmit_ts=0x1234_5678_9ABC_DEF0,
    )
    base.update(kw)
    return P.NtpPacket(**base)


u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
packets = st.builds(
    P.NtpPacket,
    leap=st.integers(0, 3),
    version=st.integers(1, 4),
    mode=st.integers(0, 7),
    stratum=st.integers(0, 255),
    poll=st.integers(-128, 127),
    precision=st.integers(-128, 127),
    root_delay=u32,
    root_dispersion=u32,
    ref_id=st.binary(min_size=4, max_size=4),
    ref_ts=u64,
    origin_ts=u64,
    receive_ts=u64,
    transmit_ts=u64,
)


@given(packets)
def test_header_round_trip(p):
    assert P.parse(p.encode()) == p


@given(
    packets,
    st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(3, 20)), max_size=3),
    st.sampled_from([b"", b"\x00" * 20, b"\x00" * 24]),
)
def test_v4_extensions_and_mac_round_trip(p, efs, mac):
    # RFC 7822 7.5: without a MAC the last extension field is at least 28 octets (else it could be a MAC)
    if efs and not mac and efs[-1][1] < 6:
        efs[-1] = (efs[-1][0], 6)
    p = P.NtpPacket(**{**p.__dict__, "version": 4, "extensions": tuple((t, bytes(4 * n)) for t, n in efs), "mac": mac})
    if len(p.encode()) > P.MAX_PACKET_LEN:
        return
    assert P.parse(p.encode()) == p


@settings(max_examples=500)
@given(st.binary(max_size=1200))
def test_parse_raises_only_packet_error(data):
    try:
        P.parse(data)
    except P.NtpPacketError as exc:
        assert exc.reason in ("short", "oversized", "bad_version", "bad_extension")


@pytest.mark.parametrize("n", [0, 1, 47])
def test_short(n):
    with pytest.raises(P.NtpPacketError) as e:
        P.parse(b"\x23" * n)
    assert e.value.reason == "short"


@pytest.mark.parametrize("version", [0, 5, 6, 7])
def test_bad_version(version):
    data = bytes([(version << 3) | 3]) + bytes(47)
    with pytest.raises(P.NtpPacketError) as e:
        P.parse(data)
    assert e.value.reason == "bad_version"


def test_extension_field_length_beyond_packet():
    data = packet().encode() + struct.pack("!HH", 0x0104, 200) + bytes(12)
    with pytest.raises(P.NtpPacketError) as e:
        P.parse(data)
    assert e.value.reason == "bad_extension"


def test_extension_field_not_multiple_of_four():
    data = packet().encode() + struct.pack("!HH", 0x0104, 18) + bytes(14)
    with pytest.raises(P.NtpPacketError):
        P.parse(data)


def test_v3_trailer_other_than_mac_is_rejected():
    data = packet(version=3).encode() + bytes(16)
    with pytest.raises(P.NtpPacketError):
        P.parse(data)


def test_oversized():
    with pytest.raises(P.NtpPacketError) as e:
        P.parse(packet().encode() + bytes(2000))
    assert e.value.reason == "oversized"


@given(st.integers(0, 4_000_000_000 * 10**9))
def test_ns_ntp_round_trip_within_a_nanosecond(ns):
    back = P.ntp_to_ns(P.ns_to_ntp(ns), pivot_unix_s=ns // 10**9)
    assert abs(back - ns) <= 1


def test_known_timestamp():
    # 2024-01-01T00:00:00Z = 1704067200 Unix = 3913056000 NTP seconds
    assert P.ns_to_ntp(1_704_067_200 * 10**9) == 3_913_056_000 << 32
    # NTP era 1 (after 2036-02-07) folds back into 32 bits of seconds
    assert P.ns_to_ntp(2_085_978_496 * 10**9) >> 32 == 0
    assert P.ntp_to_ns(0, pivot_unix_s=2_085_978_496) == 2_085_978_496 * 10**9


def test_short_format_rounds_up_and_saturates():
    assert P.seconds_to_short(0) == 0
    assert P.seconds_to_short(1e-9) == 1  # a bound is never understated to zero
    assert P.seconds_to_short(1.0) == 65536
    assert P.seconds_to_short(1e9) == 0xFFFFFFFF
    assert P.seconds_to_short(float("nan")) == 0
