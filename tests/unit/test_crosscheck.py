"""The vote: Marzullo / RFC 5905 intersection, majority of the configured nodes, demotion with
hysteresis, and the realignment step."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.cluster.vote import (
    SELF,
    TRANSITIONS,
    CrossCheck,
    Interval,
    VoteConfig,
    VoteEvent,
    VoteState,
    describe,
    realign_step_ns,
    select,
)
from appliance.core.ntp.clockfilter import PeerEstimate


def est(offset_s, delay_s=2e-4, leap=0, stratum=1, root_dispersion_s=1e-6):
    return PeerEstimate(
        offset_s=offset_s,
        delay_s=delay_s,
        dispersion_s=0.0,
        jitter_s=0.0,
        root_delay_s=0.0,
        root_dispersion_s=root_dispersion_s,
        leap=leap,
        stratum=stratum,
        age_s=0.0,
        samples=4,
    )


def test_three_overlapping_intervals_give_their_common_part():
    sel = select([Interval("a", -1, 1), Interval("b", 0, 2), Interval("c", 0.5, 3)])
    assert (sel.low_s, sel.high_s, sel.count) == (0.5, 1, 3)
    assert sel.truechimers == ("a", "b", "c") and sel.falsetickers == ()


def test_one_falseticker_of_three_is_named():
    sel = select([Interval("a", -1e-4, 1e-4), Interval("b", -2e-4, 1e-4), Interval("c", 1.9, 2.1)])
    assert sel.count == 2
    assert (sel.low_s, sel.high_s) == (-1e-4, 1e-4)
    assert sel.falsetickers == ("c",)


def test_touching_intervals_meet_and_a_split_has_no_majority():
    sel = select([Interval("a", 0, 1), Interval("b", 1, 2)])
    assert (sel.low_s, sel.high_s) == (1, 1)
    assert select([Interval("a", 0, 1), Interval("b", 2, 3)]) is None
    assert select([Interval("a", 0, 1), Interval("b", 2, 3), Interval("c", 4, 5)]) is None
    assert select([]) is None


def test_a_wide_interval_does_not_hide_a_falseticker_pair():
    # RFC form: lowest and highest point covered by n - f intervals.
    sel = select([Interval("a", -10, 10), Interval("b", -5, -4), Interval("c", 4, 5)])
    assert (sel.low_s, sel.high_s, sel.count) == (-5, 5, 2)


def vote(cc, now, own_bound, **peers):
    return cc.update(now, own_bound, peers)


def test_agreeing_cluster():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3))
    v = vote(cc, 0, 1e-6, b=est(10e-6), c=est(-20e-6))
    assert v.state is VoteState.AGREE and v.majority and not v.demoted
    assert v.distance_s == 0.0
    assert set(v.selection.truechimers) == {SELF, "b", "c"}


def test_node_ahead_of_the_other_two_demotes_itself_and_returns_after_hysteresis():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=6))
    vote(cc, 0, 1e-6, b=est(0), c=est(0))
    # This node is 2 s ahead: seen from here both peers are 2 s behind (offset = local - peer = +2).
    v = vote(cc, 1, 1e-6, b=est(2.0), c=est(2.0))
    assert v.demoted and v.event is VoteEvent.DISAGREED
    assert v.cluster_offset_s == pytest.approx(2.0, abs=1e-3)
    assert v.transitions == ((VoteState.AGREE, VoteState.DEMOTED, VoteEvent.DISAGREED),)
    assert v.selection.falsetickers == (SELF,)
    # Back within the threshold but not within half of it: still demoted.
    v = vote(cc, 2, 1e-6, b=est(0.9e-3, delay_s=0), c=est(0.9e-3, delay_s=0))
    assert v.demoted
    for t in (3, 5, 8.9):
        assert vote(cc, t, 1e-6, b=est(1e-5), c=est(2e-5)).demoted
    v = vote(cc, 9, 1e-6, b=est(1e-5), c=est(2e-5))
    assert not v.demoted and v.state is VoteState.AGREE and v.event is VoteEvent.RECONCILED


def test_agreement_interrupted_restarts_the_hysteresis():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=5))
    vote(cc, 0, 1e-6, b=est(1.0), c=est(1.0))
    vote(cc, 1, 1e-6, b=est(0), c=est(0))
    vote(cc, 4, 1e-6, b=est(0.1), c=est(0.1))  # out again
    assert vote(cc, 7, 1e-6, b=est(0), c=est(0)).demoted  # only 0 s of agreement since t=7
    assert vote(cc, 11, 1e-6, b=est(0), c=est(0)).demoted
    assert not vote(cc, 12, 1e-6, b=est(0), c=est(0)).demoted


def test_unsynchronized_peers_do_not_vote():
    cc = CrossCheck(VoteConfig(3))
    v = vote(cc, 0, 1e-6, b=est(2.0, leap=3), c=est(2.0, stratum=16))
    assert v.state is VoteState.ISOLATED and not v.demoted
    assert v.candidates == (SELF,)
    v = vote(cc, 1, 1e-6, b=None, c=est(2.0, leap=3))
    assert v.state is VoteState.ISOLATED


def test_two_disagreeing_nodes_with_the_third_silent_prove_nothing():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3))
    v = vote(cc, 0, 1e-6, b=est(0.5), c=None)
    assert v.state is VoteState.NO_MAJORITY and not v.demoted and not v.majority
    # ... and two that agree are a majority of three.
    v = vote(cc, 1, 1e-6, b=est(1e-6), c=None)
    assert v.state is VoteState.AGREE and v.majority


def test_demoted_node_stays_demoted_without_a_majority():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3, promote_after_s=0))
    vote(cc, 0, 1e-6, b=est(1.0), c=est(1.0))
    assert vote(cc, 1, 1e-6, b=None, c=None).demoted
    assert vote(cc, 2, 1e-6, b=est(0), c=None).state is VoteState.AGREE  # self + b: a majority of 3


def test_own_wide_bound_does_not_excuse_a_large_offset():
    # Long holdover: a 50 ms bound covers the others, but they put this node 30 ms off.
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3))
    v = vote(cc, 0, 50e-3, b=est(30e-3, delay_s=1e-4), c=est(30e-3, delay_s=1e-4))
    assert SELF in v.selection.truechimers
    assert v.demoted and v.distance_s == pytest.approx(30e-3, abs=1e-4)


def test_realign_step_only_when_demoted_with_a_majority_and_the_clock_is_off():
    cc = CrossCheck(VoteConfig(3, threshold_s=1e-3))
    v = vote(cc, 0, 1e-6, b=est(2.0, delay_s=0), c=est(2.0, delay_s=0))
    assert realign_step_ns(v, 0, 1e-3) == -2_000_000_000
    # The clock already went back; served time still has -2 s to absorb: nothing more to do.
    assert realign_step_ns(v, -2_000_000_000, 1e-3) == 0
    ok = vote(CrossCheck(VoteConfig(3)), 0, 1e-6, b=est(0), c=est(0))
    assert realign_step_ns(ok, 0, 1e-3) == 0


def test_table_is_documented_and_demoted_only_leaves_by_reconciled():
    text = describe()
    assert "| demoted | reconciled | agree |" in text
    assert {e for (s, e) in TRANSITIONS if s is VoteState.DEMOTED} == {VoteEvent.RECONCILED}
    with pytest.raises(ValueError):
        CrossCheck(VoteConfig(0))


@settings(max_examples=300, deadline=None)
@given(
    truth=st.floats(-5e-3, 5e-3),
    own_half=st.floats(1e-7, 1e-2),
    peers=st.lists(st.tuples(st.floats(-1e-2, 1e-2), st.floats(1e-6, 1e-2)), min_size=1, max_size=4),
    threshold=st.floats(1e-4, 1e-2),
)
def test_an_honest_cluster_never_demotes_a_node_whose_own_error_is_within_the_threshold(
    truth, own_half, peers, threshold
):
    """If every interval contains the truth (all honest), local time is at most |truth| from the
    intersection: a node whose actual error is below the threshold is never demoted."""
    cc = CrossCheck(VoteConfig(len(peers) + 1, threshold_s=threshold))
    own_half = max(own_half, abs(truth) * 1.001)  # own interval [-b, b] must contain truth
    ests = {}
    for i, (centre_rel, half) in enumerate(peers):
        # peer interval centre = truth + something within its half width
        centre = truth + 0.999 * max(-half, min(half, centre_rel))  # strictly inside: no float ties
        ests[f"p{i}"] = PeerEstimate(
            offset_s=-centre,
            delay_s=2 * half,
            dispersion_s=0,
            jitter_s=0,
            root_delay_s=0,
            root_dispersion_s=0,
            leap=0,
            stratum=1,
            age_s=0,
            samples=1,
        )
    v = cc.update(0.0, own_half, ests)
    assert v.majority
    assert v.distance_s <= abs(truth) + 1e-12
    if abs(truth) < threshold * 0.999:
        assert not v.demoted
