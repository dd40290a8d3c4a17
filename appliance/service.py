"""`appliance serve`: wires the clock, its reference, the discipline core, the NTP server and the
control socket together. Adapters do the I/O; every decision is made in appliance.core.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .cluster import ClusterCheck
from .config import Config, parse_hostport
from .control_socket import ControlServer
from .core.ntp.access import AccessList
from .core.clock.interface import Clock, ClockError
from .core.clock.discipline import Decision, Discipline, DisciplineConfig
from .core.ntp.packet import Leap
from .core.ntp.answer import NtpServerCore, ServerState
from .core.ntp.ratelimit import RateLimiter
from .core.clock.states import SyncState
from .core.clock.timemap import STEP_DETECT_NS, TimeMap
from .monitoring.history import History
from .ntp.server import NtpUdpServer, open_socket
from .tempcomp_store import PredictorStore

log = logging.getLogger("appliance.service")

# What clients see as the reference ID of a stratum-1 answer, by state (RFC 5905 7.3: four ASCII).
REFID_FREERUN = {"xo": b"XO\x00\x00", "tcxo": b"TCXO", "ocxo": b"OCXO", "ideal": b"LOCL"}
REFID_HOLDOVER = b"HOLD"


class ServeError(Exception):
    pass


def open_clock(cfg: Config):
    """The node's clock and its reference (None where nothing upstream disciplines it here)."""
    if cfg.clock.source == "sim":
        from .sim import factory

        return factory.build(cfg.clock.sim, name=cfg.node.name)
    try:
        from .hw.phc import open_phc
    except ImportError as exc:
        raise ServeError(f"clock.source phc needs the PHC layer (appliance.hw.phc): {exc}") from None
    try:
        return open_phc(interface=cfg.clock.interface, device=cfg.clock.device), None
    except ClockError as exc:
        raise ServeError(str(exc)) from None


def measure_precision_log2() -> int:
    """log2 of the time to read the clock, as chrony measures its precision."""
    best = 1.0
    for _ in range(20):
        a = time.perf_counter_ns()
        b = time.perf_counter_ns()
        while b == a:
            b = time.perf_counter_ns()
        best = min(best, (b - a) * 1e-9)
    return max(-32, math.floor(math.log2(best)))


@dataclass
class Snapshot:
    """What status reports; replaced whole each tick."""

    decision: Decision | None = None
    last_offset_ns: float | None = None
    last_sys_offset_ns: int | None = None
    sys_offset_method: str = ""
    temperature_c: float | None = None
    since_s: float = field(default_factory=time.time)
    events: list = field(default_factory=list)


