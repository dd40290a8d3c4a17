"""Parsers for chronyc's CSV reports (`chronyc -c tracking | sources | sourcestats`), chrony 4.x.

Values keep chrony's names and chrony's units and signs (seconds, ppm), so that what `appliance
diagnose --json` shows can be compared with what `chronyc` shows. chrony's signs, from its
documentation and client.c:

- tracking ``system_time``: chrony's correction still to apply; positive = the system clock is
  *slow* of NTP time. Our convention (offset = local - reference) is therefore ``-system_time``
  (:attr:`Tracking.offset_s`).
- tracking ``frequency``: the rate at which the system clock would be wrong if chronyd stopped
  correcting it; positive = fast (chronyc prints "ppm fast").
- sources ``offset`` / ``measured_offset``: positive = the local clock is ahead of the source
  (our convention already).
- sourcestats ``frequency``: residual frequency of the local clock relative to the source;
  positive = fast (the offset grows by ``frequency`` microseconds per second).

Parse it or raise ChronyParseError, never anything else: a line that cannot be read names the
field and the value that was wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

LEAP_STATUSES = ("Normal", "Insert second", "Delete second", "Not synchronised")
NO_SAMPLE = 4294967295  # chronyc's LastRx for a source without a sample ((uint32_t)-1)
SOURCE_MODES = {"^": "server", "=": "peer", "#": "refclock"}
SOURCE_STATES = {
    "*": "selected",
    "+": "combined",
    "-": "not combined",
    "x": "falseticker",
    "~": "too variable",
    "?": "unusable",
}


class ChronyParseError(ValueError):
    pass


def _float(field: str, value: str) -> float:
    try:
        out = float(value)
    except ValueError:
        raise ChronyParseError(f"{field}: expected a number, got {value!r}") from None
    if math.isinf(out):
        raise ChronyParseError(f"{field}: expected a finite number, got {value!r}")
    return out


def _int(field: str, value: str, base: int = 10) -> int:
    try:
        return int(value, base)
    except ValueError:
        raise ChronyParseError(f"{field}: expected an integer, got {value!r}") from None


def _rows(text: str, n_fields: int, what: str) -> list[list[str]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != n_fields:
            raise ChronyParseError(
                f"{what} line {number}: expected {n_fields} comma-separated fields, got {len(fields)}: {line[:120]!r}"
            )
        rows.append(fields)
    return rows


@dataclass(frozen=True)
class Tracking:
    reference_id: str  # hex, as chronyc prints it; 00000000 when there is no reference
    reference_name: str  # address or refclock name
    stratum: int
    ref_time: float  # s since the epoch of the last update
    system_time: float  # s; positive = system clock slow of NTP time (chrony's sign)
    last_offset: float  # s
    rms_offset: float  # s
    frequency: float  # ppm; positive = fast
    residual_freq: float  # ppm
    skew: float  # ppm
    root_delay: float  # s
    root_dispersion: float  # s
    update_interval: float  # s
    leap_status: str  # one of LEAP_STATUSES (or what chronyc printed)

    @property
    def synchronised(self) -> bool:
        return self.leap_status != "Not synchronised" and self.stratum != 0 and self.reference_id != "00000000"

    @property
    def offset_s(self) -> float:
        """System clock - NTP time (this project's sign convention)."""
        return -self.system_time

    @property
    def max_error_s(self) -> float:
        """chrony's bound on the system clock's error: |offset| + root dispersion + root delay / 2."""
        return abs(self.system_time) + self.root_dispersion + self.root_delay / 2

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_tracking(text: str) -> Tracking:
    rows = _rows(text, 14, "tracking")
    if len(rows) != 1:
        raise ChronyParseError(f"tracking: expected one line, got {len(rows)}")
    f = rows[0]
    return Tracking(
        reference_id=f[0].strip(),
        reference_name=f[1].strip(),
        stratum=_int("stratum", f[2]),
        ref_time=_float("ref_time", f[3]),
        system_time=_float("system_time", f[4]),
        last_offset=_float("last_offset", f[5]),
        rms_offset=_float("rms_offset", f[6]),
        frequency=_float("frequency", f[7]),
        residual_freq=_float("residual_freq", f[8]),
        skew=_float("skew", f[9]),
        root_delay=_float("root_delay", f[10]),
        root_dispersion=_float("root_dispersion", f[11]),
        update_interval=_float("update_interval", f[12]),
        leap_status=f[13].strip(),
    )


@dataclass(frozen=True)
class Source:
    mode: str  # ^ server, = peer, # refclock
    state: str  # * selected, + combined, - not combined, x falseticker, ~ too variable, ? unusable
    name: str
    stratum: int
    poll: int  # log2 s
    reach: int  # the reachability register (chronyc prints it in octal)
    last_rx: int | None  # s since the last good sample; None when there is none
    offset: float  # s, adjusted for slews since; positive = local clock ahead
    measured_offset: float  # s, as measured
    error: float  # s, estimated error of the sample

    @property
    def reachable(self) -> bool:
        return self.reach != 0

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["reach"] = format(self.reach, "o")  # as chronyc shows it (377 = the last 8 polls answered)
        d["mode_name"] = SOURCE_MODES.get(self.mode, "unknown")
        d["state_name"] = SOURCE_STATES.get(self.state, "unknown")
        return d


def parse_sources(text: str) -> list[Source]:
    out = []
    for f in _rows(text, 10, "sources"):
        last_rx = _int("last_rx", f[6])
        out.append(
            Source(
                mode=f[0],
                state=f[1],
                name=f[2].strip(),
                stratum=_int("stratum", f[3]),
                poll=_int("poll", f[4]),
                reach=_int("reach", f[5], 8),
                last_rx=None if last_rx == NO_SAMPLE else last_rx,
                offset=_float("offset", f[7]),
                measured_offset=_float("measured_offset", f[8]),
                error=_float("error", f[9]),
            )
        )
    return out


@dataclass(frozen=True)
class SourceStats:
    name: str
    np: int  # sample points retained
    nr: int  # runs of residuals with the same sign
    span: int  # s between the oldest and newest sample
    frequency: float  # ppm, residual frequency of the local clock vs the source; positive = fast
    freq_skew: float  # ppm, error bound of frequency
    offset: float  # s, estimated offset of the source now; positive = local clock ahead
    std_dev: float  # s

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_sourcestats(text: str) -> list[SourceStats]:
    return [
        SourceStats(
            name=f[0].strip(),
            np=_int("np", f[1]),
            nr=_int("nr", f[2]),
            span=_int("span", f[3]),
            frequency=_float("frequency", f[4]),
            freq_skew=_float("freq_skew", f[5]),
            offset=_float("offset", f[6]),
            std_dev=_float("std_dev", f[7]),
        )
        for f in _rows(text, 8, "sourcestats")
    ]
