"""Clock quality by sync state, the priority2 / preemption policy, synchronization uncertain."""

import pytest

from appliance.core.clock.states import SyncState
from appliance.core.ptp import datasets as ds
from appliance.core.ptp.profile import (
    STANDBY_PRIORITY2,
    NodeSync,
    Phase,
    Priority2Policy,
    ProfileConfig,
    Role,
    accuracy_code,
    clock_class,
    grandmaster_settings,
    role,
    sync_uncertain,
    variance_code,
)
from appliance.core.ptp.states import PtpState

L, H, F, A, U, X = (
    SyncState.LOCKED,
    SyncState.HOLDOVER,
    SyncState.FREERUN,
    SyncState.ACQUIRING,
    SyncState.UNSYNCHRONIZED,
    SyncState.FAULT,
)
CFG = ProfileConfig(holdover_spec_ns=1400)


@pytest.mark.parametrize(
    "state, source, upstream, bound_s, cls",
    [
        (L, "primary", None, 1e-7, 6),
        (L, "ptp", 6, 1e-6, 135),
        (L, "ptp", 135, 1e-6, 165),  # one below a holdover grandmaster: its next step down ties, never loses
        (L, "ptp", 165, 1e-6, 165),
        (L, "ptp", 248, 1e-6, 248),  # following a free-running site grandmaster: nothing traceable
        (H, "primary", None, 1e-6, 135),  # not 7: a holdover node must still be able to follow
        (H, "primary", None, 2e-6, 165),
        (H, "ptp", 6, 1e-6, 135),
        (H, "ptp", 248, 1e-6, 248),
        (F, None, None, 1e-3, 248),
        (A, "ptp", 6, 16.0, 248),
        (U, None, None, 16.0, 248),
        (X, "primary", None, 16.0, 248),
    ],
)
def test_clock_class_table(state, source, upstream, bound_s, cls):
    assert clock_class(NodeSync(state, source, upstream, bound_s), CFG)[0] == cls


def test_follower_class_never_better_than_its_grandmaster():
    for upstream in range(0, 256):
        ours, _ = clock_class(NodeSync(L, "ptp", upstream, 1e-7), CFG)
        assert ours > 127, "ptp4l never lets a class <= 127 follow"
    for upstream in (6, 135, 165, 248):  # every class an appliance grandmaster advertises
        for state in (L, H, A):
            ours, _ = clock_class(NodeSync(state, "ptp", upstream, 1e-7), CFG)
            assert ours >= upstream, (upstream, state, ours)


def test_grandmaster_settings_values():
    gs, why = grandmaster_settings(NodeSync(L, "primary", None, 5e-8), ProfileConfig(primary_is_gnss=True))
    assert gs.quality == ds.ClockQuality(6, 0x21, 0x4E5D) and gs.time_source == 0x20
    assert gs.time_flags & ds.TIME_TRACEABLE and gs.time_flags & ds.PTP_TIMESCALE and gs.utc_offset == 37
    assert "primary" in why
    gs, _ = grandmaster_settings(NodeSync(F, None, None, 1e-3), ProfileConfig(ptp_timescale=False), Role(False))
    assert gs.quality == ds.ClockQuality(248, 0xFE, 0xFFFF) and gs.time_source == 0xA0 and gs.time_flags == 0
    # as grandmaster the same free-running node tells the domain its bound: within 1 ms
    gs, _ = grandmaster_settings(NodeSync(F, None, None, 1e-3), ProfileConfig(ptp_timescale=False))
    assert gs.quality == ds.ClockQuality(248, 0x29, 0xFFFF)
    gs, _ = grandmaster_settings(NodeSync(L, "primary", None, 5e-8), ProfileConfig())
    assert gs.time_source == 0x90  # not GNSS: the simulated reference or another primary


