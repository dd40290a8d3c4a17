"""Upstream NTP servers as the reference, in virtual time, before any socket: a simulated TCXO, the
node (appliance.core.node) and per-server clock filters fed with what an NTP client would measure
(the clock's true error, half the path's asymmetry, white noise), polled once a tick. Three servers:
the node locks within 100 us and a server stepped by 1 s is outvoted; one server: the node holds
over instead of following it."""

import numpy as np

from appliance import config
from appliance.core.bootstrap.state import StartState
from appliance.core.clock.states import SyncState
from appliance.core.node import Node
from appliance.core.node_types import ClockReading, TickInputs
from appliance.core.ntp.clockfilter import ClockFilter, PeerSample
from appliance.runtime.node_config import node_config
from appliance.sim.oscillator import Oscillator, draw_params
from appliance.sim.phc import SimPhc, VirtualClock
from appliance.sim.temperature import DiurnalHvac

T0_NS = 1_700_000_000 * 10**9
NOISE_S = 20e-6
DELAY_S = 200e-6


def _setup(servers, seed=4, initial_error_ns=3_000_000):
    cfg = config.parse(
        {
            "node": {"name": "a"},
            "clock": {"source": "sim", "sim": {"reference": False}},
            "reference": {"ntp": {"servers": servers}},
        }
    )
    truth = VirtualClock(T0_NS)
    profile = DiurnalHvac(24.0, 1.5, 0.6, 900.0, seed=seed)
    clock = SimPhc(
        Oscillator(draw_params("tcxo", seed), seed, profile.temp_c(0.0)),
        profile.temp_c,
        truth_ns=truth,
        initial_error_ns=initial_error_ns,
    )
    node = Node(node_config(cfg, clock.caps(), clock.info(), -20, False, start=StartState(False, "none")))
    return truth, clock, node, {s: ClockFilter(4, 8.0) for s in servers}


def _run(truth, clock, node, filters, seconds, stepped=(), rng=None, record=None):
    rng = rng or np.random.default_rng(int(truth.now_ns % 1000))
    for _ in range(int(seconds)):
        truth.advance(1.0)
        now_s = (truth.now_ns - T0_NS) / 1e9  # the node's monotonic time: never restarts
        err_s = clock.error_ns() * 1e-9
        for name, f in filters.items():
            server_error_s = 1.0 if name in stepped else 0.0
            delay = DELAY_S + rng.exponential(DELAY_S / 4)
            f.add(PeerSample(now_s, err_s - server_error_s + rng.normal(0, NOISE_S), delay, 0, 1, 0.0, 20e-6))
        a = node.tick(
            TickInputs(
                now_s,
                truth.now_ns,
                ClockReading(int(round(clock.error_ns())), truth.now_ns, "sim"),
                upstream={n: f.estimate(now_s) for n, f in filters.items()},
            )
        )
        if a.step_ns:
            clock.step(a.step_ns)
            for f in filters.values():
                f.shift(a.step_ns * 1e-9)
        if a.freq_correction_ppb is not None:
            clock.adjust_frequency(a.freq_correction_ppb)
        if record is not None:
            record.append((a.snapshot.state, (a.timemap.to_served_ns(truth.now_ns) - truth.now_ns) * 1e-9))
    return a


def test_three_servers_lock_and_outvote_a_step():
    servers = ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    truth, clock, node, filters = _setup(servers)
    a = _run(truth, clock, node, filters, 120)
    assert a.snapshot.state is SyncState.LOCKED and a.snapshot.bootstrapped
    rec = []
    a = _run(truth, clock, node, filters, 300, record=rec)
    assert all(s is SyncState.LOCKED for s, _ in rec) and max(abs(e) for _, e in rec) < 100e-6
    rec = []
    a = _run(truth, clock, node, filters, 300, stepped={"198.18.0.3"}, record=rec)
    assert all(s is SyncState.LOCKED for s, _ in rec) and max(abs(e) for _, e in rec) < 100e-6
    assert a.snapshot.upstream["falsetickers"] == ["198.18.0.3"]


def test_one_server_that_steps_is_not_followed():
    truth, clock, node, filters = _setup(["198.18.0.1"])
    a = _run(truth, clock, node, filters, 120)
    assert a.snapshot.state is SyncState.LOCKED
    rec = []
    a = _run(truth, clock, node, filters, 120, stepped={"198.18.0.1"}, record=rec)
    assert a.snapshot.state is SyncState.HOLDOVER
    assert max(abs(e) for _, e in rec) < 1e-3  # the served time did not go the 1 s
