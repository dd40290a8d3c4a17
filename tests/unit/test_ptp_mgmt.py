"""The management codec: layouts, round trips, and the fuzz rule (parse it or raise PtpMgmtError).
The comparison with the real pmc is in tests/integration/test_ptp_mgmt_pmc.py."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.ptp import datasets as ds
from appliance.core.ptp import mgmt as m

SRC = ds.PortIdentity(bytes(8), 4711)
CID = bytes.fromhex("001122fffe334455")


def test_header_layout_of_a_get():
    data = m.encode_get(ds.MgmtId.DEFAULT_DATA_SET, sequence_id=7, domain=24, source=SRC)
    assert len(data) == 48 + 6 + 20  # header + management body, TLV head + id, defaultDS
    assert data[0] == 0x0D and data[1] == 2  # MANAGEMENT, versionPTP 2
    assert struct.unpack_from(">H", data, 2)[0] == len(data)  # messageLength
    assert data[4] == 24  # domainNumber
    assert struct.unpack_from(">H", data, 30)[0] == 7  # sequenceId
    assert data[32] == 4 and data[33] == 0x7F  # controlField, logMessageInterval
    assert data[34:44] == b"\xff" * 10  # target: all ports of all clocks
    assert data[44] == data[45] == 0 and data[46] == m.Action.GET
    assert struct.unpack_from(">HHH", data, 48) == (m.TLV_MANAGEMENT, 22, 0x2000)
    assert data[54:] == bytes(20)  # zero-filled, as pmc sends without -z


def test_empty_get_like_pmc_z():
    data = m.encode_get(ds.MgmtId.TIME_STATUS_NP, sequence_id=0, domain=0, source=SRC, data=b"")
    assert len(data) == 54 and struct.unpack_from(">H", data, 50)[0] == 2


def test_set_grandmaster_settings_bytes():
    gs = ds.GrandmasterSettingsNp(ds.ClockQuality(135, 0xFE, 0xFFFF), 37, ds.PTP_TIMESCALE | ds.TIME_TRACEABLE, 0xA0)
    data = m.encode_set(ds.MgmtId.GRANDMASTER_SETTINGS_NP, gs, sequence_id=1, domain=24, source=SRC)
    assert data[46] == m.Action.SET
    assert data[54:] == bytes([135, 0xFE, 0xFF, 0xFF, 0x00, 37, 0x18, 0xA0])
    assert m.decode(data).value == gs


def _samples():
    q = ds.ClockQuality(248, 0xFE, 0xFFFF)
    pid = ds.PortIdentity(CID, 1)
    return {
        ds.MgmtId.DEFAULT_DATA_SET: ds.DefaultDataSet(True, False, 1, 128, q, 129, CID, 24),
        ds.MgmtId.CURRENT_DATA_SET: ds.CurrentDataSet(1, -1234.5, 6789.25),
        ds.MgmtId.PARENT_DATA_SET: ds.ParentDataSet(pid, 0, 0xFFFF, 0x7FFFFFFF, 128, q, 255, CID),
        ds.MgmtId.TIME_PROPERTIES_DATA_SET: ds.TimePropertiesDataSet(37, ds.PTP_TIMESCALE, 0xA0),
        ds.MgmtId.PORT_DATA_SET: ds.PortDataSet(pid, ds.PortState.SLAVE, -2, 0.0, -2, 3, -2, 1, 0, 2),
        ds.MgmtId.TIME_STATUS_NP: ds.TimeStatusNp(-4321, 1_700_000_000_123_456_789, 0, 0, 0, (0, 0, 0), True, CID),
        ds.MgmtId.GRANDMASTER_SETTINGS_NP: ds.GrandmasterSettingsNp(q, 37, 0, 0xA0),
        ds.MgmtId.PRIORITY2: ds.Datum(200),
        ds.MgmtId.SYNCHRONIZATION_UNCERTAIN_NP: ds.Datum(ds.SYNC_UNCERTAIN_FALSE),
    }


@pytest.mark.parametrize("mgmt_id", list(_samples()))
def test_response_round_trip(mgmt_id):
    value = _samples()[mgmt_id]
    req = m.decode(m.encode_get(mgmt_id, sequence_id=9, domain=24, source=SRC))
    data = m.encode_response(req, value, ds.PortIdentity(CID, 0))
    assert len(data) == 54 + ds.DATA_LENGTH[mgmt_id]
    msg = m.decode(data)
    assert msg.action is m.Action.RESPONSE and msg.mgmt_id == mgmt_id and msg.sequence_id == 9
    assert msg.target == SRC and msg.domain == 24
    assert msg.value == value


def test_error_status_decodes():
    req = m.decode(m.encode_get(ds.MgmtId.PRIORITY1, sequence_id=3, domain=0, source=SRC))
    body = struct.pack(">HHHH4s", m.TLV_MANAGEMENT_ERROR_STATUS, 8, m.MgmtErrorId.NOT_SUPPORTED, 0x2005, bytes(4))
    head = bytearray(m.encode_response(req, ds.Datum(1), ds.PortIdentity(CID, 0))[:48])
    struct.pack_into(">H", head, 2, 48 + len(body))
    msg = m.decode(bytes(head) + body)
    assert msg.is_error and msg.value.name == "NOT_SUPPORTED" and msg.mgmt_id == 0x2005


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda b: b[:40], "shorter"),
        (lambda b: bytes([0x0B]) + b[1:], "messageType"),
        (lambda b: b[:1] + bytes([1]) + b[2:], "versionPTP"),
        (lambda b: b[:2] + struct.pack(">H", 500) + b[4:], "longer than"),
        (lambda b: b[:46] + bytes([9]) + b[47:], "actionField"),
        (lambda b: b[:48] + struct.pack(">H", 0x0008) + b[50:], "not a management TLV"),
        (lambda b: b[:50] + struct.pack(">H", 7) + b[52:], "odd"),
        (lambda b: b[:50] + struct.pack(">H", 4) + b[52:56] + b"", "data is 2 octets"),
    ],
)
def test_malformed_messages_name_the_problem(mutate, why):
    good = m.encode_get(ds.MgmtId.DEFAULT_DATA_SET, sequence_id=1, domain=0, source=SRC)
    bad = mutate(good)
    if why == "data is 2 octets":
        bad = bad[:2] + struct.pack(">H", len(bad)) + bad[4:]
    with pytest.raises(ds.PtpMgmtError, match=why):
        m.decode(bad)


@pytest.mark.parametrize(
    "kw, why",
    [
        (dict(sequence_id=70000), "sequenceId"),
        (dict(domain=256), "domainNumber"),
        (dict(boundary_hops=-1), "boundaryHops"),
    ],
)
def test_encode_rejects_out_of_range(kw, why):
    args = dict(sequence_id=0, domain=0, source=SRC) | kw
    with pytest.raises(ds.PtpMgmtError, match=why):
        m.encode_get(ds.MgmtId.DEFAULT_DATA_SET, **args)


def test_set_rejects_bad_values():
    with pytest.raises(ds.PtpMgmtError, match="clockClass"):
        ds.encode_value(
            ds.MgmtId.GRANDMASTER_SETTINGS_NP, ds.GrandmasterSettingsNp(ds.ClockQuality(300, 0, 0), 37, 0, 0xA0)
        )
    with pytest.raises(ds.PtpMgmtError, match="PRIORITY2"):
        ds.encode_value(ds.MgmtId.PRIORITY2, 256)
    with pytest.raises(ds.PtpMgmtError, match="not supported"):
        ds.encode_value(ds.MgmtId.DEFAULT_DATA_SET, None)


def test_clock_identity_spelling():
    assert ds.clock_id_str(CID) == "001122.fffe.334455"
    assert ds.parse_clock_id("001122.fffe.334455") == CID
    assert str(ds.PortIdentity(CID, 1)) == "001122.fffe.334455-1"
    with pytest.raises(ds.PtpMgmtError):
        ds.parse_clock_id("0011.22")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_decode_random_bytes(data):
    try:
        m.decode(data)
    except ds.PtpMgmtError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(_samples())), st.data())
def test_fuzz_decode_mutated_messages(mgmt_id, data):
    req = m.decode(m.encode_get(mgmt_id, sequence_id=1, domain=0, source=SRC))
    good = bytearray(m.encode_response(req, _samples()[mgmt_id], ds.PortIdentity(CID, 0)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(good) - 1))
        good[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good)))
    try:
        m.decode(bytes(good[:cut]))
    except ds.PtpMgmtError:
        pass
