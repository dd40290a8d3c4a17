"""Against every real /dev/ptpN of this machine (lab machines). Skipped where there is none.

Read-only tests run whenever a PHC exists and can be opened. Anything that adjusts a clock runs only
with APPLIANCE_HW_TESTS=1, and then moves the PHC (frequency, steps of one second, back again): do not
run it on a PHC that a production ptp4l is disciplining. CLOCK_REALTIME is never touched.
"""

from __future__ import annotations

import errno
import glob
import os
import time

import pytest

from appliance.core.clock.interface import ClockError
from appliance.hw import posix_clock as pc
from appliance.hw.discovery import build_inventory, collect_live
from appliance.hw.errors import NotSupportedError, OutOfRangeError, PermissionClockError
from appliance.hw.phc import S32_MAX, PhcClock
from appliance.hw.timestamping import get_ts_info
from appliance.hw.uapi.posix_timers import FD_TO_CLOCKID
from helpers.wait import wait_for

pytestmark = pytest.mark.hardware
DEVICES = sorted(glob.glob("/dev/ptp[0-9]*"))
if not DEVICES:
    pytest.skip("no /dev/ptpN on this machine (hardware suite)", allow_module_level=True)
ADJUST = os.environ.get("APPLIANCE_HW_TESTS") == "1"
needs_adjust = pytest.mark.skipif(not ADJUST, reason="adjusts a real PHC: set APPLIANCE_HW_TESTS=1")


def open_or_skip(dev: str, readonly: bool = True) -> PhcClock:
    try:
        return PhcClock(dev, readonly=readonly)
    except PermissionClockError as exc:
        pytest.skip(str(exc))


def sysfs(dev: str, name: str) -> str:
    with open(f"/sys/class/ptp/{os.path.basename(os.path.realpath(dev))}/{name}") as f:
        return f.read().strip()


@pytest.fixture(params=DEVICES)
def ro(request):
    clock = open_or_skip(request.param)
    yield clock
    clock.close()


@pytest.fixture(params=DEVICES)
def rw(request):
    if not ADJUST:
        pytest.skip("adjusts a real PHC: set APPLIANCE_HW_TESTS=1")
    clock = open_or_skip(request.param, readonly=False)
    freq = clock.get_frequency_ppb()
    yield clock
    clock.adjust_frequency(freq)  # leave the frequency as found
    clock.close()


def test_caps_agree_with_sysfs(ro):
    caps = ro.caps()
    assert caps.max_adj_ppb == int(sysfs(ro.path, "max_adjustment")) > 0
    assert caps.n_pins == int(sysfs(ro.path, "n_programmable_pins"))
    assert caps.n_ext_ts == int(sysfs(ro.path, "n_external_timestamps"))
    assert caps.n_per_out == int(sysfs(ro.path, "n_periodic_outputs"))
    assert caps.pps == (sysfs(ro.path, "pps_available") == "1")
    assert ro.info().timescale == "TAI" and ro.info().details["clock_name"] == sysfs(ro.path, "clock_name")


def test_time_advances_at_the_rate_of_the_system_clock(ro):
    a_phc, a_sys = ro.gettime_ns(), time.monotonic_ns()
    time.sleep(0.2)
    b_phc, b_sys = ro.gettime_ns(), time.monotonic_ns()
    rate_error = (b_phc - a_phc) / (b_sys - a_sys) - 1
    assert abs(rate_error) < ro.caps().max_adj_ppb * 1e-9 + 1e-3


def test_offset_to_system_with_every_method_the_driver_has(ro):
    first = ro.measure_offset_to_system(samples=9)
    assert first.method in ("precise", "extended", "basic")
    if first.method == "precise":
        assert ro.caps().cross_timestamping and first.delay_ns == 0
    assert abs(first.system_ns - time.time_ns()) < 1_000_000_000
    results = {first.method: (first, time.monotonic_ns())}
    for method in ("precise", "extended", "basic"):
        if method in results or (method == "precise" and not ro.caps().cross_timestamping):
            continue
        try:
            results[method] = (ro._measure(method, 9), time.monotonic_ns())
        except ClockError:
            continue  # the driver does not offer it
    base, t0 = results[first.method]
    for m, (r, t) in results.items():
        assert r.delay_ns >= 0
        drift = abs(t - t0) * (ro.caps().max_adj_ppb * 1e-9)
        assert abs(r.offset_ns - base.offset_ns) <= r.delay_ns + base.delay_ns + drift + 10_000, (m, r, base)


def test_pins_and_frequency_read(ro):
    pins = ro.pins()
    assert len(pins) == ro.caps().n_pins and all(p.name for p in pins)
    assert abs(ro.get_frequency_ppb()) <= ro.caps().max_adj_ppb


