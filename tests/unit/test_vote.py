"""The vote (appliance.core.cluster.vote) beyond tests/unit/test_crosscheck.py: select() with
touching intervals and f > 0 falsetickers among more than three candidates, the majority counted
over the *configured* nodes, the hysteresis both ways (demoted beyond threshold_s, promoted only
after promote_after_s within threshold_s / 2), a demoted node that stays demoted without a
majority, and realign_step_ns's guards and arithmetic. Random cases are seeded; the seeds print."""

import random

import pytest

from appliance.core.cluster.vote import (
    SELF,
    CrossCheck,
    Interval,
    Vote,
    VoteConfig,
    VoteEvent,
    VoteState,
    distance_outside_s,
    realign_step_ns,
    select,
)
from appliance.core.ntp.clockfilter import PeerEstimate

SEEDS = (3, 11, 2718, 31415)


def est(offset_s, half_width_s=1e-4, leap=0, stratum=1):
    """A peer whose correctness interval is centred at -offset_s with half-width half_width_s
    (its distance: half the round trip, nothing else)."""
    return PeerEstimate(
        offset_s=offset_s,
        delay_s=2 * half_width_s,
        dispersion_s=0.0,
        jitter_s=0.0,
        root_delay_s=0.0,
        root_dispersion_s=0.0,
        leap=leap,
        stratum=stratum,
        age_s=0.0,
        samples=4,
    )


# --- select() -----------------------------------------------------------------------------------


def test_three_intervals_touching_in_one_point_all_meet_there():
    sel = select([Interval("a", 0, 1), Interval("b", 1, 2), Interval("c", 1, 3)])
    assert (sel.low_s, sel.high_s, sel.count) == (1, 1, 3)
    assert sel.truechimers == ("a", "b", "c") and sel.falsetickers == ()


def test_two_touching_and_one_apart_name_the_one_apart():
    sel = select([Interval("a", 0, 1), Interval("far", 5, 6), Interval("b", 1, 2)])
    assert (sel.low_s, sel.high_s, sel.count) == (1, 1, 2)
    assert sel.truechimers == ("a", "b") and sel.falsetickers == ("far",)


def test_a_single_interval_is_its_own_intersection():
    sel = select([Interval("a", -2, 3)])
    assert (sel.low_s, sel.high_s, sel.count, sel.truechimers) == (-2, 3, 1, ("a",))


def test_two_falsetickers_of_five():
    ivs = [
        Interval("a", -1.0, 1.0),
        Interval("b", -0.5, 1.5),
        Interval("c", 0.2, 2.0),
        Interval("hi", 9.0, 10.0),
        Interval("lo", -10.0, -9.0),
    ]
    sel = select(ivs)
    assert sel.count == 3 and (sel.low_s, sel.high_s) == (0.2, 1.0)
    assert sel.truechimers == ("a", "b", "c") and set(sel.falsetickers) == {"hi", "lo"}


def test_two_falsetickers_that_agree_with_each_other_are_still_outvoted():
    ivs = [
        Interval("a", -1, 1),
        Interval("x", 9, 11),
        Interval("b", -1, 1),
        Interval("y", 9.5, 10.5),
        Interval("c", -0.5, 0.5),
    ]
    sel = select(ivs)
    assert sel.count == 3 and (sel.low_s, sel.high_s) == (-0.5, 0.5) and set(sel.falsetickers) == {"x", "y"}


def test_an_even_split_has_no_majority():
    assert select([Interval("a", 0, 1), Interval("b", 0, 1), Interval("c", 5, 6), Interval("d", 5, 6)]) is None


def test_distance_outside_is_zero_inside_and_the_gap_outside():
    assert distance_outside_s(-1, 1) == 0.0 and distance_outside_s(0, 0) == 0.0
    assert distance_outside_s(0.5, 1.0) == 0.5 and distance_outside_s(-3.0, -1.0) == 1.0
    assert distance_outside_s(0.0, 1.0, point_s=4.0) == 3.0


