"""Holdover prediction and bound (appliance.core.holdover.bound, .predictor), and the Discipline hook."""

import math

import numpy as np
import pytest

from appliance.core.clock.discipline import Discipline, DisciplineConfig
from appliance.core.clock.states import SyncState
from appliance.core.holdover.bound import Z99, HoldoverRun, predict_holdover
from appliance.core.holdover.fit import fit
from appliance.core.holdover.lag import lag_filter
from appliance.core.holdover.predictor import TempCompPredictor

SEED = 7331


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(SEED)
    dt = 30.0
    t = np.arange(int(2 * 86400 / dt)) * dt
    temp = 24 + 1.5 * np.sin(2 * np.pi * t / 86400) + 0.5 * np.sin(2 * np.pi * t / 900)
    crystal = lag_filter(temp, dt, 120.0)
    y = 25 * np.sin(2 * np.pi * (crystal - 24) / 4.0) + 1.0 * t / 86400 + rng.normal(0, 0.3, t.size)
    y += np.cumsum(rng.normal(0, 0.004 * math.sqrt(dt), t.size))
    return fit(t, temp, y).model


def test_series_and_step_by_step_agree(model):
    t = model.time_s + 10.0 + np.arange(2000) * 10.0
    temp = 24 + 2.5 * np.sin(t / 4000.0)  # goes beyond the trained range too
    pred = predict_holdover(model, t, temp)
    run = HoldoverRun(model, t[0], temp[0])
    for k in range(1, t.size):
        run.temperature(t[k], temp[k])
        f = run.apply(t[k])
        assert f == pytest.approx(pred.freq_ppb[k], abs=1e-9)
        assert run.bound_s(t[k]) == pytest.approx(pred.bound_s[k], rel=1e-6, abs=1e-15)
    assert pred.extrapolation_c.max() > 0.5


def test_bound_grows_with_time_and_starts_at_zero(model):
    t = model.time_s + np.arange(8641) * 10.0
    pred = predict_holdover(model, t, np.full(t.size, 24.0))
    assert pred.bound_s[0] == 0.0
    assert np.all(np.diff(pred.bound_s) >= 0)
    assert pred.bound_s[-1] > 10 * pred.bound_s[360]  # 24 h vs 1 h: faster than linear
    assert np.all(pred.ext_s == 0)
    assert np.allclose(pred.bound_s, Z99 * pred.sigma_s)


def test_extrapolation_is_flagged_and_widens_the_bound(model):
    t = model.time_s + np.arange(4000) * 10.0
    inside = predict_holdover(model, t, np.full(t.size, 24.0))
    hot = predict_holdover(model, t, np.full(t.size, model.temp_hi_c + 5.0))
    assert np.all(hot.extrapolation_c[200:] > 4.5)  # once the lagged temperature got there
    assert hot.ext_s[-1] > 0
    assert hot.bound_s[-1] > 2 * inside.bound_s[-1]


def test_gap_before_holdover_widens_the_level_uncertainty(model):
    t = np.arange(1000) * 10.0
    soon = predict_holdover(model, model.time_s + 10 + t, np.full(t.size, 24.0))
    later = predict_holdover(model, model.time_s + 3 * 86400 + t, np.full(t.size, 24.0))
    assert later.bound_s[-1] > soon.bound_s[-1]


# --- Discipline hook ------------------------------------------------------------------------


class FakePredictor:
    def __init__(self, ready=True):
        self.observed = []
        self._ready = ready
        self.started = None
        self.ended = 0

    def ready(self):
        return self._ready

    def observe(self, now_s, temp_c, freq_ppb):
        self.observed.append((now_s, temp_c, freq_ppb))

    def start_holdover(self, now_s, temp_c):
        self.started = (now_s, temp_c)
        return 123.0

    def predict_freq_ppb(self, now_s, temp_c):
        return 123.0 + (now_s - self.started[0]) * 0.01

    def bound_s(self, elapsed_s):
        return 1e-6 * elapsed_s

    def end_holdover(self):
        self.ended += 1


def _lock(disc, n=20):
    for k in range(n):
        disc.tick(float(k), 10.0, temp_c=25.0)
    assert disc.state is SyncState.LOCKED