def test_interfaces_and_discovery_agree(ro):
    inv = build_inventory(collect_live())
    phc = next(p for p in inv.phcs if p.name == f"ptp{ro.phc_index}")
    assert phc.max_adj_ppb == ro.caps().max_adj_ppb
    for ifname in phc.interfaces:
        assert get_ts_info(ifname).phc_index == ro.phc_index


def test_dynamic_clock_id_reads_the_phc(ro):
    fd = os.open(ro.path, os.O_RDONLY)
    try:
        a = pc.clock_gettime_ns(FD_TO_CLOCKID(fd))
        b = ro.gettime_ns()
        assert 0 <= b - a < 1_000_000_000
    finally:
        os.close(fd)


def rate_ppb(a, b) -> tuple[float, float]:
    """PHC rate relative to the system clock between two measurements, and its uncertainty (ppb)."""
    dt = b.system_ns - a.system_ns
    return (b.offset_ns - a.offset_ns) / dt * 1e9, (a.delay_ns + b.delay_ns) / dt * 1e9


@needs_adjust
def test_frequency_adjustment_changes_the_rate(rw):
    step_ppb = min(1_000_000, rw.caps().max_adj_ppb // 2)
    rw.adjust_frequency(0)
    assert rw.get_frequency_ppb() == pytest.approx(0, abs=1 / 65.536)
    m0 = rw.measure_offset_to_system()
    time.sleep(0.5)
    base, u0 = rate_ppb(m0, rw.measure_offset_to_system())  # the two oscillators' own difference
    rw.adjust_frequency(step_ppb)
    assert rw.get_frequency_ppb() == pytest.approx(step_ppb, abs=1 / 65.536)
    m2 = rw.measure_offset_to_system()
    time.sleep(0.5)
    steered, u1 = rate_ppb(m2, rw.measure_offset_to_system())
    assert abs((steered - base) - step_ppb) < 0.01 * step_ppb + u0 + u1 + 1000, (steered, base, step_ppb)


@needs_adjust
def test_out_of_range_frequency(rw):
    with pytest.raises(OutOfRangeError):
        rw.adjust_frequency(rw.caps().max_adj_ppb * 1.01 + 1)
    with pytest.raises(OSError) as e:  # the kernel's own check, bypassing ours
        pc.clock_adjtime(rw._clockid, pc.frequency_timex(rw.caps().max_adj_ppb * 1.5 + 1000))
    assert e.value.errno == errno.ERANGE


@needs_adjust
@pytest.mark.parametrize("delta_ns", [1_000_000_000, -1_500_000_000])
def test_steps_forward_and_back(rw, delta_ns):
    before = rw.measure_offset_to_system()
    rw.step(delta_ns)
    mid = rw.measure_offset_to_system()
    rw.step(-delta_ns)
    after = rw.measure_offset_to_system()
    assert abs((mid.offset_ns - before.offset_ns) - delta_ns) < 1_000_000
    assert abs(after.offset_ns - before.offset_ns) < 2_000_000


@needs_adjust
def test_settime_then_restore(rw):
    t = rw.gettime_ns()
    rw.settime_ns(t + 2_000_000_000)
    assert 2_000_000_000 <= rw.gettime_ns() - t < 3_000_000_000
    rw.step(-2_000_000_000)


def test_phase_caps_agree_with_the_kernel(ro):
    """PTP_CLOCK_GETCAPS: adjust_phase = the driver has adjphase (and, from 6.2, getmaxphase);
    max_phase_adj is getmaxphase() then, else 0. sysfs max_phase_adjustment shows the same number."""
    caps = ro.caps()
    if not caps.adjust_phase:
        assert caps.max_phase_adj_ns == 0
        return
    assert caps.max_phase_adj_ns >= 0  # 0: a kernel older than 6.2 (no getmaxphase, the field reserved)
    path = f"/sys/class/ptp/{os.path.basename(os.path.realpath(ro.path))}/max_phase_adjustment"
    if os.path.exists(path):
        assert caps.max_phase_adj_ns == int(sysfs(ro.path, "max_phase_adjustment")) > 0


def phase_limit_ns(caps) -> int:
    return caps.max_phase_adj_ns if caps.max_phase_adj_ns > 0 else S32_MAX


def moved_ns(clock, ref, rate_ppb: float):
    """A fresh PHC - system measurement, and how far the PHC moved since ``ref`` beyond its own rate
    (the two oscillators' difference, ``rate_ppb``, extrapolated from ``ref``)."""
    m = clock.measure_offset_to_system(samples=9)
    return m, m.offset_ns - (ref.offset_ns + rate_ppb * (m.system_ns - ref.system_ns) / 1e9)


@needs_adjust
def test_phase_adjustment_moves_the_clock_by_the_offset_and_keeps_its_frequency(rw):
    """clock_adjtime(ADJ_OFFSET | ADJ_NANO, offset) on a PHC (drivers/ptp/ptp_clock.c,
    ptp_clock_adjtime) hands ``offset`` ns to the driver's adjphase(): the hardware moves the clock's
    phase by that much (positive: ahead, as ADJ_SETOFFSET), with its own servo, so gradually at a
    driver-specific rate; the dialed frequency (what a modes-0 read returns) is not touched. Here:
    +offset, then -offset, each seen in PHC - CLOCK_REALTIME beyond the oscillators' own drift."""
    caps = rw.caps()
    if not caps.adjust_phase:
        pytest.skip("driver has no adjphase (see test_phase_adjustment_is_refused_without_adjphase)")
    offset_ns = min(phase_limit_ns(caps), 1_000_000)
    freq = rw.get_frequency_ppb()
    a = rw.measure_offset_to_system(samples=9)
    time.sleep(3.0)  # the oscillators' rate difference, to extrapolate the offset without the adjustment
    ref = rw.measure_offset_to_system(samples=9)
    rate, rate_u = rate_ppb(a, ref)

    def tolerance_ns(m) -> float:  # 2 % of the move, both read windows, the rate's uncertainty so far
        return 0.02 * offset_ns + m.delay_ns + ref.delay_ns + rate_u * (m.system_ns - ref.system_ns) / 1e9 + 2_000

    if tolerance_ns(ref) + rate_u * 5 > offset_ns / 4:  # what a driver that takes 5 s to apply it would need
        pytest.skip(
            f"the PHC - system measurement (window {ref.delay_ns} ns, rate +-{rate_u:.0f} ppb) cannot "
            f"resolve a {offset_ns} ns phase adjustment"
        )
    for step_ns, expect_ns in ((offset_ns, offset_ns), (-offset_ns, 0)):
        rw.adjust_phase(step_ns)
        m, moved = wait_for(
            lambda: moved_ns(rw, ref, rate),
            30,
            0.1,
            f"the PHC to move {step_ns:+d} ns (to {expect_ns:+d} ns from the start) after adjphase",
            until=lambda v, expect_ns=expect_ns: abs(v[1] - expect_ns) <= tolerance_ns(v[0]),
            describe=lambda v: f"moved {v[1]:+.0f} ns (tolerance {tolerance_ns(v[0]):.0f} ns), {v[0]}",
        )
        print(
            f"adjphase {step_ns:+d} ns: moved {moved:+.0f} ns from the start (expected {expect_ns:+d}, "
            f"tolerance {tolerance_ns(m):.0f} ns)"
        )
        assert rw.get_frequency_ppb() == freq  # ADJ_OFFSET leaves the dialed frequency as it was


@needs_adjust
def test_phase_adjustment_beyond_max_phase_adj_is_refused(rw):
    """Ours refuses |offset| > max_phase_adj (OutOfRangeError) before the syscall; the kernel (6.2+)
    refuses it too (ERANGE) when asked directly; |offset| == max_phase_adj is allowed."""
    caps = rw.caps()
    if not caps.adjust_phase:
        pytest.skip("driver has no adjphase")
    limit = phase_limit_ns(caps)
    if limit >= S32_MAX:
        pytest.skip("max_phase_adj unknown (kernel older than 6.2): nothing beyond it fits the s32 offset")
    freq = rw.get_frequency_ppb()
    for offset in (limit + 1, -(limit + 1)):
        with pytest.raises(OutOfRangeError, match="max_phase_adj"):
            rw.adjust_phase(offset)
        with pytest.raises(OSError) as e:  # the kernel's own check, bypassing ours
            pc.clock_adjtime(rw._clockid, pc.offset_timex(offset))
        assert e.value.errno == errno.ERANGE
    assert rw.get_frequency_ppb() == freq


@needs_adjust
def test_phase_adjustment_is_refused_without_adjphase(rw):
    """Without adjphase in the driver, PhcClock says so (NotSupportedError) and the kernel's
    ptp_clock_adjtime returns EOPNOTSUPP for ADJ_OFFSET: nothing else is done with the offset."""
    if rw.caps().adjust_phase:
        pytest.skip("driver has adjphase")
    with pytest.raises(NotSupportedError, match="cannot adjust phase"):
        rw.adjust_phase(1000)
    with pytest.raises(OSError) as e:
        pc.clock_adjtime(rw._clockid, pc.offset_timex(1000))
    assert e.value.errno == errno.EOPNOTSUPP
