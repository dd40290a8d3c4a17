"""appliance.core.fsm: next_state follows the table and leaves unlisted pairs unchanged;
markdown_table is generated from the table, extra columns included."""

from enum import Enum

from appliance.core.fsm import markdown_table, next_state


class S(Enum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"


class E(Enum):
    START = "start"
    CRASH = "crash"
    RESET = "reset"


TABLE = {
    (S.IDLE, E.START): S.RUNNING,
    (S.RUNNING, E.CRASH): S.FAILED,
    (S.FAILED, E.RESET): S.IDLE,
}


def test_listed_pairs_go_where_the_table_says():
    for (state, event), nxt in TABLE.items():
        assert next_state(TABLE, state, event) is nxt


def test_unlisted_pairs_leave_the_state_unchanged():
    listed = set(TABLE)
    for state in S:
        for event in E:
            if (state, event) not in listed:
                assert next_state(TABLE, state, event) is state


def test_next_state_does_not_change_the_table():
    before = dict(TABLE)
    next_state(TABLE, S.IDLE, E.CRASH)
    next_state(TABLE, S.IDLE, E.START)
    assert TABLE == before


def test_markdown_table_has_one_row_per_transition_in_table_order():
    assert markdown_table(TABLE) == [
        "| state | event | next state |",
        "|---|---|---|",
        "| idle | start | running |",
        "| running | crash | failed |",
        "| failed | reset | idle |",
    ]


def test_markdown_table_extra_columns_are_computed_from_the_next_state():
    serves = {S.IDLE: "no", S.RUNNING: "yes", S.FAILED: "no"}
    lines = markdown_table(TABLE, {"serves": serves.__getitem__, "alarm": lambda s: int(s is S.FAILED)})
    assert lines[0] == "| state | event | next state | serves | alarm |"
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2:] == [
        "| idle | start | running | yes | 0 |",
        "| running | crash | failed | no | 1 |",
        "| failed | reset | idle | no | 0 |",
    ]


def test_an_empty_table_is_only_the_header():
    assert markdown_table({}) == ["| state | event | next state |", "|---|---|---|"]
