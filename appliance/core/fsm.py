"""Shared by the table-driven state machines (states.py, ptp_states.py, crosscheck.py): their
documentation is generated from the transitions table, never written by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum


def markdown_table(
    transitions: Mapping[tuple[Enum, Enum], Enum], extra: Mapping[str, Callable[[Enum], str]] | None = None
) -> list[str]:
    """One row per (state, event) -> next state; ``extra`` adds columns computed from the next state."""
    extra = extra or {}
    head = ["state", "event", "next state", *extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (state, event), nxt in transitions.items():
        cells = [state.value, event.value, nxt.value, *(f(nxt) for f in extra.values())]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines
