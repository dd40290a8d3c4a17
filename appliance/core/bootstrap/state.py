"""Whether a starting node may trust its clock, pure: from the last-known-good record, the latest
applied bootstrap record and the current boot.

A node whose clock has no reference, no bootstrap record that still holds and no last-known-good
from this boot must not claim stratum 1 (appliance.core.node answers leap 3 and says "not
bootstrapped"). A bootstrap record holds for a PHC in the boot it was applied in (a NIC's PHC is
set again by its driver at the next boot) and for the simulated clock always (its offset is
re-applied at every start: appliance.sim.factory). Whatever the boot, the node never serves a time
earlier than its last-known-good: that is its floor (``not_before_ns``).

Records are plain dicts as read from JSON; a malformed one counts as absent and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .evidence import iso

LASTGOOD_KEYS = {
    "served_ns": int,
    "error_bound_s": (int, float),
    "boot_id": str,
    "boottime_ns": int,
    "monotonic_ns": int,
}
RECORD_KEYS = {"time_ns": int, "boot_id": str, "clock_kind": str}


def valid_lastgood(d: Any) -> str | None:
    """None when ``d`` is a usable last-known-good record, else what is wrong with it."""
    return _check(d, LASTGOOD_KEYS)


def valid_record(d: Any) -> str | None:
    return _check(d, RECORD_KEYS)


def _check(d: Any, keys: dict[str, Any]) -> str | None:
    if not isinstance(d, dict):
        return "not a JSON object"
    for key, kind in keys.items():
        v = d.get(key)
        if v is None or isinstance(v, bool) or not isinstance(v, kind):
            return f"{key}: missing or not a {getattr(kind, '__name__', 'number')}"
    return None


@dataclass(frozen=True)
class StartState:
    bootstrapped: bool
    why: str  # what vouches for the clock, or why nothing does
    not_before_ns: int = 0  # served time is never earlier than this (0: no floor)


def start_state(boot_id: str, clock_kind: str, lastgood: Any, record: Any, required: bool = True) -> StartState:
    """``clock_kind`` "phc" | "sim"; ``lastgood`` / ``record`` the parsed files (None: absent)."""
    floor = 0
    lkg_ok = lastgood is not None and valid_lastgood(lastgood) is None
    if lkg_ok:
        floor = int(lastgood["served_ns"])
    if not required:
        return StartState(True, "bootstrap.required is false", floor)
    if lkg_ok and lastgood["boot_id"] == boot_id:
        return StartState(True, f"last-known-good {iso(floor)} from this boot", floor)
    if record is not None and valid_record(record) is None:
        if record["clock_kind"] == "sim" and clock_kind == "sim":
            return StartState(True, f"bootstrapped to {iso(record['time_ns'])} (simulated clock offset)", floor)
        if record["clock_kind"] == clock_kind and record["boot_id"] == boot_id:
            return StartState(True, f"bootstrapped to {iso(record['time_ns'])} in this boot", floor)
    if lkg_ok:
        return StartState(False, f"the last-known-good {iso(floor)} is from an earlier boot", floor)
    return StartState(False, "no bootstrap record and no last-known-good", floor)