def test_discipline_feeds_the_predictor_while_locked_and_holds_its_prediction():
    fake = FakePredictor()
    disc = Discipline(DisciplineConfig(max_freq_ppb=1e5), predictor=fake)
    _lock(disc)
    assert fake.observed and all(temp == 25.0 for _, temp, _ in fake.observed)
    assert fake.observed[-1][2] == pytest.approx(-disc.servo.drift_ppb)
    d = disc.tick(20.0, None, temp_c=26.0)
    assert d.state is SyncState.HOLDOVER and fake.started == (20.0, 26.0)
    assert d.freq_ppb == -123.0  # the clock is corrected against the predicted oscillator frequency
    d = disc.tick(120.0, None, temp_c=26.0)
    assert d.freq_ppb == pytest.approx(-124.0)
    start_bound = disc._bound_at_since_s
    assert d.error_bound_s == pytest.approx(start_bound + 100e-6)
    disc.tick(121.0, 10.0, temp_c=26.0)
    assert fake.ended == 1


def test_discipline_without_a_ready_predictor_holds_the_last_frequency():
    fake = FakePredictor(ready=False)
    disc = Discipline(DisciplineConfig(max_freq_ppb=1e5), predictor=fake)
    _lock(disc)
    drift = disc.servo.drift_ppb
    d = disc.tick(20.0, None, temp_c=25.0)
    assert fake.started is None and d.freq_ppb == drift


# --- the predictor as the service uses it -----------------------------------------------------------


def test_predictor_records_fit_and_round_trip():
    rng = np.random.default_rng(SEED)
    p = TempCompPredictor(min_train_s=6 * 3600, record_s=10.0)
    for k in range(int(8 * 3600)):
        now = 5.0 + k * 1.0
        temp = 24 + 1.5 * math.sin(now / 5000.0) + rng.normal(0, 0.02)
        p.observe(now, temp, 3.0 * (temp - 24) + rng.normal(0, 2.0))
    assert p.ready() and p.fits == 1 and p.updates > 100
    assert p.last_error is None
    data = p.to_dict()
    q = TempCompPredictor.from_dict(data)
    assert q.model.to_dict() == p.model.to_dict()
    q.shift_time(100.0)
    assert q.model.time_s == p.model.time_s + 100.0
    f = p.start_holdover(p.model.time_s + 5, 25.0)
    # the frequency for the coming interval: the curve at the crystal temperature forecast for it
    assert f == pytest.approx(p.model.frequency_ppb(p.model.time_s, p.run._forecast_c()), abs=0.2)
    assert p.bound_s(0.0) == 0.0 and p.bound_s(3600.0) > 0


def test_predictor_reports_a_failed_fit_and_keeps_going():
    p = TempCompPredictor(min_train_s=6 * 3600, record_s=10.0)
    for k in range(7 * 3600):
        p.observe(float(k), 24.0, 1.0)  # constant temperature: too narrow to fit
    assert not p.ready()
    assert "too narrow" in p.last_error


def _learn(p, hours, tick_s, seed=SEED, start_s=0.0):
    rng = np.random.default_rng(seed)
    for k in range(int(hours * 3600 / tick_s)):
        now = start_s + k * tick_s
        temp = 24 + 2 * math.sin(2 * math.pi * now / 21600) + 0.3 * math.sin(2 * math.pi * now / 900)
        p.observe(now, temp, 100 + 30 * (temp - 24) + rng.normal(0, 0.5))


def test_slow_ticks_still_make_a_regular_record_grid():
    """interval_s may be up to 64 s: records follow the ticks (up to the 60 s the fit takes), so the
    fit sees a regular grid. With 10 s records 64 s ticks left gaps of 60 and 70 s, and every fit
    failed on an irregular interval."""
    p = TempCompPredictor(min_train_s=6 * 3600, tick_interval_s=64.0)
    _learn(p, 9, 64.0)
    assert p.ready(), p.last_error
    assert p.max_tick_gap_s >= 2 * 64.0
    q = TempCompPredictor(min_train_s=6 * 3600)
    _learn(q, 9, 64.0)
    assert not q.ready() and "irregular" in q.last_error


