"""The holdover model on parts drawn outside the oscillator classes (sim/population.py).

Seeds 9000..9011 were not used to develop the model (that was 1000..1031 and 7000..7011; the
benchmark reports 5000..5031). The limits are what the selected model reaches on these seeds, with
a little room, not the issue's targets: see bench/holdover.py for those. The figures are printed.
"""

import numpy as np

from appliance.core.holdover import select as sel
from appliance.sim import population
from appliance.sim.holdover_eval import evaluate
from appliance.sim.holdover_report import report, score
from appliance.sim.oscillator import draw_params

SEEDS = range(9000, 9012)


def test_parts_are_drawn_outside_the_classes_and_held_over_beyond_the_trained_range():
    tcxo = draw_params("tcxo", 0)
    outside = 0
    for seed in SEEDS:
        part = population.draw_part(seed)
        run = population.run_part(seed, train_hours=12.0, holdover_hours=12.0, interval_s=60.0)
        trained = run.sensor_c[run.train]
        held = run.sensor_c[run.holdover]
        beyond = max(held.max() - trained.max(), trained.min() - held.min())
        print(f"part {seed}: {part.beyond_c:.2f} K beyond asked, {beyond:.2f} K reached, cold {part.cold}")
        assert 0.0 < beyond <= population.BEYOND_C[1] + 0.6
        p = part.params
        outside += (p.lag_s < 60 or p.lag_s > 300) + (p.ripple_ppm > 0.05) + (p.aging_ppm_per_day < 0.0005)
    assert tcxo.name == "tcxo" and outside >= len(SEEDS)  # many parameters beyond the class


def test_selected_model_on_the_population():
    evs = [evaluate(population.run_part(s), adaptive=True) for s in SEEDS]
    before, after = report([score(ev) for ev in evs]), report([score(ev, "adaptive") for ev in evs])
    print("\n".join(before.lines("table model alone")))
    print("\n".join(after.lines("selected by backtest")))
    for b in after.buckets:
        assert b.coverage >= 0.98, b
        assert 0.8 <= b.ratio <= 3.5, b
    r = after.max_te_ratio
    assert np.median(r) <= 0.55 and np.max(r) <= 2.0, r
    # On these seeds: median part 0.48 (the table alone 0.61), worst part 1.78 (3.26), coverage
    # at least 98.5 % per bucket (the table's: 94.5 % in the first hour).
    assert np.max(r) < np.max(before.max_te_ratio)
    assert min(b.coverage for b in after.buckets) > min(b.coverage for b in before.buckets)
    for ev in evs:
        assert ev.adaptive is not None
        assert np.all(np.diff(ev.adaptive.bound_s) >= 0.0), ev.run.seed


def test_selection_is_never_worse_than_the_quadratic_on_held_out_data():
    for seed in (9000, 9003):
        run = population.run_part(seed, interval_s=60.0)
        tr = run.train
        chosen = sel.select(run.time_s[tr], run.sensor_c[tr], run.measured_freq_ppb[tr])
        print(
            f"part {seed}: {chosen.name}, held-out scores (us) "
            + ", ".join(f"{k} {v * 1e6:.0f}" for k, v in chosen.scores_s.items())
        )
        assert chosen.scores_s[chosen.name] <= chosen.scores_s["quadratic"]
        assert all(s >= 1.0 for s in chosen.bucket_scale)


def test_short_history_keeps_the_table_and_its_bound():
    run = population.run_part(9001, train_hours=12.0, holdover_hours=6.0, interval_s=60.0)
    ev = evaluate(run, adaptive=True)
    assert ev.adaptive is not None
    assert np.array_equal(ev.adaptive.freq_ppb, ev.prediction.freq_ppb)
    assert np.array_equal(ev.adaptive.bound_s, ev.prediction.bound_s)


def test_bound_widens_beyond_the_trained_range():
    run = population.run_part(9002, interval_s=60.0)
    tr, ho = run.train, run.holdover
    chosen = sel.select(run.time_s[tr], run.sensor_c[tr], run.measured_freq_ppb[tr])
    t, temp = run.time_s[ho], run.sensor_c[ho]
    hot = chosen.predict(t, temp)
    flat = chosen.predict(t, np.clip(temp, chosen.temp_lo_c, chosen.temp_hi_c))
    assert np.any(hot.extrapolation_c > 0)
    assert hot.bound_s[-1] > flat.bound_s[-1]
