"""What the PTP watch reports in `status`: ptp4l as observed, and what this node advertises. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .datasets import clock_id_str
from .states import PtpState

if TYPE_CHECKING:
    from .watch import PtpWatch


def observed(w: PtpWatch, own_identity: bytes | None) -> dict[str, Any]:
    """The status keys that describe ptp4l as observed (role .. steps_removed)."""
    state = w.machine.state
    following = state is PtpState.FOLLOWING
    port, parent, cur, ts = w.port_ds, w.parent_ds, w.current_ds, w.time_status
    last = w._last_sample
    return {
        "role": w.machine.role,
        "state": state.value,
        "port_state": port.state_name if port and state is not PtpState.INIT else None,
        "gm_identity": clock_id_str(parent.gm_identity) if parent and state is not PtpState.INIT else None,
        "clock_identity": clock_id_str(own_identity) if own_identity else None,
        "offset_ns": last[1] if following and last else None,
        "path_delay_ns": cur.mean_path_delay_ns if following and cur else None,
        "gm_present": bool(ts.gm_present) if ts else None,
        "steps_removed": cur.steps_removed if cur else None,
    }


def settings(w: PtpWatch) -> dict[str, Any]:
    """The status keys that describe what this node advertises (priority1 .. sync_uncertain)."""
    gm = w.applied_settings.get("grandmaster_settings")
    parent = w.parent_ds
    p2 = w.priority2
    return {
        "priority1": w.applied_settings.get("priority1"),
        "priority2": w.applied_settings.get("priority2"),
        "designated_priority2": p2.designated,
        "preemption": {"phase": p2.phase.value, "reason": p2.reason, "wait_to_restore_s": p2.wait_to_restore_s},
        "clock_class": gm.quality.clock_class if gm else None,
        "clock_class_reason": w.want_gm_why or None,
        "grandmaster": None
        if parent is None
        else {
            "priority1": parent.gm_priority1,
            "priority2": parent.gm_priority2,
            "clock_class": parent.gm_quality.clock_class,
            "clock_accuracy": parent.gm_quality.clock_accuracy,
        },
        "sync_uncertain": w.applied_settings.get("sync_uncertain"),
    }