def test_deferred_refit_is_handed_out_once_and_installed_later():
    """defer_refit: the due fit is a request (nothing fitted inside observe); the records that
    arrive while it runs are learned by the new model when it is installed."""
    p = TempCompPredictor(min_train_s=6 * 3600, defer_refit=True)
    _learn(p, 6.1, 10.0)
    assert not p.ready() and p.fits == 0
    request = p.take_refit()
    assert request is not None and p.take_refit() is None
    _learn(p, 0.5, 10.0, start_s=6.1 * 3600)  # the fit "runs" meanwhile: no second request
    assert p.take_refit() is None and not p.ready()
    p.install_refit(request, request.run())
    assert p.ready() and p.fits == 1
    assert p.updates >= 0.5 * 3600 / 10 - 2  # the half hour after the request, replayed
    assert p.model.time_s >= 6.5 * 3600 - 20
    # fitted inline (then updated for the few minutes after) the model is nearly the same
    q = TempCompPredictor(min_train_s=6 * 3600)
    _learn(q, 6.1, 10.0)
    assert q.fits == 1 and np.allclose(q.model.theta[:-3], request.run().model.theta[:-3], atol=0.05)


def test_a_restored_model_is_not_replaced_by_a_fit_of_less_data(model):
    p = TempCompPredictor(model.copy(), record_s=30.0, refit_every_s=3600.0)
    t0 = model.time_s
    for k in range(1, 4 * 3600 // 10):
        now = t0 + 10.0 * k
        temp = 24 + math.sin(now / 3000.0)
        p.observe(now, temp, float(model.frequency_ppb(now, temp)))
    assert p.fits == 0 and p.updates > 100
    assert p.to_dict()["fit_span_s"] == p.buffer_s


def test_extrapolation_predicts_the_middle_of_what_the_curve_can_reach(model):
    """Beyond the trained range a banded (TCXO) curve can move from the edge value at most
    slope x distance and stays in [min - span, max + span]: the prediction is the middle of that
    interval and the envelope its half-width."""
    e = model.ext_params()
    assert not e.linear
    grid = np.linspace(model.temp_lo_c, model.temp_hi_c, 400)
    g = model.curve_ppb(grid)
    span = g.max() - g.min()
    half = max(1.5 * span, e.slope_ppb_per_k, 10.0)
    assert e.band_half_ppb == pytest.approx(half, rel=1e-2)  # a finer grid here
    assert e.band_mid_ppb == pytest.approx((g.max() + g.min()) / 2, abs=0.01 * span)
    for edge_c, edge_ppb, sign in ((model.temp_lo_c, g[0], -1), (model.temp_hi_c, g[-1], 1)):
        d = np.array([0.0, 1e-3, 0.05, 0.5, 2.0, 5.0, 50.0])
        temps = edge_c + sign * d
        pred = model.frequency_ppb(model.time_s, temps) - model.level_ppb
        env = model.ext_envelope_ppb(model.extrapolation_c(temps), temps)
        low = np.maximum(edge_ppb - e.slope_ppb_per_k * d, e.band_mid_ppb - e.band_half_ppb)
        high = np.minimum(edge_ppb + e.slope_ppb_per_k * d, e.band_mid_ppb + e.band_half_ppb)
        assert pred == pytest.approx((low + high) / 2, abs=0.05)
        assert env == pytest.approx((high - low) / 2, abs=1e-9)
        assert env[1] == pytest.approx(e.slope_ppb_per_k * 1e-3) and pred[1] == pytest.approx(edge_ppb, abs=0.05)
        assert np.all(np.diff(env) >= 0) and env[-1] == pytest.approx(e.band_half_ppb)
        assert pred[-1] == pytest.approx(e.band_mid_ppb, abs=0.05)  # far out: the band's middle
        # any curve that keeps to the assumptions is within the envelope of the prediction
        worst = np.maximum(np.abs(high - pred), np.abs(pred - low))
        assert np.all(worst <= env + 0.05)
    # without the side, the wider of the two
    far = model.ext_envelope_ppb(np.array([0.5, 50.0]))
    assert far[-1] == pytest.approx(e.band_half_ppb)
