"""helpers.wait.wait_for: returns the first satisfying value, is bounded, and names what it waited
for and the last value seen when it gives up."""

import itertools
import time

import pytest

from helpers.wait import WaitTimeout, wait_for


def test_returns_the_first_truthy_value_without_sleeping_when_already_true():
    t0 = time.monotonic()
    assert wait_for(lambda: {"state": "locked"}, 5, 1.0, "the lock") == {"state": "locked"}
    assert time.monotonic() - t0 < 0.5


def test_polls_until_true_and_returns_that_value():
    values = iter([0, 0, None, "", 7, 8])
    assert wait_for(lambda: next(values), 5, 0.01, "a number") == 7


def test_until_judges_the_probe_value_and_that_value_is_returned():
    counter = itertools.count()
    assert wait_for(lambda: next(counter), 5, 0.001, "three", until=lambda n: n >= 3) == 3


def test_times_out_naming_what_and_the_last_value():
    counter = itertools.count()
    t0 = time.monotonic()
    with pytest.raises(WaitTimeout) as e:
        wait_for(lambda: ("state", next(counter)), 0.3, 0.05, "the appliance to lock", until=lambda v: False)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.5  # bounded: the deadline, not a try count, ends it
    msg = str(e.value)
    assert "the appliance to lock" in msg and "0.3 s" in msg
    last = e.value.last
    assert last[0] == "state" and f"('state', {last[1]})" in msg and last[1] >= 3
    assert isinstance(e.value, AssertionError)  # pytest reports it as a failed check


def test_a_last_look_at_the_deadline():
    """A probe that turns true between the last sleep and the deadline is still seen."""
    t0 = time.monotonic()
    assert wait_for(lambda: time.monotonic() - t0 >= 0.25, 0.25, 10.0, "the deadline")


def test_exceptions_propagate_unless_ignored_and_an_ignored_one_is_reported():
    def boom():
        raise KeyError("gone")

    with pytest.raises(KeyError):
        wait_for(boom, 5, 0.01, "x")
    with pytest.raises(WaitTimeout, match=r"the socket.*ConnectionRefusedError\('not yet'\)"):
        wait_for(
            lambda: (_ for _ in ()).throw(ConnectionRefusedError("not yet")), 0.1, 0.02, "the socket", ignore=(OSError,)
        )
    seq = iter([OSError("a"), OSError("b"), "up"])

    def flaky():
        v = next(seq)
        if isinstance(v, Exception):
            raise v
        return v

    assert wait_for(flaky, 5, 0.01, "up", ignore=(OSError,)) == "up"


def test_describe_shapes_the_message_and_long_values_are_shortened():
    with pytest.raises(WaitTimeout, match="summary: 3 nodes"):
        wait_for(
            lambda: [0, 0, 0], 0.05, 0.01, "x", until=lambda v: False, describe=lambda v: f"summary: {len(v)} nodes"
        )
    with pytest.raises(WaitTimeout) as e:
        wait_for(lambda: "y" * 100_000, 0.05, 0.01, "x", until=lambda v: False)
    assert len(str(e.value)) < 3000 and "characters" in str(e.value)


def test_misuse_is_refused():
    with pytest.raises(TypeError):
        wait_for(lambda: True, 5, "what comes third is the interval", "x")  # the old helpers' order
    with pytest.raises(TypeError):
        wait_for(lambda: True, 5, 0.1, "")
    with pytest.raises(ValueError):
        wait_for(lambda: True, 5, 0, "x")
