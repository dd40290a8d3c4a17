"""ptp4l / phc2sys / ts2phc log lines -> events, pure.

Lines look like ``ptp4l[4711.123]: port 1: LISTENING to MASTER on ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES``
(``-m``: the bracket is CLOCK_MONOTONIC seconds; an optional ``[message_tag]`` follows). linuxptp 4
writes ``port 1 (eth0):`` where 3.x writes ``port 1:``; both parse. Lines the parser does not know
give None: the supervisor keeps the raw tail for diagnosis, events carry only what it understood.

Servo states as linuxptp prints them: s0 unlocked, s1 jump (clock stepped), s2 locked,
s3 locked stable (servo.h).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

SERVO_STATES = {0: "unlocked", 1: "jump", 2: "locked", 3: "locked_stable"}


@dataclass(frozen=True)
class LogEvent:
    program: str  # ptp4l | phc2sys | ts2phc | "" when the line had no prefix
    monotonic_s: float | None  # linuxptp's CLOCK_MONOTONIC stamp, when the line carries one

    @property
    def kind(self) -> str:
        return _KINDS[type(self)]

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind}
        d.update({k: v for k, v in self.__dict__.items() if k not in ("monotonic_s",)})
        return d


@dataclass(frozen=True)
class PortStateChanged(LogEvent):
    port: int
    old: str
    new: str
    event: str
    fault: str | None = None


@dataclass(frozen=True)
class BestMasterSelected(LogEvent):
    clock_identity: str
    local: bool  # "selected local clock ... as best master"


@dataclass(frozen=True)
class GrandmasterRole(LogEvent):
    port: int  # "assuming the grand master role"


@dataclass(frozen=True)
class ForeignMaster(LogEvent):
    port: int
    port_identity: str  # "new foreign master aabbcc.fffe.ddeeff-1"


@dataclass(frozen=True)
class ServoSample(LogEvent):
    offset_ns: int
    servo_state: str  # unlocked | jump | locked | locked_stable
    freq_ppb: float | None
    delay_ns: int | None
    clock: str | None = None  # phc2sys / ts2phc: which clock the line is about


@dataclass(frozen=True)
class ServoSummary(LogEvent):
    rms_ns: float
    max_ns: float
    freq_ppb: float
    freq_sd_ppb: float
    delay_ns: float | None
    delay_sd_ns: float | None


@dataclass(frozen=True)
class TxTimestampTimeout(LogEvent):
    """The driver did not hand back a transmit timestamp in time (tx_timestamp_timeout)."""

    text: str


@dataclass(frozen=True)
class ClockJump(LogEvent):
    direction: str  # forward | backward | frequency (clockcheck: the clock ran off unexpectedly)


@dataclass(frozen=True)
class LinkChanged(LogEvent):
    port: int
    up: bool


@dataclass(frozen=True)
class ProgramError(LogEvent):
    """A line that means the program cannot work as configured (bad interface, mode, socket)."""

    text: str


_KINDS = {
    PortStateChanged: "port_state",
    BestMasterSelected: "best_master",
    GrandmasterRole: "grandmaster_role",
    ForeignMaster: "foreign_master",
    ServoSample: "servo",
    ServoSummary: "servo_summary",
    TxTimestampTimeout: "tx_timestamp_timeout",
    ClockJump: "clock_jump",
    LinkChanged: "link",
    ProgramError: "error",
}

_PREFIX = re.compile(r"^(?P<prog>[A-Za-z0-9_.-]+)\[(?P<mono>\d+(?:\.\d+)?)\]:\s(?:\[(?P<tag>[^\]]*)\]\s)?(?P<msg>.*)$")
_PORT = r"port (?P<port>\d+)(?: \([^)]*\))?:"
_STATE = re.compile(_PORT + r" (?P<old>[A-Z_]+) to (?P<new>[A-Z_]+) on (?P<event>[A-Z_]+)(?: \((?P<fault>[^)]*)\))?$")
_BEST_LOCAL = re.compile(r"^selected local clock (?P<id>[0-9a-f.]+) as best master")
_BEST = re.compile(r"^selected best master clock (?P<id>[0-9a-f.]+)")
_GM = re.compile(_PORT + r" assuming the grand master role")
_FOREIGN = re.compile(_PORT + r" new foreign master (?P<pid>[0-9a-f.]+-\d+)")
_PTP4L_OFFSET = re.compile(
    r"^master offset\s+(?P<off>-?\d+) s(?P<s>\d)(?: freq\s+(?P<freq>[-+]?\d+(?:\.\d+)?))?"
    r"(?: path delay\s+(?P<delay>-?\d+))?"
)
_CLOCK_OFFSET = re.compile(  # phc2sys: "CLOCK_REALTIME phc offset -12 s2 freq +100 delay 500"
    r"^(?P<clock>\S+)(?: (?P<src>\S+))? offset\s+(?P<off>-?\d+) s(?P<s>\d) freq\s+(?P<freq>[-+]?\d+(?:\.\d+)?)"
    r"(?: delay\s+(?P<delay>-?\d+))?"
)
_TS2PHC_OFFSET = re.compile(r"^(?P<clock>\S+) master offset\s+(?P<off>-?\d+)(?: s(?P<s>\d) freq\s+(?P<freq>[-+]?\d+))?")
_SUMMARY = re.compile(
    r"^(?:(?P<clock>\S+) )?rms\s+(?P<rms>\d+(?:\.\d+)?) max\s+(?P<max>\d+(?:\.\d+)?) "
    r"freq\s+(?P<freq>[-+]?\d+(?:\.\d+)?) \+/-\s+(?P<fsd>\d+(?:\.\d+)?)"
    r"(?: delay\s+(?P<delay>-?\d+(?:\.\d+)?) \+/-\s+(?P<dsd>\d+(?:\.\d+)?))?"
)
_LINK = re.compile(_PORT + r" link (?P<updown>up|down)")
_JUMP = re.compile(r"clockcheck: clock (?:jumped (?P<dir>forward|backward)|frequency changed unexpectedly)")
_ERRORS = (
    re.compile(r"does not support requested (?:time ?stamping|timestamping) mode"),
    re.compile(r"^failed to open port"),
    re.compile(r"^uds: bind failed"),
    re.compile(r"^failed to create a clock"),
    re.compile(r"PTP device not specified and automatic determination"),
    re.compile(r"^ioctl SIOC[GS]HWTSTAMP failed"),
    re.compile(r"^(?:Failed|failed) to open (?:/dev/\S+|\S+): "),
    re.compile(r"^clock is not adjustable"),
    re.compile(r"^interface '[^']*' does not support"),
    re.compile(r"^PHC device mismatch"),
)


class _Base(TypedDict):
    """The fields every event shares, as keyword arguments."""

    program: str
    monotonic_s: float | None


def parse_line(line: str) -> LogEvent | None:
    """One log line -> one event, or None for lines without a meaning the appliance uses."""
    if not isinstance(line, str):
        return None
    line = line.rstrip("\r\n")
    m = _PREFIX.match(line)
    if m:
        prog, mono, msg = m.group("prog"), float(m.group("mono")), m.group("msg")
    else:
        prog, mono, msg = "", None, line.strip()
    if not msg:
        return None
    base = _Base(program=prog, monotonic_s=mono)

    if msg.startswith("port "):
        if s := _STATE.match(msg):
            return PortStateChanged(
                **base, port=int(s["port"]), old=s["old"], new=s["new"], event=s["event"], fault=s["fault"]
            )
        if s := _GM.match(msg):
            return GrandmasterRole(**base, port=int(s["port"]))
        if s := _FOREIGN.match(msg):
            return ForeignMaster(**base, port=int(s["port"]), port_identity=s["pid"])
        if s := _LINK.match(msg):
            return LinkChanged(**base, port=int(s["port"]), up=s["updown"] == "up")
    if s := _BEST_LOCAL.match(msg):
        return BestMasterSelected(**base, clock_identity=s["id"], local=True)
    if s := _BEST.match(msg):
        return BestMasterSelected(**base, clock_identity=s["id"], local=False)
    if s := _PTP4L_OFFSET.match(msg):
        return ServoSample(
            **base,
            offset_ns=int(s["off"]),
            servo_state=SERVO_STATES.get(int(s["s"]), s["s"]),
            freq_ppb=float(s["freq"]) if s["freq"] else None,
            delay_ns=int(s["delay"]) if s["delay"] else None,
        )
    if s := _TS2PHC_OFFSET.match(msg):
        return ServoSample(
            **base,
            offset_ns=int(s["off"]),
            servo_state=SERVO_STATES.get(int(s["s"]), s["s"]) if s["s"] else "unlocked",
            freq_ppb=float(s["freq"]) if s["freq"] else None,
            delay_ns=None,
            clock=s["clock"],
        )
    if s := _CLOCK_OFFSET.match(msg):
        return ServoSample(
            **base,
            offset_ns=int(s["off"]),
            servo_state=SERVO_STATES.get(int(s["s"]), s["s"]),
            freq_ppb=float(s["freq"]),
            delay_ns=int(s["delay"]) if s["delay"] else None,
            clock=s["clock"],
        )
    if s := _SUMMARY.match(msg):
        return ServoSummary(
            **base,
            rms_ns=float(s["rms"]),
            max_ns=float(s["max"]),
            freq_ppb=float(s["freq"]),
            freq_sd_ppb=float(s["fsd"]),
            delay_ns=float(s["delay"]) if s["delay"] else None,
            delay_sd_ns=float(s["dsd"]) if s["dsd"] else None,
        )
    if "timed out while polling for tx timestamp" in msg or msg.startswith("poll for tx timestamp failed"):
        return TxTimestampTimeout(**base, text=msg)
    if s := _JUMP.search(msg):
        return ClockJump(**base, direction=s["dir"] or "frequency")
    for rx in _ERRORS:
        if rx.search(msg):
            return ProgramError(**base, text=msg)
    return None