@pytest.mark.parametrize("seed", SEEDS)
def test_random_honest_majorities_outvote_random_falsetickers(seed):
    """n = 3..7 candidates, f < n/2 of them far from the truth on either side: select() finds the
    truth inside the intersection and names exactly the falsetickers."""
    print(f"seed {seed}")
    rng = random.Random(seed)
    for case in range(200):
        n = rng.randint(3, 7)
        f = rng.randint(0, (n - 1) // 2)
        truth = rng.uniform(-1e-3, 1e-3)
        ivs, liars = [], set()
        for i in range(n):
            half = rng.uniform(1e-5, 1e-3)
            if i < f:
                centre = truth + rng.choice((-1, 1)) * rng.uniform(0.1, 5.0)
                liars.add(f"n{i}")
            else:
                centre = truth + rng.uniform(-0.9, 0.9) * half
            ivs.append(Interval(f"n{i}", centre - half, centre + half))
        rng.shuffle(ivs)
        sel = select(ivs)
        where = f"seed {seed} case {case}: {ivs}"
        assert sel is not None and sel.count >= n - f, where
        assert sel.low_s <= truth <= sel.high_s, where
        assert set(sel.falsetickers) == liars, where


# --- the majority of the configured nodes -------------------------------------------------------


def test_two_of_five_agreeing_are_not_a_majority_even_if_nobody_disagrees():
    cc = CrossCheck(VoteConfig(5, threshold_s=1e-3))
    v = cc.update(0, 1e-6, {"b": est(1e-6), "c": None, "d": None, "e": None})
    assert v.selection.count == 2 and not v.majority and v.state is VoteState.NO_MAJORITY


def test_three_of_five_are_a_majority_with_two_silent():
    cc = CrossCheck(VoteConfig(5, threshold_s=1e-3))
    v = cc.update(0, 1e-6, {"b": est(1e-6), "c": est(-2e-6), "d": None, "e": None})
    assert v.majority and v.state is VoteState.AGREE


def test_five_nodes_with_two_falsetickers_keep_the_honest_node_in_the_majority():
    cc = CrossCheck(VoteConfig(5, threshold_s=1e-3))
    v = cc.update(0, 1e-5, {"b": est(2e-6), "c": est(-3e-6), "d": est(-2.0), "e": est(1.5)})
    assert v.majority and v.state is VoteState.AGREE and not v.demoted
    assert set(v.selection.falsetickers) == {"d", "e"}
    assert v.candidates == (SELF, "b", "c", "d", "e")


def test_a_node_outvoted_by_three_of_five_demotes_itself():
    cc = CrossCheck(VoteConfig(5, threshold_s=1e-3))
    v = cc.update(0, 1e-5, {"b": est(0.5), "c": est(0.5), "d": est(0.5), "e": None})
    assert v.majority and v.demoted and v.selection.falsetickers == (SELF,)
    assert v.cluster_offset_s == pytest.approx(0.5, abs=1e-3)


# --- hysteresis -----------------------------------------------------------------------------------


def test_between_half_the_threshold_and_the_threshold_an_agreeing_node_stays_and_a_demoted_one_stays():
    """The band (threshold/2, threshold] keeps whatever the node was: no flapping at the edge."""
    agreeing = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=1))
    demoted = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=1))
    agreeing.update(0, 1e-7, {"b": est(0), "c": est(0)})
    demoted.update(0, 1e-7, {"b": est(1.0), "c": est(1.0)})
    for t in range(1, 20):
        near_edge = {"b": est(0.75e-3, 1e-6), "c": est(0.75e-3, 1e-6)}
        assert agreeing.update(t, 1e-7, near_edge).state is VoteState.AGREE
        assert demoted.update(t, 1e-7, near_edge).state is VoteState.DEMOTED
    # exactly at the threshold still agrees; just beyond it demotes
    v = agreeing.update(20, 0.0, {"b": est(1e-3, 0.0), "c": est(1e-3, 0.0)})
    assert v.state is VoteState.AGREE and v.distance_s == pytest.approx(1e-3)
    assert agreeing.update(21, 0.0, {"b": est(1.001e-3, 0.0), "c": est(1.001e-3, 0.0)}).demoted


def test_agreement_outside_half_the_threshold_restarts_the_promotion_clock():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=5))
    good, edge = {"b": est(1e-5, 1e-6), "c": est(1e-5, 1e-6)}, {"b": est(0.8e-3, 1e-6), "c": est(0.8e-3, 1e-6)}
    assert cc.update(0, 1e-7, {"b": est(1.0), "c": est(1.0)}).demoted
    cc.update(1, 1e-7, good)  # within threshold/2 from t=1 ...
    assert cc.update(4, 1e-7, edge).event is VoteEvent.AGREED  # ... agreed, but not within half: restart
    for t in (5, 6, 9.9):
        assert cc.update(t, 1e-7, good).demoted
    v = cc.update(10, 1e-7, good)  # 5 s within threshold/2 since t=5
    assert not v.demoted and v.event is VoteEvent.RECONCILED
    assert v.transitions == ((VoteState.DEMOTED, VoteState.AGREE, VoteEvent.RECONCILED),)


