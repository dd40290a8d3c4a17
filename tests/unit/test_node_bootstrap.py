"""The pure node before bootstrap and with upstream NTP servers as its reference: hand-made inputs,
no sockets, no clock reads."""

from dataclasses import replace

from appliance import config
from appliance.core.bootstrap.state import StartState
from appliance.core.clock.interface import ClockCaps, ClockInfo
from appliance.core.clock.states import SyncState
from appliance.core.node import Node
from appliance.core.node_types import ClockReading, TickInputs
from appliance.core.ntp.clockfilter import PeerEstimate
from appliance.core.ntp.packet import Leap
from appliance.core.ntp.upstream import choose_upstream, reference_id
from appliance.runtime.node_config import NTP_LOCK_THRESHOLD_NS, node_config

T0_NS = 1_800_000_000 * 10**9
CAPS = ClockCaps(max_adj_ppb=500_000)
CMD = "appliance bootstrap --config /etc/appliance/config.yaml --apply"


def _cfg(**over):
    data = {"node": {"name": "a"}, "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "reference": False}}}
    data.update(over)
    return config.parse(data)


def _inputs(t_s, clock_offset_ns=0, **kw):
    wall = T0_NS + int(t_s * 1e9)
    return TickInputs(monotonic_s=t_s, wall_ns=wall, reading=ClockReading(clock_offset_ns, wall, "sim"), **kw)


def _node(cfg, start=None, has_primary=False):
    return Node(
        node_config(cfg, CAPS, ClockInfo("sim:tcxo", "sim"), -20, has_primary, start=start, bootstrap_command=CMD)
    )


def _served(node, t_s):
    return node.timemap.to_served_ns(T0_NS + int(t_s * 1e9))


def test_a_free_running_node_that_is_not_bootstrapped_answers_leap_3_and_says_what_to_run():
    node = _node(_cfg(), StartState(False, "no bootstrap record and no last-known-good"))
    a = node.tick(_inputs(0.0))
    assert a.snapshot.state is SyncState.FREERUN  # healthy by its own account ...
    ad = node.advertise(_served(node, 0.0))
    assert not ad.synchronized and ad.leap is Leap.UNSYNCHRONIZED and ad.stratum == 16  # ... but not bootstrapped
    assert a.snapshot.unsynchronized_reason == f"not bootstrapped: run `{CMD}`"
    assert not a.snapshot.bootstrapped and not node.grandmaster_eligible
    assert a.ptp.demoted  # PTP must not prefer it either


def test_bootstrapped_it_serves_stratum_1():
    node = _node(_cfg(), StartState(True, "bootstrapped"))
    node.tick(_inputs(0.0))
    ad = node.advertise(_served(node, 0.0))
    assert ad.synchronized and ad.stratum == 1


def test_a_reference_that_locks_the_clock_vouches_for_it():
    node = _node(_cfg(clock={"source": "sim", "sim": {"reference": True}}), StartState(False, "none"), has_primary=True)
    for t in range(8):
        a = node.tick(_inputs(float(t), primary_offset_ns=10.0))
    assert a.snapshot.state is SyncState.LOCKED and a.snapshot.bootstrapped
    assert node.advertise(_served(node, 7.0)).stratum == 1
    for t in range(8, 12):  # holdover after that still serves: the time came from the reference
        a = node.tick(_inputs(float(t)))
    assert a.snapshot.state is SyncState.HOLDOVER and node.advertise(_served(node, 11.0)).synchronized


def test_never_earlier_than_the_last_known_good():
    floor = T0_NS + 3600 * 10**9  # the node served an hour later than its clock now says
    node = _node(_cfg(), StartState(True, "record", not_before_ns=floor))
    a = node.tick(_inputs(0.0))
    assert not node.advertise(_served(node, 0.0)).synchronized
    assert (
        "is before the last-known-good" in a.snapshot.unsynchronized_reason and CMD in a.snapshot.unsynchronized_reason
    )


# --- upstream NTP servers -----------------------------------------------------------------------


def _est(offset_s, delay_s=100e-6, disp_s=10e-6, stratum=1, leap=0):
    return PeerEstimate(offset_s, delay_s, 0.0, 2e-6, 0.0, disp_s, leap, stratum, 0.0, 4)


def test_three_upstreams_outvote_one_that_stepped():
    ups = {"198.18.0.1": _est(20e-6), "198.18.0.2": _est(-10e-6), "198.18.0.3": _est(-1.0)}
    c = choose_upstream(ups, own_bound_s=1e-4)
    assert c.falsetickers == ("198.18.0.3",) and set(c.truechimers) == {"198.18.0.1", "198.18.0.2"}
    assert abs(c.offset_ns - 5_000) < 20_000 and c.stratum == 1


def test_a_lone_upstream_that_steps_disagrees_with_the_clock():
    c = choose_upstream({"198.18.0.1": _est(-1.0)}, own_bound_s=1e-4)
    assert c.offset_ns is None and "no majority" in c.reason
    # once the clock cannot vouch for itself, the lone server is all there is
    assert choose_upstream({"198.18.0.1": _est(-1.0)}, own_bound_s=None).offset_ns is not None


def test_the_servo_sees_each_sample_once_and_the_newest_one():
    """The filter keeps choosing its lowest-delay sample for polls; the servo takes the newest one
    (measured after its latest corrections), and nothing when there is none since the last tick."""
    e = replace(_est(50e-6), latest_offset_s=10e-6, latest_age_s=0.2)
    c = choose_upstream({"a": e}, own_bound_s=None, now_s=100.0)
    assert abs(c.offset_ns - 10_000) < 1 and c.sample_s == 99.8
    # a newest sample outside the majority (the first after a step) is not taken
    stepped = replace(_est(50e-6), latest_offset_s=-1.0, latest_age_s=0.2, jitter_s=0.5)
    c = choose_upstream({"a": stepped}, own_bound_s=1e-4, now_s=100.0)
    assert c.offset_ns is not None and abs(c.offset_ns - 50_000) < 1


def test_unsynchronised_upstreams_are_not_candidates():
    c = choose_upstream({"a": _est(0.0, leap=3), "b": None}, own_bound_s=None)
    assert c.offset_ns is None and c.unfit == ("a", "b")


def test_reference_id_of_an_upstream():
    assert reference_id("198.18.0.7:123") == bytes([198, 18, 0, 7])
    assert reference_id("198.18.0.7") == bytes([198, 18, 0, 7])
    assert len(reference_id("[2001:db8::1]:123")) == 4 and len(reference_id("ntp.example")) == 4


def _ntp_node():
    cfg = _cfg(reference={"ntp": {"servers": ["198.18.0.1"]}})
    return _node(cfg, StartState(False, "none"))


def test_locked_to_an_upstream_it_serves_stratum_2_naming_it_and_holds_over_when_it_steps():
    node = _ntp_node()
    assert node.cfg.discipline.lock_threshold_ns == NTP_LOCK_THRESHOLD_NS
    ups = {"198.18.0.1": _est(30e-6)}
    for t in range(20):  # the first frequency estimate spans 8 s (NTP_ESTIMATE_S)
        a = node.tick(_inputs(float(t), upstream=ups))
    assert a.snapshot.state is SyncState.LOCKED and a.snapshot.reference_source == "ntp"
    ad = node.advertise(_served(node, 19.0))
    assert ad.synchronized and ad.stratum == 2 and ad.ref_id == bytes([198, 18, 0, 1])
    # the one upstream steps by 1 s: the node does not follow, it holds over
    stepped = {"198.18.0.1": replace(_est(0.0), offset_s=-1.0)}
    a = node.tick(_inputs(20.0, upstream=stepped))
    assert a.snapshot.state is SyncState.HOLDOVER and a.step_ns == 0
    assert a.snapshot.upstream["falsetickers"] == ["198.18.0.1"]
