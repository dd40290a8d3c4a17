"""The pure PTP watch (appliance.core.ptp.watch) driven with hand-made data sets and times: no
sockets, no ptp4l, no clock. The manager's shell around it is tested with ptp4l in
tests/integration/test_ptp_failover.py."""

from appliance.core.clock.states import SyncState
from appliance.core.ptp import datasets as ds
from appliance.core.ptp.profile import STANDBY_PRIORITY2, Phase, Priority2Policy, ProfileConfig
from appliance.core.ptp.states import PtpEvent, PtpState
from appliance.core.ptp.watch import PRIMARY_FRESH_S, PtpWatch, WatchTiming

STALE_S, SETTLE_S, LISTEN_S = 1.0, 2.0, 3.0
GM_A, GM_B = b"\xaa" * 8, b"\xbb" * 8


def watch(designated_index: int | None = 0) -> PtpWatch:
    policy = Priority2Policy(designated_index, 128, listen_s=LISTEN_S, wait_to_restore_s=10.0)
    return PtpWatch(WatchTiming(stale_s=STALE_S, settle_s=SETTLE_S), policy, ProfileConfig(), priority1=128)


def port(state: ds.PortState) -> ds.PortDataSet:
    return ds.PortDataSet(ds.PortIdentity(b"\x01" * 8, 1), int(state), 0, 0.0, 1, 3, 0, 1, 0, 2)


def time_status(offset_ns: int, ingress_ns: int, gm: bytes = GM_A) -> ds.TimeStatusNp:
    return ds.TimeStatusNp(offset_ns, ingress_ns, 0, 0, 0, (0, 0, 0), True, gm)


def parent(gm: bytes = GM_A, clock_class: int = 6, gm_priority2: int = 128) -> ds.ParentDataSet:
    return ds.ParentDataSet(
        ds.PortIdentity(gm, 1), 0, 0xFFFF, 0x7FFFFFFF, 128, ds.ClockQuality(clock_class, 0x21, 0x4E5D), gm_priority2, gm
    )


CURRENT = ds.CurrentDataSet(1, 0.0, 5000.0)


def poll(
    w: PtpWatch,
    now_s: float,
    offset_ns: int,
    *,
    gm: bytes = GM_A,
    state=ds.PortState.SLAVE,
    ingress_ns: int | None = None,
    **kw,
):
    ingress = int(now_s * 1e9) if ingress_ns is None else ingress_ns
    return w.poll(now_s, port(state), time_status(offset_ns, ingress, gm), parent(gm, **kw), CURRENT)


def test_a_new_follower_ignores_samples_for_the_settle_time():
    w = watch()
    first = poll(w, 10.0, 900)
    assert first.state_change.new is PtpState.FOLLOWING and first.state_change.event is PtpEvent.PORT_SLAVE
    assert w.take_offset_ns(10.0) is None
    poll(w, 11.0, 800)
    assert w.take_offset_ns(11.0) is None  # still settling: the path delay is not known yet
    poll(w, 12.0, -40)
    assert w.take_offset_ns(12.0) == -40.0
    assert w.observed_status(None)["offset_ns"] == -40.0


def test_a_grandmaster_change_voids_the_samples_and_settles_again():
    w = watch()
    for t in (10.0, 12.0, 12.5):
        poll(w, t, 100)
    assert w.take_offset_ns(12.5) == 100.0
    poll(w, 13.0, 200)  # a new sample from the old grandmaster, not yet taken
    poll(w, 13.25, 5_000, gm=GM_B)
    assert w.take_offset_ns(13.25) is None  # the new grandmaster's offsets mean nothing yet
    poll(w, 14.25, 4_000, gm=GM_B)
    assert w.state is PtpState.FOLLOWING and w.take_offset_ns(14.25) is None  # settling is not a sync loss
    poll(w, 15.25, 30, gm=GM_B)
    assert w.take_offset_ns(15.25) == 30.0


def test_new_samples_are_averaged_and_a_repeat_counts_once():
    w = watch()
    poll(w, 10.0, 0)
    poll(w, 12.0, 100, ingress_ns=1)
    poll(w, 12.25, 300, ingress_ns=2)
    poll(w, 12.5, 999, ingress_ns=2)  # the same measurement again (no new ingress time)
    assert w.take_offset_ns(12.5) == 200.0
    assert w.take_offset_ns(12.6) == 300.0  # nothing new: the latest, while fresh


