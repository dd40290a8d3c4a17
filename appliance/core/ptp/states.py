"""This node's place in the PTP domain, as a table (one Enum of states, one transitions dict).

Inputs are what the supervisor observes of ptp4l: its port state (PORT_DATA_SET), whether sync
measurements are still arriving while following (TIME_STATUS_NP ingress time), and whether ptp4l
runs at all. ``classify`` turns one observation into one event; an event the table does not list
for the current state leaves the state unchanged.

    INIT         ptp4l not (yet) answering
    LISTENING    ptp4l up, port LISTENING (no grandmaster chosen yet)
    FOLLOWING    port UNCALIBRATED or SLAVE and sync measurements arriving
    GRANDMASTER  port MASTER: this node's clock is the domain's time (an ordinary clock with one port)
    PASSIVE      port PASSIVE: a better grandmaster exists that this node does not follow
    HOLDOVER     was following, the grandmaster went silent (no fresh sync), or ptp4l stopped while
                 following: the node holds the time it had until the BMCA settles
    FAULTY       port FAULTY/DISABLED, or the supervisor gave up restarting ptp4l

``ptp.role`` in status is ROLE[state]: grandmaster | follower | listening | faulty.
"""

from __future__ import annotations

from enum import Enum

from ..fsm import markdown_table, next_state
from .datasets import PortState


class PtpState(Enum):
    INIT = "init"
    LISTENING = "listening"
    FOLLOWING = "following"
    GRANDMASTER = "grandmaster"
    PASSIVE = "passive"
    HOLDOVER = "holdover"
    FAULTY = "faulty"


class PtpEvent(Enum):
    PORT_LISTENING = "port_listening"
    PORT_MASTER = "port_master"
    PORT_SLAVE = "port_slave"  # UNCALIBRATED or SLAVE, with fresh sync measurements
    SYNC_LOST = "sync_lost"  # UNCALIBRATED or SLAVE, but no sync measurement for too long
    PORT_PASSIVE = "port_passive"
    PORT_FAULTY = "port_faulty"
    STOPPED = "stopped"  # ptp4l exited or stopped answering (the supervisor restarts it)
    FAILED = "failed"  # the supervisor gave up


S, E = PtpState, PtpEvent

TRANSITIONS: dict[tuple[PtpState, PtpEvent], PtpState] = {
    (S.INIT, E.PORT_LISTENING): S.LISTENING,
    (S.INIT, E.PORT_MASTER): S.GRANDMASTER,
    (S.INIT, E.PORT_SLAVE): S.FOLLOWING,
    (S.INIT, E.PORT_PASSIVE): S.PASSIVE,
    (S.INIT, E.PORT_FAULTY): S.FAULTY,
    (S.LISTENING, E.PORT_MASTER): S.GRANDMASTER,
    (S.LISTENING, E.PORT_SLAVE): S.FOLLOWING,
    (S.LISTENING, E.PORT_PASSIVE): S.PASSIVE,
    (S.LISTENING, E.PORT_FAULTY): S.FAULTY,
    (S.LISTENING, E.STOPPED): S.INIT,
    (S.FOLLOWING, E.SYNC_LOST): S.HOLDOVER,
    (S.FOLLOWING, E.PORT_LISTENING): S.HOLDOVER,
    (S.FOLLOWING, E.STOPPED): S.HOLDOVER,
    (S.FOLLOWING, E.PORT_MASTER): S.GRANDMASTER,
    (S.FOLLOWING, E.PORT_PASSIVE): S.PASSIVE,
    (S.FOLLOWING, E.PORT_FAULTY): S.FAULTY,
    (S.HOLDOVER, E.PORT_SLAVE): S.FOLLOWING,
    (S.HOLDOVER, E.PORT_MASTER): S.GRANDMASTER,
    (S.HOLDOVER, E.PORT_PASSIVE): S.PASSIVE,
    (S.HOLDOVER, E.PORT_FAULTY): S.FAULTY,
    (S.GRANDMASTER, E.PORT_SLAVE): S.FOLLOWING,
    (S.GRANDMASTER, E.PORT_LISTENING): S.LISTENING,
    (S.GRANDMASTER, E.PORT_PASSIVE): S.PASSIVE,
    (S.GRANDMASTER, E.PORT_FAULTY): S.FAULTY,
    (S.GRANDMASTER, E.STOPPED): S.INIT,
    (S.PASSIVE, E.PORT_MASTER): S.GRANDMASTER,
    (S.PASSIVE, E.PORT_SLAVE): S.FOLLOWING,
    (S.PASSIVE, E.PORT_LISTENING): S.LISTENING,
    (S.PASSIVE, E.PORT_FAULTY): S.FAULTY,
    (S.PASSIVE, E.STOPPED): S.INIT,
    (S.FAULTY, E.PORT_LISTENING): S.LISTENING,
    (S.FAULTY, E.PORT_MASTER): S.GRANDMASTER,
    (S.FAULTY, E.PORT_SLAVE): S.FOLLOWING,
    (S.FAULTY, E.PORT_PASSIVE): S.PASSIVE,
    (S.FAULTY, E.STOPPED): S.INIT,
}
for _s in PtpState:
    if _s is not S.FAULTY:
        TRANSITIONS[(_s, E.FAILED)] = S.FAULTY

ROLE = {
    S.INIT: "listening",
    S.LISTENING: "listening",
    S.FOLLOWING: "follower",
    S.GRANDMASTER: "grandmaster",
    S.PASSIVE: "listening",
    S.HOLDOVER: "listening",
    S.FAULTY: "faulty",
}

_PORT_EVENTS = {
    PortState.INITIALIZING: E.PORT_LISTENING,
    PortState.LISTENING: E.PORT_LISTENING,
    PortState.PRE_MASTER: E.PORT_MASTER,
    PortState.MASTER: E.PORT_MASTER,
    PortState.GRAND_MASTER: E.PORT_MASTER,
    PortState.PASSIVE: E.PORT_PASSIVE,
    PortState.UNCALIBRATED: E.PORT_SLAVE,
    PortState.SLAVE: E.PORT_SLAVE,
    PortState.FAULTY: E.PORT_FAULTY,
    PortState.DISABLED: E.PORT_FAULTY,
}


def classify(port_state: int | None, sync_fresh: bool) -> PtpEvent:
    """One observation of ptp4l -> one event. ``port_state`` None: ptp4l is not answering."""
    if port_state is None:
        return E.STOPPED
    try:
        event = _PORT_EVENTS[PortState(port_state)]
    except (ValueError, KeyError):
        return E.PORT_FAULTY  # a state number no standard defines: do not pretend all is well
    if event is E.PORT_SLAVE and not sync_fresh:
        return E.SYNC_LOST
    return event


class PtpNodeMachine:
    """The table with memory: feed events, read the state; transitions are returned for the log."""

    def __init__(self) -> None:
        self.state = PtpState.INIT

    def feed(self, event: PtpEvent) -> tuple[PtpState, PtpState, PtpEvent] | None:
        new = next_state(TRANSITIONS, self.state, event)
        if new is self.state:
            return None
        old, self.state = self.state, new
        return old, new, event

    @property
    def role(self) -> str:
        return ROLE[self.state]


def describe() -> str:
    """Markdown table of the machine, generated from TRANSITIONS (for docs)."""
    return "\n".join(markdown_table(TRANSITIONS, {"role of next state": ROLE.__getitem__}))
