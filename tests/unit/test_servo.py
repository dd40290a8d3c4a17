"""The PI servo (appliance.core.clock.servo.PiServo), in virtual time: the first sample, the frequency
estimate from the first two, the one step beyond step_threshold_ns, the clamp at max_freq_ppb, and
a closed loop that removes a constant frequency offset.

Sign convention (house rule 3): offset = local - reference; a positive frequency makes the clock
run faster. A clock that runs F ppb fast gains F ns per second."""

import math
import random

import pytest

from appliance.core.clock.servo import PiServo, ServoOutput, ServoState

MAX = 500_000.0
SEEDS = (1, 7, 2024)


def test_first_sample_only_remembers_and_keeps_the_initial_frequency():
    s = PiServo(MAX, initial_freq_ppb=123.0)
    out = s.sample(5_000, 10.0)
    assert out == ServoOutput(ServoState.UNLOCKED, 123.0, 0)
    assert not s.locked and s.drift_ppb == 123.0


@pytest.mark.parametrize("initial_ppb", [0.0, 100.0, -2_500.0])
@pytest.mark.parametrize("dt_s", [1.0, 0.25, 16.0])
def test_two_samples_estimate_the_frequency_error(initial_ppb, dt_s):
    """The clock gained 500 ns/s with `initial_ppb` applied: its own error is +500 - initial_ppb, so
    the correction to set is initial_ppb - 500."""
    s = PiServo(MAX, initial_freq_ppb=initial_ppb)
    s.sample(1_000, 100.0)
    out = s.sample(1_000 + 500 * dt_s, 100.0 + dt_s)
    assert out.state is ServoState.LOCKED and out.step_ns == 0 and s.locked
    assert out.freq_ppb == pytest.approx(initial_ppb - 500.0)
    assert s.drift_ppb == pytest.approx(initial_ppb - 500.0)


def test_a_second_sample_at_the_same_time_is_not_an_estimate():
    s = PiServo(MAX)
    s.sample(1_000, 5.0)
    for t in (5.0, 4.0):  # no interval, or time going back: nothing learned, still unlocked
        out = s.sample(9_000, t)
        assert out == ServoOutput(ServoState.UNLOCKED, 0.0, 0) and not s.locked
    out = s.sample(1_200, 6.0)  # the first sample still counts
    assert out.state is ServoState.LOCKED and out.freq_ppb == pytest.approx(-200.0)


@pytest.mark.parametrize("offset_ns", [30_000_000, -30_000_000, 20_000_001])
def test_an_offset_beyond_the_step_threshold_is_stepped_once(offset_ns):
    s = PiServo(MAX, step_threshold_ns=20_000_000)
    s.sample(offset_ns, 0.0)
    out = s.sample(offset_ns, 1.0)
    assert out.state is ServoState.JUMP and out.step_ns == -offset_ns  # step by -offset: back onto the reference
    assert out.freq_ppb == pytest.approx(0.0)
    # once locked, the servo never asks for a step again, however large the offset
    out = s.sample(offset_ns, 2.0)
    assert out.state is ServoState.LOCKED and out.step_ns == 0


def test_an_offset_at_the_step_threshold_is_slewed():
    s = PiServo(MAX, step_threshold_ns=20_000_000)
    s.sample(-20_000_000, 0.0)
    out = s.sample(-20_000_000, 1.0)
    assert out.state is ServoState.LOCKED and out.step_ns == 0


@pytest.mark.parametrize("sign", [1, -1])
def test_frequencies_are_clamped_at_max_freq_ppb(sign):
    s = PiServo(100_000.0)
    s.sample(0, 0.0)
    out = s.sample(sign * 10_000_000, 1.0)  # 10 000 000 ppb error: far beyond the clock's range
    assert out.freq_ppb == -sign * 100_000.0 and s.drift_ppb == -sign * 100_000.0
    out = s.sample(sign * 5_000_000, 2.0)  # the PI step wants more still
    assert out.freq_ppb == -sign * 100_000.0 and abs(s.drift_ppb) <= 100_000.0
    # a sample at the same instant (dt floored at 1 ms) cannot produce an unbounded correction
    out = s.sample(sign * 1_000_000, 2.0)
    assert math.isfinite(out.freq_ppb) and abs(out.freq_ppb) <= 100_000.0


def test_initial_frequency_beyond_the_range_is_clamped_by_the_estimate():
    s = PiServo(1_000.0, initial_freq_ppb=5_000.0)
    s.sample(0, 0.0)
    assert s.sample(0, 1.0).freq_ppb == 1_000.0


def test_reset_forgets_the_samples_but_keeps_the_frequency():
    s = PiServo(MAX)
    s.sample(0, 0.0)
    s.sample(300, 1.0)
    assert s.locked and s.drift_ppb == pytest.approx(-300.0)
    s.reset()
    assert not s.locked
    assert s.sample(40_000_000, 2.0) == ServoOutput(ServoState.UNLOCKED, pytest.approx(-300.0), 0)
    assert s.sample(40_000_000, 3.0).state is ServoState.JUMP  # a fresh start may step again


@pytest.mark.parametrize(
    "dt_s,drift_ppb,freq_ppb",
    [
        (0.5, -30.0, -170.0),  # integral: ki x dt of offset/dt; proportional: kp of offset/dt
        (2.0, -30.0, -65.0),
        (10.0, -10.0, -17.0),  # ki x dt = 3 is capped at 1: the integral takes at most the whole offset rate
    ],
)
def test_the_gains_are_per_second_of_interval(dt_s, drift_ppb, freq_ppb):
    s = PiServo(MAX, kp=0.7, ki=0.3)
    s.sample(0, 0.0)
    s.sample(0, 1.0)  # locked, no frequency error
    out = s.sample(100, 1.0 + dt_s)
    assert out.state is ServoState.LOCKED
    assert s.drift_ppb == pytest.approx(drift_ppb) and out.freq_ppb == pytest.approx(freq_ppb)


def test_a_proportional_gain_above_one_is_capped():
    s = PiServo(MAX, kp=2.5, ki=0.0)
    s.sample(0, 0.0)
    s.sample(0, 1.0)
    assert s.sample(100, 2.0).freq_ppb == pytest.approx(-100.0)  # never more than the whole offset per interval


def run_loop(freq_error_ppb, initial_offset_ns, interval_s, n, noise_ns=0.0, seed=0):
    """A clock `freq_error_ppb` fast, disciplined by the servo: returns the measured offsets and the
    servo. The servo's frequency is applied from each sample to the next."""
    rng = random.Random(seed)
    s = PiServo(MAX)
    phase_ns = float(initial_offset_ns)
    applied = 0.0
    offsets = []
    t = 0.0
    for _ in range(n):
        measured = phase_ns + rng.gauss(0.0, noise_ns)
        out = s.sample(measured, t)
        offsets.append(measured)
        if out.state is ServoState.JUMP:
            phase_ns += out.step_ns
        applied = out.freq_ppb
        phase_ns += (freq_error_ppb + applied) * interval_s  # ppb x s = ns
        t += interval_s
    return offsets, s


@pytest.mark.parametrize(
    "freq_error_ppb,initial_offset_ns,interval_s",
    [
        (12_345.0, 5_000.0, 1.0),
        (-40_000.0, -800_000.0, 0.25),
        (3_000.0, 50_000_000.0, 2.0),  # beyond the step threshold: stepped once, then slewed
    ],
)
def test_a_constant_frequency_offset_is_removed_and_the_offsets_shrink(freq_error_ppb, initial_offset_ns, interval_s):
    offsets, s = run_loop(freq_error_ppb, initial_offset_ns, interval_s, 200)
    assert s.drift_ppb == pytest.approx(-freq_error_ppb, abs=1e-3)
    # after the first two samples (memory, estimate) the offsets die out: each window of 10 samples
    # is smaller than the one before, until they are below a nanosecond
    windows = [max(abs(x) for x in offsets[i : i + 10]) for i in range(2, 192, 10)]
    for a, b in zip(windows, windows[1:], strict=False):
        assert b < a or b < 1.0, windows
    assert abs(offsets[-1]) < 1.0, offsets[-10:]
    if abs(initial_offset_ns) > 20_000_000:
        assert max(abs(x) for x in offsets[2:]) < 20_000_000  # stepped, not slewed 50 ms


@pytest.mark.parametrize("seed", SEEDS)
def test_with_measurement_noise_the_loop_stays_near_zero(seed):
    print(f"seed {seed}")
    offsets, s = run_loop(8_000.0, 2_000.0, 1.0, 400, noise_ns=20.0, seed=seed)
    tail = offsets[100:]
    rms = math.sqrt(sum(x * x for x in tail) / len(tail))
    assert rms < 3 * 20.0, f"seed {seed}: rms {rms:.1f} ns"
    assert s.drift_ppb == pytest.approx(-8_000.0, abs=20.0), f"seed {seed}"
