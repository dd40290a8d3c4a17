"""The one helper of the table-driven state machines (clock/states.py, ptp/states.py,
cluster/vote.py): each is an Enum of states, an Enum of events and one transitions dict
{(state, event): next state}; an event the table does not list leaves the state unchanged. Their
documentation is generated from the table, never written by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TypeVar

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


def next_state(transitions: Mapping[tuple[S, E], S], state: S, event: E) -> S:
    """The state after ``event``; unlisted (state, event) pairs leave it unchanged."""
    return transitions.get((state, event), state)


def markdown_table(
    transitions: Mapping[tuple[S, E], S], extra: Mapping[str, Callable[[S], str]] | None = None
) -> list[str]:
    """One row per (state, event) -> next state; ``extra`` adds columns computed from the next state."""
    extra = extra or {}
    head = ["state", "event", "next state", *extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (state, event), nxt in transitions.items():
        cells = [state.value, event.value, nxt.value, *(f(nxt) for f in extra.values())]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines
