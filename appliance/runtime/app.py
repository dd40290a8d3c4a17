"""`appliance serve`: the node (appliance.core.node) in its shell.

Lifecycle: ``start`` opens, in order, the clock, the NTP sockets, the control socket, /metrics,
ptp4l and its helpers, the peer poller, the tick loop and hot-plug monitoring, each registered
in an ExitStack, so whatever was opened is closed in reverse order on any failure and by
``stop`` (SIGTERM / SIGINT through ``stop_on_signals``). The learned model is saved after the
loop has stopped and before the clock is closed.

Threads, and why each exists (everything that decides runs in the first):
  * ``tick``: the one loop (appliance.runtime.loop): gather, decide (pure), apply;
  * ``ntp-server``: the NTP fast path answers from the published immutable state and time map and
    never waits for a tick (with ntp.workers, worker processes do, appliance.ntp.workers);
  * ``peer-poll``: the other control nodes' replies must be timestamped as they arrive;
  * ``ptp-poll`` and one reader per supervised child: ptp4l's management socket at 4 Hz and the
    children's logs;
  * ``control``, ``metrics``: request servers, one thread per request;
  * hot-plug: pyudev's monitor blocks on its netlink socket;
  * the model's refit runs in a separate process (appliance.runtime.refit), not a thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Config
from ..control_socket import ControlServer
from ..core.bootstrap.state import StartState
from ..core.clock.timemap import TimeMap
from ..core.node import Node
from ..core.node_types import TickActions
from ..core.ntp.answer import ServerState
from ..monitoring.history import History
from ..ntp.server import NtpUdpServer
from ..ntp.shared import SharedServedState
from ..ntp.workers import WorkerPool
from . import inject as injection
from . import services, site
from .clocks import measure_precision_log2, open_clock
from .hotplug import start_hotplug
from .lastgood import LastGoodWriter
from .loop import TickLoop
from .node_config import node_config
from .refit import RefitWorker
from .reload import ntp_keys, serving_core
from .state_files import StateFiles
from .tempcomp_store import PredictorStore

log = logging.getLogger("appliance.service")

# Control commands that change the node: root and the service's own user only (control_socket).
WRITE_COMMANDS = frozenset({"inject"})


class Appliance:
    def __init__(
        self,
        cfg: Config,
        listen: list[str] | None = None,
        control_socket: str | None = None,
        config_path: str | None = None,
    ):
        from .. import leapfile

        self.cfg, self.leap = leapfile.apply(cfg)  # ptp.utc_offset_s from the verified leap-seconds.list
        cfg, self.config_path = self.cfg, config_path
        self.listen = listen or list(cfg.ntp.listen)
        self.control_path = Path(control_socket or cfg.monitoring.control_socket)
        self.precision_log2 = measure_precision_log2()
        self.ntp_core = serving_core(cfg, ntp_keys(cfg))
        self.ntp_core.set_state(ServerState.unsynchronized(self.precision_log2))
        d = cfg.clock.discipline
        self.history = History(max_error_bound_s=d.max_error_bound_s, interval_s=d.interval_s)
        self.started_s = time.time()
        self.clock: Any = None
        self.reference: Any = None
        self.node: Node | None = None
        self.loop: TickLoop | None = None
        self.udp: NtpUdpServer | None = None  # serving from a thread (ntp.workers 0) ...
        self.workers: WorkerPool | None = None  # ... or from worker processes
        self.shared: SharedServedState | None = None  # what the workers serve, published each tick
        self.metrics: Any = None
        self.ptp: Any = None
        self.poller: Any = None
        self.upstream: Any = None  # reference.ntp: the upstream servers' poller
        self.ntske: Any = None  # ntp.nts: the NTS-KE server
        self.nts_keys: Any = None  # ntp.nts: the cookie key store
        self.lastgood: LastGoodWriter | None = None
        self.start_state: StartState | None = None  # what vouched for the clock at start (runtime.site)
        self.store: PredictorStore | None = None
        self.state_files: StateFiles | None = None
        # Called with True/False when grandmaster eligibility changes (the PTP side's hook).
        self.eligibility_listeners: list[Callable[[bool], None]] = []
        self.on_tick: list[Callable[[TickActions], None]] = []  # e.g. the service manager's watchdog
        self._stack = contextlib.ExitStack()
        self._stop = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        with contextlib.ExitStack() as stack:
            self._open(stack)
            self._stack = stack.pop_all()
        if self.ntp_core.access.empty:
            log.warning("ntp.allow is empty: every NTP client will be refused")

    def _open(self, stack: contextlib.ExitStack) -> None:
        cfg = self.cfg
        self.clock, self.reference = open_clock(cfg)
        stack.callback(self.clock.close)
        info = self.clock.info()
        self.state_files = StateFiles(cfg.node.state_dir)
        self.state_files.sweep_temporaries()  # before anything of this run writes there
        self.store = PredictorStore(cfg.node.state_dir, self.state_files)
        predictor = self.store.load(
            time.monotonic(),
            time.time(),
            cfg.clock.oscillator_class != "xo",
            tick_interval_s=cfg.clock.discipline.interval_s,
        )
        refit = RefitWorker()
        stack.callback(refit.close)
        refit.warm()  # the fit's imports in its own process, not under the NTP thread's interpreter
        site.start_gnss(self, stack)
        self.start_state = site.vouched_at_start(self, info.kind)
        ncfg = node_config(
            cfg,
            self.clock.caps(),
            info,
            self.precision_log2,
            self.reference is not None,
            start=self.start_state,
            bootstrap_command=site.bootstrap_command(self),
        )
        self.node = Node(ncfg, predictor)
        stack.callback(self._save_model)
        site.start_lastgood(self, stack, info.name)
        services.open_ntp(self, stack)
        services.start_nts(self, stack)  # before anything is answered: NTS requests need the keys
        control = ControlServer(
            self.control_path, self.handlers(), writers=WRITE_COMMANDS, group=self.cfg.monitoring.control_group
        )
        control.start()
        stack.callback(control.stop)
        services.start_metrics(self, stack)
        services.start_ptp(self, stack)
        services.start_peers(self, stack)
        site.start_upstream(self, stack)
        self.loop = TickLoop(
            self.node,
            self.clock,
            cfg.clock.discipline.interval_s,
            reference=self.reference,
            ptp=self.ptp,
            poller=self.poller,
            store=self.store,
            refit=refit,
            ptp_measures_system=cfg.ptp.enabled and cfg.ptp.timestamping == "software",
            on_actions=self._published,
            upstream=self.upstream,
        )
        if self.udp is not None:
            self.udp.start()
            stack.callback(self.udp.stop)
        self.loop.tick()
        self.loop.start()
        stack.callback(self.loop.stop)
        hotplug = start_hotplug(info, self.loop.notices.put)
        if hotplug is not None:
            stack.callback(hotplug.stop)

    def timemap(self) -> TimeMap:  # the NTP thread's view: the map the loop published last
        if self.loop is not None:
            return self.loop.timemap
        if self.node is None:
            raise RuntimeError("no time map before the node is built")
        return self.node.timemap

    def _save_model(self) -> None:
        state = self.node.persist_state() if self.node is not None else None
        if state is not None and self.store is not None:
            self.store.save(state, time.monotonic(), time.time())

    def stop(self) -> None:
        self._stop.set()
        self._stack.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._stop.wait(timeout_s)

    def request_stop(self) -> None:
        self._stop.set()

    def reload(self, new: Config) -> list[str]:
        """A new, already validated configuration (SIGHUP); see appliance.runtime.reload."""
        from .. import leapfile
        from .reload import apply

        self.cfg, pending = apply(self.cfg, leapfile.apply(new)[0], self.ntp_core)
        if self.workers is not None:
            self.workers.set_policy(self.ntp_core.access, self.ntp_core.ratelimit)
        return pending

    # -- after every tick -----------------------------------------------------------------------
    def _published(self, a: TickActions) -> None:
        self.ntp_core.set_state(a.serve)
        if self.shared is not None and self.loop is not None:
            self.shared.publish(self.loop.timemap, a.serve)
        s = a.snapshot
        self.history.record(
            time.time(), s.state.value, s.offset_ns, s.error_bound_s, s.freq_correction_ppb, s.temperature_c
        )
        if a.eligible_changed:
            for listener in list(self.eligibility_listeners):
                try:
                    listener(s.eligible)
                except Exception:
                    log.exception("grandmaster eligibility listener failed")
        for hook in list(self.on_tick):
            hook(a)

    def grandmaster_eligible(self) -> bool:
        """May this node be the PTP grandmaster? Only while its clock is healthy and the cluster's
        vote has not demoted it."""
        return self.node is not None and self.node.grandmaster_eligible

    # -- control socket and status ----------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "status": lambda req: self.status(),
            "history": self.history.reply,
            "inject": lambda req: injection.inject(self.clock, self.reference, self.cfg.node.name, req),
        }

    def status(self) -> dict[str, Any]:
        return site.status(self)
