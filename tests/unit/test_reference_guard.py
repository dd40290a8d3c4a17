"""The discipline's reference guard: a locked clock does not follow an offset (or a runaway phase)
it cannot have made itself; it holds over, and follows again when the reference agrees, when the
vote says the majority agrees with the reference, or when the reference changed."""

import numpy as np

from appliance.core.clock.discipline import AGREE_SAMPLES, Discipline, DisciplineConfig
from appliance.core.clock.guard import PhaseGuard
from appliance.core.clock.states import SyncEvent, SyncState

SEED = 17


def _locked(seed=SEED):
    d = Discipline(DisciplineConfig(max_freq_ppb=500_000))
    rng = np.random.default_rng(seed)
    t = 0.0
    for _ in range(30):
        t += 1.0
        d.tick(t, float(rng.normal(0, 20)))
    assert d.state is SyncState.LOCKED
    return d, t, rng


def test_a_stepped_reference_is_suspect_and_not_followed():
    print(f"seed {SEED}")
    d, t, rng = _locked()
    freq = d.servo.drift_ppb
    dec = d.tick(t + 1, 5e6)  # the grandmaster stepped +5 ms
    assert dec.state is SyncState.HOLDOVER and dec.reference_suspect and dec.step_ns == 0
    assert any(e is SyncEvent.REFERENCE_SUSPECT for *_, e in dec.transitions)
    for k in range(20):  # it stays off: still not followed
        dec = d.tick(t + 2 + k, 5e6)
        assert dec.state is SyncState.HOLDOVER and dec.step_ns == 0
    assert abs(d.freq_ppb - freq) < 50  # the held frequency is the one from before
    # back within the guard: locked again after AGREE_SAMPLES in a row
    for k in range(AGREE_SAMPLES):
        dec = d.tick(t + 30 + k, float(rng.normal(0, 20)))
    assert dec.state is SyncState.LOCKED and not dec.reference_suspect


def test_the_majority_agreeing_with_the_reference_makes_it_followed():
    d, t, _ = _locked()
    d.tick(t + 1, 2e9)
    assert d.suspect
    steps = [d.tick(t + 2 + k, 2e9, accept_step=True).step_ns for k in range(3)]
    assert -2_000_000_000 in steps and not d.suspect


def test_a_new_grandmaster_is_acquired_not_suspected():
    d, t, _ = _locked()
    dec = d.tick(t + 1, 300e3, reference_changed=True)  # 300 us away, another grandmaster
    assert not dec.reference_suspect and dec.state is not SyncState.HOLDOVER


def test_a_slow_runaway_is_caught_by_the_phase_guard():
    """A reference running 50 ppm fast: the offsets stay small while the servo follows, the work
    the servo does does not."""
    g = PhaseGuard()
    freq = 0.0
    caught = None
    for k in range(1, 30):
        dev = g.deviation_ns(float(k), -20_000.0, freq, freq)  # the servo keeps the offset at -20 us
        freq = 50_000.0 * min(k, 3) / 3  # while ramping its correction up to the runaway's 50 ppm
        if abs(dev) > g.allowed_ns(100_000.0):
            caught = k
            break
    assert caught is not None and caught <= 8  # within a few seconds of 50 us each
    quiet = PhaseGuard()
    assert all(abs(quiet.deviation_ns(float(k), 0.0, 30.0, 30.0)) <= quiet.allowed_ns(100_000.0) for k in range(1, 60))


def test_a_noisy_reference_is_not_a_runaway():
    """An NTP reference: 20 us of noise per offset, each correction carrying the servo's
    proportional kick of it (0.2 x offset per second, 4 ppm). The clock itself keeps its
    frequency, so the guard must not see a runaway in the kicks."""
    print(f"seed {SEED}")
    rng = np.random.default_rng(SEED)
    g = PhaseGuard()
    drift, clock_ns, worst = 500.0, 0.0, 0.0
    applied = drift
    for k in range(1, 600):
        clock_ns += (applied - drift) * 1.0  # the clock moves only by what the kicks did
        off = clock_ns + float(rng.normal(0, 20_000))
        dev = g.deviation_ns(float(k), off, applied, drift)
        worst = max(worst, abs(dev) - g.allowed_ns(100_000.0))
        applied = drift - 0.2 * off
    assert worst <= 0.0