def test_stale_samples_expire_and_then_sync_is_lost():
    w = watch()
    poll(w, 10.0, 0)
    poll(w, 12.0, 50, ingress_ns=7)
    assert w.take_offset_ns(12.0) == 50.0
    assert w.take_offset_ns(12.0 + STALE_S) == 50.0
    assert w.take_offset_ns(12.0 + STALE_S + 0.1) is None
    change = poll(w, 12.0 + STALE_S + 0.1, 50, ingress_ns=7).state_change  # no new measurement
    assert change.event is PtpEvent.SYNC_LOST and change.new is PtpState.HOLDOVER
    assert w.take_offset_ns(13.2) is None  # not following


def test_upstream_class_is_the_followed_grandmasters_and_feeds_the_quality():
    w = watch()
    poll(w, 10.0, 0, clock_class=6)
    assert w.upstream_class == 6
    w.update_sync(SyncState.LOCKED, 1e-7, "ptp")
    assert w.want_gm.quality.clock_class == 135
    poll(w, 20.0, 0, state=ds.PortState.MASTER, clock_class=248)
    assert w.upstream_class == 6  # kept after the grandmaster is gone: holdover rests on it


def test_a_demoted_node_wants_priority1_and_priority2_255():
    w = watch(designated_index=1)
    w.update_sync(SyncState.FREERUN, 1e-3, None, demoted=True)
    acts = poll(w, 10.0, 0, state=ds.PortState.MASTER)
    wanted = {s.key: s for s in acts.settings}
    assert wanted["priority1"].value == 255 and "demoted" in wanted["priority1"].text
    assert wanted["priority2"].value == STANDBY_PRIORITY2 and "demoted" in wanted["priority2"].text
    assert wanted["grandmaster_settings"].value.quality.clock_class == 248
    w.update_sync(SyncState.FREERUN, 1e-3, None, demoted=False)
    wanted = {s.key: s.value for s in poll(w, 10.0 + LISTEN_S, 0, state=ds.PortState.MASTER).settings}
    # Promoted again it rejoins first: no designated place until it has been grandmaster with nobody
    # better for a listen window (or followed for wait_to_restore_s).
    assert wanted["priority1"] == 128 and wanted.get("priority2", STANDBY_PRIORITY2) == STANDBY_PRIORITY2
    wanted = {s.key: s.value for s in poll(w, 10.0 + 2.5 * LISTEN_S, 0, state=ds.PortState.MASTER).settings}
    assert wanted["priority2"] == 129  # designated #1 once taken back


def test_settings_are_asked_for_until_applied_and_again_after_a_restart():
    w = watch()
    w.update_sync(SyncState.FREERUN, 1e-3, None)
    acts = poll(w, 10.0, 0, state=ds.PortState.MASTER)
    assert [s.key for s in acts.settings] == ["priority1", "priority2", "grandmaster_settings", "sync_uncertain"]
    for s in acts.settings[:3]:
        w.applied(s)  # sync_uncertain failed: asked for again
    assert [s.key for s in poll(w, 10.25, 0, state=ds.PortState.MASTER).settings] == ["sync_uncertain"]
    w.applied(poll(w, 10.5, 0, state=ds.PortState.MASTER).settings[0])
    assert poll(w, 10.75, 0, state=ds.PortState.MASTER).settings == ()
    assert w.settings_status()["priority2"] == STANDBY_PRIORITY2
    acts = poll(w, 10.0 + LISTEN_S, 0, state=ds.PortState.MASTER)
    assert acts.phase_change.new is Phase.DESIGNATED
    # designated, the grandmaster tells the domain its bound (a standby one says unknown)
    assert [s.key for s in acts.settings] == ["priority2", "grandmaster_settings"]
    assert acts.settings[0].value == 128 and acts.settings[1].value.quality.clock_accuracy == 0x29
    for s in acts.settings:
        w.applied(s)
    w.ptp4l_started()  # ptp4l came back from its file: standby priority2 and nothing set
    acts = poll(w, 20.0, 0, state=ds.PortState.MASTER)
    assert acts.phase_change is None and w.priority2.phase is Phase.LISTEN
    assert [s.key for s in acts.settings] == ["priority1", "priority2", "grandmaster_settings", "sync_uncertain"]
    assert {s.key: s.value for s in acts.settings}["priority2"] == STANDBY_PRIORITY2
    assert w.settings_status()["priority2"] is None


