"""The served-time state as one fixed-size record: what serving workers read from shared memory.

The node publishes a ``TimeMap`` and a ``ServerState`` together; a worker process decodes both
from the same bytes, so every worker converts a kernel timestamp to the same served time. Pure:
the shared memory and its sequence lock live in the adapter (appliance.ntp.shared)."""

from __future__ import annotations

import math
import struct

from ..clock.timemap import TimeMap
from .answer import ServerState
from .packet import Leap

# TimeMap: anchor_system_ns, offset_ns, rate_ppb, correction_ns, slew_ppb.
# ServerState: synchronized, stratum, ref_id, ref_time_ns, root_delay_s, root_dispersion_s,
# precision_log2, leap, dispersion_anchor_ns, dispersion_rate, max_dispersion_s (NaN: none).
_RECORD = struct.Struct("<qqdqd?B4sqddbBqdd")
RECORD_BYTES = _RECORD.size


def encode(timemap: TimeMap, state: ServerState) -> bytes:
    return _RECORD.pack(
        timemap.anchor_system_ns,
        timemap.offset_ns,
        timemap.rate_ppb,
        timemap.correction_ns,
        timemap.slew_ppb,
        state.synchronized,
        state.stratum,
        state.ref_id,
        state.ref_time_ns,
        state.root_delay_s,
        state.root_dispersion_s,
        state.precision_log2,
        int(state.leap),
        state.dispersion_anchor_ns,
        state.dispersion_rate,
        math.nan if state.max_dispersion_s is None else state.max_dispersion_s,
    )


def decode(record: bytes) -> tuple[TimeMap, ServerState]:
    (anchor, offset, rate, correction, slew, sync, stratum, ref_id, ref_time, rdelay, rdisp, precision, leap,
     disp_anchor, disp_rate, max_disp) = _RECORD.unpack(record)  # fmt: skip
    timemap = TimeMap(anchor, offset, rate, correction, slew)
    state = ServerState(
        synchronized=sync,
        stratum=stratum,
        ref_id=ref_id,
        ref_time_ns=ref_time,
        root_delay_s=rdelay,
        root_dispersion_s=rdisp,
        precision_log2=precision,
        leap=Leap(leap),
        dispersion_anchor_ns=disp_anchor,
        dispersion_rate=disp_rate,
        max_dispersion_s=None if math.isnan(max_disp) else max_disp,
    )
    return timemap, state
