"""A site power cut: the three control nodes start (nearly) together with no reference; the first
designated node must be grandmaster within 45 s, not the one whose listen window ended first
(appliance.core.ptp.profile.Priority2Policy, in virtual time)."""

import pytest

from appliance.sim.cluster import SimCluster


@pytest.mark.parametrize("head_start", [None, 1, 2])
def test_the_designated_order_decides_a_cold_start(head_start):
    # The last designated node has the lowest clock identity, so only priority2 can put ctl-0 first.
    c = SimCluster(seed=9, interval_s=1.0, primary=(), wait_to_restore_s=120.0, identities=(3, 2, 1))
    if head_start is not None:  # ctl-`head_start` started a second before the others
        for i in range(3):
            if i != head_start:
                c.kill(i)
        c.run(1.0)
        for i in range(3):
            if i != head_start:
                c.revive(i)
    gms = []
    c.run(45.0, lambda c: gms.append(c.grandmaster()))
    assert gms[-1] == 0, gms
    first = next(k for k, gm in enumerate(gms) if gm == 0)
    assert all(gm == 0 for gm in gms[first:]), "once in place it stays"
    print(f"head start {head_start}: ctl-0 grandmaster after {first + 1} s, then {gms[-1]}")
