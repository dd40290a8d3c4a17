"""NTS for NTPv4 (RFC 8915 section 5): the extension fields of an authenticated request and reply.

A request carries a Unique Identifier, one cookie, optional cookie placeholders (one more cookie
wanted each) and, last, the NTS Authenticator: AEAD_AES_SIV_CMAC_256 under the client-to-server
key (C2S, from the cookie) over everything before it. The reply echoes the Unique Identifier and
carries an Authenticator under the server-to-client key (S2C) whose ciphertext holds one fresh
cookie per cookie and placeholder of the request; its associated data is the whole reply before
it, transmit timestamp included, so it is computed when the reply is finished. A cookie the
server cannot open gets an NTS NAK (kiss code NTSN, the Unique Identifier, nothing else); a
request whose Authenticator does not verify gets nothing (chrony does the same).
Pure: nonces and fresh cookies come in as arguments.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from .nts_cookie import COOKIE_BYTES, COOKIE_NONCE_BYTES, CookieError, CookieKeys, open_cookie, seal
from .packet import NTP_HEADER_LEN, NtpPacket

EF_UNIQUE_ID = 0x0104
EF_COOKIE = 0x0204
EF_COOKIE_PLACEHOLDER = 0x0304
EF_AUTHENTICATOR = 0x0404
NTS_FIELDS = frozenset((EF_UNIQUE_ID, EF_COOKIE, EF_COOKIE_PLACEHOLDER, EF_AUTHENTICATOR))
MIN_UNIQUE_ID_BYTES = 32
REPLY_NONCE_BYTES = 16
MAX_COOKIES_PER_REPLY = 8  # as chrony: what a request may ask for with placeholders
NAK_KISS = b"NTSN"
_EF = struct.Struct("!HH")
_AUTH = struct.Struct("!HH")


class NtsError(ValueError):
    """A request that cannot be answered with NTS. ``nak``: answer with an NTS NAK (the cookie
    cannot be opened), else drop it; ``reason`` is the counter label."""

    def __init__(self, reason: str, detail: str, unique_id: bytes | None = None, nak: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.unique_id = unique_id
        self.nak = nak


@dataclass(frozen=True)
class NtsRequest:
    unique_id: bytes
    c2s: bytes
    s2c: bytes
    cookies_wanted: int


def is_nts(pkt: NtpPacket) -> bool:
    return any(ftype in NTS_FIELDS for ftype, _ in pkt.extensions)


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def extension_field(ftype: int, body: bytes) -> bytes:
    padded = body + bytes(_pad4(len(body)) - len(body))
    return _EF.pack(ftype, 4 + len(padded)) + padded


def check_request(data: bytes, pkt: NtpPacket, keys: CookieKeys) -> NtsRequest:
    """The keys and wishes of an NTS request; NtsError saying why it cannot be served."""
    unique_id: bytes | None = None
    cookie: bytes | None = None
    placeholders = 0
    auth: tuple[int, bytes] | None = None  # (offset of the field, its body)
    pos = NTP_HEADER_LEN
    for ftype, body in pkt.extensions:
        if auth is not None:
            raise NtsError("nts_malformed", "an extension field after the NTS Authenticator", unique_id)
        if ftype == EF_UNIQUE_ID:
            if unique_id is not None:
                raise NtsError("nts_malformed", "two Unique Identifiers")
            unique_id = body
        elif ftype == EF_COOKIE:
            if cookie is not None:
                raise NtsError("nts_malformed", "two cookies", unique_id)
            cookie = body
        elif ftype == EF_COOKIE_PLACEHOLDER:
            placeholders += 1
        elif ftype == EF_AUTHENTICATOR:
            auth = (pos, body)
        pos += 4 + len(body)
    if unique_id is None or len(unique_id) < MIN_UNIQUE_ID_BYTES:
        raise NtsError("nts_malformed", f"no Unique Identifier of at least {MIN_UNIQUE_ID_BYTES} bytes")
    if cookie is None or auth is None:
        raise NtsError("nts_malformed", "an NTS request needs a cookie and an Authenticator", unique_id)
    try:
        c2s, s2c = open_cookie(keys, cookie)
    except CookieError as exc:
        raise NtsError("nts_bad_cookie", str(exc), unique_id, nak=True) from None
    offset, body = auth
    nonce, ciphertext = _split_authenticator(body, unique_id)
    try:
        AESSIV(c2s).decrypt(ciphertext, [bytes(data[:offset]), nonce])
    except InvalidTag:
        raise NtsError("nts_bad_auth", "the Authenticator does not verify", unique_id) from None
    return NtsRequest(unique_id, c2s, s2c, min(1 + placeholders, MAX_COOKIES_PER_REPLY))


def _split_authenticator(body: bytes, unique_id: bytes) -> tuple[bytes, bytes]:
    if len(body) < _AUTH.size:
        raise NtsError("nts_malformed", "an Authenticator shorter than its lengths", unique_id)
    nonce_len, ct_len = _AUTH.unpack_from(body)
    start_ct = _AUTH.size + _pad4(nonce_len)
    if nonce_len < 1 or ct_len < 16 or start_ct + ct_len > len(body):
        raise NtsError("nts_malformed", f"Authenticator nonce {nonce_len} / ciphertext {ct_len} bytes", unique_id)
    return body[_AUTH.size : _AUTH.size + nonce_len], body[start_ct : start_ct + ct_len]


def reply_trailer(reply_head: bytes, req: NtsRequest, cookies: list[bytes], nonce: bytes) -> bytes:
    """What follows the finished 48-byte reply: the Unique Identifier and the Authenticator whose
    ciphertext holds ``cookies``."""
    uid = extension_field(EF_UNIQUE_ID, req.unique_id)
    plaintext = b"".join(extension_field(EF_COOKIE, c) for c in cookies)
    ciphertext = AESSIV(req.s2c).encrypt(plaintext, [reply_head + uid, nonce])
    body = _AUTH.pack(len(nonce), len(ciphertext)) + nonce + bytes(_pad4(len(nonce)) - len(nonce)) + ciphertext
    return uid + extension_field(EF_AUTHENTICATOR, body)


def nak_trailer(unique_id: bytes) -> bytes:
    return extension_field(EF_UNIQUE_ID, unique_id)


@dataclass
class NtsServer:
    """What the NTP server needs for NTS: the cookie keys (replaced whole when they rotate) and a
    source of random bytes (nonces)."""

    keys: CookieKeys
    random: Callable[[int], bytes]

    def signer(self, request_len: int, req: NtsRequest) -> Callable[[bytes], bytes]:
        """Appends the NTS fields to the finished reply: as many fresh cookies as were asked for
        and fit, so that the reply is never larger than the request."""
        uid_len = len(extension_field(EF_UNIQUE_ID, req.unique_id))
        room = request_len - NTP_HEADER_LEN - uid_len - 4 - _AUTH.size - REPLY_NONCE_BYTES - 16
        count = max(0, min(req.cookies_wanted, room // (4 + COOKIE_BYTES)))

        def sign(packet: bytes) -> bytes:
            cookies = [seal(self.keys, req.c2s, req.s2c, self.random(COOKIE_NONCE_BYTES)) for _ in range(count)]
            return packet + reply_trailer(packet, req, cookies, self.random(REPLY_NONCE_BYTES))

        return sign
