"""PTP management messages (IEEE 1588-2019 clause 15), sans-I/O: encode GET/SET requests and decode
the answers, byte for byte as linuxptp's pmc and ptp4l do over ptp4l's Unix socket (uds_address).

Wire layout (all fields big-endian):
  common header (clause 13.3, 34 octets) | targetPortIdentity (10) | startingBoundaryHops (1) |
  boundaryHops (1) | actionField (low nibble, 1) | reserved (1) | one TLV (clause 14.1):
  tlvType MANAGEMENT (0x0001) or MANAGEMENT_ERROR_STATUS (0x0002) | lengthField | managementId | data

The data sets a TLV carries, and the codec of its data field, are datasets.py.

Error strategy (as h11): ``decode`` either returns a Message or raises PtpMgmtError; never anything
else, whatever the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .datasets import (
    ALL_PORTS,
    DATA_LENGTH,
    PortIdentity,
    PtpMgmtError,
    check_range,
    decode_data,
    encode_data,
    encode_value,
)

# --- constants (linuxptp msg.h / tlv.h; IEEE 1588-2019 Tables 36, 52, 59) ---------------------

MANAGEMENT_MESSAGE_TYPE = 0xD
PTP_VERSION = 2  # versionPTP; minorVersionPTP 0 in the high nibble, as linuxptp 3.x sends
CONTROL_MANAGEMENT = 4  # controlField for management messages (clause 13.3.2.13)
LOG_INTERVAL_MANAGEMENT = 0x7F
HEADER_LEN = 34
MGMT_BODY_LEN = 14  # targetPortIdentity .. reserved
MGMT_HEADER_LEN = HEADER_LEN + MGMT_BODY_LEN  # 48
MAX_MESSAGE_LEN = 1500

TLV_MANAGEMENT = 0x0001
TLV_MANAGEMENT_ERROR_STATUS = 0x0002


class Action(IntEnum):
    GET = 0
    SET = 1
    RESPONSE = 2
    COMMAND = 3
    ACKNOWLEDGE = 4


class MgmtErrorId(IntEnum):
    RESPONSE_TOO_BIG = 0x0001
    NO_SUCH_ID = 0x0002
    WRONG_LENGTH = 0x0003
    WRONG_VALUE = 0x0004
    NOT_SETABLE = 0x0005
    NOT_SUPPORTED = 0x0006
    GENERAL_ERROR = 0xFFFE


@dataclass(frozen=True)
class MgmtErrorStatus:
    error: int  # MgmtErrorId value
    display: str = ""

    @property
    def name(self) -> str:
        try:
            return MgmtErrorId(self.error).name
        except ValueError:
            return f"0x{self.error:04x}"


@dataclass(frozen=True)
class Message:
    """A decoded management message: header fields the appliance uses, and the TLV's value."""

    domain: int
    sequence_id: int
    source: PortIdentity
    target: PortIdentity
    action: Action
    mgmt_id: int
    value: object | None  # a data set dataclass, Datum, MgmtErrorStatus, or None (empty body)
    transport_specific: int = 0
    starting_boundary_hops: int = 0
    boundary_hops: int = 0

    @property
    def is_error(self) -> bool:
        return isinstance(self.value, MgmtErrorStatus)


# --- messages -----------------------------------------------------------------------------------

_HEADER = struct.Struct(">BBHBx2sq4x8sHHBb")  # 34
_MGMT_BODY = struct.Struct(">8sHBBBx")  # 14
_TLV_HEAD = struct.Struct(">HHH")  # type, length, managementId (or errorId for an error status)


def encode(
    action: Action,
    mgmt_id: int,
    *,
    sequence_id: int,
    domain: int,
    source: PortIdentity,
    target: PortIdentity = ALL_PORTS,
    boundary_hops: int = 0,
    transport_specific: int = 0,
    data: bytes | None = None,
) -> bytes:
    """One management message with one MANAGEMENT TLV.

    For a GET, ``data`` None sends a zero-filled data field of the data set's size, as pmc does by
    default (pmc -z sends an empty one: pass ``b""``).
    """
    check_range("sequenceId", sequence_id, 0, 0xFFFF)
    check_range("domainNumber", domain, 0, 255)
    check_range("boundaryHops", boundary_hops, 0, 255)
    check_range("transportSpecific", transport_specific, 0, 15)
    check_range("managementId", int(mgmt_id), 0, 0xFFFF)
    check_range("portNumber", source.port_number, 0, 0xFFFF)
    if len(source.clock_identity) != 8 or len(target.clock_identity) != 8:
        raise PtpMgmtError("a clock identity is 8 octets")
    if data is None:
        data = b"\x00" * DATA_LENGTH.get(mgmt_id, 0) if action is Action.GET else b""
    if len(data) % 2:
        data += b"\x00"  # TLV lengths are even (clause 14.1.1)
    length = MGMT_HEADER_LEN + _TLV_HEAD.size + len(data)
    if length > MAX_MESSAGE_LEN:
        raise PtpMgmtError(f"message of {length} octets is too long")
    header = _HEADER.pack(
        (transport_specific << 4) | MANAGEMENT_MESSAGE_TYPE,
        PTP_VERSION,
        length,
        domain,
        b"\x00\x00",
        0,
        source.clock_identity,
        source.port_number,
        sequence_id,
        CONTROL_MANAGEMENT,
        LOG_INTERVAL_MANAGEMENT,
    )
    body = _MGMT_BODY.pack(target.clock_identity, target.port_number, boundary_hops, boundary_hops, int(action))
    tlv = _TLV_HEAD.pack(TLV_MANAGEMENT, 2 + len(data), int(mgmt_id)) + data
    return header + body + tlv


def encode_get(mgmt_id: int, **kw: Any) -> bytes:
    return encode(Action.GET, mgmt_id, **kw)


def encode_set(mgmt_id: int, value: object, **kw: Any) -> bytes:
    return encode(Action.SET, mgmt_id, data=encode_value(mgmt_id, value), **kw)


def decode(buf: bytes) -> Message:
    """Parse one management message; PtpMgmtError for anything that is not one."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise PtpMgmtError("expected bytes")
    buf = bytes(buf)
    if len(buf) < MGMT_HEADER_LEN:
        raise PtpMgmtError(f"message of {len(buf)} octets is shorter than a management header ({MGMT_HEADER_LEN})")
    tsmt, ver, length, domain, _flags, _corr, scid, sport, seq, _ctl, _lmi = _HEADER.unpack_from(buf, 0)
    if tsmt & 0x0F != MANAGEMENT_MESSAGE_TYPE:
        raise PtpMgmtError(f"messageType {tsmt & 0x0F} is not MANAGEMENT (13)")
    if ver & 0x0F != PTP_VERSION:
        raise PtpMgmtError(f"versionPTP {ver & 0x0F} is not 2")
    if length > len(buf):
        raise PtpMgmtError(f"messageLength {length} is longer than the {len(buf)} octets received")
    if length < MGMT_HEADER_LEN + 4:
        raise PtpMgmtError(f"messageLength {length} leaves no room for a TLV")
    tcid, tport, sbh, bh, action_field = _MGMT_BODY.unpack_from(buf, HEADER_LEN)
    try:
        action = Action(action_field & 0x0F)
    except ValueError:
        raise PtpMgmtError(f"actionField {action_field & 0x0F} is not a management action") from None
    off = MGMT_HEADER_LEN
    tlv_type, tlv_len = struct.unpack_from(">HH", buf, off)
    if tlv_len % 2 or off + 4 + tlv_len > length:
        raise PtpMgmtError(f"TLV length {tlv_len} is odd or runs past the message")
    if tlv_len < 2:
        raise PtpMgmtError(f"TLV length {tlv_len} has no room for an id")
    body = buf[off + 4 : off + 4 + tlv_len]
    if tlv_type == TLV_MANAGEMENT:
        mgmt_id = struct.unpack_from(">H", body, 0)[0]
        value = decode_data(mgmt_id, body[2:])
    elif tlv_type == TLV_MANAGEMENT_ERROR_STATUS:
        if tlv_len < 8:
            raise PtpMgmtError(f"MANAGEMENT_ERROR_STATUS TLV of {tlv_len} octets is too short (8)")
        error, mgmt_id = struct.unpack_from(">HH", body, 0)
        display = ""
        if tlv_len > 8:  # displayData: a PTPText (length octet + text)
            n = body[8]
            display = body[9 : 9 + n].decode("utf-8", errors="replace")
        value = MgmtErrorStatus(error, display)
    else:
        raise PtpMgmtError(f"TLV type 0x{tlv_type:04x} is not a management TLV")
    return Message(
        domain=domain,
        sequence_id=seq,
        source=PortIdentity(scid, sport),
        target=PortIdentity(tcid, tport),
        action=action,
        mgmt_id=mgmt_id,
        value=value,
        transport_specific=tsmt >> 4,
        starting_boundary_hops=sbh,
        boundary_hops=bh,
    )


def encode_response(request: Message, value: object, source: PortIdentity) -> bytes:
    """A RESPONSE to ``request`` carrying ``value`` (used by tests that stand in for ptp4l)."""
    data = encode_data(request.mgmt_id, value)
    return encode(
        Action.RESPONSE,
        request.mgmt_id,
        sequence_id=request.sequence_id,
        domain=request.domain,
        source=source,
        target=request.source,
        boundary_hops=request.boundary_hops,
        data=data,
    )