def test_equal_states_give_equal_quality_so_priority2_decides():
    """Candidates that are not grandmaster compare equal whatever their bounds: the designated
    order decides between them."""
    follower = Role(grandmaster=False)
    a, _ = grandmaster_settings(NodeSync(H, "ptp", 248, 1e-6), CFG, follower)
    b, _ = grandmaster_settings(NodeSync(L, "ptp", 248, 3e-6), CFG, follower)
    c, _ = grandmaster_settings(NodeSync(F, None, None, 1e-3), CFG, follower)
    assert a.quality == b.quality == c.quality


def test_the_grandmasters_quality_follows_its_bound_and_never_loses_to_a_follower():
    assert [accuracy_code(b) for b in (20e-9, 100e-9, 200e-9, 2e-3, 9.0, 100.0)] == [0x20, 0x21, 0x22, 0x2A, 0x30, 0x31]
    near, _ = grandmaster_settings(NodeSync(H, "primary", None, 200e-9, stability_s=30e-9), CFG)
    far, _ = grandmaster_settings(NodeSync(H, "primary", None, 2e-3), CFG)
    assert near.quality.clock_accuracy == 0x22 and far.quality.clock_accuracy == 0x2A
    assert near.quality.offset_scaled_log_variance == variance_code(30e-9) and variance_code(None) == 0xFFFF
    assert abs(variance_code(33.8e-9) - 0x4E5D) <= 1  # the OCP profile's PRTC-A figure
    follower, _ = grandmaster_settings(NodeSync(L, "ptp", 165, 1e-7), CFG, Role(grandmaster=False))
    assert far.quality.clock_accuracy < follower.quality.clock_accuracy  # 0xFE: the worst
    # preempting in the designated order: equal the grandmaster's quality, priority2 decides
    match, _ = grandmaster_settings(NodeSync(L, "ptp", 165, 1e-7), CFG, Role(False, far.quality))
    assert match.quality == far.quality


def test_role_only_a_designated_grandmaster_says_its_own_quality():
    gm_q = ds.ClockQuality(248, 0x2A, 0xFFFF)
    G, FOL, LIS = PtpState.GRANDMASTER, PtpState.FOLLOWING, PtpState.LISTENING
    assert role(G, Phase.DESIGNATED, 129, None, None) == Role(grandmaster=True)
    for standby in (Phase.LISTEN, Phase.REJOIN):  # a transient or rejoining grandmaster: unknown
        assert role(G, standby, 129, None, None) == Role(grandmaster=False)
    assert role(FOL, Phase.DESIGNATED, 129, 130, gm_q) == Role(False, gm_q)  # preempting: equal it
    assert role(FOL, Phase.DESIGNATED, 129, 128, gm_q) == Role(False)
    assert role(FOL, Phase.REJOIN, 129, 130, gm_q) == Role(False)
    assert role(LIS, Phase.DESIGNATED, 129, None, None) == Role(False)


def test_sync_uncertain():
    assert sync_uncertain(L, PtpState.FOLLOWING) is False
    assert sync_uncertain(A, PtpState.FOLLOWING) is True
    assert sync_uncertain(H, PtpState.FOLLOWING) is True
    assert sync_uncertain(F, PtpState.GRANDMASTER) is False
    assert sync_uncertain(U, PtpState.GRANDMASTER) is True
    assert sync_uncertain(F, PtpState.LISTENING) is True


def _policy(index=0):
    return Priority2Policy(index, 128, listen_s=2.0, wait_to_restore_s=10.0)


def test_fresh_start_alone_takes_designated_priority2_after_listening():
    p = _policy(1)
    assert p.update(0.0, PtpState.LISTENING, None, F) == STANDBY_PRIORITY2
    assert p.update(1.0, PtpState.GRANDMASTER, None, F) == STANDBY_PRIORITY2
    assert p.update(2.0, PtpState.GRANDMASTER, None, F) == 129 and p.phase is Phase.DESIGNATED


def test_simultaneous_start_following_a_standby_node_is_a_fresh_start():
    p = _policy(0)
    p.update(0.0, PtpState.LISTENING, None, F)
    assert p.update(2.5, PtpState.FOLLOWING, STANDBY_PRIORITY2, A) == 128


