"""Requests that waited too long in the receive queue are dropped and counted, never answered late."""

from appliance.core.ntp.access import AccessList
from appliance.core.ntp.answer import NtpServerCore


def test_aged_request_is_dropped_and_counted():
    core = NtpServerCore(AccessList(["0.0.0.0/0"]), max_request_age_ns=5_000_000)
    assert core.fresh(4_999_999)
    assert not core.fresh(5_000_001)
    c = core.counters()
    assert c["dropped"]["late"] == 1
    assert c["received"] == 1  # the late one; a fresh one is counted by handle
    assert c["queue_age_count"] == 2
    assert abs(c["queue_age_max_s"] - 5.000001e-3) < 1e-12


def test_no_limit_keeps_everything():
    core = NtpServerCore(AccessList(["0.0.0.0/0"]))
    assert core.fresh(10**12)
    assert core.counters()["dropped"]["late"] == 0


def test_time_not_spent_behind_other_requests_is_not_late():
    # 40 ms in the socket while the serving thread could not run (another thread held the
    # interpreter, the process was descheduled), 1 ms of it behind another request: answered,
    # and the 40 ms still show as the queue age.
    core = NtpServerCore(AccessList(["0.0.0.0/0"]), max_request_age_ns=5_000_000)
    assert core.fresh(40_000_000, 1_000_000)
    assert not core.fresh(40_000_000, 6_000_000)  # behind others for longer than the limit
    c = core.counters()
    assert c["dropped"]["late"] == 1 and c["queue_age_count"] == 2
    assert abs(c["queue_age_max_s"] - 0.04) < 1e-12
