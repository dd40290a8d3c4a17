"""The pure node (appliance.core.node): one tick at a time with hand-made inputs, no sockets,
no threads, no clock reads."""

import pytest

from appliance import config
from appliance.core.clock.discipline import bound_at_s as discipline_bound
from appliance.core.clock.interface import ClockCaps, ClockInfo
from appliance.core.clock.states import SyncState
from appliance.core.node import Node
from appliance.core.node_types import ClockReading, TickInputs
from appliance.core.ntp.clockfilter import PeerEstimate
from appliance.core.ntp.packet import Leap
from appliance.runtime.node_config import node_config

T0_NS = 1_800_000_000 * 10**9
CAPS = ClockCaps(max_adj_ppb=500_000)


def _cfg(**over):
    data = {
        "node": {"name": "a"},
        "cluster": {
            "control_nodes": [
                {"name": "a", "address": "198.18.0.1"},
                {"name": "b", "address": "198.18.0.2"},
                {"name": "c", "address": "198.18.0.3"},
            ]
        },
        "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "reference": False}},
    }
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value}
    return config.parse(data)


def _node(cfg, info=ClockInfo("sim:tcxo", "sim"), has_primary=False):
    return Node(node_config(cfg, CAPS, info, -20, has_primary))


def _inputs(t_s, clock_offset_ns=0, **kw):
    wall = T0_NS + int(t_s * 1e9)
    return TickInputs(monotonic_s=t_s, wall_ns=wall, reading=ClockReading(clock_offset_ns, wall, "sim"), **kw)


@pytest.mark.parametrize(
    "clock, oscillator, refid",
    [
        ({"source": "phc", "interface": "eth0", "oscillator": "ocxo"}, None, b"OCXO"),
        ({"source": "phc", "interface": "eth0"}, None, b"XO\x00\x00"),  # unknown class: the one that promises least
        ({"source": "sim", "sim": {"oscillator": "xo", "reference": False}}, None, b"XO\x00\x00"),
        ({"source": "sim", "sim": {"oscillator": "tcxo", "reference": False}}, None, b"TCXO"),
    ],
)
def test_a_free_running_node_names_the_oscillator_actually_in_use(clock, oscillator, refid):
    """A real PHC used to advertise clock.sim.oscillator's default ("TCXO") whatever it ran on."""
    cfg = _cfg(clock=clock)
    info = ClockInfo("/dev/ptp0", "phc", "TAI") if clock["source"] == "phc" else ClockInfo("sim", "sim")
    node = _node(cfg, info)
    a = node.tick(_inputs(0.0))
    assert a.snapshot.state is SyncState.FREERUN
    ad = node.advertise(a.timemap.to_served_ns(T0_NS))
    assert ad.synchronized and ad.stratum == 1 and ad.ref_id == refid


def test_root_dispersion_is_the_bound_of_the_reply_instant():
    """With 64 s ticks a reply late in the interval must carry the bound grown since the tick, at
    least what the discipline's own bound reaches at that instant (never understated)."""
    cfg = _cfg(clock={"discipline": {"interval_s": 64, "max_error_bound_s": 1.0}})
    node = _node(cfg)
    a = node.tick(_inputs(0.0))
    served0 = a.timemap.to_served_ns(T0_NS)
    early = node.advertise(served0).root_dispersion_s
    late = node.advertise(served0 + 60 * 10**9).root_dispersion_s
    assert late > early
    truth = discipline_bound(node.discipline, 60.0, None)  # what the bound is at the late reply, by the model
    assert truth <= late <= truth + 0.5 * (truth - early) + 1e-9
    # the NTP server's fields follow it too
    assert a.serve.root_dispersion_at(served0 + 60 * 10**9) == late


def test_a_bound_that_grows_past_the_limit_between_ticks_stops_claiming_stratum_1():
    cfg = _cfg(clock={"discipline": {"interval_s": 64, "max_error_bound_s": 0.0011}})
    node = _node(cfg)
    a = node.tick(_inputs(0.0))  # free-run starts at 1 ms, grows 500 ppb: 1.1 ms after 200 s
    served0 = a.timemap.to_served_ns(T0_NS)
    assert node.advertise(served0).synchronized
    later = node.advertise(served0 + 300 * 10**9)
    assert not later.synchronized and later.leap is Leap.UNSYNCHRONIZED and later.stratum == 16


def test_an_unreadable_clock_is_a_fault_and_changes_nothing():
    node = _node(_cfg())
    node.tick(_inputs(0.0))
    a = node.tick(TickInputs(1.0, T0_NS + 10**9, None, reading_error="gone"))
    assert a.snapshot.state is SyncState.FAULT and not a.serve.synchronized
    assert a.step_ns == 0 and a.freq_correction_ppb is None
    assert any("clock read failed: gone" in e.text for e in a.events)


