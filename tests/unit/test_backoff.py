"""Restart policy: exponential backoff, recovery after a stable run, giving up after the limit."""

import pytest

from appliance.core.backoff import RestartPolicy


def test_backoff_doubles_and_caps():
    p = RestartPolicy(base_s=1, factor=2, max_s=5, limit=100, window_s=1e9)
    delays = [p.failed(float(i), ran_s=0.1) for i in range(6)]
    assert delays == [1, 2, 4, 5, 5, 5]


def test_gives_up_after_limit_within_window():
    p = RestartPolicy(limit=3, window_s=100)
    assert p.failed(0, 0.1) is not None
    assert p.failed(10, 0.1) is not None
    assert p.failed(20, 0.1) is None and p.gave_up
    assert p.failed(30, 0.1) is None  # stays given up until reset
    p.reset()
    assert p.failed(40, 0.1) == 1


def test_old_failures_leave_the_window():
    p = RestartPolicy(limit=3, window_s=100)
    p.failed(0, 0.1)
    p.failed(10, 0.1)
    assert p.failed(200, 0.1) is not None and p.failures_in_window == 1


def test_a_stable_run_restarts_the_backoff():
    p = RestartPolicy(base_s=1, limit=100, window_s=1e9, stable_s=60)
    p.failed(0, 1)
    p.failed(1, 1)
    assert p.failed(2, 1) == 4
    assert p.failed(100, 90) == 1


def test_bad_parameters():
    with pytest.raises(ValueError):
        RestartPolicy(base_s=0)
