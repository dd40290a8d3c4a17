"""A simulated week of three control nodes, decided by the core alone (appliance.sim.cluster: the
pure Node, the PTP profile and priority2 policy, an in-memory network; no sockets, no threads).

ctl-0 has the site's primary reference and is the designated grandmaster; ctl-1 and ctl-2 follow it
over (simulated) PTP and learn their oscillators. Then, in order:
  * ctl-0 loses its reference for 4 h: holdover with its learned model, inside its bound;
  * ctl-1 loses PTP, is stepped +2 s: the vote demotes it at once; PTP returns, it steps back,
    relocks and is promoted;
  * ctl-0 dies: ctl-1, next in the designated order, becomes grandmaster, ctl-2 follows it;
  * ctl-0 comes back (reference and model restored): it rejoins and is grandmaster again.
Throughout: served time never steps back, and every synchronized answer's time is within the root
dispersion it carries.
"""

import os
import time

import numpy as np

from appliance.core.clock.states import SyncState
from appliance.sim.cluster import SimCluster

SEED = int(os.environ.get("APPLIANCE_SIM_SEED", "20261202"))
H = 3600.0


class Watch:
    """Every tick: the honesty of each synchronized answer, and the demotions of nodes that were
    serving (a node that has just started with a wrong clock is demoted too, but claimed nothing)."""

    def __init__(self):
        self.violations = []
        self.answers = 0
        self.demoted_at = {}
        self.max_spread_s = 0.0
        self._serving = {}

    def __call__(self, c: SimCluster):
        locked = []
        for sn in c.nodes:
            if not sn.alive:
                self._serving[sn.name] = False
                continue
            ad = c.advertised(sn.index)
            err = c.truth_error_s(sn.index)
            if ad.synchronized:
                self.answers += 1
                if abs(err) > ad.root_dispersion_s + 1e-9:
                    self.violations.append((c.now_s / H, sn.name, sn.state.value, err, ad.root_dispersion_s))
                if sn.state is SyncState.LOCKED:
                    locked.append(err)
            if sn.node.demoted and self._serving.get(sn.name) and sn.name not in self.demoted_at:
                self.demoted_at[sn.name] = c.now_s
            self._serving[sn.name] = ad.synchronized
        if len(locked) >= 2:
            self.max_spread_s = max(self.max_spread_s, max(locked) - min(locked))


def test_a_simulated_week_of_three_control_nodes():
    print(f"seed {SEED} (set APPLIANCE_SIM_SEED to replay)")
    cpu0 = time.process_time()
    c = SimCluster(seed=SEED, wait_to_restore_s=600.0)
    w = Watch()
    ctl0, ctl1, ctl2 = c.nodes

    # Day 1: everyone locks; the models learn (a fit after 6 h of locked data).
    c.run(30 * H, w)
    assert [sn.state for sn in c.nodes] == [SyncState.LOCKED] * 3, f"seed {SEED}"
    assert c.grandmaster() == 0 and ctl1.following == 0 and ctl2.following == 0
    assert all(sn.node.predictor.ready() for sn in c.nodes), [sn.node.predictor.last_error for sn in c.nodes]
    assert w.max_spread_s < 5e-6, f"locked nodes disagree by {w.max_spread_s * 1e6:.2f} us (seed {SEED})"

    # ctl-0's reference is lost for 4 h: holdover on its model; the followers stay with it.
    ctl0.reference.stop()
    errs, bounds = [], []

    def hold(c):
        w(c)
        errs.append(c.truth_error_s(0))
        bounds.append(c.advertised(0).root_dispersion_s)

    c.run(4 * H, hold)
    assert ctl0.state is SyncState.HOLDOVER and c.grandmaster() == 0, f"seed {SEED}"
    errs, bounds = np.abs(np.array(errs) - errs[0]), np.array(bounds)
    print(f"ctl-0 holdover 4 h: max |error| {errs.max() * 1e6:.2f} us, final bound {bounds[-1] * 1e6:.2f} us")
    assert np.mean(np.array(errs) <= bounds) >= 0.99, f"seed {SEED}"
    assert bounds[-1] < 200e-6  # the learned bound, not the class default (50 ppb over 4 h = 720 us)
    ctl0.reference.start()
    c.run(2 * H, w)
    assert ctl0.state is SyncState.LOCKED

    # ctl-1 loses PTP and its clock is stepped +2 s: the vote demotes it before it serves it.
    ctl1.ptp_cut = True
    c.run(60, w)
    t_step = c.now_s
    c.step(1, 2.0)
    c.run(c.interval_s, w)
    assert ctl1.node.demoted and not c.advertised(1).synchronized, f"seed {SEED}"
    assert w.demoted_at["ctl-1"] - t_step <= c.interval_s
    assert c.grandmaster() == 0  # a demoted follower never takes over
    ctl1.ptp_cut = False
    c.run(10 * 60, w)
    assert not ctl1.node.demoted and ctl1.state is SyncState.LOCKED, f"seed {SEED}"
    assert abs(c.truth_error_s(1)) < 1e-3  # back on time, and served time slewed there
    c.run(2 * H, w)

    # ctl-0 dies: ctl-1 (designated #1) takes over; ctl-2 follows ctl-1, not the other way round.
    c.kill(0)
    c.run(5 * 60, w)
    assert c.grandmaster() == 1 and ctl2.following == 1, f"seed {SEED}"
    assert ctl1.state is SyncState.HOLDOVER and ctl2.state is SyncState.LOCKED
    assert not ctl1.node.demoted and not ctl2.node.demoted  # two of three still agree
    c.run(24 * H, w)
    assert c.grandmaster() == 1

    # ctl-0 returns with its reference and its persisted model: it rejoins and takes its place.
    c.revive(0)
    c.run(5 * 60, w)
    assert ctl0.node.predictor.ready()  # the model survived the restart
    c.run(2 * H, w)
    assert c.grandmaster() == 0 and ctl1.following == 0 and ctl2.following == 0, f"seed {SEED}"
    assert [sn.state for sn in c.nodes] == [SyncState.LOCKED] * 3

    # The rest of the week, quietly.
    c.run(7 * 24 * H - c.now_s, w)
    assert c.now_s >= 7 * 24 * H - c.interval_s
    assert all(sn.served_backwards == 0 for sn in c.nodes), "served time stepped back"
    assert not w.violations, (
        f"{len(w.violations)} of {w.answers} answers outside their bound, first {w.violations[:3]} (seed {SEED})"
    )
    assert set(w.demoted_at) == {"ctl-1"}, w.demoted_at
    cpu = time.process_time() - cpu0
    print(f"one simulated week: {w.answers} synchronized answers judged, {cpu:.1f} s of CPU")
