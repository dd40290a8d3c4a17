"""A faulty grandmaster in virtual time (appliance.sim.cluster: the pure node, the PTP policy, an
in-memory network): stepped +2 s, stepped +5 ms, or running away at 50 us/s. The followers' guard
(appliance.core.clock.discipline, guard.py) must keep their served time within 1 ms whatever the
vote does: at its default poll, slowed to the longest poll, or disabled. With the vote, the
grandmaster answers leap 3, another node takes over, and the faulty one rejoins only after
following for wait_to_restore_s."""

import os

import pytest

from appliance.sim.cluster import SimCluster

SEED = int(os.environ.get("APPLIANCE_SIM_SEED", "5"))
WAIT_TO_RESTORE_S = 120.0


def _fault(c: SimCluster, kind: str) -> None:
    if kind == "step 2 s":
        c.step(0, 2.0)
    elif kind == "step 5 ms":
        c.step(0, 0.005)
    else:  # a runaway oscillator: 50 ppm, 50 us every second
        c.nodes[0].clock.inject_frequency_error_ppb(50_000)


@pytest.mark.parametrize(
    "kind, vote",
    [
        ("step 2 s", "default"),
        ("step 5 ms", "default"),
        ("ramp 50 us/s", "default"),
        ("step 2 s", "slowest"),
        ("ramp 50 us/s", "slowest"),
        ("ramp 50 us/s", "off"),
    ],
)
def test_followers_never_chase_a_faulty_grandmaster(kind, vote):
    print(f"seed {SEED} (APPLIANCE_SIM_SEED)")
    # poll every 2 s (the default) or every 64 s (cluster.crosscheck.poll_interval_s' largest)
    c = SimCluster(
        seed=SEED,
        interval_s=1.0,
        crosscheck=vote != "off",
        vote_every_ticks=64 if vote == "slowest" else 2,
        wait_to_restore_s=WAIT_TO_RESTORE_S,
    )
    c.run(1800)
    assert c.grandmaster() == 0 and all(sn.state.value == "locked" for sn in c.nodes), f"seed {SEED}"
    c.nodes[0].reference.stop()  # nothing of its own to catch the fault: only the others can
    c.run(10)
    base = [c.truth_error_s(i) for i in (1, 2)]
    t0 = c.now_s
    _fault(c, kind)
    moved = [0.0, 0.0]
    seen = []

    def each(c):
        for k, i in enumerate((1, 2)):
            moved[k] = max(moved[k], abs(c.truth_error_s(i) - base[k]))
        seen.append((c.now_s - t0, c.grandmaster(), c.advertised(0).synchronized, c.nodes[0].node.demoted))

    c.run(300, each)
    print(f"{kind}, vote {vote}: followers' served time moved {moved[0] * 1e6:.1f} / {moved[1] * 1e6:.1f} us")
    assert max(moved) < 1e-3, f"a follower chased the grandmaster (seed {SEED})"
    if vote != "default":
        return
    leap3 = next(t for t, _, sync, _ in seen if not sync)
    other, new_gm = next((t, gm) for t, gm, *_ in seen if gm not in (0, None))
    print(f"  grandmaster answers leap 3 after {leap3:.0f} s, ctl-{new_gm} grandmaster after {other:.0f} s")
    assert other <= 60 and new_gm == 1, "the next node in the designated order takes over within 60 s"
    # the ramp crosses the 1 ms threshold only after 20 s; the clock filter's oldest sample adds up
    # to its window (4 polls): measured 34 s, where the steps take one poll
    assert leap3 <= (45 if kind.startswith("ramp") else 30), f"seed {SEED}"
    promoted = next((t for t, _, _, demoted in seen if t > leap3 and not demoted), None)
    back = next((t for t, gm, *_ in seen if promoted is not None and t > promoted and gm == 0), None)
    if back is not None:  # the faulty node took its place back only after following for wait_to_restore_s
        assert back - promoted >= WAIT_TO_RESTORE_S, (promoted, back)