def test_rejoin_waits_for_lock_and_wait_to_restore():
    p = _policy(0)
    p.update(0.0, PtpState.LISTENING, None, F)
    p.update(0.5, PtpState.FOLLOWING, 129, A)  # a grandmaster already running when it began to listen
    assert p.update(2.0, PtpState.FOLLOWING, 129, A) == STANDBY_PRIORITY2 and p.phase is Phase.REJOIN
    assert p.update(5.0, PtpState.FOLLOWING, 129, L) == STANDBY_PRIORITY2  # locked since 5 s
    assert p.update(9.0, PtpState.FOLLOWING, 129, A) == STANDBY_PRIORITY2  # lost lock: timer restarts
    assert p.update(10.0, PtpState.FOLLOWING, 129, L) == STANDBY_PRIORITY2
    assert p.update(19.9, PtpState.FOLLOWING, 129, L) == STANDBY_PRIORITY2
    assert p.update(20.0, PtpState.FOLLOWING, 129, L) == 128 and p.phase is Phase.DESIGNATED


def test_a_grandmaster_that_started_with_it_is_not_running():
    """A site power cut: the third node ended its listen window first and took the domain; the
    first designated node sees that grandmaster only late in its own window, so it takes its place
    at once instead of rejoining behind it for wait_to_restore_s."""
    p = _policy(0)
    p.update(0.0, PtpState.LISTENING, None, F)
    p.update(1.5, PtpState.FOLLOWING, 130, A)  # appeared in the second half of the window
    assert p.update(2.0, PtpState.FOLLOWING, 130, A) == 128 and p.phase is Phase.DESIGNATED
    assert "started with this node" in p.reason


def test_a_demoted_node_rejoins_when_promoted():
    p = _policy(0)
    p.update(0.0, PtpState.LISTENING, None, F)
    assert p.update(2.0, PtpState.GRANDMASTER, None, F) == 128
    p.update(3.0, PtpState.FOLLOWING, 129, L, demoted=True)
    assert p.phase is Phase.REJOIN and "demoted" in p.reason
    assert p.update(4.0, PtpState.FOLLOWING, 129, L) == STANDBY_PRIORITY2  # promoted: locked since 4 s
    assert p.update(13.9, PtpState.FOLLOWING, 129, L) == STANDBY_PRIORITY2
    assert p.update(14.0, PtpState.FOLLOWING, 129, L) == 128


def test_rejoin_alone_becomes_designated():
    p = _policy(2)
    p.update(0.0, PtpState.LISTENING, None, F)
    p.update(2.0, PtpState.FOLLOWING, 128, A)
    assert p.update(3.0, PtpState.GRANDMASTER, None, H) == STANDBY_PRIORITY2
    assert p.update(5.0, PtpState.GRANDMASTER, None, H) == 130


def test_faulty_clock_is_never_preferred_and_restart_listens_again():
    p = _policy(0)
    p.update(0.0, PtpState.LISTENING, None, F)
    assert p.update(3.0, PtpState.GRANDMASTER, None, F) == 128
    assert p.update(4.0, PtpState.GRANDMASTER, None, X) == STANDBY_PRIORITY2
    p.restart()
    assert p.phase is Phase.LISTEN and p.update(5.0, PtpState.LISTENING, None, F) == STANDBY_PRIORITY2


def test_non_designated_node_always_standby():
    p = Priority2Policy(None, 128, listen_s=0.0, wait_to_restore_s=0.0)
    assert p.update(0.0, PtpState.GRANDMASTER, None, F) == STANDBY_PRIORITY2


def test_a_demoted_node_offers_nothing_as_grandmaster():
    # however good its own state, a node the vote demoted advertises the default class
    cls, why = clock_class(NodeSync(SyncState.LOCKED, "primary", None, 5e-8, demoted=True), CFG)
    assert cls == 248 and "vote" in why
    gs, _ = grandmaster_settings(NodeSync(SyncState.LOCKED, "primary", None, 5e-8, demoted=True), CFG)
    assert gs.quality.clock_class == 248
