"""The node's synchronisation state machine, as a table (one Enum of states, one transitions dict).

It answers one question for the NTP server and status: may this node claim to be right?
Only LOCKED, HOLDOVER and FREERUN are healthy; in every other state the server answers with leap
indicator 3 (unsynchronized) so that SNTP clients such as systemd-timesyncd move to another server.
An event that the table does not list for the current state leaves the state unchanged.
"""

from __future__ import annotations

from enum import Enum

from ..fsm import markdown_table


class SyncState(Enum):
    STARTING = "starting"  # clock opened, nothing measured yet
    ACQUIRING = "acquiring"  # reference present, servo not yet converged
    LOCKED = "locked"  # following the reference within the lock threshold
    HOLDOVER = "holdover"  # reference lost after lock: predicting with the learned model
    FREERUN = "freerun"  # no reference configured: this clock is the site's time
    UNSYNCHRONIZED = "unsynchronized"  # error bound above the limit, or reference lost before lock
    FAULT = "fault"  # the clock cannot be read


class SyncEvent(Enum):
    REFERENCE_SEEN = "reference_seen"
    NO_REFERENCE = "no_reference"  # none is configured (air-gapped grandmaster)
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    REFERENCE_LOST = "reference_lost"
    REFERENCE_SUSPECT = "reference_suspect"  # an offset outside what the clock can have done: not followed
    REFERENCE_AGREES = "reference_agrees"  # a suspect reference is back within the prediction
    BOUND_EXCEEDED = "bound_exceeded"
    FAULT = "fault"
    RECOVERED = "recovered"


S, E = SyncState, SyncEvent

TRANSITIONS: dict[tuple[SyncState, SyncEvent], SyncState] = {
    (S.STARTING, E.REFERENCE_SEEN): S.ACQUIRING,
    (S.STARTING, E.NO_REFERENCE): S.FREERUN,
    (S.ACQUIRING, E.LOCKED): S.LOCKED,
    (S.ACQUIRING, E.REFERENCE_LOST): S.UNSYNCHRONIZED,
    (S.LOCKED, E.UNLOCKED): S.ACQUIRING,
    (S.LOCKED, E.REFERENCE_LOST): S.HOLDOVER,
    (S.LOCKED, E.REFERENCE_SUSPECT): S.HOLDOVER,
    (S.HOLDOVER, E.REFERENCE_AGREES): S.LOCKED,
    (S.HOLDOVER, E.REFERENCE_SEEN): S.ACQUIRING,
    (S.HOLDOVER, E.BOUND_EXCEEDED): S.UNSYNCHRONIZED,
    (S.FREERUN, E.REFERENCE_SEEN): S.ACQUIRING,
    (S.FREERUN, E.BOUND_EXCEEDED): S.UNSYNCHRONIZED,
    (S.UNSYNCHRONIZED, E.REFERENCE_SEEN): S.ACQUIRING,
    (S.FAULT, E.RECOVERED): S.STARTING,
}
# Any state but FAULT goes to FAULT when the clock fails.
for _s in SyncState:
    if _s is not S.FAULT:
        TRANSITIONS[(_s, E.FAULT)] = S.FAULT

HEALTHY = frozenset({S.LOCKED, S.HOLDOVER, S.FREERUN})


def describe() -> str:
    """Markdown table of the machine, generated from TRANSITIONS (used by docs and `status`)."""
    lines = markdown_table(TRANSITIONS)
    lines.append("")
    lines.append("Healthy (served as stratum 1): " + ", ".join(sorted(s.value for s in HEALTHY)))
    return "\n".join(lines)
