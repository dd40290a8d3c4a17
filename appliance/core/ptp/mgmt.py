"""PTP management messages (IEEE 1588-2019 clause 15), sans-I/O: encode GET/SET requests and decode
the answers, byte for byte as linuxptp's pmc and ptp4l do over ptp4l's Unix socket (uds_address).

Wire layout (all fields big-endian):
  common header (clause 13.3, 34 octets) | targetPortIdentity (10) | startingBoundaryHops (1) |
  boundaryHops (1) | actionField (low nibble, 1) | reserved (1) | one TLV (clause 14.1):
  tlvType MANAGEMENT (0x0001) or MANAGEMENT_ERROR_STATUS (0x0002) | lengthField | managementId | data

Data set layouts follow IEEE 1588-2019 clause 8.2 (defaultDS 8.2.1, currentDS 8.2.2, parentDS 8.2.3,
timePropertiesDS 8.2.4, portDS 8.2.15) as linuxptp packs them (ds.h); TIME_STATUS_NP (0xC000),
GRANDMASTER_SETTINGS_NP (0xC001) and SYNCHRONIZATION_UNCERTAIN_NP (0xC006) are linuxptp's own
(tlv.h). ``currentDS.offsetFromMaster`` and ``meanPathDelay`` are TimeInterval: ns * 2^16.

Error strategy (as h11): ``decode`` either returns a Message or raises PtpMgmtError; never anything
else, whatever the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

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


class MgmtId(IntEnum):
    NULL_MANAGEMENT = 0x0000
    DEFAULT_DATA_SET = 0x2000
    CURRENT_DATA_SET = 0x2001
    PARENT_DATA_SET = 0x2002
    TIME_PROPERTIES_DATA_SET = 0x2003
    PORT_DATA_SET = 0x2004
    PRIORITY1 = 0x2005
    PRIORITY2 = 0x2006
    DOMAIN = 0x2007
    TIME_STATUS_NP = 0xC000
    GRANDMASTER_SETTINGS_NP = 0xC001
    SYNCHRONIZATION_UNCERTAIN_NP = 0xC006


class MgmtErrorId(IntEnum):
    RESPONSE_TOO_BIG = 0x0001
    NO_SUCH_ID = 0x0002
    WRONG_LENGTH = 0x0003
    WRONG_VALUE = 0x0004
    NOT_SETABLE = 0x0005
    NOT_SUPPORTED = 0x0006
    GENERAL_ERROR = 0xFFFE


class PortState(IntEnum):
    """portDS.portState (IEEE 1588-2019 Table 20). ptp4l reports its internal GRAND_MASTER as MASTER."""

    INITIALIZING = 1
    FAULTY = 2
    DISABLED = 3
    LISTENING = 4
    PRE_MASTER = 5
    MASTER = 6
    PASSIVE = 7
    UNCALIBRATED = 8
    SLAVE = 9
    GRAND_MASTER = 10  # linuxptp only (ps_str), never on the wire


# timePropertiesDS flag bits as carried in GRANDMASTER_SETTINGS_NP.time_flags (flagField[1], Table 37)
LEAP_61 = 1 << 0
LEAP_59 = 1 << 1
UTC_OFF_VALID = 1 << 2
PTP_TIMESCALE = 1 << 3
TIME_TRACEABLE = 1 << 4
FREQ_TRACEABLE = 1 << 5

SYNC_UNCERTAIN_FALSE = 0
SYNC_UNCERTAIN_TRUE = 1
SYNC_UNCERTAIN_DONTCARE = 0xFF

WILDCARD_CLOCK = b"\xff" * 8
WILDCARD_PORT = 0xFFFF


class PtpMgmtError(ValueError):
    """A management message could not be encoded or decoded; the message says why."""


# --- value types ------------------------------------------------------------------------------


def clock_id_str(cid: bytes) -> str:
    """linuxptp's spelling of a clockIdentity: 'aabbcc.fffe.ddeeff'."""
    h = cid.hex()
    return f"{h[0:6]}.{h[6:10]}.{h[10:16]}"


def parse_clock_id(text: str) -> bytes:
    parts = text.split(".")
    if len(parts) != 3 or [len(p) for p in parts] != [6, 4, 6]:
        raise PtpMgmtError(f"expected a clock identity like 001122.fffe.334455, got {text!r}")
    try:
        return bytes.fromhex("".join(parts))
    except ValueError:
        raise PtpMgmtError(f"expected hex digits in clock identity {text!r}") from None


