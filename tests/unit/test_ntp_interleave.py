"""The pure interleave table: one-shot lookups, bounded memory under many distinct sources."""

import pytest

from appliance.core.ntp.interleave import InterleaveTable, wants_tracking


def test_take_is_once():
    t = InterleaveTable(4)
    t.record(100, 200)
    assert t.take(100) == 200
    assert t.take(100) is None


def test_zero_origin_is_never_interleaved():
    t = InterleaveTable(4)
    t.record(0, 5)
    assert t.take(0) is None


def test_stays_within_limit_under_1e5_sources():
    limit = 1000
    t = InterleaveTable(limit)
    for i in range(1, 100_001):
        t.record(i << 20, (i << 20) + 7)
        assert len(t) <= limit
    assert len(t) == limit
    assert t.evicted == 100_000 - limit
    assert t.take(1 << 20) is None  # the oldest went
    assert t.take(100_000 << 20) == (100_000 << 20) + 7  # the newest stays


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        InterleaveTable(0)


def test_wants_tracking():
    same = bytes(32) + b"\x01" * 8 + b"\x01" * 8
    differ = bytes(32) + bytes(8) + b"\x01" * 8
    assert not wants_tracking(same)
    assert wants_tracking(differ)