def test_a_rejoining_node_keeps_standby_until_locked_for_the_wait():
    w = watch(designated_index=0)
    w.update_sync(SyncState.ACQUIRING, 1e-3, "ptp")
    poll(w, 0.0, 0, gm_priority2=129)
    acts = poll(w, LISTEN_S, 0, gm_priority2=129)
    assert acts.phase_change.new is Phase.REJOIN
    assert {s.key: s.value for s in acts.settings}["priority2"] == STANDBY_PRIORITY2
    w.update_sync(SyncState.LOCKED, 1e-7, "ptp")
    poll(w, 4.0, 0, gm_priority2=129)
    acts = poll(w, 14.0, 0, gm_priority2=129)
    assert acts.phase_change.new is Phase.DESIGNATED
    assert {s.key: s.value for s in acts.settings}["priority2"] == 128


def test_standby_grandmasters_tie_on_quality_whatever_their_bounds():
    """A grandmaster gives way: the rejoining followers each become grandmaster until they hear one
    another. Their bounds differ; if each said its own, the smaller bound would win the BMCA before
    priority2 and the clock identity were compared, and after a listen window that node would take
    its designated place."""
    wanted = []
    for bound_s in (5e-6, 2e-3):
        w = watch(designated_index=1)
        w.update_sync(SyncState.ACQUIRING, 1e-3, "ptp")
        poll(w, 0.0, 0, gm_priority2=128, clock_class=248)
        assert poll(w, LISTEN_S, 0, gm_priority2=128, clock_class=248).phase_change.new is Phase.REJOIN
        w.update_sync(SyncState.LOCKED, bound_s, "ptp", stability_s=1e-6)
        acts = poll(w, LISTEN_S + 1, 0, state=ds.PortState.MASTER)  # the grandmaster gave way
        assert w.state is PtpState.GRANDMASTER and w.priority2.phase is Phase.REJOIN
        wanted.append({s.key: s.value for s in acts.settings})
    assert wanted[0]["grandmaster_settings"].quality == wanted[1]["grandmaster_settings"].quality
    assert wanted[0]["grandmaster_settings"].quality == ds.ClockQuality(248, 0xFE, 0xFFFF)
    # grandmaster with nobody better for a listen window: designated, and its bound with it
    acts = poll(w, 2 * LISTEN_S + 1, 0, state=ds.PortState.MASTER)
    assert acts.phase_change.new is Phase.DESIGNATED
    wanted_now = {s.key: s.value for s in acts.settings}
    assert wanted_now["priority2"] == 129 and wanted_now["grandmaster_settings"].quality.clock_accuracy == 0x2A


def test_ptp4l_stopping_and_failing():
    w = watch()
    poll(w, 10.0, 0, state=ds.PortState.MASTER)
    change = w.ptp4l_stopped(failed=False)
    assert change.event is PtpEvent.STOPPED and change.new is PtpState.INIT
    assert w.ptp4l_stopped(failed=False) is None  # no change, nothing to log
    change = w.ptp4l_stopped(failed=True)
    assert change.new is PtpState.FAULTY and change.role == "faulty"


def test_the_primary_offset_is_handed_out_once_while_fresh():
    w = watch()
    w.primary_sample(5.0, -3.0)
    assert w.take_primary_offset_ns(5.5) == -3.0 and w.take_primary_offset_ns(5.5) is None
    w.primary_sample(5.0, 7.0)
    assert w.take_primary_offset_ns(5.0 + PRIMARY_FRESH_S + 0.1) is None


def test_status_before_and_while_following():
    w = watch()
    st = w.observed_status(None)
    assert st["role"] == "listening" and st["port_state"] is None and st["gm_identity"] is None
    poll(w, 10.0, 0)
    poll(w, 12.0, -5)
    st = w.observed_status(b"\x01\x02\x03\xff\xfe\x04\x05\x06")
    assert st["port_state"] == "SLAVE" and st["gm_identity"] == ds.clock_id_str(GM_A)
    assert st["clock_identity"] == "010203.fffe.040506" and st["path_delay_ns"] == 5000.0
    assert w.settings_status()["grandmaster"]["clock_class"] == 6
