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
