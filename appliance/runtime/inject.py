"""Fault injection into a simulated node (`appliance sim inject`, the demo's keys): everything is
checked before anything is applied, so a bad request changes nothing."""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("appliance.inject")

LIMITS = {"step_s": 1e6, "freq_ppm": 1e4}


def inject(clock: Any, reference: Any, node: str, req: dict[str, Any]) -> dict[str, Any]:
    from ..sim.phc import SimPhc

    if not isinstance(clock, SimPhc):
        return {"error": "fault injection needs a simulated clock (clock.source: sim)"}
    step_s, freq_ppm, ref = req.get("step_s"), req.get("freq_ppm"), req.get("reference")
    for key, value in (("step_s", step_s), ("freq_ppm", freq_ppm)):
        limit = LIMITS[key]
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or abs(value) > limit
        ):
            return {"error": f"{key}: expected a number within +-{limit:g}, got {value!r}"}
    if ref not in (None, "stop", "start"):
        return {"error": f"reference: expected 'stop' or 'start', got {ref!r}"}
    if ref is not None and reference is None:
        return {"error": "this node has no simulated reference (clock.sim.reference: false)"}
    if step_s is None and freq_ppm is None and ref is None:
        return {"error": "nothing to inject: give step_s, freq_ppm or reference"}
    applied: dict[str, Any] = {}
    if ref == "stop":
        reference.stop()
        applied["reference"] = "stopped"
    elif ref == "start":
        reference.start()
        applied["reference"] = "started"
    if freq_ppm is not None:
        clock.inject_frequency_error_ppb(freq_ppm * 1e3)
        applied["freq_ppm"] = freq_ppm
    if step_s is not None:
        clock.step(int(round(step_s * 1e9)))  # a fault: not one of the node's own steps
        applied["step_s"] = step_s
    log.warning("fault injected: %s", ", ".join(f"{k} {v}" for k, v in applied.items()))
    return {"ok": True, "node": node, "applied": applied}
