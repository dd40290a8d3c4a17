"""The IERS/NIST leap-seconds.list, pure: parse it, verify its hash, and answer TAI - UTC at an
instant and when the file stops being valid.

Format (the file's own header and the IERS README): times are NTP seconds (since 1900-01-01);
``#$`` the last update, ``#@`` the expiry, ``#h`` the SHA-1 of the data, and one data line per
change: ``<NTP seconds> <TAI - UTC>  # comment``. The hash is taken over the digits of the ``#$``
and ``#@`` values and of the first two fields of every data line, concatenated in file order with
all white space and comments left out; ``#h`` writes it as five groups of hexadecimal digits, each
group a 32-bit word whose leading zeros some copies drop.

A site that never sees the internet keeps the copy its image shipped with until someone brings a
new one: past its expiry the file no longer says whether a leap second was announced since. The
offset it gives is still the last one known (nothing about the past changes), so the appliance
keeps using it, and says that it has expired (diagnose ``leap-seconds``, the metric
``appliance_leap_file_expiry_timestamp_seconds`` and its alert).
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


class LeapFileError(ValueError):
    """The file cannot be trusted; the message says why."""


@dataclass(frozen=True)
class LeapTable:
    updated_unix_s: int
    expires_unix_s: int
    changes: tuple[tuple[int, int], ...]  # (unix seconds from which it holds, TAI - UTC), ascending
    sha1: str

    def tai_utc_s(self, unix_s: float) -> int:
        """TAI - UTC at that instant (the first entry's value before it)."""
        starts = [t for t, _ in self.changes]
        i = bisect_right(starts, unix_s) - 1
        return self.changes[max(i, 0)][1]

    @property
    def latest_tai_utc_s(self) -> int:
        return self.changes[-1][1]

    def expired(self, unix_s: float) -> bool:
        return unix_s >= self.expires_unix_s

    def days_left(self, unix_s: float) -> float:
        return (self.expires_unix_s - unix_s) / 86_400


def _word(group: str) -> str:
    g = group.lower()
    if not g or len(g) > 8 or any(c not in "0123456789abcdef" for c in g):
        raise LeapFileError(f"#h: {group!r} is not a hexadecimal word")
    return g.zfill(8)


# ASCII digits only: str.isdigit() also takes "²", which int() refuses.
_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")


def parse(text: str) -> LeapTable:
    """The verified table; LeapFileError naming what is wrong (a missing line, a bad hash)."""
    updated = expires = None
    digest_in: list[str] = []
    want_hash: str | None = None
    changes: list[tuple[int, int]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#$") or line.startswith("#@"):
            fields = line[2:].split()
            if not fields or not _UNSIGNED.fullmatch(fields[0]):
                raise LeapFileError(f"line {n}: {line[:2]} without a number of NTP seconds")
            value = int(fields[0])
            digest_in.append(fields[0])
            if line.startswith("#$"):
                updated = value
            else:
                expires = value
            continue
        if line.startswith("#h"):
            want_hash = "".join(_word(g) for g in line[2:].split())
            continue
        if line.startswith("#"):
            continue
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not _UNSIGNED.fullmatch(fields[0]) or not _SIGNED.fullmatch(fields[1]):
            raise LeapFileError(f"line {n}: expected '<NTP seconds> <TAI-UTC>', got {raw.strip()[:60]!r}")
        digest_in.extend(fields[:2])
        changes.append((int(fields[0]) - NTP_UNIX_OFFSET_S, int(fields[1])))
    if updated is None:
        raise LeapFileError("no '#$' line (last update)")
    if expires is None:
        raise LeapFileError("no '#@' line (expiry)")
    if not changes:
        raise LeapFileError("no leap second entries")
    if want_hash is None:
        raise LeapFileError("no '#h' line: the file cannot be verified")
    if len(want_hash) != 40:
        raise LeapFileError(f"#h: expected 5 words of SHA-1, got {len(want_hash) // 8}")
    got = hashlib.sha1("".join(digest_in).encode(), usedforsecurity=False).hexdigest()
    if got != want_hash:
        raise LeapFileError(
            f"hash mismatch: the file says {want_hash}, its content hashes to {got} "
            "(damaged or edited: get a fresh copy from IERS/NIST or tzdata)"
        )
    if sorted(changes) != changes:
        raise LeapFileError("the entries are not in time order")
    return LeapTable(updated - NTP_UNIX_OFFSET_S, expires - NTP_UNIX_OFFSET_S, tuple(changes), got)
