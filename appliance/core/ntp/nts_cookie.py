"""NTS cookies (RFC 8915 section 6): the client's two keys, sealed by the server for itself.

A cookie is ``key id (4) || nonce (16) || AES-SIV(C2S || S2C)``, sealed with one of the server's
cookie keys (AEAD_AES_SIV_CMAC_512: 64-byte keys) with the key id as associated data. Only a
server that holds the key opens it, so the server keeps no per-client state; the keys rotate and
the previous ones stay accepted for a grace period (appliance.runtime.nts_keys keeps them).
Pure: nonces come in as arguments.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

COOKIE_KEY_BYTES = 64
COOKIE_NONCE_BYTES = 16
C2S_S2C_BYTES = 32  # each of the two AEAD_AES_SIV_CMAC_256 keys
_KEY_ID = struct.Struct("!I")
COOKIE_BYTES = _KEY_ID.size + COOKIE_NONCE_BYTES + 2 * C2S_S2C_BYTES + 16  # 16: the SIV tag


class CookieError(ValueError):
    """A cookie this server cannot open: unknown (expired) key, wrong length or forged."""


@dataclass(frozen=True)
class CookieKeys:
    """The server's cookie keys by id; ``current`` seals, every one of them opens."""

    keys: dict[int, bytes]
    current: int

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"current cookie key {self.current} is not among the keys")
        for key_id, key in self.keys.items():
            if len(key) != COOKIE_KEY_BYTES:
                raise ValueError(f"cookie key {key_id} has {len(key)} bytes, expected {COOKIE_KEY_BYTES}")


def seal(keys: CookieKeys, c2s: bytes, s2c: bytes, nonce: bytes) -> bytes:
    if len(c2s) != C2S_S2C_BYTES or len(s2c) != C2S_S2C_BYTES or len(nonce) != COOKIE_NONCE_BYTES:
        raise ValueError("seal: two 32-byte keys and a 16-byte nonce")
    key_id = _KEY_ID.pack(keys.current)
    return key_id + nonce + AESSIV(keys.keys[keys.current]).encrypt(c2s + s2c, [key_id, nonce])


def open_cookie(keys: CookieKeys, cookie: bytes) -> tuple[bytes, bytes]:
    """(C2S, S2C) from a cookie; CookieError if it is not one of this server's."""
    if len(cookie) != COOKIE_BYTES:
        raise CookieError(f"cookie of {len(cookie)} bytes, this server's are {COOKIE_BYTES}")
    key_id = cookie[: _KEY_ID.size]
    key = keys.keys.get(_KEY_ID.unpack(key_id)[0])
    if key is None:
        raise CookieError("cookie sealed with a key this server no longer (or never) had")
    nonce = cookie[_KEY_ID.size : _KEY_ID.size + COOKIE_NONCE_BYTES]
    try:
        plain = AESSIV(key).decrypt(cookie[_KEY_ID.size + COOKIE_NONCE_BYTES :], [key_id, nonce])
    except InvalidTag:
        raise CookieError("cookie does not open with its key (forged or damaged)") from None
    return plain[:C2S_S2C_BYTES], plain[C2S_S2C_BYTES:]
