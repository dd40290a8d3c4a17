"""The published served-time record and its sequence-locked shared memory: two worker processes
reading the same publication serve the same time."""

import multiprocessing
import time

from appliance.core.clock.timemap import TimeMap
from appliance.core.ntp.answer import ServerState
from appliance.core.ntp.packet import Leap
from appliance.core.ntp.published import decode, encode
from appliance.ntp.shared import SharedServedState

INSTANT_NS = 1_800_000_000_123_456_789


def test_record_round_trip():
    tm = TimeMap(1_700_000_000_000_000_000, 5_000_000_123, 12.5, -40_000, 83_333_333.0)
    st = ServerState(True, 1, b"PHC\x00", 42, 0.001, 0.002, -23, Leap.ADD_SECOND, 7, 1.5e-5, 0.5)
    assert decode(encode(tm, st)) == (tm, st)
    st2 = ServerState.unsynchronized()
    assert decode(encode(tm, st2)) == (tm, st2)


def _worker(shared: SharedServedState, out: object) -> None:
    deadline = time.monotonic() + 5
    while shared.timemap().offset_ns != 2_000 and time.monotonic() < deadline:
        pass
    out.send(shared.timemap().to_served_ns(INSTANT_NS))


def test_two_workers_serve_the_same_time() -> None:
    shared = SharedServedState(TimeMap(INSTANT_NS - 10**9, 1_000), ServerState.unsynchronized())
    ctx = multiprocessing.get_context("fork")
    pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
    procs = [ctx.Process(target=_worker, args=(shared, w)) for _, w in pipes]
    for p in procs:
        p.start()
    shared.publish(TimeMap(INSTANT_NS - 10**9, 2_000, 3.0), ServerState(synchronized=True))
    served = [r.recv() for r, _ in pipes]
    for p in procs:
        p.join(5)
    assert abs(served[0] - served[1]) < 1_000  # ns
    assert served[0] == shared.timemap().to_served_ns(INSTANT_NS)
    shared.close()
