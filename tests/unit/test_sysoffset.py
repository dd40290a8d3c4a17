import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.clock.sysoffset import NoValidSample, best_of, brackets_from_interleaved, from_cross_timestamp

T0 = 1_800_000_000_000_000_000


@given(
    offset=st.integers(-(10**12), 10**12),
    windows=st.lists(st.integers(0, 100_000), min_size=1, max_size=25),
    biases=st.lists(st.integers(1, 10**6), min_size=25, max_size=25),
)
def test_shortest_window_wins_and_its_midpoint_is_the_system_time(offset, windows, biases):
    brackets, t = [], T0
    best = min(windows)
    first_best = windows.index(best)
    for i, w in enumerate(windows):
        bias = 0 if i == first_best else biases[i]
        brackets.append((t, t + w // 2 + offset + bias, t + w))
        t += w + 1000
    m = best_of(brackets, "extended")
    assert m.delay_ns == best and m.offset_ns == offset and m.method == "extended"
    start = brackets[first_best][0]
    assert m.system_ns == start + best // 2


def test_negative_windows_are_skipped():
    m = best_of([(100, 5000, 50), (200, 1300, 400)], "basic")  # first: system clock stepped back
    assert m.delay_ns == 200 and m.offset_ns == 1300 - 300
    with pytest.raises(NoValidSample):
        best_of([(100, 5, 50)], "basic")


def test_interleaved_stamps():
    assert brackets_from_interleaved([0, 10, 20, 30, 40]) == [(0, 10, 20), (20, 30, 40)]
    for bad in ([0, 1], [0], [0, 1, 2, 3]):
        with pytest.raises(ValueError):
            brackets_from_interleaved(bad)


def test_cross_timestamp_has_no_window():
    m = from_cross_timestamp(device_ns=T0 + 37_000_000_000, system_ns=T0)
    assert (m.offset_ns, m.delay_ns, m.system_ns, m.method) == (37_000_000_000, 0, T0, "precise")
