"""The one duration syntax of the appliance, for the configuration and every command-line option that
is a duration: a number and a unit, such as ``500ms``, ``2s``, ``5m``, ``1h``.

A bare number is refused everywhere: ``threshold: 500`` could mean 500 ms or 500 s, and reading it
as seconds once switched the clients' distance check off. Keys whose name carries the unit
(``interval_s``) stay plain numbers; this is for values whose name does not.
"""

from __future__ import annotations

import math
import re
from typing import Any

UNITS_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
UNITS_TEXT = "ns, us, ms, s, m (minutes), h or d"
EXAMPLES = "500ms, 2s, 5m or 1h"
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^\s*([+-]?)\s*({_NUMBER})\s*(ns|us|ms|min|s|m|h|d)\s*$")
_BARE = re.compile(rf"^\s*[+-]?\s*{_NUMBER}\s*$")


def parse_duration_s(value: Any, *, signed: bool = False) -> float:
    """'500ms', '2s', '5m', '1h' -> seconds. ``signed`` allows a leading '-' (a step back).
    ValueError names the value and what was expected."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a duration with a unit ({EXAMPLES}), got {value!r}")
    if isinstance(value, (int, float)) or (isinstance(value, str) and _BARE.match(value)):
        text = str(value).strip()
        if text.startswith("-") and not signed:
            raise ValueError(f"{text!r}: expected a duration that is not negative, with a unit ({UNITS_TEXT})")
        raise ValueError(
            f"{text!r} has no unit: write a duration with one of {UNITS_TEXT}, such as "
            f"{text.lstrip('+')}ms or {text.lstrip('+')}s"
        )
    if not isinstance(value, str):
        raise ValueError(f"expected a duration with a unit ({EXAMPLES}), got {value!r}")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(
            f"{value!r} is not a duration: expected a number and a unit ({UNITS_TEXT}), such as {EXAMPLES}"
        )
    sign, number, unit = m.groups()
    seconds = float(number) * UNITS_S[unit]
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration")
    if sign == "-":
        if not signed:
            raise ValueError(f"{value!r}: expected a duration that is not negative")
        seconds = -seconds
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds in the syntax above, the largest unit that keeps the number short ('500ms', '1.5h')."""
    if seconds == 0:
        return "0s"
    a = abs(seconds)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if a >= size and (a / size) == round(a / size, 3):
            return f"{seconds / size:g}{unit}"
    return f"{seconds * 1e9:g}ns"