@dataclass(frozen=True)
class PortIdentity:
    clock_identity: bytes  # 8 octets
    port_number: int

    def __str__(self) -> str:
        return f"{clock_id_str(self.clock_identity)}-{self.port_number}"


ALL_PORTS = PortIdentity(WILDCARD_CLOCK, WILDCARD_PORT)


@dataclass(frozen=True)
class ClockQuality:
    clock_class: int
    clock_accuracy: int
    offset_scaled_log_variance: int


@dataclass(frozen=True)
class DefaultDataSet:
    two_step: bool
    slave_only: bool
    number_ports: int
    priority1: int
    quality: ClockQuality
    priority2: int
    clock_identity: bytes
    domain_number: int


@dataclass(frozen=True)
class CurrentDataSet:
    steps_removed: int
    offset_from_master_ns: float  # TimeInterval / 2^16
    mean_path_delay_ns: float


@dataclass(frozen=True)
class ParentDataSet:
    parent_port_identity: PortIdentity
    parent_stats: int
    observed_parent_offset_scaled_log_variance: int
    observed_parent_clock_phase_change_rate: int
    gm_priority1: int
    gm_quality: ClockQuality
    gm_priority2: int
    gm_identity: bytes


@dataclass(frozen=True)
class TimePropertiesDataSet:
    current_utc_offset: int
    flags: int
    time_source: int


@dataclass(frozen=True)
class PortDataSet:
    port_identity: PortIdentity
    port_state: int  # a PortState value (kept as int: an unknown number is reported, not rejected)
    log_min_delay_req_interval: int
    peer_mean_path_delay_ns: float
    log_announce_interval: int
    announce_receipt_timeout: int
    log_sync_interval: int
    delay_mechanism: int
    log_min_pdelay_req_interval: int
    version_number: int

    @property
    def state_name(self) -> str:
        try:
            return PortState(self.port_state).name
        except ValueError:
            return f"UNKNOWN({self.port_state})"


@dataclass(frozen=True)
class TimeStatusNp:
    master_offset_ns: int
    ingress_time_ns: int
    cumulative_scaled_rate_offset: int
    scaled_last_gm_phase_change: int
    gm_time_base_indicator: int
    last_gm_phase_change: tuple[int, int, int]  # nanoseconds_msb, nanoseconds_lsb, fractional_nanoseconds
    gm_present: bool
    gm_identity: bytes


@dataclass(frozen=True)
class GrandmasterSettingsNp:
    quality: ClockQuality
    utc_offset: int
    time_flags: int
    time_source: int


@dataclass(frozen=True)
class Datum:
    """PRIORITY1, PRIORITY2, DOMAIN, SYNCHRONIZATION_UNCERTAIN_NP: one octet (+ one reserved)."""

    value: int


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


# --- data field codecs ------------------------------------------------------------------------

_QUALITY = struct.Struct(">BBH")
_DEFAULT_DS = struct.Struct(">BxHB4sB8sBx")  # 20
_CURRENT_DS = struct.Struct(">Hqq")  # 18
_PARENT_DS = struct.Struct(">8sHBxHiB4sB8s")  # 32
_TIME_PROPERTIES_DS = struct.Struct(">hBB")  # 4
_PORT_DS = struct.Struct(">8sHBbqbBbBbB")  # 26
_TIME_STATUS_NP = struct.Struct(">qqiiHHQHi8s")  # 50
_GM_SETTINGS_NP = struct.Struct(">4shBB")  # 8
_DATUM = struct.Struct(">Bx")  # 2

DATA_LENGTH = {
    MgmtId.DEFAULT_DATA_SET: _DEFAULT_DS.size,
    MgmtId.CURRENT_DATA_SET: _CURRENT_DS.size,
    MgmtId.PARENT_DATA_SET: _PARENT_DS.size,
    MgmtId.TIME_PROPERTIES_DATA_SET: _TIME_PROPERTIES_DS.size,
    MgmtId.PORT_DATA_SET: _PORT_DS.size,
    MgmtId.PRIORITY1: _DATUM.size,
    MgmtId.PRIORITY2: _DATUM.size,
    MgmtId.DOMAIN: _DATUM.size,
    MgmtId.TIME_STATUS_NP: _TIME_STATUS_NP.size,
    MgmtId.GRANDMASTER_SETTINGS_NP: _GM_SETTINGS_NP.size,
    MgmtId.SYNCHRONIZATION_UNCERTAIN_NP: _DATUM.size,
    MgmtId.NULL_MANAGEMENT: 0,
}

