"""NTP packet codec (RFC 5905 section 7.3, extension fields RFC 7822). Pure: bytes in, values out.

Error strategy (h11's rule): ``parse`` either returns an ``NtpPacket`` or raises ``NtpPacketError``
naming what is wrong; it never raises anything else, whatever the input.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

NTP_HEADER_LEN = 48
NTP_UNIX_EPOCH_DELTA_S = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
NS_PER_S = 1_000_000_000
MAX_STRATUM = 16  # "unsynchronized" (RFC 5905 section 7.3)
# Legacy MAC sizes: key id (4) + MD5 (16) or SHA-1 (20); 4 alone is a crypto-NAK.
LEGACY_MAC_MAX_LEN = 24
MAC_LENGTHS = (
    4,
    20,
    24,
    36,
    52,
    68,
)  # crypto-NAK, MD5/AES-CMAC, SHA1, SHA256, SHA384, SHA512 (chrony sends them whole)
EF_MIN_LEN = 16  # RFC 7822: an extension field followed by a MAC is at least 16 octets
MAX_PACKET_LEN = 1024  # nothing legitimate is longer; larger datagrams are dropped

_HEADER = struct.Struct("!BBbbII4sQQQQ")
_EF_HEADER = struct.Struct("!HH")
_TS = struct.Struct("!Q")


class Mode(IntEnum):
    RESERVED = 0
    SYMMETRIC_ACTIVE = 1
    SYMMETRIC_PASSIVE = 2
    CLIENT = 3
    SERVER = 4
    BROADCAST = 5
    CONTROL = 6
    PRIVATE = 7


class Leap(IntEnum):
    NONE = 0
    ADD_SECOND = 1
    DEL_SECOND = 2
    UNSYNCHRONIZED = 3


class NtpPacketError(ValueError):
    """The datagram is not a well-formed NTP packet; ``reason`` is a short counter label."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class NtpPacket:
    leap: int
    version: int
    mode: int
    stratum: int
    poll: int
    precision: int
    root_delay: int  # raw 16.16 short format
    root_dispersion: int  # raw 16.16 short format
    ref_id: bytes
    ref_ts: int  # raw 64-bit NTP timestamps
    origin_ts: int
    receive_ts: int
    transmit_ts: int
    extensions: tuple[tuple[int, bytes], ...] = ()
    mac: bytes = b""

    def encode(self) -> bytes:
        head = _HEADER.pack(
            (self.leap << 6) | (self.version << 3) | self.mode,
            self.stratum,
            self.poll,
            self.precision,
            self.root_delay,
            self.root_dispersion,
            self.ref_id,
            self.ref_ts,
            self.origin_ts,
            self.receive_ts,
            self.transmit_ts,
        )
        parts = [head]
        for ftype, body in self.extensions:
            parts.append(_EF_HEADER.pack(ftype, len(body) + 4))
            parts.append(body)
        parts.append(self.mac)
        return b"".join(parts)


def parse(data: bytes) -> NtpPacket:
    """Decode one datagram. Raises NtpPacketError (with a counter-friendly reason) if malformed."""
    n = len(data)
    if n < NTP_HEADER_LEN:
        raise NtpPacketError("short", f"{n} bytes, an NTP packet has at least {NTP_HEADER_LEN}")
    if n > MAX_PACKET_LEN:
        raise NtpPacketError("oversized", f"{n} bytes, at most {MAX_PACKET_LEN} accepted")
    (lvm, stratum, poll, precision, rdelay, rdisp, refid, ref, org, rec, xmt) = _HEADER.unpack_from(data)
    version = (lvm >> 3) & 0x7
    if not 1 <= version <= 4:
        raise NtpPacketError("bad_version", f"version {version}, expected 1 to 4")
    extensions, mac = _parse_trailer(data, version)
    return NtpPacket(
        leap=lvm >> 6,
        version=version,
        mode=lvm & 0x7,
        stratum=stratum,
        poll=poll,
        precision=precision,
        root_delay=rdelay,
        root_dispersion=rdisp,
        ref_id=refid,
        ref_ts=ref,
        origin_ts=org,
        receive_ts=rec,
        transmit_ts=xmt,
        extensions=extensions,
        mac=mac,
    )


def _parse_trailer(data: bytes, version: int) -> tuple[tuple[tuple[int, bytes], ...], bytes]:
    """Split what follows the header into extension fields and an optional legacy MAC."""
    rest = len(data) - NTP_HEADER_LEN
    if rest == 0:
        return (), b""
    if version < 4:
        # Before NTPv4 there are no extension fields: only a MAC may follow.
        if rest in MAC_LENGTHS:
            return (), bytes(data[NTP_HEADER_LEN:])
        raise NtpPacketError("bad_extension", f"NTPv{version} packet with {rest} trailing bytes")
    pos = NTP_HEADER_LEN
    end = len(data)
    fields: list[tuple[int, bytes]] = []
    while pos < end:
        left = end - pos
        if left in MAC_LENGTHS and (left <= LEGACY_MAC_MAX_LEN or not _ef_fits(data, pos, left)):
            # A longer trailer is a MAC only if it is not a well-formed extension field (as chrony reads it).
            return tuple(fields), bytes(data[pos:])
        if left < EF_MIN_LEN:
            raise NtpPacketError("bad_extension", f"{left} trailing bytes are neither an extension field nor a MAC")
        ftype, flen = _EF_HEADER.unpack_from(data, pos)
        if flen < EF_MIN_LEN or flen % 4 or flen > left:
            raise NtpPacketError(
                "bad_extension", f"extension field 0x{ftype:04x} has length {flen} with {left} bytes left"
            )
        fields.append((ftype, bytes(data[pos + 4 : pos + flen])))
        pos += flen
    return tuple(fields), b""


def _ef_fits(data: bytes, pos: int, left: int) -> bool:
    flen: int = _EF_HEADER.unpack_from(data, pos)[1]
    return EF_MIN_LEN <= flen <= left and flen % 4 == 0


def ns_to_ntp(unix_ns: int) -> int:
    """Unix time in ns -> 64-bit NTP timestamp (era folded into 32 bits of seconds)."""
    secs, rem = divmod(unix_ns, NS_PER_S)
    frac = (rem << 32) // NS_PER_S
    return (((secs + NTP_UNIX_EPOCH_DELTA_S) & 0xFFFFFFFF) << 32) | frac


def ntp_to_ns(ntp_ts: int, pivot_unix_s: int = 1_700_000_000) -> int:
    """64-bit NTP timestamp -> Unix ns, choosing the era closest to ``pivot_unix_s``."""
    secs = ntp_ts >> 32
    frac = ntp_ts & 0xFFFFFFFF
    unix_s = secs - NTP_UNIX_EPOCH_DELTA_S
    # Resolve the 136-year era ambiguity around the pivot.
    era = 1 << 32
    unix_s += ((pivot_unix_s - unix_s + era // 2) // era) * era
    return unix_s * NS_PER_S + ((frac * NS_PER_S + (1 << 31)) >> 32)


def seconds_to_short(value_s: float) -> int:
    """Seconds -> NTP short format (16.16), rounded up (a bound is never understated) and
    saturated to the field's range."""
    if not value_s > 0:  # also NaN
        return 0
    if value_s >= 65536:
        return 0xFFFFFFFF
    return min(math.ceil(value_s * 65536), 0xFFFFFFFF)


def short_to_seconds(raw: int) -> float:
    return raw / 65536.0


def pack_timestamp(ntp_ts: int) -> bytes:
    return _TS.pack(ntp_ts)