class Appliance:
    def __init__(self, cfg: Config, listen: list[str] | None = None, control_socket: str | None = None):
        self.cfg = cfg
        self.listen = listen or list(cfg.ntp.listen)
        self.control_path = Path(control_socket or cfg.monitoring.control_socket)
        self.clock: Clock | None = None
        self.reference = None
        self.tai_offset_ns = 0
        self.precision_log2 = measure_precision_log2()
        rl = cfg.ntp.ratelimit
        self.ntp_core = NtpServerCore(
            AccessList(cfg.ntp.allow, cfg.ntp.deny),
            RateLimiter(rl.interval_s, rl.burst, rl.kod) if rl else None,
        )
        self.ntp_core.set_state(ServerState.unsynchronized(self.precision_log2))
        self._timemap = TimeMap(time.time_ns(), 0)
        self.discipline: Discipline | None = None
        self.snapshot = Snapshot()
        self.started_s = time.time()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.udp: NtpUdpServer | None = None
        self.control: ControlServer | None = None
        self._ref_time_ns = 0
        self.hotplug = None
        # monitoring (issue 7): the recent history `diagnose` fits its trend to, and /metrics
        d = cfg.clock.discipline
        self.history = History(max_error_bound_s=d.max_error_bound_s, interval_s=d.interval_s)
        self.metrics = None
        self.ptp = None  # PtpManager when cfg.ptp.enabled (issue 5)
        self._ref_source: str | None = None  # what the node's time rests on: "primary" | "ptp" | None
        self.predictor = None  # learned TCXO model for holdover (issue 4)
        self.tempcomp_store: PredictorStore | None = None
        # --- cluster cross-check and served-time continuity (issue 6) ---
        self.cluster: ClusterCheck | None = None
        self._served_started = False  # served time never steps back after the first synchronized answer
        self._own_step_ns = 0  # steps the appliance applied to the clock since the last measurement
        self._eligible = False
        self._realign_bound_s = 0.0  # uncertainty of the last realignment to the cluster, until relocked
        # Called with True/False when grandmaster eligibility changes (the PTP supervisor's hook).
        self.eligibility_listeners: list[Callable[[bool], None]] = []
        # --- end issue 6 ---

    # -- state shared with the NTP thread -------------------------------------------------------
    def timemap(self) -> TimeMap:
        return self._timemap

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.cfg
        self.clock, self.reference = open_clock(cfg)
        info = self.clock.info()
        if info.timescale == "TAI":
            self.tai_offset_ns = cfg.ptp.utc_offset_s * 1_000_000_000
        caps = self.clock.caps()
        d = cfg.clock.discipline
        # --- holdover predictor (issue 4): learned TCXO model, kept in node.state_dir
        self.tempcomp_store = PredictorStore(cfg.node.state_dir)
        compensated = not (cfg.clock.source == "sim" and cfg.clock.sim.oscillator == "xo")
        self.predictor = self.tempcomp_store.load(time.monotonic(), time.time(), compensated)
        threading.Thread(target=PredictorStore.warm_imports, name="tempcomp-imports", daemon=True).start()
        self.discipline = Discipline(
            DisciplineConfig(
                max_freq_ppb=caps.max_adj_ppb,
                has_reference=self.reference is not None or (cfg.ptp.enabled and cfg.ptp.ts2phc is not None),
                lock_threshold_ns=d.lock_threshold_ns,
                step_threshold_ns=d.step_threshold_ns,
                max_error_bound_s=d.max_error_bound_s,
            ),
            predictor=self.predictor,
        )
        self._measure_system()
        sockets = []
        try:
            for text in self.listen:
                host, port = parse_hostport(text)
                sockets.append(open_socket(host, port))
        except Exception:
            for s in sockets:
                s.close()
            self.clock.close()
            raise
        self.udp = NtpUdpServer(self.ntp_core, sockets, self.timemap)
        self.control = ControlServer(self.control_path, self.handlers())
        try:
            self.control.start()
        except Exception:
            for s in sockets:
                s.close()
            self.clock.close()
            raise
        try:
            self._start_metrics()
        except ServeError:
            self.control.stop()
            for s in sockets:
                s.close()
            self.clock.close()
            raise
        self.udp.start()
        self._start_hotplug(info)
        self._start_ptp()
        self.cluster = ClusterCheck(cfg, self.timemap)  # issue 6
        self.cluster.start()
        self._tick()
        self._thread = threading.Thread(target=self._loop, name="discipline", daemon=True)
        self._thread.start()
        if self.ntp_core.access.empty:
            log.warning("ntp.allow is empty: every NTP client will be refused")

    # -- hot plug (issue 3): a PHC or NIC that vanishes or appears is logged and listed in status events
    def _start_hotplug(self, info) -> None:
        if info.kind != "phc":
            return
        from .hw.discovery import HotplugMonitor, describe_event

        phc = f"ptp{info.details['phc_index']}" if info.details.get("phc_index") is not None else None

        def on_event(ev) -> None:
            said = describe_event(ev, watched_phc=phc, watched_interface=info.details.get("interface"))
            if said is not None:
                log.log(said[0], "%s", said[1])
                self.snapshot.events = (self.snapshot.events + [{"time": time.time(), "hotplug": said[1]}])[-20:]

        try:
            self.hotplug = HotplugMonitor(on_event, subsystems=("ptp", "net")).start()
        except Exception as exc:  # noqa: BLE001 - monitoring is an aid, not a reason to stop serving
            log.warning("hot-plug monitoring unavailable: %s", exc)

    def _start_metrics(self) -> None:
        """/metrics on monitoring.metrics_listen (issue 7); a port conflict is a ServeError naming it."""
        if not self.cfg.monitoring.metrics_listen:
            return
        from .monitoring.metrics import MetricsError, for_appliance

        server = for_appliance(self, self.cfg.monitoring.metrics_listen)
        try:
            server.start()
        except MetricsError as exc:
            raise ServeError(str(exc)) from None
        self.metrics = server

    def stop(self) -> None:
        self._stop.set()
        if self.hotplug is not None:
            self.hotplug.stop()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=5)
        if self.metrics is not None:
            self.metrics.stop()
        if self.ptp is not None:
            self.ptp.stop()
        if self.cluster is not None:
            self.cluster.stop()
        if self.udp is not None:
            self.udp.stop()
        if self.control is not None:
            self.control.stop()
        if self.tempcomp_store is not None and self.predictor is not None and self.predictor.model is not None:
            self.tempcomp_store.save(self.predictor, time.monotonic(), time.time())
        if self.clock is not None:
            self.clock.close()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._stop.wait(timeout_s)

    def handlers(self) -> dict:
        return {"status": lambda req: self.status(), "history": self.history.reply, "inject": self._inject}

    # -- the discipline loop --------------------------------------------------------------------
    def _loop(self) -> None:
        interval = self.cfg.clock.discipline.interval_s
        next_t = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += interval
            try:
                self._tick()
            except Exception:
                log.exception("discipline tick failed")

    def _measure_system(self) -> None:
        m = self.clock.measure_offset_to_system()
        # --- issue 6: served time is monotonic after start; clock steps keep peer samples valid ---
        clock_offset_ns = m.offset_ns - self.tai_offset_ns
        old = self._timemap
        jump_ns = old.clock_jump_ns(m.system_ns, clock_offset_ns)
        self._timemap = old.advanced(
            m.system_ns, clock_offset_ns, monotonic=self._served_started, slew_ppb=self.cfg.ntp.max_slew_ppm * 1e3,
            own_step_ns=self._own_step_ns, install_ns=time.time_ns(),
        )
        self._own_step_ns = 0
        if abs(jump_ns) > STEP_DETECT_NS and self.cluster is not None:
            self.cluster.clock_stepped(jump_ns)
        # --- end issue 6 ---
        self.snapshot.last_sys_offset_ns = m.offset_ns
        self.snapshot.sys_offset_method = m.method

    def _tick(self) -> None:
        assert self.clock is not None and self.discipline is not None
        now_s = time.monotonic()
        try:
            self._measure_system()
        except ClockError as exc:
            log.error("clock read failed: %s", exc)
            self._publish(self.discipline.fault(now_s), None)
            return
        offset, source = self._reference_offset()
        temp_c = self._temperature_c()
        decision = self.discipline.tick(now_s, offset, temp_c=temp_c)
        try:
            if self.ptp is not None and self.ptp.steers_clock():
                pass  # ptp4l or phc2sys steers the clock now: the appliance only watches
            else:
                if decision.step_ns:
                    self.clock.step(decision.step_ns)
                    self._own_step_ns += decision.step_ns  # issue 6
                    log.warning("clock stepped by %+.9f s", decision.step_ns / 1e9)
                    self._measure_system()
                if decision.freq_ppb is not None:
                    self.clock.adjust_frequency(decision.freq_ppb)
        except ClockError as exc:
            log.error("clock adjustment failed: %s", exc)
        if offset is not None:
            self._ref_time_ns = self._timemap.to_served_ns(time.time_ns())
            self._ref_source = source
        if self.cluster is not None:  # issue 6
            self._crosscheck(now_s, decision)
        self._publish(decision, offset, temp_c)
        if self.ptp is not None:
            demoted = self.cluster is not None and self.cluster.demoted  # issue 6: never grandmaster then
            self.ptp.update_sync(decision.state, decision.error_bound_s, self._ref_source, demoted)
        if self.tempcomp_store is not None and self.predictor is not None:
            self.tempcomp_store.maybe_save(self.predictor, now_s, time.time())

    def _temperature_c(self) -> float | None:
        read = getattr(self.clock, "temperature_c", None)
        try:
            return float(read()) if read else None
        except (ClockError, OSError, ValueError) as exc:
            log.debug("temperature read failed: %s", exc)
            return None


    # --- cluster cross-check (issue 6) ------------------------------------------------------------
    def _served_bound_s(self, decision: Decision | None) -> float:
        """The served time's error bound: the clock's plus what served time has still to absorb."""
        from .core.clock.errorbound import MAX_DISPERSION_S

        if decision is None:
            return MAX_DISPERSION_S
        correction_s = abs(self._timemap.correction_at_ns(time.time_ns())) * 1e-9
        return decision.error_bound_s + correction_s + self._realign_bound_s

    def _crosscheck(self, now_s: float, decision: Decision) -> None:
        assert self.cluster is not None and self.clock is not None
        if decision.state is SyncState.LOCKED:
            self._realign_bound_s = 0.0  # the node's own reference vouches for its clock again
        correction_ns = self._timemap.correction_at_ns(time.time_ns())
        self.cluster.update(now_s, self._served_bound_s(decision), correction_ns)
        if self.cfg.ptp.enabled:
            return  # with linuxptp, a demoted node returns by following an eligible grandmaster
        step_ns = self.cluster.realign_step_ns(correction_ns)
        if step_ns:
            try:
                self.clock.step(step_ns)
            except ClockError as exc:
                log.error("cannot realign the clock to the cluster: %s", exc)
                return
            self._own_step_ns += step_ns
            # The clock now sits at the majority's midpoint: truth is within half the intersection.
            self._realign_bound_s = self.cluster.realign_uncertainty_s()
            log.warning("realigning the clock to the cluster by %+.9f s; served time slews", step_ns / 1e9)
            self._measure_system()

    def grandmaster_eligible(self) -> bool:
        """May this node be the PTP grandmaster? Only while its clock is healthy and the cluster's
        vote has not demoted it. The linuxptp supervisor asks this (or registers in
        ``eligibility_listeners``) to keep a demoted node out of the grandmaster role."""
        d = self.snapshot.decision
        return bool(d and d.healthy) and not (self.cluster is not None and self.cluster.demoted)

    def _inject(self, req: dict) -> dict:
        """Fault injection into a simulated node (`appliance sim inject`); all checked before any is applied."""
        from .sim.phc import SimPhc

        if not isinstance(self.clock, SimPhc):
            return {"error": "fault injection needs a simulated clock (clock.source: sim)"}
        step_s, freq_ppm, reference = req.get("step_s"), req.get("freq_ppm"), req.get("reference")
        for key, value, limit in (("step_s", step_s, 1e6), ("freq_ppm", freq_ppm, 1e4)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or abs(value) > limit
            ):
                return {"error": f"{key}: expected a number within +-{limit:g}, got {value!r}"}
        if reference not in (None, "stop", "start"):
            return {"error": f"reference: expected 'stop' or 'start', got {reference!r}"}
        if reference is not None and self.reference is None:
            return {"error": "this node has no simulated reference (clock.sim.reference: false)"}
        if step_s is None and freq_ppm is None and reference is None:
            return {"error": "nothing to inject: give step_s, freq_ppm or reference"}
        applied = {}
        if reference == "stop":
            self.reference.stop()
            applied["reference"] = "stopped"
        elif reference == "start":
            self.reference.start()
            applied["reference"] = "started"
        if freq_ppm is not None:
            self.clock.inject_frequency_error_ppb(freq_ppm * 1e3)
            applied["freq_ppm"] = freq_ppm
        if step_s is not None:
            self.clock.step(int(round(step_s * 1e9)))  # a fault: not one of the appliance's own steps
            applied["step_s"] = step_s
        log.warning("fault injected: %s", ", ".join(f"{k} {v}" for k, v in applied.items()))
        return {"ok": True, "node": self.cfg.node.name, "applied": applied}

    # --- end issue 6 --------------------------------------------------------------------------------

    def _publish(self, decision: Decision, offset_ns: float | None, temp_c: float | None = None) -> None:
        for old, new, event in decision.transitions:
            log.info("sync state %s -> %s (%s)", old.value, new.value, event.value)
            self.snapshot.events = (self.snapshot.events + [
                {"time": time.time(), "from": old.value, "to": new.value, "event": event.value}
            ])[-20:]
        self.snapshot.decision = decision
        self.snapshot.last_offset_ns = offset_ns
        self.snapshot.temperature_c = temp_c
        self.ntp_core.set_state(self._server_state(decision))
        self.history.record(time.time(), decision.state.value, offset_ns, decision.error_bound_s,
                            self.discipline.freq_ppb if self.discipline else None, self.snapshot.temperature_c)
        eligible = self.grandmaster_eligible()  # issue 6: tell the PTP side when this changes
        if eligible != self._eligible:
            self._eligible = eligible
            for listener in list(self.eligibility_listeners):
                try:
                    listener(eligible)
                except Exception:
                    log.exception("grandmaster eligibility listener failed")

    def _server_state(self, decision: Decision) -> ServerState:
        if not decision.healthy:
            return ServerState.unsynchronized(self.precision_log2)
        # --- issue 6: a demoted node, or served time far from its clock, does not claim stratum 1 ---
        bound_s = self._served_bound_s(decision)
        demoted = self.cluster is not None and self.cluster.demoted
        if demoted or bound_s > self.cfg.clock.discipline.max_error_bound_s:
            return ServerState.unsynchronized(self.precision_log2)
        self._served_started = True
        # --- end issue 6 ---
        if decision.state is SyncState.LOCKED:
            ref_id = b"PHC\x00" if self.cfg.clock.source == "sim" and self._ref_source != "ptp" else b"PTP\x00"
        elif decision.state is SyncState.HOLDOVER:
            ref_id = REFID_HOLDOVER
        else:
            ref_id = REFID_FREERUN.get(self.cfg.clock.sim.oscillator, b"XO\x00\x00")
        return ServerState(
            synchronized=True,
            stratum=1,
            ref_id=ref_id,
            ref_time_ns=self._ref_time_ns or self._timemap.to_served_ns(time.time_ns()),
            root_delay_s=0.0,
            root_dispersion_s=bound_s,
            precision_log2=self.precision_log2,
            leap=Leap.NONE,
        )

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict:
        snap = self.snapshot
        d = snap.decision
        info = self.clock.info() if self.clock else None
        ntp = self.ntp_core.counters()
        if self.udp is not None:
            ntp["send_errors"] = self.udp.send_errors
            ntp["internal_errors"] = self.udp.internal_errors
        return {
            "version": __version__,
            "node": self.cfg.node.name,
            "uptime_s": round(time.time() - self.started_s, 3),
            "clock": {
                "source": self.cfg.clock.source,
                "name": info.name if info else None,
                "timescale": info.timescale if info else None,
                "freq_ppb": self.discipline.freq_ppb if self.discipline else None,
                "offset_to_system_ns": snap.last_sys_offset_ns,
                "offset_method": snap.sys_offset_method,
                "temperature_c": snap.temperature_c,
            },
            "sync": {
                "state": d.state.value if d else "starting",
                "healthy": bool(d and d.healthy),
                "error_bound_s": d.error_bound_s if d else None,
                "reference": None if self.reference is None else (
                    "available" if getattr(self.reference, "available", True) else "lost"
                ),
                "offset_ns": snap.last_offset_ns,
                "reference_source": self._ref_source,
                "events": snap.events,
            },
            "ptp": self._ptp_status(),
            "processes": self._processes_status(),
            "tempcomp": self.predictor.status() if self.predictor is not None else None,
            "ntp": {
                "listen": [f"{h}:{p}" if ":" not in h else f"[{h}]:{p}" for h, p in (self.udp.addresses if self.udp else [])],
                "stratum": self.ntp_core.state.stratum if self.ntp_core.state.synchronized else 16,
                **ntp,
            },
            # --- issue 6 ---
            "served": {
                "monotonic": self._served_started,
                "correction_s": self._timemap.correction_at_ns(time.time_ns()) * 1e-9,  # clock - served
                "error_bound_s": self._served_bound_s(d),
            },
            "crosscheck": self.cluster.status(self.grandmaster_eligible()) if self.cluster else {"enabled": False},
            "peers": self.cluster.peers_status() if self.cluster else [],
        }

    # -- ptp (issue 5): linuxptp under the appliance ------------------------------------------------
    def _processes_status(self) -> dict:
        """Supervised children (ptp4l, phc2sys, ts2phc): running and restarts, for status and metrics."""
        if self.ptp is None:
            return {}
        return {name: {"running": c.state == "running", "restarts": c.status()["restarts"]}
                for name, c in self.ptp.children.items()}

    def _start_ptp(self) -> None:
        """Start the PTP side when configured; a missing program or bad config stops `serve` here."""
        if not self.cfg.ptp.enabled:
            return
        from .linuxptp.manager import PtpError, PtpManager

        try:
            self.ptp = PtpManager(self.cfg)
            self.ptp.start()
        except PtpError as exc:
            self.ptp = None
            self.stop()
            raise ServeError(f"ptp: {exc}") from None

    def _reference_offset(self) -> tuple[float | None, str | None]:
        """The offset of this node's clock to its reference (local - reference), and which one: the own
        primary reference (simulated reference, or ts2phc's GNSS/PPS) first, else the PTP grandmaster
        while following. ptp4l measures its own PTP clock - the grandmaster's: the PHC with hardware
        timestamping, CLOCK_REALTIME with software timestamping, so (clock - CLOCK_REALTIME) is added in
        the second case. It equals clock - grandmaster's served time where the grandmaster's served
        time is its PTP clock (always with hardware timestamping; in simulations see
        appliance/linuxptp/README.md)."""
        if self.reference is not None:
            off = self.reference.measure()
            if off is not None:
                return off, "primary"
        if self.ptp is None:
            return None, None
        off = self.ptp.take_primary_offset_ns()
        if off is not None:
            return off, "primary"
        off = self.ptp.take_offset_ns()
        if off is None:
            return None, None
        if self.cfg.ptp.timestamping == "software":
            sys_off = self.snapshot.last_sys_offset_ns
            if sys_off is None:
                return None, None
            off += sys_off - self.tai_offset_ns
        return off, "ptp"

    def _ptp_status(self) -> dict:
        if self.ptp is None:
            from .linuxptp.manager import disabled_status

            return disabled_status()
        return self.ptp.status()

    # -- end ptp (issue 5) ---------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals(app: Appliance):
    """Install SIGINT/SIGTERM handlers that stop the appliance, restoring the old ones after."""

    def handler(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        app._stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
