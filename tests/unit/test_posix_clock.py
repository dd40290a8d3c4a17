"""clock_* bindings against the running kernel, read-only, and the guard that keeps every write off
the host's clocks. (Writes to a real PHC: tests/hardware, with APPLIANCE_HW_TESTS=1.)"""

import errno
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.hw import posix_clock as pc
from appliance.hw.uapi import timex as tx
from appliance.hw.uapi.posix_timers import FD_TO_CLOCKID


def test_clock_gettime_realtime_agrees_with_python():
    for _ in range(5):
        a = time.time_ns()
        ours = pc.clock_gettime_ns(tx.CLOCK_REALTIME)
        b = time.time_ns()
        if a <= ours <= b:
            return
    pytest.fail(f"CLOCK_REALTIME through ctypes {ours} not within [{a}, {b}]")


def test_ctypes_timespec_binding_reads_the_same_clock():
    a = pc.clock_gettime_ns_ctypes(tx.CLOCK_MONOTONIC)
    b = pc.clock_gettime_ns(tx.CLOCK_MONOTONIC)
    c = pc.clock_gettime_ns_ctypes(tx.CLOCK_MONOTONIC)
    assert a <= b <= c and c - a < 1_000_000_000


def test_monotonic_raw_and_tai_are_readable():
    assert pc.clock_gettime_ns(tx.CLOCK_MONOTONIC_RAW) > 0
    assert pc.clock_gettime_ns(tx.CLOCK_TAI) >= pc.clock_gettime_ns(tx.CLOCK_REALTIME) - 10**9


def test_adjtimex_read_matches_the_kernel_constants():
    s = pc.read_adjtimex()
    # MAXFREQ (500 ppm) and the NTP tick of the kernel are fixed; STA_NANO may or may not be set.
    assert s.tolerance_ppm == 500.0
    assert s.tick_us in (10000, 1000000 // os.sysconf("SC_CLK_TCK")) or 900 <= s.tick_us <= 11000
    assert s.state in tx.STATE_NAMES.values()
    assert s.synchronized == ("UNSYNC" not in s.status and s.state != "TIME_ERROR")
    assert set(s.to_dict()) >= {"state", "status", "freq_ppb", "maxerror_us", "tai_s"}


@pytest.mark.parametrize(
    "clockid", [tx.CLOCK_REALTIME, tx.CLOCK_MONOTONIC, tx.CLOCK_TAI, tx.CLOCK_BOOTTIME, -6, -2]
)  # negative non-dynamic ids are process/thread CPU clocks
def test_no_write_ever_reaches_a_system_clock(clockid, monkeypatch):
    called = []
    monkeypatch.setattr(pc, "_clock_settime", lambda *a: called.append(a) or 0)
    monkeypatch.setattr(pc, "_clock_adjtime", lambda *a: called.append(a) or 0)
    with pytest.raises(pc.SystemClockWriteRefused, match="never the host clock"):
        pc.clock_settime_ns(clockid, 0)
    for t in (pc.frequency_timex(1.0), pc.setoffset_timex(-1), pc.offset_timex(5)):
        with pytest.raises(pc.SystemClockWriteRefused):
            pc.clock_adjtime(clockid, t)
    assert called == []


def test_dynamic_clock_of_a_non_clock_fd_is_refused_by_the_kernel():
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        for read in (pc.clock_gettime_ns, pc.clock_gettime_ns_ctypes):
            with pytest.raises(OSError) as e:
                read(FD_TO_CLOCKID(fd))
            assert e.value.errno == errno.EINVAL
    finally:
        os.close(fd)


@given(st.floats(-1e9, 1e9, allow_nan=False))
def test_scaled_ppm_round_trip(ppb):
    scaled = pc.ppb_to_scaled_ppm(ppb)
    assert scaled == round(ppb * 65536 / 1000)
    assert abs(pc.scaled_ppm_to_ppb(scaled) - ppb) <= 0.5 / 65.536 + 1e-6


@given(st.integers(-(10**15), 10**15))
def test_setoffset_is_normalised(delta):
    t = pc.setoffset_timex(delta)
    assert 0 <= t.time.tv_usec < 1_000_000_000
    assert t.time.tv_sec * 1_000_000_000 + t.time.tv_usec == delta
    assert t.modes == tx.ADJ_SETOFFSET | tx.ADJ_NANO


def test_timex_builders_leave_everything_else_zero():
    expected = tx.timex()
    expected.modes, expected.freq = tx.ADJ_FREQUENCY, 6554
    assert bytes(pc.frequency_timex(100)) == bytes(expected)
    expected = tx.timex()
    expected.modes, expected.status, expected.offset = tx.ADJ_OFFSET | tx.ADJ_NANO, tx.STA_NANO, -7
    assert bytes(pc.offset_timex(-7)) == bytes(expected)
