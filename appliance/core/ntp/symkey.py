"""Symmetric-key MACs for NTP (RFC 5905 keyed hash, RFC 8573 AES-CMAC), as chrony computes them.

A keyfile line is ``ID [TYPE] KEY`` (chrony's ``keyfile``): TYPE is MD5 (the default), SHA1,
SHA256, SHA384, SHA512, AES128 or AES256; KEY is ``HEX:...`` or ASCII (optionally ``ASCII:...``).
A hash MAC is the whole H(key || packet) (chrony 4 sends SHA256's 32 bytes whole, measured with
chronyd 4.3); an AES MAC is the 16-byte CMAC of the packet.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

CRYPTO_NAK = bytes(4)  # a MAC of key id 0 and no digest (RFC 5905 section 7.4)
_HASHES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
_AES_KEY_BYTES = {"AES128": 16, "AES256": 32}
_KEY_ID = struct.Struct("!I")


class KeyfileError(ValueError):
    pass


@dataclass(frozen=True)
class SymmetricKey:
    key_id: int
    kind: str  # one of _HASHES or _AES_KEY_BYTES
    secret: bytes = b""

    def digest(self, data: bytes) -> bytes:
        if self.kind in _AES_KEY_BYTES:
            c = CMAC(algorithms.AES(self.secret))
            c.update(data)
            return c.finalize()
        return hashlib.new(_HASHES[self.kind], self.secret + data).digest()

    def mac(self, data: bytes) -> bytes:
        """The MAC to append to ``data`` (key id, then digest)."""
        return _KEY_ID.pack(self.key_id) + self.digest(data)


def parse_keyfile(text: str, source: str = "keyfile") -> dict[int, SymmetricKey]:
    """Keys by id. Raises KeyfileError naming the file, line and what was wrong."""
    keys: dict[int, SymmetricKey] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source} line {lineno}"
        parts = line.split()
        if len(parts) == 2:
            parts.insert(1, "MD5")
        if len(parts) != 3:
            raise KeyfileError(f"{where}: expected 'ID [TYPE] KEY', got {len(parts)} fields")
        id_text, kind, key_text = parts[0], parts[1].upper(), parts[2]
        if not id_text.isdigit() or not 0 < int(id_text) < 2**32:
            raise KeyfileError(f"{where}: key id {id_text!r} is not an integer from 1 to 4294967295")
        if kind not in _HASHES and kind not in _AES_KEY_BYTES:
            known = ", ".join([*_HASHES, *_AES_KEY_BYTES])
            raise KeyfileError(f"{where}: key type {parts[1]!r} is not one of {known}")
        secret = _secret(key_text, where)
        want = _AES_KEY_BYTES.get(kind)
        if want is not None and len(secret) != want:
            raise KeyfileError(f"{where}: a {kind} key has {want} bytes, this one {len(secret)}")
        key_id = int(id_text)
        if key_id in keys:
            raise KeyfileError(f"{where}: key id {key_id} defined twice")
        keys[key_id] = SymmetricKey(key_id, kind, secret)
    return keys


def _secret(text: str, where: str) -> bytes:
    if text[:4].upper() == "HEX:":
        try:
            secret = bytes.fromhex(text[4:])
        except ValueError:
            raise KeyfileError(f"{where}: the key after HEX: is not hexadecimal") from None
    else:
        secret = (text[6:] if text[:6].upper() == "ASCII:" else text).encode()
    if not secret:
        raise KeyfileError(f"{where}: empty key")
    return secret


class KeyRing:
    """Checks a request's MAC and signs the reply with the same key."""

    def __init__(self, keys: dict[int, SymmetricKey]):
        self.keys = dict(keys)

    def check(self, data: bytes, mac: bytes) -> SymmetricKey | None:
        """The key whose MAC ``mac`` (the packet's trailer, after ``data``) is, or None."""
        if len(mac) < 4 + 16:
            return None
        key = self.keys.get(_KEY_ID.unpack_from(mac)[0])
        if key is None:
            return None
        return key if hmac.compare_digest(key.mac(data), mac) else None