def test_a_large_offset_steps_the_clock_and_served_time_follows_before_it_served():
    cfg = _cfg(clock={"sim": {"oscillator": "tcxo", "reference": True}})
    node = _node(cfg, has_primary=True)
    node.tick(_inputs(0.0, primary_offset_ns=5e8))
    a = node.tick(_inputs(1.0, primary_offset_ns=5e8))
    assert a.step_ns == -500_000_000
    wall = T0_NS + 10**9
    # nothing was served synchronized yet: served time follows the clock, step included
    assert a.timemap.to_served_ns(wall) - wall == -500_000_000
    assert a.peer_shift_ns == -500_000_000


def test_nothing_is_written_to_a_clock_that_ptp4l_steers():
    cfg = _cfg(clock={"sim": {"oscillator": "tcxo", "reference": True}})
    node = _node(cfg, has_primary=True)
    for t in range(3):
        a = node.tick(_inputs(float(t), primary_offset_ns=5e8, ptp_steers_clock=True))
        assert a.step_ns == 0 and a.freq_correction_ppb is None


def _peer(offset_s):
    return PeerEstimate(
        offset_s=offset_s,
        delay_s=1e-4,
        dispersion_s=0.0,
        jitter_s=1e-6,
        root_delay_s=0.0,
        root_dispersion_s=1e-6,
        leap=0,
        stratum=1,
        age_s=0.0,
        samples=4,
    )


def test_a_node_the_majority_puts_2_s_away_demotes_itself_and_realigns():
    cfg = _cfg(clock={"discipline": {"max_error_bound_s": 1.0}})
    node = _node(cfg)
    a = node.tick(_inputs(0.0, peers={"b": _peer(2.0), "c": _peer(2.0)}))
    assert a.snapshot.demoted and not a.serve.synchronized and not a.snapshot.eligible
    assert a.step_ns == pytest.approx(-2e9, abs=1e5)  # the clock goes to the cluster; served time slews
    assert any(e.kind == "crosscheck" and e.level == "warning" for e in a.events)
    assert a.ptp.demoted


def test_the_same_node_with_linuxptp_only_demotes():
    cfg = _cfg(clock={"discipline": {"max_error_bound_s": 1.0}}, ptp={"enabled": True, "interface": "eth0"})
    node = _node(cfg)
    a = node.tick(_inputs(0.0, peers={"b": _peer(2.0), "c": _peer(2.0)}))
    assert a.snapshot.demoted and a.step_ns == 0


def test_eligibility_changes_are_announced_once():
    node = _node(_cfg())
    first = node.tick(_inputs(0.0))
    second = node.tick(_inputs(1.0))
    assert first.eligible_changed and first.snapshot.eligible and not second.eligible_changed


def _answer(ref_id, root_dispersion_s, leap=0):
    return PeerEstimate(
        offset_s=0.0,
        delay_s=1e-4,
        dispersion_s=1e-6,
        jitter_s=1e-6,
        root_delay_s=0.0,
        root_dispersion_s=root_dispersion_s,
        leap=leap,
        stratum=1,
        age_s=0.0,
        samples=4,
        ref_id=ref_id,
    )


def test_a_follower_is_never_surer_than_its_grandmaster():
    """The grandmaster is the control node whose time does not rest on PTP; the other follower's
    bound is left out (two followers would feed each other's)."""
    from appliance.core.node import grandmaster_bound_s

    peers = {"b": _answer(b"HOLD", 40e-6), "c": _answer(b"PTP\x00", 1e-3)}
    assert grandmaster_bound_s(TickInputs(0.0, 0, None, peers=peers), b"PTP\x00") == pytest.approx(41e-6)
    assert grandmaster_bound_s(TickInputs(0.0, 0, None, peers={"c": _answer(b"PTP\x00", 1e-3)}), b"PTP\x00") == 0
    unsync = {"b": _answer(b"HOLD", 40e-6, leap=3)}
    assert grandmaster_bound_s(TickInputs(0.0, 0, None, peers=unsync), b"PTP\x00") == 0
    assert grandmaster_bound_s(TickInputs(0.0, 0, None, peers=peers, ptp_grandmaster_bound_s=5e-6), b"PTP\x00") == 5e-6
    # and it is in the follower's advertised bound
    cfg = _cfg(clock={"discipline": {"max_error_bound_s": 1.0}}, cluster={"crosscheck": {"enabled": False}})
    node = _node(cfg)
    for t in range(6):
        a = node.tick(_inputs(float(t), ptp_offset_ns=10.0, peers=peers))
    assert a.snapshot.state is SyncState.LOCKED and a.snapshot.reference_source == "ptp"
    assert a.serve.root_dispersion_s >= 41e-6
