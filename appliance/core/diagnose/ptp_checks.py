"""The PTP check of `appliance diagnose`: ptp4l's port state, grandmaster and offset, as pmc read them."""

from __future__ import annotations

from ..verdict import Verdict
from .inputs import AVAILABLE, NOT_RUNNING, Parsed, Raw
from .report import Check, Limits, absent, fmt_s


def check_ptp(p: Parsed, raw: dict[str, Raw], limits: Limits) -> Check:
    name = "ptp"
    r = raw.get("pmc", Raw(NOT_RUNNING, detail="not gathered"))
    if r.state != AVAILABLE:
        return absent(name, r, "ptp4l", "start the appliance (it supervises ptp4l) or check `systemctl status ptp4l`")
    if p.ptp is None:
        exc = p.errors.get("pmc", ValueError("empty"))
        return Check(
            name,
            Verdict.WARN,
            f"ptp4l did not answer pmc: {exc}",
            "unreadable",
            {"raw": (r.text or "")[:500]},
            "check the PTP domain (--ptp-domain, ptp.domain) and that ptp4l's uds_address is the socket used",
        )
    s = p.ptp
    ev = s.as_dict()
    state = s.port_state or "unknown"
    offset = s.offset_from_master_ns if s.offset_from_master_ns is not None else s.master_offset_ns
    if state == "FAULTY":
        return Check(
            name,
            Verdict.FAIL,
            "PTP port FAULTY",
            "checked",
            ev,
            "`journalctl -u appliance` / ptp4l's log: a FAULTY port usually means lost timestamps "
            '("timed out while polling for tx timestamp": raise tx_timestamp_timeout) or a link down',
        )
    if state in ("SLAVE",):
        if offset is not None and abs(offset) >= limits.ptp_offset_ns:
            return Check(
                name,
                Verdict.WARN,
                f"following {s.gm_identity}, offset {fmt_s(offset * 1e-9)} beyond {fmt_s(limits.ptp_offset_ns * 1e-9)}",
                "checked",
                ev,
                "check hardware timestamping (`ethtool -T IFACE`) and the path delay; a large offset after "
                "a grandmaster change settles within a minute",
            )
        if s.gm_present is False:
            return Check(
                name,
                Verdict.WARN,
                "port SLAVE but no grandmaster present",
                "checked",
                ev,
                "check the grandmaster node (`appliance status` there)",
            )
        return Check(
            name,
            Verdict.OK,
            f"following grandmaster {s.gm_identity}, offset {fmt_s((offset or 0) * 1e-9)}, "
            f"path delay {fmt_s((s.mean_path_delay_ns or 0) * 1e-9)}",
            "checked",
            ev,
        )
    if state in ("MASTER", "GRAND_MASTER", "PASSIVE"):
        role = "grandmaster" if s.is_grandmaster else state.lower()
        return Check(
            name,
            Verdict.OK,
            f"port {state} ({role}, grandmaster {s.gm_identity}, clockClass {s.gm_clock_class})",
            "checked",
            ev,
        )
    return Check(
        name,
        Verdict.WARN,
        f"port {state}: not yet following nor serving time"
        + (f", offset {fmt_s(offset * 1e-9)}" if offset is not None else ""),
        "checked",
        ev,
        "LISTENING: no announce from a grandmaster (check the other control nodes and the domain); "
        "UNCALIBRATED: the servo has not locked yet (normal for a few seconds; with free_running it stays)",
    )
