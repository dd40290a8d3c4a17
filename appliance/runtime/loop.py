"""The one loop: every ``interval_s`` it gathers the node's inputs, lets the pure node decide
(appliance.core.node) and carries out what it returned. Nothing here decides anything.

Gather: the clock against the system clock, the references (the simulated one, ts2phc's, ptp4l's),
the temperature, the peers' estimates, a finished fit, what other threads noticed (hot-plug).
Apply, in the order the actions name: step, frequency, the peers' samples moved with the clock
and the new served-time map published under the poller's lock (so that no sample is converted
through one map and shifted for the other), the server state, ptp4l's advice, logs, the model's
state, a new fit.

Every tick is timed (``TickTimes``): the histogram ``appliance_tick_duration_seconds`` and the
maximum in status. A tick must never block for long: the fit runs in another process
(appliance.runtime.refit) and nothing here waits on the network.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.clock.interface import Clock, ClockError
from ..core.clock.timemap import TimeMap
from ..core.node import Node
from ..core.node_types import ClockReading, Notice, TickActions, TickInputs
from ..ntp.peers import PeerPoller
from .clocks import read_temperature_c
from .refit import RefitWorker
from .tempcomp_store import PredictorStore

log = logging.getLogger("appliance.node")

TICK_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class TickTimes:
    """Durations of the ticks, as a cumulative histogram (Prometheus buckets) and a maximum."""

    def __init__(self) -> None:
        self.counts = [0] * len(TICK_BUCKETS_S)
        self.count = 0
        self.sum_s = 0.0
        self.max_s = 0.0
        self.last_s: float | None = None
        self._lock = threading.Lock()

    def record(self, duration_s: float) -> None:
        with self._lock:
            for i, le in enumerate(TICK_BUCKETS_S):
                if duration_s <= le:
                    self.counts[i] += 1
            self.count += 1
            self.sum_s += duration_s
            self.max_s = max(self.max_s, duration_s)
            self.last_s = duration_s

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "count": self.count,
                "last_duration_s": self.last_s,
                "max_duration_s": self.max_s if self.count else None,
                "sum_s": self.sum_s,
                "buckets": {str(le): c for le, c in zip(TICK_BUCKETS_S, self.counts, strict=False)},
            }


class TickLoop:
    def __init__(
        self,
        node: Node,
        clock: Clock,
        interval_s: float,
        reference: Any = None,
        ptp: Any = None,
        poller: PeerPoller | None = None,
        store: PredictorStore | None = None,
        refit: RefitWorker | None = None,
        ptp_measures_system: bool = False,
        on_actions: Callable[[TickActions], None] | None = None,
        upstream: PeerPoller | None = None,
    ):
        self.node = node
        self.clock = clock
        self.interval_s = interval_s
        self.reference = reference
        self.ptp = ptp
        self.poller = poller
        self.upstream = upstream  # reference.ntp: the upstream servers' poller
        self.store = store
        self.refit = refit if refit is not None else RefitWorker()
        self.ptp_measures_system = ptp_measures_system
        self.on_actions = on_actions  # the shell's publication (server state, status, history, metrics)
        self.timemap = node.timemap  # read by the NTP thread and the poller: replaced whole, never changed
        self.times = TickTimes()
        self.notices: queue.SimpleQueue[Notice] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.heartbeat: Callable[[], None] | None = None  # called between and after ticks (watchdog)
        self.heartbeat_s = interval_s

    # -- the loop -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tick", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        next_t = time.monotonic() + self.interval_s
        while True:
            # Between ticks the loop wakes at least every heartbeat_s to say it is alive (the
            # service manager's watchdog); a tick that wedges says nothing, and is restarted.
            wait_s = max(0.0, next_t - time.monotonic())
            if self.heartbeat is not None:
                wait_s = min(wait_s, self.heartbeat_s)
            if self._stop.wait(wait_s):
                return
            if self.heartbeat is not None:
                self.heartbeat()
            if time.monotonic() < next_t:
                continue
            next_t += self.interval_s
            if next_t < time.monotonic():  # far behind (suspended): skip, do not run a burst of ticks
                next_t = time.monotonic() + self.interval_s
            try:
                self.tick()
            except Exception:
                log.exception("tick failed")

    def tick(self) -> TickActions:
        started = time.perf_counter()
        actions = self.node.tick(self.gather())
        self.apply(actions)
        self.times.record(time.perf_counter() - started)
        return actions

    # -- inputs -------------------------------------------------------------------------------
    def gather(self) -> TickInputs:
        now_s = time.monotonic()
        reading, error = None, None
        try:
            m = self.clock.measure_offset_to_system()
            reading = ClockReading(m.offset_ns, m.system_ns, m.method, m.delay_ns)
        except ClockError as exc:
            error = str(exc)
        primary = self.reference.measure() if self.reference is not None else None
        ptp_offset, gm = None, None
        if self.ptp is not None and primary is None:
            primary = self.ptp.take_primary_offset_ns()
            if primary is None:
                ptp_offset, gm = self.ptp.take_offset_ns(), self.ptp.grandmaster()
        notices = []
        while True:
            try:
                notices.append(self.notices.get_nowait())
            except queue.Empty:
                break
        return TickInputs(
            monotonic_s=now_s,
            wall_ns=time.time_ns(),
            reading=reading,
            reading_error=error,
            primary_offset_ns=primary,
            ptp_offset_ns=ptp_offset,
            ptp_grandmaster=gm,
            ptp_measures_system=self.ptp_measures_system,
            ptp_steers_clock=bool(self.ptp is not None and self.ptp.steers_clock()),
            temperature_c=read_temperature_c(self.clock),
            peers=self.poller.estimates(now_s) if self.poller is not None else None,
            upstream=self.upstream.estimates(now_s) if self.upstream is not None else None,
            refit=self.refit.take(),
            notices=tuple(notices),
        )

    # -- actions ------------------------------------------------------------------------------
    def apply(self, a: TickActions) -> None:
        try:
            if a.step_ns:
                self.clock.step(a.step_ns)
            if a.freq_correction_ppb is not None:
                self.clock.adjust_frequency(a.freq_correction_ppb)
        except ClockError as exc:
            log.error("clock adjustment failed: %s", exc)
            self.notices.put(Notice(time.time(), "clock", f"clock adjustment failed: {exc}", "error"))
        self._publish_map(a.timemap, a.peer_shift_ns)
        for e in a.events:
            log.log(_LEVELS.get(e.level, logging.INFO), "%s", e.text)
        if self.ptp is not None:
            p = a.ptp
            self.ptp.update_sync(p.state, p.error_bound_s, p.source, p.demoted, p.stability_s)
        if self.on_actions is not None:
            self.on_actions(a)
        if a.persist is not None and self.store is not None:
            self.store.save(a.persist, time.monotonic(), time.time())
        if a.refit is not None:
            self.refit.submit(a.refit)

    def _publish_map(self, timemap: TimeMap, shift_ns: int) -> None:
        def publish() -> None:
            self.timemap = timemap

        # Under every poller's lock at once (always in this order), so that no reply is converted
        # through one map and shifted for the other: each poller's rebase runs the next one inside.
        run: Callable[[], None] = publish
        for poller in (self.upstream, self.poller):
            if poller is not None:
                run = functools.partial(poller.rebase, shift_ns, run)
        run()

    def current_map(self) -> TimeMap:
        return self.timemap