_DATUM_IDS = {MgmtId.PRIORITY1, MgmtId.PRIORITY2, MgmtId.DOMAIN, MgmtId.SYNCHRONIZATION_UNCERTAIN_NP}


def _quality(b: bytes) -> ClockQuality:
    return ClockQuality(*_QUALITY.unpack(b))


def _pack_quality(q: ClockQuality) -> bytes:
    _check_range("clockClass", q.clock_class, 0, 255)
    _check_range("clockAccuracy", q.clock_accuracy, 0, 255)
    _check_range("offsetScaledLogVariance", q.offset_scaled_log_variance, 0, 0xFFFF)
    return _QUALITY.pack(q.clock_class, q.clock_accuracy, q.offset_scaled_log_variance)


def _check_range(name: str, v: int, lo: int, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise PtpMgmtError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")


def _port_identity(b: bytes, number: int) -> PortIdentity:
    return PortIdentity(bytes(b), number)


def _decode_data(mgmt_id: int, data: bytes):
    """The data field of a MANAGEMENT TLV -> value; None for an empty body or an id we do not decode."""
    if not data:
        return None
    want = DATA_LENGTH.get(mgmt_id)  # type: ignore[call-overload]
    if want is None:
        return None  # an id the appliance does not use: carried, not interpreted
    if len(data) != want:
        raise PtpMgmtError(f"{_id_name(mgmt_id)}: data is {len(data)} octets, expected {want}")
    if mgmt_id == MgmtId.DEFAULT_DATA_SET:
        flags, nports, p1, q, p2, cid, dom = _DEFAULT_DS.unpack(data)
        return DefaultDataSet(bool(flags & 1), bool(flags & 2), nports, p1, _quality(q), p2, cid, dom)
    if mgmt_id == MgmtId.CURRENT_DATA_SET:
        steps, off, delay = _CURRENT_DS.unpack(data)
        return CurrentDataSet(steps, off / 65536.0, delay / 65536.0)
    if mgmt_id == MgmtId.PARENT_DATA_SET:
        pcid, pnum, stats, var, rate, gp1, gq, gp2, gid = _PARENT_DS.unpack(data)
        return ParentDataSet(_port_identity(pcid, pnum), stats, var, rate, gp1, _quality(gq), gp2, gid)
    if mgmt_id == MgmtId.TIME_PROPERTIES_DATA_SET:
        return TimePropertiesDataSet(*_TIME_PROPERTIES_DS.unpack(data))
    if mgmt_id == MgmtId.PORT_DATA_SET:
        cid, num, state, mdr, peer, lai, art, lsi, dm, lpdr, ver = _PORT_DS.unpack(data)
        return PortDataSet(_port_identity(cid, num), state, mdr, peer / 65536.0, lai, art, lsi, dm, lpdr, ver & 0x0F)
    if mgmt_id == MgmtId.TIME_STATUS_NP:
        mo, it, csro, slgpc, gtbi, msb, lsb, frac, present, gid = _TIME_STATUS_NP.unpack(data)
        return TimeStatusNp(mo, it, csro, slgpc, gtbi, (msb, lsb, frac), bool(present), gid)
    if mgmt_id == MgmtId.GRANDMASTER_SETTINGS_NP:
        q, utc, flags, src = _GM_SETTINGS_NP.unpack(data)
        return GrandmasterSettingsNp(_quality(q), utc, flags, src)
    if mgmt_id in _DATUM_IDS:
        return Datum(_DATUM.unpack(data)[0])
    return None  # NULL_MANAGEMENT carries nothing


def encode_value(mgmt_id: int, value) -> bytes:
    """The data field for a SET of ``mgmt_id`` (the ids the appliance sets)."""
    if mgmt_id == MgmtId.GRANDMASTER_SETTINGS_NP:
        if not isinstance(value, GrandmasterSettingsNp):
            raise PtpMgmtError("GRANDMASTER_SETTINGS_NP needs a GrandmasterSettingsNp")
        _check_range("currentUtcOffset", value.utc_offset, -32768, 32767)
        _check_range("time_flags", value.time_flags, 0, 255)
        _check_range("timeSource", value.time_source, 0, 255)
        return _GM_SETTINGS_NP.pack(_pack_quality(value.quality), value.utc_offset, value.time_flags, value.time_source)
    if mgmt_id in _DATUM_IDS:
        v = value.value if isinstance(value, Datum) else value
        _check_range(_id_name(mgmt_id), v, 0, 255)
        return _DATUM.pack(v)
    raise PtpMgmtError(f"SET of {_id_name(mgmt_id)} is not supported by this codec")


def _id_name(mgmt_id: int) -> str:
    try:
        return MgmtId(mgmt_id).name
    except ValueError:
        return f"0x{mgmt_id:04x}"


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
    _check_range("sequenceId", sequence_id, 0, 0xFFFF)
    _check_range("domainNumber", domain, 0, 255)
    _check_range("boundaryHops", boundary_hops, 0, 255)
    _check_range("transportSpecific", transport_specific, 0, 15)
    _check_range("managementId", int(mgmt_id), 0, 0xFFFF)
    _check_range("portNumber", source.port_number, 0, 0xFFFF)
    if len(source.clock_identity) != 8 or len(target.clock_identity) != 8:
        raise PtpMgmtError("a clock identity is 8 octets")
    if data is None:
        data = b"\x00" * DATA_LENGTH.get(mgmt_id, 0) if action is Action.GET else b""  # type: ignore[call-overload]
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


def encode_get(mgmt_id: int, **kw) -> bytes:
    return encode(Action.GET, mgmt_id, **kw)


def encode_set(mgmt_id: int, value, **kw) -> bytes:
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
        value = _decode_data(mgmt_id, body[2:])
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


def encode_response(request: Message, value, source: PortIdentity) -> bytes:
    """A RESPONSE to ``request`` carrying ``value`` (used by tests that stand in for ptp4l)."""
    data = _encode_any(request.mgmt_id, value)
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


def _encode_any(mgmt_id: int, value) -> bytes:
    """Encode every data set this module decodes (test and simulation use)."""
    if mgmt_id in (MgmtId.GRANDMASTER_SETTINGS_NP, *_DATUM_IDS):
        return encode_value(mgmt_id, value)
    if isinstance(value, DefaultDataSet):
        flags = (1 if value.two_step else 0) | (2 if value.slave_only else 0)
        return _DEFAULT_DS.pack(flags, value.number_ports, value.priority1, _pack_quality(value.quality),
                                value.priority2, value.clock_identity, value.domain_number)
    if isinstance(value, CurrentDataSet):
        return _CURRENT_DS.pack(value.steps_removed, round(value.offset_from_master_ns * 65536),
                                round(value.mean_path_delay_ns * 65536))
    if isinstance(value, ParentDataSet):
        p = value.parent_port_identity
        return _PARENT_DS.pack(p.clock_identity, p.port_number, value.parent_stats,
                               value.observed_parent_offset_scaled_log_variance,
                               value.observed_parent_clock_phase_change_rate, value.gm_priority1,
                               _pack_quality(value.gm_quality), value.gm_priority2, value.gm_identity)
    if isinstance(value, TimePropertiesDataSet):
        return _TIME_PROPERTIES_DS.pack(value.current_utc_offset, value.flags, value.time_source)
    if isinstance(value, PortDataSet):
        p = value.port_identity
        return _PORT_DS.pack(p.clock_identity, p.port_number, value.port_state, value.log_min_delay_req_interval,
                             round(value.peer_mean_path_delay_ns * 65536), value.log_announce_interval,
                             value.announce_receipt_timeout, value.log_sync_interval, value.delay_mechanism,
                             value.log_min_pdelay_req_interval, value.version_number)
    if isinstance(value, TimeStatusNp):
        msb, lsb, frac = value.last_gm_phase_change
        return _TIME_STATUS_NP.pack(value.master_offset_ns, value.ingress_time_ns, value.cumulative_scaled_rate_offset,
                                    value.scaled_last_gm_phase_change, value.gm_time_base_indicator, msb, lsb, frac,
                                    1 if value.gm_present else 0, value.gm_identity)
    if value is None:
        return b""
    raise PtpMgmtError(f"cannot encode {type(value).__name__} for {_id_name(mgmt_id)}")
