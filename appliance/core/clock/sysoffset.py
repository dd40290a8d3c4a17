"""Best of N readings of a clock against the system clock (pure).

A reading is a bracket (system_before_ns, clock_ns, system_after_ns), as PTP_SYS_OFFSET_EXTENDED
returns them (PTP_SYS_OFFSET's interleaved stamps give the same brackets). The reading with the
shortest window is the one least disturbed (interrupts, bus contention); its clock stamp is taken to
be simultaneous with the middle of the window, as linuxptp's sysoff.c does.

Sign: offset_ns = clock - system (offset = local - reference, with the system clock as reference).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .interface import SysOffset


class NoValidSample(ValueError):
    pass


def brackets_from_interleaved(stamps: Sequence[int]) -> list[tuple[int, int, int]]:
    """PTP_SYS_OFFSET layout: sys0, phc0, sys1, phc1, ..., sysN (2N+1 stamps) -> N brackets."""
    if len(stamps) < 3 or len(stamps) % 2 == 0:
        raise ValueError(f"need 2N+1 interleaved stamps, got {len(stamps)}")
    return [(stamps[i], stamps[i + 1], stamps[i + 2]) for i in range(0, len(stamps) - 2, 2)]


def best_of(brackets: Iterable[tuple[int, int, int]], method: str) -> SysOffset:
    best = None
    for before, clock, after in brackets:
        window = after - before
        if window < 0:  # the system clock was stepped inside this reading: unusable
            continue
        if best is None or window < best[0]:
            best = (window, before, clock)
    if best is None:
        raise NoValidSample("every reading had a negative window (the system clock was stepped); measure again")
    window, before, clock = best
    middle = before + window // 2
    return SysOffset(offset_ns=clock - middle, delay_ns=window, system_ns=middle, method=method)


def from_cross_timestamp(device_ns: int, system_ns: int) -> SysOffset:
    """A cross-timestamp (PTP_SYS_OFFSET_PRECISE) is simultaneous by construction: no window."""
    return SysOffset(offset_ns=device_ns - system_ns, delay_ns=0, system_ns=system_ns, method="precise")
