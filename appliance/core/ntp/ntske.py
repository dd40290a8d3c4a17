"""NTS Key Establishment (RFC 8915 section 4): the records, and the server's answer to a request.

A record is ``C|type (16 bits, C = critical) || body length (16) || body``. A client sends NTS Next
Protocol Negotiation (NTPv4 = 0), AEAD Algorithm Negotiation (AEAD_AES_SIV_CMAC_256 = 15) and End
of Message; the server answers with the protocol and algorithm it chose, eight New Cookie records
and End of Message (with the NTP server and port when they are not the KE server's address and
123). An unrecognized critical record gets Error 0, a request without the negotiation records or
cut short gets Error 1; an offer with nothing this server speaks gets the empty negotiation record.
The keys come from the TLS exporter (``export``), so this stays free of TLS. Pure.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

REC_END = 0
REC_NEXT_PROTOCOL = 1
REC_ERROR = 2
REC_WARNING = 3
REC_AEAD = 4
REC_NEW_COOKIE = 5
REC_SERVER = 6
REC_PORT = 7
KNOWN_RECORDS = frozenset(
    (REC_END, REC_NEXT_PROTOCOL, REC_ERROR, REC_WARNING, REC_AEAD, REC_NEW_COOKIE, REC_SERVER, REC_PORT)
)
CRITICAL = 0x8000
PROTOCOL_NTPV4 = 0
AEAD_AES_SIV_CMAC_256 = 15
ERROR_UNRECOGNIZED_CRITICAL = 0
ERROR_BAD_REQUEST = 1
ERROR_INTERNAL = 2
COOKIES_PER_KE = 8
NTSKE_PORT = 4460
EXPORTER_LABEL = b"EXPORTER-network-time-security"
KEY_BYTES = 32  # AEAD_AES_SIV_CMAC_256
MAX_REQUEST_BYTES = 4096  # a client's request is a few records
_HEAD = struct.Struct("!HH")
Export = Callable[[bytes], bytes]  # the TLS exporter: context -> KEY_BYTES of key


class NtskeError(ValueError):
    """Bytes that are not a sequence of NTS-KE records."""


@dataclass(frozen=True)
class Record:
    rtype: int
    critical: bool
    body: bytes


def encode_record(rtype: int, body: bytes = b"", critical: bool = False) -> bytes:
    if len(body) > 0xFFFF:
        raise ValueError(f"record body of {len(body)} bytes")
    return _HEAD.pack(rtype | (CRITICAL if critical else 0), len(body)) + body


def decode_records(data: bytes) -> tuple[list[Record], bool]:
    """(the whole records in ``data``, whether End of Message was among them); NtskeError for
    bytes after End of Message. A record cut short is left for more data (not in the list)."""
    records: list[Record] = []
    pos = 0
    while pos + _HEAD.size <= len(data):
        head, length = _HEAD.unpack_from(data, pos)
        if pos + _HEAD.size + length > len(data):
            break
        rec = Record(head & ~CRITICAL, bool(head & CRITICAL), bytes(data[pos + _HEAD.size : pos + _HEAD.size + length]))
        records.append(rec)
        pos += _HEAD.size + length
        if rec.rtype == REC_END:
            if pos != len(data):
                raise NtskeError(f"{len(data) - pos} bytes after End of Message")
            return records, True
    return records, False


def exporter_context(aead: int, server_to_client: bool) -> bytes:
    """The TLS exporter context of one of the two keys (RFC 8915 section 5.1)."""
    return struct.pack("!HHB", PROTOCOL_NTPV4, aead, 1 if server_to_client else 0)


def _ids(body: bytes) -> list[int]:
    if len(body) % 2:
        raise NtskeError(f"a list of 16-bit ids of {len(body)} bytes")
    return [v for (v,) in struct.iter_unpack("!H", body)]


def _error(code: int) -> bytes:
    return encode_record(REC_ERROR, struct.pack("!H", code), critical=True) + encode_record(REC_END, critical=True)


def respond(
    data: bytes,
    export: Export,
    make_cookie: Callable[[bytes, bytes], bytes],
    ntp_server: str | None = None,
    ntp_port: int = 123,
) -> bytes:
    """The server's whole answer to a client's whole request (ending with End of Message).
    ``export(context)`` is the TLS exporter for ``KEY_BYTES``; ``make_cookie(c2s, s2c)`` seals."""
    try:
        records, complete = decode_records(data)
    except NtskeError:
        return _error(ERROR_BAD_REQUEST)
    if not complete:
        return _error(ERROR_BAD_REQUEST)
    protocols: list[int] | None = None
    aeads: list[int] | None = None
    try:
        for rec in records:
            if rec.rtype == REC_NEXT_PROTOCOL:
                if protocols is not None:
                    return _error(ERROR_BAD_REQUEST)
                protocols = _ids(rec.body)
            elif rec.rtype == REC_AEAD:
                if aeads is not None:
                    return _error(ERROR_BAD_REQUEST)
                aeads = _ids(rec.body)
            elif rec.rtype in (REC_ERROR, REC_NEW_COOKIE):
                return _error(ERROR_BAD_REQUEST)  # a client does not send these
            elif rec.rtype not in KNOWN_RECORDS and rec.critical:
                return _error(ERROR_UNRECOGNIZED_CRITICAL)
    except NtskeError:
        return _error(ERROR_BAD_REQUEST)
    if protocols is None:
        return _error(ERROR_BAD_REQUEST)
    if PROTOCOL_NTPV4 not in protocols:
        return encode_record(REC_NEXT_PROTOCOL, b"", critical=True) + encode_record(REC_END, critical=True)
    if aeads is None:
        return _error(ERROR_BAD_REQUEST)
    out = [encode_record(REC_NEXT_PROTOCOL, struct.pack("!H", PROTOCOL_NTPV4), critical=True)]
    if AEAD_AES_SIV_CMAC_256 not in aeads:
        out.append(encode_record(REC_AEAD, b"", critical=True))
        out.append(encode_record(REC_END, critical=True))
        return b"".join(out)
    out.append(encode_record(REC_AEAD, struct.pack("!H", AEAD_AES_SIV_CMAC_256), critical=True))
    if ntp_server is not None:
        out.append(encode_record(REC_SERVER, ntp_server.encode("ascii"), critical=True))
    if ntp_port != 123:
        out.append(encode_record(REC_PORT, struct.pack("!H", ntp_port), critical=True))
    c2s = export(exporter_context(AEAD_AES_SIV_CMAC_256, False))
    s2c = export(exporter_context(AEAD_AES_SIV_CMAC_256, True))
    for _ in range(COOKIES_PER_KE):
        out.append(encode_record(REC_NEW_COOKIE, make_cookie(c2s, s2c)))
    out.append(encode_record(REC_END, critical=True))
    return b"".join(out)
