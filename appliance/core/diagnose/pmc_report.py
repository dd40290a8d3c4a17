"""Parser for pmc's text output (linuxptp's PTP management client) of GET requests:

    sending: GET PORT_DATA_SET
    \t5e7fb9.fffe.1c8fd3-1 seq 1 RESPONSE MANAGEMENT PORT_DATA_SET
    \t\tportIdentity            5e7fb9.fffe.1c8fd3-1
    \t\tportState               MASTER

Each RESPONSE block becomes {field: text} under its management ID; :func:`ptp_summary` picks the
fields `appliance diagnose` judges (offsets and delays in ns, as ptp4l reports them).
Parse it or raise ReportParseError, never anything else.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from .sysclock_report import ReportParseError

_HEADER = re.compile(r"^\s*(\S+)\s+seq\s+\d+\s+(RESPONSE|ERROR|GET|SET)\s+MANAGEMENT\s+(\S+)")
# ptp4l's port states (port.h / IEEE 1588-2019 8.2.15.3.1), as pmc prints them.
PORT_STATES = (
    "INITIALIZING",
    "FAULTY",
    "DISABLED",
    "LISTENING",
    "PRE_MASTER",
    "MASTER",
    "PASSIVE",
    "UNCALIBRATED",
    "SLAVE",
    "GRAND_MASTER",
)


def parse_pmc(text: str) -> dict[str, dict[str, str]]:
    """{management ID: {field: value}} for every RESPONSE block; error blocks under "ERROR:<ID>"."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("sending:"):
            continue
        m = _HEADER.match(line)
        if m:
            kind, mid = m.group(2), m.group(3)
            key = mid if kind == "RESPONSE" else f"{kind}:{mid}"
            current = out.setdefault(key, {})
            continue
        if current is not None and line.startswith("\t\t"):
            parts = line.split(None, 1)
            if parts:
                current[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return out


@dataclass(frozen=True)
class PtpSummary:
    port_state: str | None
    gm_identity: str | None
    gm_present: bool | None
    clock_identity: str | None
    master_offset_ns: float | None  # TIME_STATUS_NP master_offset
    offset_from_master_ns: float | None  # CURRENT_DATA_SET
    mean_path_delay_ns: float | None
    steps_removed: int | None
    gm_clock_class: int | None
    domain: int | None

    @property
    def is_grandmaster(self) -> bool:
        return bool(self.clock_identity and self.gm_identity and self.clock_identity == self.gm_identity)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    """An integer as pmc prints it, in any base Python's literals allow (0x.. for hex)."""
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def ptp_summary(data: dict[str, dict[str, str]]) -> PtpSummary:
    if not any(k in data for k in ("TIME_STATUS_NP", "PORT_DATA_SET", "CURRENT_DATA_SET", "PARENT_DATA_SET")):
        raise ReportParseError("pmc: no response to any GET (wrong domain, or ptp4l not answering)")
    ts = data.get("TIME_STATUS_NP", {})
    port = data.get("PORT_DATA_SET", {})
    cur = data.get("CURRENT_DATA_SET", {})
    parent = data.get("PARENT_DATA_SET", {})
    default = data.get("DEFAULT_DATA_SET", {})
    present = ts.get("gmPresent")
    return PtpSummary(
        port_state=port.get("portState"),
        gm_identity=parent.get("grandmasterIdentity") or ts.get("gmIdentity"),
        gm_present=None if present not in ("true", "false") else present == "true",
        clock_identity=default.get("clockIdentity"),
        master_offset_ns=_float(ts.get("master_offset")),
        offset_from_master_ns=_float(cur.get("offsetFromMaster")),
        mean_path_delay_ns=_float(cur.get("meanPathDelay")),
        steps_removed=_int(cur.get("stepsRemoved")),
        gm_clock_class=_int(parent.get("gm.ClockClass")),
        domain=_int(default.get("domainNumber")),
    )
