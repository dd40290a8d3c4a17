"""`status` (control socket, /metrics, diagnose): the node's immutable snapshot of its last tick,
with what only the shell knows (counters of the NTP thread, ptp4l, the peers' polling, ticks).

The field names are a contract (scripts, metrics and diagnose read them). Units are in the names;
``clock.freq_ppb`` is the frequency *correction* applied (positive speeds the clock up; see
appliance.core.units) and ``clock.freq_offset_ppb`` the oscillator's frequency offset it reveals (the
opposite: positive = the oscillator runs fast), so that nobody has to remember which is which.
"""

from __future__ import annotations

import time
from typing import Any

from .. import __version__
from ..core.node_types import Snapshot
from ..core.units import offset_of

_NO_VOTE = {"offset_s": None, "delay_s": None, "jitter_s": None, "distance_s": None, "samples": 0, "vote": "no_data"}


def _listen(addresses: list[tuple[str, int]]) -> list[str]:
    return [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in addresses]


def compose(
    *,
    node: str,
    clock_source: str,
    clock_info: Any,
    started_s: float,
    snapshot: Snapshot | None,
    ntp: dict[str, Any],
    stratum: int,
    listen: list[tuple[str, int]],
    ptp: dict[str, Any],
    processes: dict[str, Any],
    peers: list[dict[str, Any]],
    tick: dict[str, Any],
    bootstrap: dict[str, Any] | None = None,
    leap: dict[str, Any] | None = None,
    upstream: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    nts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    s = snapshot
    reading = s.reading if s else None
    return {
        "version": __version__,
        "node": node,
        "uptime_s": round(time.time() - started_s, 3),
        "clock": {
            "source": clock_source,
            "name": clock_info.name if clock_info else None,
            "timescale": clock_info.timescale if clock_info else None,
            "freq_ppb": s.freq_correction_ppb if s else None,
            "freq_offset_ppb": offset_of(s.freq_correction_ppb) if s and s.freq_correction_ppb is not None else None,
            "offset_to_system_ns": reading.offset_ns if reading else None,
            "offset_method": reading.method if reading else "",
            "temperature_c": s.temperature_c if s else None,
        },
        "sync": {
            "state": s.state.value if s else "starting",
            "healthy": bool(s and s.healthy),
            "error_bound_s": s.error_bound_s if s else None,
            "reference": s.reference if s else None,
            "offset_ns": s.offset_ns if s else None,
            "reference_source": s.reference_source if s else None,
            "reference_suspect": bool(s and s.reference_suspect),
            "events": [dict(e) for e in s.events] if s else [],
        },
        "ptp": ptp,
        "processes": processes,
        "tempcomp": dict(s.tempcomp) if s and s.tempcomp is not None else None,
        "ntp": {"listen": _listen(listen), "stratum": stratum, **ntp},
        "served": {
            "monotonic": bool(s and s.served_monotonic),
            "correction_s": s.served_correction_ns * 1e-9 if s else 0.0,  # clock - served
            "error_bound_s": s.served_bound_s if s else None,
            "unsynchronized_reason": s.unsynchronized_reason if s else "starting",
        },
        "crosscheck": dict(s.crosscheck) if s else {"enabled": False},
        "peers": [{**row, **_NO_VOTE, **(dict(s.peers.get(row["name"], {})) if s else {})} for row in peers],
        "tick": tick,
        "bootstrap": bootstrap or {"bootstrapped": None},
        "leap_seconds": leap,
        "upstream": upstream,
        "state": state,
        "nts": nts,
    }
