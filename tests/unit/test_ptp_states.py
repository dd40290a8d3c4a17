"""The node PTP state machine: table, classification of observations, roles."""

import pytest

from appliance.core.fsm import next_state
from appliance.core.ptp.datasets import PortState
from appliance.core.ptp.states import (
    ROLE,
    TRANSITIONS,
    PtpEvent,
    PtpNodeMachine,
    PtpState,
    classify,
    describe,
)

E, S = PtpEvent, PtpState


def test_roles_are_the_contract_values():
    assert set(ROLE.values()) == {"grandmaster", "follower", "listening", "faulty"}
    assert ROLE[S.GRANDMASTER] == "grandmaster" and ROLE[S.FOLLOWING] == "follower" and ROLE[S.FAULTY] == "faulty"


def test_every_state_is_reachable_from_init():
    seen, todo = {S.INIT}, [S.INIT]
    while todo:
        s = todo.pop()
        for (a, _), b in TRANSITIONS.items():
            if a is s and b not in seen:
                seen.add(b)
                todo.append(b)
    assert seen == set(PtpState)


@pytest.mark.parametrize(
    "port, fresh, event",
    [
        (PortState.LISTENING, False, E.PORT_LISTENING),
        (PortState.INITIALIZING, False, E.PORT_LISTENING),
        (PortState.MASTER, False, E.PORT_MASTER),
        (PortState.PRE_MASTER, False, E.PORT_MASTER),
        (PortState.UNCALIBRATED, True, E.PORT_SLAVE),
        (PortState.SLAVE, True, E.PORT_SLAVE),
        (PortState.SLAVE, False, E.SYNC_LOST),
        (PortState.PASSIVE, True, E.PORT_PASSIVE),
        (PortState.FAULTY, True, E.PORT_FAULTY),
        (PortState.DISABLED, True, E.PORT_FAULTY),
        (None, True, E.STOPPED),
        (99, True, E.PORT_FAULTY),
    ],
)
def test_classify(port, fresh, event):
    assert classify(port, fresh) is event


def test_failover_story():
    """A follower whose grandmaster goes silent holds over, then becomes grandmaster."""
    m = PtpNodeMachine()
    steps = [
        (E.PORT_LISTENING, S.LISTENING),
        (E.PORT_SLAVE, S.FOLLOWING),
        (E.SYNC_LOST, S.HOLDOVER),
        (E.SYNC_LOST, S.HOLDOVER),
        (E.PORT_MASTER, S.GRANDMASTER),
        (E.PORT_SLAVE, S.FOLLOWING),
    ]
    roles = []
    for ev, want in steps:
        m.feed(ev)
        assert m.state is want
        roles.append(m.role)
    assert roles == ["listening", "follower", "listening", "listening", "grandmaster", "follower"]


def test_ptp4l_dying_while_following_is_holdover_and_giving_up_is_faulty():
    assert next_state(TRANSITIONS, S.FOLLOWING, E.STOPPED) is S.HOLDOVER
    assert next_state(TRANSITIONS, S.GRANDMASTER, E.STOPPED) is S.INIT
    for s in PtpState:
        assert next_state(TRANSITIONS, s, E.FAILED) is S.FAULTY
    assert next_state(TRANSITIONS, S.FAULTY, E.PORT_LISTENING) is S.LISTENING


def test_unlisted_events_leave_the_state_unchanged():
    m = PtpNodeMachine()
    assert m.feed(E.SYNC_LOST) is None and m.state is S.INIT
    assert m.feed(E.PORT_MASTER) == (S.INIT, S.GRANDMASTER, E.PORT_MASTER)


def test_describe_lists_every_transition():
    text = describe()
    assert text.count("\n") == len(TRANSITIONS) + 1
    assert "| following | sync_lost | holdover | listening |" in text


def test_readme_carries_the_generated_table():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "appliance" / "linuxptp" / "README.md"
    assert describe() in readme.read_text(), "regenerate the table in appliance/linuxptp/README.md from describe()"
