"""PhcClock against a simulated PTP driver: the ioctl and clock_* calls are answered the way the
kernel's ptp_chardev.c / ptp_clock.c and a driver would, so that method selection, fallbacks,
struct filling, unit conversions and error messages are exercised without hardware.
(tests/hardware runs the same operations against a real /dev/ptpN.)"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os

import pytest

from appliance.core.clock.interface import ClockError
from appliance.hw import phc as phc_mod
from appliance.hw import phc_device, phc_pins
from appliance.hw import posix_clock as pc
from appliance.hw.errors import DeviceGoneError, NotSupportedError, OutOfRangeError, PermissionClockError, explain
from appliance.hw.uapi import ptp_clock as ptp
from appliance.hw.uapi import timex as tx
from appliance.hw.uapi.posix_timers import FD_TO_CLOCKID

REAL_IOCTL = fcntl.ioctl
OFFSET_NS = 37_000_001_234  # PHC (TAI) ahead of the system clock (UTC) by 37 s + 1234 ns


class FakeDriver:
    """One PHC as the kernel presents it. ``fail`` maps an ioctl base name to an errno (or a list of
    errnos consumed one call at a time)."""

    def __init__(self, caps=None, fail=None, has_v2=True, windows=(900, 300, 700, 500, 800)):
        self.caps = dict(
            max_adj=62_499_999,
            n_ext_ts=2,
            n_per_out=2,
            pps=1,
            n_pins=4,
            cross_timestamping=1,
            adjust_phase=1,
            max_phase_adj=200_000,
        )
        self.caps.update(caps or {})
        self.fail = dict(fail or {})
        self.has_v2 = has_v2
        self.windows = windows
        self.calls: list[str] = []
        self.adjtimex: list[tx.timex] = []
        self.freq_scaled = 0
        self.pins = {i: (ptp.PTP_PF_NONE, 0) for i in range(self.caps["n_pins"])}
        self.fd = -1
        self.sys_ns = 1_800_000_000_000_000_000

    def _maybe_fail(self, base: str):
        err = self.fail.get(base)
        if isinstance(err, list):
            err = err.pop(0) if err else None
        if err:
            raise OSError(err, os.strerror(err))

    def ioctl(self, fd, request, arg=0, mutate=True):
        if fd != self.fd:
            return REAL_IOCTL(fd, request, arg, mutate)
        name = ptp.IOCTL_NAMES[request]
        self.calls.append(name)
        if name.endswith("2") and not self.has_v2:
            raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")
        base = name[:-1] if name.endswith("2") else name
        self._maybe_fail(base)
        getattr(self, base.lower())(arg)
        return 0

    # handlers, named after the ioctl
    def ptp_clock_getcaps(self, caps):
        for k, v in self.caps.items():
            setattr(caps, k, v)

    def ptp_sys_offset_precise(self, buf):
        self.sys_ns += 1000
        buf.device = ptp.ptp_clock_time.from_ns(self.sys_ns + OFFSET_NS)
        buf.sys_realtime = ptp.ptp_clock_time.from_ns(self.sys_ns)

    def _bracket(self, i):
        """Readings whose clock stamp is exactly mid-window, except that long windows are biased:
        only the shortest window gives the true offset."""
        window = self.windows[i % len(self.windows)]
        t1 = self.sys_ns
        bias = 0 if window == min(self.windows) else window  # a disturbed reading
        tp = t1 + window // 2 + OFFSET_NS + bias
        self.sys_ns += window + 100
        return t1, tp, t1 + window

    def ptp_sys_offset_extended(self, buf):
        assert buf.clockid == tx.CLOCK_REALTIME and 1 <= buf.n_samples <= ptp.PTP_MAX_SAMPLES
        for i in range(buf.n_samples):
            for j, v in enumerate(self._bracket(i)):
                buf.ts[i][j] = ptp.ptp_clock_time.from_ns(v)

    def ptp_sys_offset(self, buf):
        """Interleaved: sys0, phc0, sys1, ..., sysN; reading i is bracketed by sys_i and sys_i+1."""
        t = self.sys_ns
        for i in range(buf.n_samples):
            window = self.windows[i % len(self.windows)]
            bias = 0 if window == min(self.windows) else window
            buf.ts[2 * i] = ptp.ptp_clock_time.from_ns(t)
            buf.ts[2 * i + 1] = ptp.ptp_clock_time.from_ns(t + window // 2 + OFFSET_NS + bias)
            t += window
        buf.ts[2 * buf.n_samples] = ptp.ptp_clock_time.from_ns(t)
        self.sys_ns = t

    def ptp_pin_getfunc(self, desc):
        desc.name = f"SDP{desc.index}".encode()
        desc.func, desc.chan = self.pins[desc.index]

    def ptp_pin_setfunc(self, desc):
        self.pins[desc.index] = (desc.func, desc.chan)

    def ptp_extts_request(self, req):
        self.last_extts = (req.index, req.flags)

    def ptp_perout_request(self, req):
        self.last_perout = req

    def ptp_enable_pps(self, arg):
        self.pps_enabled = arg

    # clock_* on the dynamic clock id
    def clock_gettime_ns(self, clockid):
        assert clockid == FD_TO_CLOCKID(self.fd)
        self._maybe_fail("clock_gettime")
        return self.sys_ns + OFFSET_NS

    def clock_adjtime(self, clockid, t):
        assert clockid == FD_TO_CLOCKID(self.fd)
        self._maybe_fail("clock_adjtime")
        snapshot = tx.timex.from_buffer_copy(t)
        self.adjtimex.append(snapshot)
        if t.modes & tx.ADJ_FREQUENCY:
            self.freq_scaled = t.freq
        if t.modes == 0:
            t.freq = self.freq_scaled
        return tx.TIME_OK


@pytest.fixture
def make_clock(monkeypatch):
    made = []

    def make(driver: FakeDriver | None = None, **kw):
        driver = driver or FakeDriver()
        real_open = os.open

        def fake_open(path, flags, *a):
            fd = real_open(path, flags, *a)
            driver.fd = fd
            return fd

        monkeypatch.setattr(phc_device.os, "open", fake_open)
        monkeypatch.setattr(phc_device.fcntl, "ioctl", driver.ioctl)
        monkeypatch.setattr(pc, "clock_gettime_ns", driver.clock_gettime_ns)
        monkeypatch.setattr(pc, "clock_adjtime", driver.clock_adjtime)
        clock = phc_mod.PhcClock("/dev/null", find_sensor=False, **kw)
        made.append(clock)
        return clock, driver

    yield make
    for c in made:
        c.close()


def test_caps_are_the_drivers(make_clock):
    clock, _ = make_clock(FakeDriver(caps={"max_adj": 100_000_000, "n_pins": 3}))
    caps = clock.caps()
    assert caps.max_adj_ppb == 100_000_000 and caps.n_pins == 3 and caps.pps and caps.cross_timestamping
    assert caps.max_phase_adj_ns == 200_000
    assert clock.info().timescale == "TAI" and clock.info().kind == "phc"


def test_precise_when_the_driver_cross_timestamps(make_clock):
    clock, drv = make_clock()
    m = clock.measure_offset_to_system()
    assert (m.method, m.offset_ns, m.delay_ns) == ("precise", OFFSET_NS, 0)
    assert drv.calls[-1] == "PTP_SYS_OFFSET_PRECISE2"


@pytest.mark.parametrize("err", [errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL])
def test_falls_back_to_extended_and_remembers(make_clock, err):
    clock, drv = make_clock(FakeDriver(fail={"PTP_SYS_OFFSET_PRECISE": err}))
    m = clock.measure_offset_to_system(samples=5)
    assert m.method == "extended"
    assert m.offset_ns == OFFSET_NS and m.delay_ns == 300  # the shortest window, unbiased
    drv.calls.clear()
    clock.measure_offset_to_system()
    assert drv.calls == ["PTP_SYS_OFFSET_EXTENDED2"]
    assert clock.info().details["offset_method"] == "extended"


def test_no_precise_attempt_without_cross_timestamping(make_clock):
    clock, drv = make_clock(FakeDriver(caps={"cross_timestamping": 0}))
    assert clock.measure_offset_to_system().method == "extended"
    assert "PTP_SYS_OFFSET_PRECISE2" not in drv.calls


def test_basic_when_nothing_better(make_clock):
    drv = FakeDriver(caps={"cross_timestamping": 0}, fail={"PTP_SYS_OFFSET_EXTENDED": errno.EOPNOTSUPP})
    clock, _ = make_clock(drv)
    m = clock.measure_offset_to_system(samples=5)
    assert m.method == "basic" and m.offset_ns == OFFSET_NS and m.delay_ns == 300


def test_busy_precise_is_retried_then_abandoned(make_clock):
    drv = FakeDriver(fail={"PTP_SYS_OFFSET_PRECISE": [errno.EBUSY, errno.EBUSY]})
    clock, _ = make_clock(drv)
    assert clock.measure_offset_to_system().method == "precise"  # third try works
    drv2 = FakeDriver(fail={"PTP_SYS_OFFSET_PRECISE": [errno.EBUSY] * 3})
    clock2, _ = make_clock(drv2)
    assert clock2.measure_offset_to_system().method == "extended"


def test_old_kernel_without_v2_ioctls(make_clock):
    clock, drv = make_clock(FakeDriver(has_v2=False))
    assert clock.caps().max_adj_ppb == 62_499_999
    assert clock.measure_offset_to_system().method == "precise"
    assert "PTP_CLOCK_GETCAPS" in drv.calls and "PTP_SYS_OFFSET_PRECISE" in drv.calls


def test_samples_are_clamped_to_the_kernel_maximum(make_clock):
    clock, _ = make_clock(FakeDriver(caps={"cross_timestamping": 0}))
    assert clock.measure_offset_to_system(samples=1000).method == "extended"  # n_samples 25 asserted by driver
    assert clock.measure_offset_to_system(samples=0).delay_ns == 900  # one sample: the first window


def test_every_method_failing_says_why(make_clock):
    drv = FakeDriver(
        fail={
            "PTP_SYS_OFFSET_PRECISE": errno.EOPNOTSUPP,
            "PTP_SYS_OFFSET_EXTENDED": errno.EOPNOTSUPP,
            "PTP_SYS_OFFSET": errno.EOPNOTSUPP,
        }
    )
    clock, _ = make_clock(drv)
    with pytest.raises(ClockError, match="no way to compare.*PTP_SYS_OFFSET_PRECISE2.*not supported"):
        clock.measure_offset_to_system()


def test_device_gone(make_clock):
    clock, drv = make_clock()
    drv.fail["PTP_SYS_OFFSET_PRECISE"] = errno.ENODEV
    with pytest.raises(DeviceGoneError, match="device gone.*appliance discover"):
        clock.measure_offset_to_system()
    drv.fail["clock_gettime"] = errno.ENODEV
    with pytest.raises(DeviceGoneError):
        clock.gettime_ns()


def test_permission_message(make_clock):
    clock, drv = make_clock()
    drv.fail["clock_adjtime"] = errno.EPERM
    with pytest.raises(PermissionClockError, match="CAP_SYS_TIME"):
        clock.adjust_frequency(10)


def test_frequency_is_scaled_ppm_and_checked_against_max_adj(make_clock):
    clock, drv = make_clock()
    clock.adjust_frequency(-12_345.6)
    t = drv.adjtimex[-1]
    assert t.modes == tx.ADJ_FREQUENCY and t.freq == round(-12_345.6 * 65.536)
    assert clock.get_frequency_ppb() == pytest.approx(-12_345.6, abs=1 / 65.536)
    n = len(drv.adjtimex)
    for bad in (62_500_000, -70_000_000, float("nan"), float("inf")):
        with pytest.raises(OutOfRangeError, match="max_adj 62499999 ppb"):
            clock.adjust_frequency(bad)
    assert len(drv.adjtimex) == n  # nothing half-applied
    drv.fail["clock_adjtime"] = errno.ERANGE
    with pytest.raises(OutOfRangeError, match="out of the range"):
        clock.adjust_frequency(1)


@pytest.mark.parametrize(
    "delta,sec,nsec",
    [
        (-1_500_000_000, -2, 500_000_000),
        (-1, -1, 999_999_999),
        (2_000_000_001, 2, 1),
        (0, 0, 0),
        (-3_000_000_000, -3, 0),
    ],
)
def test_negative_steps_are_normalised(make_clock, delta, sec, nsec):
    clock, drv = make_clock()
    clock.step(delta)
    t = drv.adjtimex[-1]
    assert t.modes == tx.ADJ_SETOFFSET | tx.ADJ_NANO
    assert (t.time.tv_sec, t.time.tv_usec) == (sec, nsec)
    assert t.time.tv_sec * 1_000_000_000 + t.time.tv_usec == delta


def test_phase_adjustment(make_clock):
    clock, drv = make_clock()
    clock.adjust_phase(-150_000)
    t = drv.adjtimex[-1]
    assert t.modes == tx.ADJ_OFFSET | tx.ADJ_NANO and t.offset == -150_000 and t.status & tx.STA_NANO
    with pytest.raises(OutOfRangeError, match="max_phase_adj 200000"):
        clock.adjust_phase(200_001)
    clock2, _ = make_clock(FakeDriver(caps={"adjust_phase": 0}))
    with pytest.raises(NotSupportedError, match="cannot adjust phase"):
        clock2.adjust_phase(1)


def test_readonly_clock_refuses_writes(make_clock):
    clock, drv = make_clock(readonly=True)
    for op in (
        lambda: clock.adjust_frequency(1),
        lambda: clock.step(1),
        lambda: clock.settime_ns(1),
        lambda: clock.adjust_phase(1),
        lambda: clock.enable_pps(True),
        lambda: clock.set_pin_function(0, "extts"),
    ):
        with pytest.raises(ClockError, match="read-only"):
            op()
    assert drv.adjtimex == []
    assert clock.gettime_ns() > 0


def test_pins_extts_perout_pps(make_clock):
    clock, drv = make_clock()
    assert [p.name for p in clock.pins()] == ["SDP0", "SDP1", "SDP2", "SDP3"]
    clock.set_pin_function(1, "extts", 0)
    assert clock.pins()[1].function == "extts"
    with pytest.raises(OutOfRangeError):
        clock.set_pin_function(4, "perout")
    with pytest.raises(ClockError, match="unknown pin function"):
        clock.set_pin_function(0, "gpio")
    clock.request_extts(1, rising=True, falling=True)
    assert drv.last_extts == (1, ptp.PTP_ENABLE_FEATURE | ptp.PTP_STRICT_FLAGS | ptp.PTP_EXTTS_EDGES)
    clock.request_extts(1, enable=False)
    assert drv.last_extts == (1, 0)
    with pytest.raises(OutOfRangeError):
        clock.request_extts(2)
    clock.request_perout(0, 1_000_000_000, on_ns=100_000_000)
    req = drv.last_perout
    assert req.period.ns() == 1_000_000_000 and req.on.ns() == 100_000_000
    assert req.flags == ptp.PTP_PEROUT_DUTY_CYCLE
    assert req.start.ns() % 1_000_000_000 == 0 and req.start.ns() > clock.gettime_ns()
    clock.request_perout(1, 1_000_000_000, phase_ns=250)
    assert drv.last_perout.flags == ptp.PTP_PEROUT_PHASE and drv.last_perout.phase.ns() == 250
    with pytest.raises(OutOfRangeError):
        clock.request_perout(0, 1000, on_ns=1000)
    clock.enable_pps(True)
    assert drv.pps_enabled == 1


def test_extts_falls_back_to_v1_flags(make_clock):
    clock, drv = make_clock(FakeDriver(has_v2=False))
    clock.request_extts(0)
    assert drv.last_extts == (0, ptp.PTP_ENABLE_FEATURE | ptp.PTP_RISING_EDGE)  # no strict flag in v1


def test_extts_events_are_read_as_whole_records(make_clock):
    clock, _ = make_clock()
    events = (ptp.ptp_extts_event * 2)()
    events[0].t = ptp.ptp_clock_time.from_ns(1_700_000_000_123_456_789)
    events[0].index = 1
    events[1].t = ptp.ptp_clock_time.from_ns(1_700_000_001_123_456_790)
    raw = bytes(events)
    assert [(e.index, e.time_ns) for e in phc_pins.parse_extts_events(raw)] == [
        (1, 1_700_000_000_123_456_789),
        (0, 1_700_000_001_123_456_790),
    ]
    with pytest.raises(ClockError, match="whole number"):
        phc_pins.parse_extts_events(raw[:-1])
    r, w = os.pipe()
    os.close(clock._fd)
    clock._fd = r  # the driver's event queue, as a pipe
    assert clock.read_extts(timeout_s=0.01) == []
    os.write(w, raw)
    assert [e.index for e in clock.read_extts(timeout_s=1)] == [1, 0]
    os.close(w)


def test_closed_clock(make_clock):
    clock, _ = make_clock()
    clock.close()
    clock.close()
    with pytest.raises(ClockError, match="closed"):
        clock.gettime_ns()


def test_struct_sizes_are_what_the_ioctl_numbers_encode():
    for name in ptp.IOCTLS:
        req = getattr(ptp, name)
        size = (req >> 16) & 0x3FFF
        arg = {"PTP_ENABLE_PPS": ctypes.c_int, "PTP_MASK_EN_SINGLE": ctypes.c_uint}.get(name.rstrip("2"))
        if name == "PTP_MASK_CLEAR_ALL":
            assert size == 0
        elif arg is not None:
            assert size == ctypes.sizeof(arg)


def test_is_a_clock(make_clock):
    from appliance.core.clock.interface import Clock

    clock, _ = make_clock()
    assert isinstance(clock, Clock)


def test_remembered_method_that_stops_working_is_replaced_in_the_same_call(make_clock):
    clock, drv = make_clock()
    assert clock.measure_offset_to_system().method == "precise"
    drv.fail["PTP_SYS_OFFSET_PRECISE"] = errno.EOPNOTSUPP  # e.g. PTM switched off
    assert clock.measure_offset_to_system().method == "extended"
    assert clock.measure_offset_to_system().method == "extended"


def test_driver_refusal_of_a_v2_request_is_not_retried_as_v1(make_clock):
    clock, drv = make_clock()
    drv.fail["PTP_EXTTS_REQUEST"] = errno.EOPNOTSUPP  # mlx5 refuses both edges with PTP_STRICT_FLAGS
    with pytest.raises(NotSupportedError):
        clock.request_extts(0, rising=True, falling=True)
    assert drv.calls[-1] == "PTP_EXTTS_REQUEST2"
    drv.fail["PTP_PEROUT_REQUEST"] = errno.EINVAL
    with pytest.raises(NotSupportedError):
        clock.request_perout(0, 1_000_000_000)
    assert drv.calls[-1] == "PTP_PEROUT_REQUEST2"


def test_the_lab_measures_with_a_named_method_and_the_kernel_guards_the_range(make_clock):
    """The lab compares the methods (not the remembered best one) and tests the kernel's own
    refusal of a frequency beyond max_adj (not this class's guard)."""
    clock, drv = make_clock()
    assert clock.measure_with("extended", 5).method == "extended"
    assert drv.calls[-1] == "PTP_SYS_OFFSET_EXTENDED2"
    assert clock.measure_with("basic", 5).method == "basic"
    with pytest.raises(ClockError, match="unknown sys-offset method"):
        clock.measure_with("fast")
    clock, drv = make_clock(FakeDriver(caps={"cross_timestamping": 0}))
    with pytest.raises(NotSupportedError, match="cross_timestamping is 0"):
        clock.measure_with("precise")
    clock.adjust_frequency_unguarded(70_000_000)  # beyond max_adj: the kernel, not us, decides
    assert drv.adjtimex[-1].freq == round(70_000_000 * 65.536)


def test_the_lab_tries_every_sys_offset_method():
    """PhcLab.read_methods imported its list from a module that no longer had it."""
    from appliance.lab.device import PhcLab

    assert PhcLab.__new__(PhcLab).read_methods() == ["precise", "extended", "basic"]


def test_an_explained_error_keeps_the_errno():
    for code in (errno.EIO, errno.EPERM, errno.EBUSY, errno.EOVERFLOW):
        err = explain(OSError(code, os.strerror(code)), "PTP_CLOCK_GETCAPS", "/dev/ptp0")
        assert isinstance(err, ClockError) and err.errno == code
