"""The node's PTP side under `appliance serve`: renders linuxptp's files, supervises ptp4l (and
phc2sys / ts2phc where configured), watches ptp4l over its management socket, runs the node PTP
state machine, and tells ptp4l what it cannot know by itself (clock quality by sync state,
priority2 by designated order and preemption policy, whether the node is synchronized).

One poll thread does all management I/O every ``ptp.poll_interval_s``; the discipline thread only
hands over its decision (``update_sync``) and takes PTP offsets (``take_offset_ns``).

Offsets: TIME_STATUS_NP.master_offset is ptp4l's offsetFromMaster (local PTP clock - grandmaster's,
the appliance's sign convention); each new ingress_time is one new measurement. The PTP clock is
the PHC with hardware timestamping and CLOCK_REALTIME with software timestamping: the service adds
(clock - CLOCK_REALTIME) in the second case (see appliance/linuxptp/README.md, "Simulated clocks").
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections import deque

from ..config import Config
from ..core.ptp import log as ptp_log
from ..core.ptp import datasets as ds
from ..core.backoff import RestartPolicy
from ..core.ptp.profile import (
    DEMOTED_PRIORITY1,
    STANDBY_PRIORITY2,
    NodeSync,
    Priority2Policy,
    ProfileConfig,
    grandmaster_settings,
    sync_uncertain,
)
from ..core.ptp.states import PtpEvent, PtpNodeMachine, PtpState, classify
from ..core.clock.states import SyncState
from . import render
from .pmc import PmcClient, PmcError
from .supervisor import FAILED, RUNNING, Child

log = logging.getLogger("appliance.linuxptp")

# Log events worth keeping in status (servo samples and summaries are kept as "latest" only).
_KEEP = {"port_state", "best_master", "grandmaster_role", "tx_timestamp_timeout", "clock_jump", "link", "error"}


class PtpError(Exception):
    """PTP cannot be started as configured (a missing program, an unrenderable config)."""


class PtpManager:
    def __init__(self, cfg: Config, binaries: dict[str, str] | None = None):
        if not cfg.ptp.enabled:
            raise PtpError("ptp.enabled is false")
        self.cfg = cfg
        p = cfg.ptp
        self.binaries = {"ptp4l": "ptp4l", "phc2sys": "phc2sys", "ts2phc": "ts2phc", **(binaries or {})}
        self.dir = render.run_dir(cfg)
        try:
            self.files = render.render_all(cfg)
            self.uds = render.uds_address(cfg)
        except render.RenderError as exc:
            raise PtpError(str(exc)) from None
        self.announce_timeout_s = render.announce_timeout_s(cfg)
        self.sync_interval_s = 2.0 ** p.log_sync_interval
        # No sync measurement for this long while following = the grandmaster is gone.
        self.stale_s = max(4 * self.sync_interval_s, 3 * p.poll_interval_s)
        # After ptp4l starts following a grandmaster, its offset means nothing until it has measured
        # the path delay (tsproc): ignore samples for two delay-request intervals and one sync.
        self.settle_s = 2 * 2.0 ** p.log_min_delay_req_interval + self.sync_interval_s
        self._follow_since: float | None = None
        self._follow_gm: bytes | None = None
        self.machine = PtpNodeMachine()
        self.priority2 = Priority2Policy(
            cfg.designated_index(),
            p.priority2_base,
            listen_s=2 * self.announce_timeout_s + 2 * p.poll_interval_s,
            wait_to_restore_s=p.wait_to_restore_s,
        )
        self.profile = ProfileConfig(
            utc_offset_s=p.utc_offset_s,
            ptp_timescale=p.timestamping == "hardware",
            primary_is_gnss=p.ts2phc is not None,
            holdover_spec_ns=p.holdover_spec_ns,
        )
        self.pmc = PmcClient(self.uds, p.domain)
        self.children: dict[str, Child] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # what ptp4l told us
        self.own_identity: bytes | None = None
        self.default_ds: ds.DefaultDataSet | None = None
        self.port_ds: ds.PortDataSet | None = None
        self.parent_ds: ds.ParentDataSet | None = None
        self.current_ds: ds.CurrentDataSet | None = None
        self.time_status: ds.TimeStatusNp | None = None
        self._last_ingress: int | None = None
        self._last_sample: tuple[float, float] | None = None  # (monotonic s, offset ns)
        self._new_samples: list[float] = []
        self._primary: tuple[float, float] | None = None  # ts2phc: (monotonic s, offset ns)
        self.upstream_class: int | None = None
        self.servo: dict | None = None
        self.counters = {"tx_timestamp_timeouts": 0, "clock_jumps": 0, "pmc_errors": 0, "settings_applied": 0}
        self.events: deque = deque(maxlen=40)
        # what the appliance wants ptp4l to say, and what it last set
        self._sync = NodeSync(SyncState.STARTING, None, None, 16.0)
        self._want_gm: ds.GrandmasterSettingsNp | None = None
        self._want_gm_why = ""
        self._applied: dict[str, object] = {}
        self._restarted = False
        self._last_answer_s = 0.0
        self.warnings: list[str] = []
        if p.timestamping == "software":
            self.warnings.append("software timestamping (ptp.timestamping: software): lab and test use only; "
                                 "offsets carry the kernel's scheduling jitter (tens of microseconds)")

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        p = self.cfg.ptp
        for name in ["ptp4l"] + (["phc2sys"] if "phc2sys.args" in self.files else []) + \
                (["ts2phc"] if "ts2phc.conf" in self.files else []):
            if shutil.which(self.binaries[name]) is None and not os.path.exists(f"/usr/sbin/{self.binaries[name]}"):
                raise PtpError(f"{self.binaries[name]} not found: install linuxptp (apt-get install linuxptp)")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            for name, text in self.files.items():
                (self.dir / name).write_text(text)
        except OSError as exc:
            raise PtpError(f"cannot write linuxptp files into {self.dir}: {exc.strerror}") from None

        def policy() -> RestartPolicy:
            return RestartPolicy(limit=p.restart_limit, window_s=p.restart_window_s)

        self.children["ptp4l"] = Child(
            "ptp4l",
            render.ptp4l_argv(self.dir / "ptp4l.conf", self._binary("ptp4l")),
            policy=policy(),
            on_line=self._on_line,
            on_state=lambda old, new: self._on_child_state("ptp4l", old, new),
            ready=self._ptp4l_ready,
            healthy=self._ptp4l_healthy,
        )
        argv = render.phc2sys_argv(self.cfg, binary=self._binary("phc2sys"))
        if argv is not None:
            self.children["phc2sys"] = Child("phc2sys", argv, policy=policy(), on_line=self._on_line,
                                             on_state=lambda o, n: self._on_child_state("phc2sys", o, n))
        argv = render.ts2phc_argv(self.cfg, self.dir / "ts2phc.conf", self._binary("ts2phc"))
        if argv is not None:
            self.children["ts2phc"] = Child("ts2phc", argv, policy=policy(), on_line=self._on_line,
                                            on_state=lambda o, n: self._on_child_state("ts2phc", o, n))
        for child in self.children.values():
            child.start()
        for w in self.warnings:
            log.warning("ptp: %s", w)
        self._thread = threading.Thread(target=self._poll_loop, name="ptp-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for name in ("phc2sys", "ts2phc", "ptp4l"):
            if name in self.children:
                self.children[name].stop()
        self.pmc.close()

    def _binary(self, name: str) -> str:
        b = self.binaries[name]
        return shutil.which(b) or (f"/usr/sbin/{b}" if os.path.exists(f"/usr/sbin/{b}") else b)

    # -- the discipline's side ------------------------------------------------------------------
    def update_sync(self, state: SyncState, error_bound_s: float, source: str | None, demoted: bool = False) -> None:
        """The node's sync decision (once per discipline tick); ``source`` is what its time rests on;
        ``demoted``: the control nodes' vote put this node outside the majority, so it must not be
        grandmaster (it advertises clockClass 248 and priority2 255 until the vote takes it back)."""
        with self._lock:
            self._sync = NodeSync(state, source, self.upstream_class, error_bound_s, demoted)
            self._want_gm, self._want_gm_why = grandmaster_settings(self._sync, self.profile)

    def take_offset_ns(self) -> float | None:
        """This node's PTP clock - the grandmaster's, from the measurements since the last call (their
        mean); the latest one again if none is new yet but it is fresh; None when not following."""
        now = time.monotonic()
        with self._lock:
            if self.machine.state is not PtpState.FOLLOWING or self._last_sample is None:
                self._new_samples.clear()
                return None
            if self._new_samples:
                value = sum(self._new_samples) / len(self._new_samples)
                self._new_samples.clear()
                return value
            t, off = self._last_sample
            return off if now - t <= self.stale_s else None

    def take_primary_offset_ns(self) -> float | None:
        """The PHC - the GNSS/PPS input, from ts2phc (free-running), when fresh."""
        with self._lock:
            if self._primary is None:
                return None
            t, off = self._primary
            self._primary = None
            return off if time.monotonic() - t <= 2.0 else None

    def steers_clock(self) -> bool:
        """True when something other than the appliance steers the clock right now: ptp4l itself
        (ptp.free_running false) while following, or phc2sys making the PHC follow the system clock."""
        if self.cfg.ptp.phc2sys == "phc_from_system":
            return True
        return not self.cfg.ptp.free_running and self.machine.state is PtpState.FOLLOWING

    # -- children --------------------------------------------------------------------------------
    def _ptp4l_ready(self) -> bool:
        try:
            dds = self.pmc.default_data_set()
        except PmcError:
            return False
        with self._lock:
            self.default_ds = dds
            self.own_identity = dds.clock_identity
        return True

    def _ptp4l_healthy(self) -> bool:
        # the poll thread talks to ptp4l several times a second: healthy while it answered lately
        return time.monotonic() - self._last_answer_s <= 3.0

    def _on_child_state(self, name: str, old: str, new: str) -> None:
        self._event({"kind": "child", "program": name, "from": old, "to": new})
        if name != "ptp4l":
            if new == FAILED:
                self._warn_once(f"{name} failed repeatedly and is no longer restarted: "
                                f"{self.children[name].last_error}")
            return
        if new == RUNNING:
            with self._lock:
                self._applied.clear()  # ptp4l restarted from its file: settings must be set again
                self._last_answer_s = time.monotonic()
                self._last_ingress = None
                self._last_sample = None
                self._new_samples.clear()
                self._restarted = True  # the poll thread restarts the priority2 policy
        elif new == FAILED:
            self._feed_state(classify(None, False), failed=True)
            self._warn_once(f"ptp4l failed repeatedly and is no longer restarted: {self.children[name].last_error}")
        elif old == RUNNING:
            self._feed_state(classify(None, False))

    def _warn_once(self, text: str) -> None:
        with self._lock:
            if text not in self.warnings:
                self.warnings.append(text)

    def _on_line(self, program: str, line: str) -> None:
        ev = ptp_log.parse_line(line)
        if ev is None:
            return
        kind = ev.kind
        if kind == "servo_summary" or (kind == "servo" and program == "ptp4l"):
            with self._lock:
                self.servo = {k: v for k, v in ev.as_dict().items() if k not in ("kind",)}
            return
        if kind == "servo" and program == "ts2phc":
            with self._lock:
                self._primary = (time.monotonic(), float(ev.offset_ns))
            return
        if kind == "tx_timestamp_timeout":
            self.counters["tx_timestamp_timeouts"] += 1
            log.warning("%s: %s (ptp.tx_timestamp_timeout_ms is %d; usually a NIC driver problem)",
                        program, ev.text, self.cfg.ptp.tx_timestamp_timeout_ms)
        elif kind == "clock_jump":
            self.counters["clock_jumps"] += 1
            log.warning("%s: the clock jumped %s (clockcheck)", program, ev.direction)
        elif kind == "error":
            log.error("%s: %s", program, ev.text)
        elif kind == "port_state":
            log.info("%s: port %d %s -> %s on %s", program, ev.port, ev.old, ev.new, ev.event)
        if kind in _KEEP:
            d = ev.as_dict()
            d.pop("program", None)
            self._event({**d, "program": program})

    def _event(self, d: dict) -> None:
        with self._lock:
            self.events.append({"time": round(time.time(), 3), **d})

    # -- polling ----------------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        interval = self.cfg.ptp.poll_interval_s
        next_t = time.monotonic()
        while not self._stop.wait(max(0.0, next_t - time.monotonic())):
            next_t += interval
            if next_t < time.monotonic():
                next_t = time.monotonic() + interval
            try:
                self.poll_once()
            except Exception:
                log.exception("ptp poll failed")

    def _feed_state(self, event: PtpEvent, failed: bool = False) -> None:
        with self._lock:
            change = self.machine.feed(PtpEvent.FAILED if failed else event)
        if change is not None:
            old, new, ev = change
            log.info("ptp state %s -> %s (%s); role %s", old.value, new.value, ev.value, self.machine.role)
            self._event({"kind": "ptp_state", "from": old.value, "to": new.value, "event": ev.value,
                         "role": self.machine.role})

    def poll_once(self) -> None:
        child = self.children.get("ptp4l")
        if child is None or child.state != RUNNING:
            return
        now = time.monotonic()
        try:
            port = self.pmc.port_data_set()
            ts = self.pmc.time_status()
            parent = self.pmc.parent_data_set()
            cur = self.pmc.current_data_set()
        except PmcError as exc:
            self.counters["pmc_errors"] += 1
            log.debug("ptp4l management: %s", exc)
            return
        self._last_answer_s = now
        following_port = port.port_state in (ds.PortState.UNCALIBRATED, ds.PortState.SLAVE)
        with self._lock:
            self.port_ds, self.time_status, self.parent_ds, self.current_ds = port, ts, parent, cur
            if not following_port:
                self._follow_since = self._follow_gm = None
            elif self._follow_gm != parent.gm_identity:
                self._follow_since, self._follow_gm = now, parent.gm_identity
                self._last_sample = None
                self._new_samples.clear()
            settled = following_port and now - self._follow_since >= self.settle_s
            if settled and ts.ingress_time_ns and ts.ingress_time_ns != self._last_ingress:
                self._last_sample = (now, float(ts.master_offset_ns))
                self._new_samples.append(float(ts.master_offset_ns))
            self._last_ingress = ts.ingress_time_ns
            fresh = (self._last_sample is not None and now - self._last_sample[0] <= self.stale_s) or (
                following_port and now - self._follow_since <= self.settle_s + self.stale_s)
            sync = self._sync
        self._feed_state(classify(port.port_state, fresh))
        state = self.machine.state
        if state is PtpState.FOLLOWING:
            with self._lock:
                self.upstream_class = parent.gm_quality.clock_class
        self._apply(now, state, parent, sync)

    def _apply(self, now: float, state: PtpState, parent: ds.ParentDataSet, sync: NodeSync) -> None:
        with self._lock:
            restarted, self._restarted = self._restarted, False
        if restarted:
            self.priority2.restart()
        gm_p2 = parent.gm_priority2 if state is PtpState.FOLLOWING else None
        before = self.priority2.phase
        p2 = self.priority2.update(now, state, gm_p2, sync.state)
        p2_why = self.priority2.reason
        p1, p1_why = self.cfg.ptp.priority1, "configured"
        if sync.demoted:
            p2, p2_why = STANDBY_PRIORITY2, "demoted by the control nodes' vote"
            p1, p1_why = DEMOTED_PRIORITY1, "demoted by the control nodes' vote: behind every other node"
        if self.priority2.phase is not before:
            log.info("ptp priority2 phase %s -> %s: %s", before.value, self.priority2.phase.value, self.priority2.reason)
            self._event({"kind": "priority2_phase", "from": before.value, "to": self.priority2.phase.value,
                         "reason": self.priority2.reason})
        with self._lock:
            want_gm, why = self._want_gm, self._want_gm_why
        uncertain = sync_uncertain(sync.state, state)
        self._set("priority1", p1, lambda: self.pmc.set_priority1(p1), f"priority1 {p1} ({p1_why})")
        self._set("priority2", p2, lambda: self.pmc.set_priority2(p2), f"priority2 {p2} ({p2_why})")
        if want_gm is not None:
            q = want_gm.quality
            self._set("grandmaster_settings", want_gm, lambda: self.pmc.set_grandmaster_settings(want_gm),
                      f"clockClass {q.clock_class} clockAccuracy 0x{q.clock_accuracy:02X} "
                      f"timeSource 0x{want_gm.time_source:02X} ({why})")
        self._set("sync_uncertain", uncertain, lambda: self.pmc.set_sync_uncertain(uncertain),
                  f"synchronization uncertain {str(uncertain).lower()}")

    def _set(self, key: str, value, do, text: str) -> None:
        if self._applied.get(key) == value:
            return
        try:
            do()
        except PmcError as exc:
            self.counters["pmc_errors"] += 1
            log.warning("ptp4l: cannot set %s: %s", text, exc)
            return
        self._applied[key] = value
        self.counters["settings_applied"] += 1
        log.info("ptp4l: set %s", text)
        self._event({"kind": "set", "what": key, "text": text})

    # -- status -----------------------------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            state = self.machine.state
            following = state is PtpState.FOLLOWING
            port, parent, cur, ts = self.port_ds, self.parent_ds, self.current_ds, self.time_status
            gm = self._applied.get("grandmaster_settings")
            last = self._last_sample
            out = {
                "enabled": True,
                "role": self.machine.role,
                "state": state.value,
                "port_state": port.state_name if port and state is not PtpState.INIT else None,
                "gm_identity": ds.clock_id_str(parent.gm_identity) if parent and state is not PtpState.INIT else None,
                "clock_identity": ds.clock_id_str(self.own_identity) if self.own_identity else None,
                "offset_ns": last[1] if following and last else None,
                "path_delay_ns": cur.mean_path_delay_ns if following and cur else None,
                "gm_present": bool(ts.gm_present) if ts else None,
                "steps_removed": cur.steps_removed if cur else None,
                "interface": self.cfg.ptp.interface,
                "domain": self.cfg.ptp.domain,
                "transport": self.cfg.ptp.transport,
                "timestamping": self.cfg.ptp.timestamping,
                "free_running": self.cfg.ptp.free_running,
                "uds_address": self.uds,
                "priority1": self._applied.get("priority1"),
                "priority2": self._applied.get("priority2"),
                "designated_priority2": self.priority2.designated,
                "preemption": {"phase": self.priority2.phase.value, "reason": self.priority2.reason,
                               "wait_to_restore_s": self.priority2.wait_to_restore_s},
                "clock_class": gm.quality.clock_class if gm else None,
                "clock_class_reason": self._want_gm_why or None,
                "grandmaster": None if parent is None else {
                    "priority1": parent.gm_priority1, "priority2": parent.gm_priority2,
                    "clock_class": parent.gm_quality.clock_class,
                    "clock_accuracy": parent.gm_quality.clock_accuracy,
                },
                "sync_uncertain": self._applied.get("sync_uncertain"),
                "servo": self.servo,
                "children": {name: c.status() for name, c in self.children.items()},
                "counters": dict(self.counters),
                "warnings": list(self.warnings),
                "events": list(self.events)[-20:],
            }
        return out


def disabled_status() -> dict:
    return {"enabled": False, "role": None, "port_state": None, "gm_identity": None, "offset_ns": None,
            "path_delay_ns": None, "warnings": []}

