"""The PTP data sets the appliance reads and sets through management messages, and the codec of a
MANAGEMENT TLV's data field (IEEE 1588-2019 clause 15.5.3), sans-I/O. The message around it (header,
TLV framing) is mgmt.py.

Layouts follow IEEE 1588-2019 clause 8.2 (defaultDS 8.2.1, currentDS 8.2.2, parentDS 8.2.3,
timePropertiesDS 8.2.4, portDS 8.2.15) as linuxptp packs them (ds.h); TIME_STATUS_NP (0xC000),
GRANDMASTER_SETTINGS_NP (0xC001) and SYNCHRONIZATION_UNCERTAIN_NP (0xC006) are linuxptp's own
(tlv.h). ``currentDS.offsetFromMaster`` and ``meanPathDelay`` are TimeInterval: ns * 2^16.

PtpMgmtError is the one error of both modules: a data field that does not decode raises it here,
and decode() lets it through as the message's error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class PtpMgmtError(ValueError):
    """A management message could not be encoded or decoded; the message says why."""


# --- constants (linuxptp tlv.h / ds.h; IEEE 1588-2019 Tables 20, 37, 59) ----------------------


class MgmtId(IntEnum):
    """managementId: which data set a MANAGEMENT TLV carries."""

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

# Keyed by the ids as ints (MgmtId is an IntEnum): looked up with any id off the wire.
DATA_LENGTH: dict[int, int] = {
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
    check_range("clockClass", q.clock_class, 0, 255)
    check_range("clockAccuracy", q.clock_accuracy, 0, 255)
    check_range("offsetScaledLogVariance", q.offset_scaled_log_variance, 0, 0xFFFF)
    return _QUALITY.pack(q.clock_class, q.clock_accuracy, q.offset_scaled_log_variance)


def check_range(name: str, v: object, lo: int, hi: int) -> None:
    """PtpMgmtError naming the field unless ``v`` is an integer (not a bool) in lo..hi."""
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise PtpMgmtError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")


def _port_identity(b: bytes, number: int) -> PortIdentity:
    return PortIdentity(bytes(b), number)


def decode_data(mgmt_id: int, data: bytes) -> object | None:
    """The data field of a MANAGEMENT TLV -> value; None for an empty body or an id we do not decode."""
    if not data:
        return None
    want = DATA_LENGTH.get(mgmt_id)
    if want is None:
        return None  # an id the appliance does not use: carried, not interpreted
    if len(data) != want:
        raise PtpMgmtError(f"{id_name(mgmt_id)}: data is {len(data)} octets, expected {want}")
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


def encode_value(mgmt_id: int, value: object) -> bytes:
    """The data field for a SET of ``mgmt_id`` (the ids the appliance sets)."""
    if mgmt_id == MgmtId.GRANDMASTER_SETTINGS_NP:
        if not isinstance(value, GrandmasterSettingsNp):
            raise PtpMgmtError("GRANDMASTER_SETTINGS_NP needs a GrandmasterSettingsNp")
        check_range("currentUtcOffset", value.utc_offset, -32768, 32767)
        check_range("time_flags", value.time_flags, 0, 255)
        check_range("timeSource", value.time_source, 0, 255)
        return _GM_SETTINGS_NP.pack(_pack_quality(value.quality), value.utc_offset, value.time_flags, value.time_source)
    if mgmt_id in _DATUM_IDS:
        v = value.value if isinstance(value, Datum) else value
        check_range(id_name(mgmt_id), v, 0, 255)
        return _DATUM.pack(v)
    raise PtpMgmtError(f"SET of {id_name(mgmt_id)} is not supported by this codec")


def id_name(mgmt_id: int) -> str:
    """The managementId's name for messages, or its number when it is not one we know."""
    try:
        return MgmtId(mgmt_id).name
    except ValueError:
        return f"0x{mgmt_id:04x}"


def encode_data(mgmt_id: int, value: object) -> bytes:
    """Encode every data set this module decodes (test and simulation use)."""
    if mgmt_id in (MgmtId.GRANDMASTER_SETTINGS_NP, *_DATUM_IDS):
        return encode_value(mgmt_id, value)
    if isinstance(value, DefaultDataSet):
        flags = (1 if value.two_step else 0) | (2 if value.slave_only else 0)
        return _DEFAULT_DS.pack(
            flags,
            value.number_ports,
            value.priority1,
            _pack_quality(value.quality),
            value.priority2,
            value.clock_identity,
            value.domain_number,
        )
    if isinstance(value, CurrentDataSet):
        return _CURRENT_DS.pack(
            value.steps_removed, round(value.offset_from_master_ns * 65536), round(value.mean_path_delay_ns * 65536)
        )
    if isinstance(value, ParentDataSet):
        p = value.parent_port_identity
        return _PARENT_DS.pack(
            p.clock_identity,
            p.port_number,
            value.parent_stats,
            value.observed_parent_offset_scaled_log_variance,
            value.observed_parent_clock_phase_change_rate,
            value.gm_priority1,
            _pack_quality(value.gm_quality),
            value.gm_priority2,
            value.gm_identity,
        )
    if isinstance(value, TimePropertiesDataSet):
        return _TIME_PROPERTIES_DS.pack(value.current_utc_offset, value.flags, value.time_source)
    if isinstance(value, PortDataSet):
        p = value.port_identity
        return _PORT_DS.pack(
            p.clock_identity,
            p.port_number,
            value.port_state,
            value.log_min_delay_req_interval,
            round(value.peer_mean_path_delay_ns * 65536),
            value.log_announce_interval,
            value.announce_receipt_timeout,
            value.log_sync_interval,
            value.delay_mechanism,
            value.log_min_pdelay_req_interval,
            value.version_number,
        )
    if isinstance(value, TimeStatusNp):
        msb, lsb, frac = value.last_gm_phase_change
        return _TIME_STATUS_NP.pack(
            value.master_offset_ns,
            value.ingress_time_ns,
            value.cumulative_scaled_rate_offset,
            value.scaled_last_gm_phase_change,
            value.gm_time_base_indicator,
            msb,
            lsb,
            frac,
            1 if value.gm_present else 0,
            value.gm_identity,
        )
    if value is None:
        return b""
    raise PtpMgmtError(f"cannot encode {type(value).__name__} for {id_name(mgmt_id)}")