def test_promotion_after_exactly_promote_after_s():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=2.5))
    cc.update(0, 1e-7, {"b": est(1.0), "c": est(1.0)})
    good = {"b": est(0), "c": est(0)}
    assert cc.update(10.0, 1e-7, good).demoted
    assert cc.update(12.4, 1e-7, good).demoted
    assert not cc.update(12.5, 1e-7, good).demoted


def test_a_demoted_node_stays_demoted_while_peers_are_split_or_unsynchronized_and_starts_over():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=3))
    cc.update(0, 1e-7, {"b": est(1.0), "c": est(1.0)})
    good = {"b": est(0), "c": est(0)}
    cc.update(1, 1e-7, good)  # reconciling since t=1
    v = cc.update(2, 1e-7, {"b": est(0.5), "c": est(-0.5)})  # the peers split: no majority
    assert v.state is VoteState.DEMOTED and v.event is VoteEvent.NO_MAJORITY and v.transitions == ()
    v = cc.update(3, 1e-7, {"b": est(0, leap=3), "c": est(0, stratum=16)})  # nobody synchronized
    assert v.state is VoteState.DEMOTED and v.event is VoteEvent.NO_PEERS
    assert cc.update(4, 1e-7, good).demoted  # reconciling again, from t=4: the interlude does not count
    assert cc.update(6.9, 1e-7, good).demoted
    assert not cc.update(7, 1e-7, good).demoted


# --- realign_step_ns ----------------------------------------------------------------------------


def vote(state, cluster_offset_s, majority=True):
    return Vote(state, VoteEvent.DISAGREED, majority=majority, cluster_offset_s=cluster_offset_s)


def test_realign_steps_the_clock_onto_the_cluster_by_the_remaining_difference():
    assert realign_step_ns(vote(VoteState.DEMOTED, 2.0), 0, 1e-3) == -2_000_000_000
    assert realign_step_ns(vote(VoteState.DEMOTED, -3.0), 0, 1e-3) == 3_000_000_000  # behind: forward
    # served is 2 s ahead; the clock already went back 1.5 s (clock - served = -1.5 s): 0.5 s to go
    assert realign_step_ns(vote(VoteState.DEMOTED, 2.0), -1_500_000_000, 1e-3) == -500_000_000
    assert realign_step_ns(vote(VoteState.DEMOTED, 1e-9 * 1234567.6), 0, 1e-3) == -1234568  # rounded to ns


def test_realign_leaves_a_clock_within_half_the_threshold_alone():
    assert realign_step_ns(vote(VoteState.DEMOTED, 0.5e-3), 0, 1e-3) == 0  # exactly threshold/2
    assert realign_step_ns(vote(VoteState.DEMOTED, 0.501e-3), 0, 1e-3) == -501_000
    assert realign_step_ns(vote(VoteState.DEMOTED, 2.0), -1_999_600_000, 1e-3) == 0  # clock there, served catching up


@pytest.mark.parametrize(
    "v",
    [
        vote(VoteState.AGREE, 2.0),  # not demoted
        vote(VoteState.NO_MAJORITY, 2.0),
        vote(VoteState.DEMOTED, None),  # no cluster time to align to
        vote(VoteState.DEMOTED, 2.0, majority=False),  # demoted, but the majority is gone
    ],
)
def test_realign_needs_a_demoted_node_and_a_majority(v):
    assert realign_step_ns(v, 0, 1e-3) == 0


def test_realign_after_a_real_vote_then_nothing_once_the_clock_is_back():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3))
    v = cc.update(0, 1e-6, {"b": est(-4.0, 1e-5), "c": est(-4.0, 1e-5)})  # this node 4 s behind
    step = realign_step_ns(v, 0, 1e-3)
    assert step == pytest.approx(4_000_000_000, abs=20_000)
    assert realign_step_ns(v, step, 1e-3) == 0
