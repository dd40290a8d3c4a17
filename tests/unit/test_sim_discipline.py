"""The simulated PHC, the servo and the discipline state machine, in virtual time (no sleeping)."""

import numpy as np
import pytest

from appliance.core.clock.discipline import Discipline, DisciplineConfig
from appliance.core.clock.interface import Clock, ClockError
from appliance.core.clock.states import HEALTHY, TRANSITIONS, SyncEvent, SyncState, describe
from appliance.core.fsm import next_state
from appliance.sim.oscillator import Oscillator, draw_params, simulate
from appliance.sim.phc import SimPhc, VirtualClock
from appliance.sim.reference import SimReference
from appliance.sim.temperature import DiurnalHvac


def make(osc="tcxo", seed=3, initial_error_ns=0):
    truth = VirtualClock()
    profile = DiurnalHvac(seed=seed)
    params = draw_params(osc, seed)
    clock = SimPhc(
        Oscillator(params, seed, profile.temp_c(0.0)), profile.temp_c, truth_ns=truth, initial_error_ns=initial_error_ns
    )
    return truth, clock


def test_simphc_implements_the_clock_interface():
    _, clock = make()
    assert isinstance(clock, Clock)


def test_same_seed_same_clock_other_seed_other_clock():
    runs = []
    for seed in (3, 3, 4):
        truth, clock = make(seed=seed)
        for _ in range(600):
            truth.advance(1.0)
        runs.append(clock.error_ns())
    assert runs[0] == runs[1] != runs[2]


def test_free_running_tcxo_drifts_within_its_class():
    truth, clock = make("tcxo", seed=5)
    truth.advance(3600)
    # a TCXO: within +-0.5 ppm -> at most 1.8 ms in an hour, and not zero
    assert 0 < abs(clock.error_ns()) < 1.8e6


def test_frequency_correction_cancels_the_oscillator():
    truth, clock = make("xo", seed=2)
    truth.advance(1)
    clock.adjust_frequency(-clock.oscillator_freq_ppb())
    e0 = clock.error_ns()
    truth.advance(10)
    # a few seconds of residual temperature change and noise only: far below the raw ~ppm drift
    assert abs(clock.error_ns() - e0) < 200


def test_step_settime_and_max_adj():
    truth, clock = make("ideal")
    clock.step(-1_500_000_000)
    assert clock.gettime_ns() - truth() == -1_500_000_000
    clock.settime_ns(truth() + 42)
    assert clock.gettime_ns() - truth() == 42
    with pytest.raises(ClockError, match="max_adj"):
        clock.adjust_frequency(10 * clock.caps().max_adj_ppb)


def test_adjust_phase_slews_rather_than_steps():
    truth, clock = make("ideal")
    clock.adjust_phase(1_000_000)  # 1 ms at 500 ppm takes 2 s
    truth.advance(1)
    assert clock.error_ns() == pytest.approx(500_000, abs=1)
    truth.advance(5)
    assert clock.error_ns() == pytest.approx(1_000_000, abs=1)


def test_vectorised_simulation_matches_class_and_is_deterministic():
    params = draw_params("tcxo", 7)
    t = np.arange(0, 86_400, 10.0)
    amb = DiurnalHvac(seed=7).temp_c(t)
    a = simulate(params, 7, t, amb)
    b = simulate(params, 7, t, amb)
    assert np.array_equal(a["freq_ppb"], b["freq_ppb"])
    assert np.max(np.abs(a["freq_ppb"])) < 600  # +-0.5 ppm class plus noise
    assert np.all(np.diff(a["sensor_c"] / params.sensor_quantum_c) % 1 == 0)  # quantised sensor


def test_unknown_oscillator_class_names_the_known_ones():
    with pytest.raises(KeyError, match="tcxo"):
        draw_params("rubidium", 1)


def run(discipline, clock, truth, ref, seconds, apply=True):
    decisions = []
    for _ in range(seconds):
        truth.advance(1.0)
        d = discipline.tick(truth() / 1e9, ref.measure())
        if apply:
            if d.step_ns:
                clock.step(d.step_ns)
            if d.freq_ppb is not None:
                clock.adjust_frequency(d.freq_ppb)
        decisions.append(d)
    return decisions


def test_discipline_locks_holds_over_and_gives_up():
    truth, clock = make("tcxo", seed=11, initial_error_ns=5_000_000)
    ref = SimReference(clock, noise_ns=20, seed=11)
    disc = Discipline(DisciplineConfig(max_freq_ppb=500_000, max_error_bound_s=0.001))
    ds = run(disc, clock, truth, ref, 60)
    assert ds[-1].state is SyncState.LOCKED
    assert abs(clock.error_ns()) < 1000
    assert ds[-1].error_bound_s < 2e-6
    assert abs(clock.error_ns()) * 1e-9 <= ds[-1].error_bound_s
    ref.stop()
    ds = run(disc, clock, truth, ref, 600)
    assert ds[0].state is SyncState.HOLDOVER and ds[0].healthy
    assert ds[0].transitions[0][:2] == (SyncState.LOCKED, SyncState.HOLDOVER)
    bounds = [d.error_bound_s for d in ds if d.state is SyncState.HOLDOVER]
    assert bounds == sorted(bounds) and bounds[-1] > bounds[0]  # the bound grows in holdover
    # the true error stayed inside the bound while holding over
    assert abs(clock.error_ns()) * 1e-9 <= bounds[-1]
    # 50 ppb default uncertainty reaches the 1 ms limit within ~20000 s
    ds = run(disc, clock, truth, ref, 20_000)
    assert ds[-1].state is SyncState.UNSYNCHRONIZED and not ds[-1].healthy
    ref.start()
    ds = run(disc, clock, truth, ref, 30)
    assert ds[-1].state is SyncState.LOCKED


def test_discipline_steps_a_large_initial_offset():
    truth, clock = make("ideal", initial_error_ns=2_000_000_000)
    ref = SimReference(clock, noise_ns=0)
    disc = Discipline(DisciplineConfig(max_freq_ppb=500_000))
    ds = run(disc, clock, truth, ref, 10)
    assert any(d.step_ns == -2_000_000_000 for d in ds)
    assert abs(clock.error_ns()) < 10


def test_no_reference_is_freerun_with_a_growing_bound():
    disc = Discipline(DisciplineConfig(max_freq_ppb=500_000, has_reference=False, max_error_bound_s=0.01))
    d0 = disc.tick(0.0, None)
    assert d0.state is SyncState.FREERUN and d0.healthy
    d1 = disc.tick(3600.0, None)
    assert d1.error_bound_s > d0.error_bound_s
    assert disc.tick(86_400.0, None).state is SyncState.UNSYNCHRONIZED


def test_fault_and_recovery():
    disc = Discipline(DisciplineConfig(max_freq_ppb=1000))
    assert disc.fault(0.0).state is SyncState.FAULT
    assert disc.tick(1.0, None).state is SyncState.STARTING


def test_state_table():
    assert next_state(TRANSITIONS, SyncState.LOCKED, SyncEvent.REFERENCE_LOST) is SyncState.HOLDOVER
    assert next_state(TRANSITIONS, SyncState.STARTING, SyncEvent.LOCKED) is SyncState.STARTING  # unlisted: unchanged
    assert all(s in SyncState for s in HEALTHY)
    text = describe()
    assert text.count("\n") >= len(TRANSITIONS) + 1 and "holdover" in text
