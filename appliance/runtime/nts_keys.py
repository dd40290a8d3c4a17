"""The NTS cookie keys: made, rotated every ntp.nts.rotate_s, and kept so that a restart does not
invalidate the cookies clients hold.

Without ntp.nts.shared_key each node keeps its own random keys in ``node.state_dir/nts-cookie-keys.json``
(written atomically; an unusable file is set aside and new keys made, which costs the clients one
NTS-KE). With it, the key of each rotation period is derived from the shared secret (HKDF-SHA256
over the period's number), so the three control nodes hold the same keys without talking and a
cookie from one opens on the others; nothing is written. Either way the current key and the
``keep_keys - 1`` before it open cookies.
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..core.ntp.nts_cookie import COOKIE_KEY_BYTES, CookieKeys
from .atomic import atomic_write_json
from .state_files import StateFiles

log = logging.getLogger("appliance.nts")

FILE = "nts-cookie-keys.json"
MIN_SHARED_KEY_BYTES = 32


class NtsKeyError(Exception):
    """The shared key cannot be used (unreadable, too short)."""


def derived_key(secret: bytes, period: int) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=COOKIE_KEY_BYTES,
        salt=None,
        info=b"appliance nts cookie key" + struct.pack("!Q", period),
    ).derive(secret)


def read_shared_key(path: Path) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise NtsKeyError(f"ntp.nts.shared_key {path}: {exc.strerror}") from None
    if len(secret) < MIN_SHARED_KEY_BYTES:
        raise NtsKeyError(
            f"ntp.nts.shared_key {path}: {len(secret)} bytes, at least {MIN_SHARED_KEY_BYTES} "
            "(e.g. `head -c 48 /dev/urandom | base64 > FILE`, the same file on every control node)"
        )
    return secret


class CookieKeyStore:
    def __init__(
        self,
        state_dir: Path,
        rotate_s: float,
        keep: int,
        shared_secret: bytes | None = None,
        files: StateFiles | None = None,
    ):
        self.path = Path(state_dir) / FILE
        self.rotate_s = rotate_s
        self.keep = keep
        self.secret = shared_secret
        self.files = files if files is not None else StateFiles(state_dir)
        self._records: list[dict[str, Any]] = []  # own keys: {"id", "created_s", "key"} oldest first
        self.rotations = 0

    def keys(self, wall_s: float) -> CookieKeys:
        """The keys at ``wall_s``, rotating (and keeping) first when the current one is due."""
        if self.secret is not None:
            period = int(wall_s // self.rotate_s)
            ids = range(max(0, period - self.keep + 1), period + 1)
            return CookieKeys({i & 0xFFFFFFFF: derived_key(self.secret, i) for i in ids}, period & 0xFFFFFFFF)
        if not self._records:
            self._records = self._load()
        if not self._records or wall_s - self._records[-1]["created_s"] >= self.rotate_s:
            self._rotate(wall_s)
        return CookieKeys({r["id"]: bytes.fromhex(r["key"]) for r in self._records}, self._records[-1]["id"])

    def due_s(self, wall_s: float) -> float:
        """Seconds until the next rotation."""
        if self.secret is not None:
            return (math.floor(wall_s / self.rotate_s) + 1) * self.rotate_s - wall_s
        if not self._records:
            return 0.0
        return max(0.0, self._records[-1]["created_s"] + self.rotate_s - wall_s)

    def _rotate(self, wall_s: float) -> None:
        next_id = (self._records[-1]["id"] + 1) & 0xFFFFFFFF if self._records else int.from_bytes(os.urandom(4))
        self._records = [
            *self._records,
            {"id": next_id, "created_s": wall_s, "key": os.urandom(COOKIE_KEY_BYTES).hex()},
        ]
        self._records = self._records[-self.keep :]
        self.rotations += 1
        data = {"version": 1, "keys": self._records}
        if self.files.write(FILE, lambda: atomic_write_json(self.path, data)):
            log.info("nts: cookie key %d in use (%d kept)", next_id, len(self._records))

    def _load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            self.files.set_aside(self.path, f"unreadable: {exc}")
            return []
        try:
            records = data["keys"]
            out = []
            for r in records:
                key = bytes.fromhex(r["key"])
                if len(key) != COOKIE_KEY_BYTES or not isinstance(r["id"], int) or not 0 <= r["id"] <= 0xFFFFFFFF:
                    raise ValueError(f"key {r.get('id')!r} is not a {COOKIE_KEY_BYTES}-byte key with a 32-bit id")
                out.append({"id": r["id"], "created_s": float(r["created_s"]), "key": r["key"]})
            if not out:
                raise ValueError("no keys")
        except (KeyError, TypeError, ValueError) as exc:
            self.files.set_aside(self.path, f"not a cookie key file: {exc}")
            return []
        return out[-self.keep :]
