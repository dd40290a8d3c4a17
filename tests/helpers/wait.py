"""The one way tests wait for something: poll, bounded, and say what was awaited when it never came.

    st = wait_for(lambda: app.status()["sync"]["state"] == "locked" and app.status(), 30, 0.2,
                  "the appliance to lock")
    rows = wait_for(chrony.sources, 60, 0.5, "chronyd to select 198.18.3.1",
                    until=lambda rows: any(r["state"] == "*" for r in rows))

``probe`` is called at once, then every ``interval_s``, and a last time at the deadline; the first
value that satisfies ``until`` (by default: any truthy value) is returned. After ``timeout_s`` it
raises WaitTimeout (an AssertionError, so pytest shows it as a failed check) naming ``what``, how
long and how often it looked, and the last value seen (through ``describe``, shortened).

Exceptions from ``probe`` propagate at once, so a dead process fails the wait immediately, except
those listed in ``ignore``: they count as "not yet" and the last one is reported as the last value
(a daemon whose socket does not exist yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_DESCRIPTION = 2000  # characters of the last value in the failure message


class WaitTimeout(AssertionError):
    """wait_for gave up. ``last`` is the last value the probe returned (or the exception it raised)."""

    def __init__(self, message: str, last: Any = None):
        super().__init__(message)
        self.last = last


def _shorten(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION:
        return text
    half = MAX_DESCRIPTION // 2
    return f"{text[:half]} ... [{len(text) - MAX_DESCRIPTION} characters] ... {text[-half:]}"


def wait_for(
    probe: Callable[[], T],
    timeout_s: float,
    interval_s: float,
    what: str,
    *,
    until: Callable[[T], Any] = bool,
    ignore: tuple[type[BaseException], ...] = (),
    describe: Callable[[Any], str] = repr,
) -> T:
    """The first value of ``probe()`` that satisfies ``until``, polled every ``interval_s`` for at
    most ``timeout_s`` seconds; WaitTimeout (naming ``what`` and the last value) after that."""
    if isinstance(interval_s, str) or isinstance(timeout_s, str):
        raise TypeError("wait_for(probe, timeout_s, interval_s, what): the durations are numbers, what is a string")
    if not what:
        raise TypeError("wait_for needs `what`: the failure message names what was awaited")
    if not (timeout_s >= 0 and interval_s > 0):
        raise ValueError(f"wait_for: timeout_s must be >= 0 and interval_s > 0, got {timeout_s}, {interval_s}")
    start = time.monotonic()
    deadline = start + timeout_s
    last: Any = None
    tries = 0
    while True:
        tries += 1
        try:
            last = probe()
        except ignore as exc:  # an empty tuple catches nothing
            last = exc
        else:
            if until(last):
                return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval_s, remaining))
    try:
        shown = describe(last)
    except Exception as exc:  # a broken description must not hide the timeout
        shown = f"{last!r} (describe failed: {exc!r})"
    raise WaitTimeout(
        f"timed out after {timeout_s:g} s waiting for {what} ({tries} tries, every {interval_s:g} s); "
        f"last value: {_shorten(str(shown))}",
        last,
    )
