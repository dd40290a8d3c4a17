"""The service's path in virtual time: Discipline + TempCompPredictor on a SimPhc with a simulated
reference. The predictor learns from the servo while locked, the reference is lost, and the held
clock's true error must stay inside the bound and beat the frozen frequency."""

import numpy as np

from appliance.core.clock.discipline import Discipline, DisciplineConfig
from appliance.core.clock.states import SyncState
from appliance.core.holdover.predictor import TempCompPredictor
from appliance.sim.oscillator import Oscillator, draw_params
from appliance.sim.phc import SimPhc, VirtualClock
from appliance.sim.reference import SimReference
from appliance.sim.temperature import DiurnalHvac

SEED = 11
STEP_S = 4.0  # the simulated PHC's integration step and the tick interval: keeps the test quick


def _node(seed, predictor):
    params = draw_params("tcxo", seed)
    profile = DiurnalHvac(mean_c=24.0, diurnal_amplitude_c=2.0, hvac_amplitude_c=0.6, hvac_period_s=900, seed=seed)
    osc = Oscillator(params, seed, profile.temp_c(0.0))
    truth = VirtualClock()
    clock = SimPhc(osc, profile.temp_c, truth_ns=truth, step_s=STEP_S)
    ref = SimReference(clock, noise_ns=20.0, seed=seed)
    disc = Discipline(DisciplineConfig(max_freq_ppb=500_000, max_error_bound_s=1.0), predictor=predictor)
    return truth, clock, ref, disc


def _run(truth, clock, ref, disc, seconds, interval_s, record):
    t0 = truth() / 1e9
    for _ in range(int(seconds / interval_s)):
        truth.advance(interval_s)
        now = truth() / 1e9 - t0
        d = disc.tick(now, ref.measure(), temp_c=clock.temperature_c())
        if d.step_ns:
            clock.step(d.step_ns)
        if d.freq_ppb is not None:
            clock.adjust_frequency(d.freq_ppb)
        record.append((now, d.state, d.error_bound_s, clock.error_ns() * 1e-9))


def _holdover_errors(rec, start):
    hold = rec[start:]
    err0 = hold[0][3]
    return hold, np.array([abs(e - err0) for *_, e in hold]), np.array([b for _, _, b, _ in hold])


def test_predictor_learns_while_locked_and_bounds_holdover():
    print(f"seed {SEED}")
    predictor = TempCompPredictor(min_train_s=6 * 3600)
    truth, clock, ref, disc = _node(SEED, predictor)
    rec = []
    _run(truth, clock, ref, disc, 24 * 3600, STEP_S, rec)
    assert disc.state is SyncState.LOCKED
    assert predictor.ready(), predictor.last_error
    assert predictor.fits >= 1 and predictor.updates > 1000
    m = predictor.model
    assert 20 <= m.lag_s <= 1000, m.lag_s
    ref.stop()
    start = len(rec)
    _run(truth, clock, ref, disc, 8 * 3600, STEP_S, rec)
    hold, errors, bounds = _holdover_errors(rec, start)
    assert all(s is SyncState.HOLDOVER for _, s, _, _ in hold)
    print(
        f"holdover 8 h with the model: max |error| {errors.max() * 1e6:.1f} us, final bound {bounds[-1] * 1e6:.1f} us"
    )
    assert np.mean(errors <= bounds) >= 0.99
    assert bounds[-1] < 0.5e-3  # the learned bound, not the class default (50 ppb over 8 h = 1.44 ms)

    # The reference comes back: the predictor leaves holdover and learns again.
    updates = predictor.updates
    ref.start()
    _run(truth, clock, ref, disc, 1200, STEP_S, rec)
    assert disc.state is SyncState.LOCKED
    assert predictor.run is None and predictor.updates > updates

    # The same node and seed without the predictor holds the last frequency.
    truth, clock, ref, disc = _node(SEED, None)
    rec = []
    _run(truth, clock, ref, disc, 24 * 3600, STEP_S, rec)
    ref.stop()
    start = len(rec)
    _run(truth, clock, ref, disc, 8 * 3600, STEP_S, rec)
    _, frozen, _ = _holdover_errors(rec, start)
    print(f"holdover 8 h frozen: max |error| {frozen.max() * 1e6:.1f} us")
    assert errors.max() < 0.5 * frozen.max()
