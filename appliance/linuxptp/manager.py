"""The node's PTP side under `appliance serve`, the shell: renders linuxptp's files, supervises
ptp4l (and phc2sys / ts2phc where configured), talks to ptp4l over its management socket, and
applies what the pure core (appliance.core.ptp.watch.PtpWatch) decides: the node PTP state, the
offsets handed to the discipline, and what ptp4l is told that it cannot know by itself (clock
quality by sync state, priority2 by designated order and preemption policy, whether the node is
synchronized).

One poll thread does all management I/O every ``ptp.poll_interval_s``; the discipline thread only
hands over its decision (``update_sync``) and takes PTP offsets (``take_offset_ns``). Every call into
the core holds the lock; the management I/O never does.

Offsets: TIME_STATUS_NP.master_offset is ptp4l's offsetFromMaster (local PTP clock - grandmaster's,
the appliance's sign convention). The PTP clock is the PHC with hardware timestamping and
CLOCK_REALTIME with software timestamping: the service adds (clock - CLOCK_REALTIME) in the second
case (see appliance/linuxptp/README.md, "Simulated clocks").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Config
from ..core.clock.states import SyncState
from ..core.ptp.profile import Priority2Policy, ProfileConfig
from ..core.ptp.states import PtpState
from ..core.ptp.watch import PollActions, PtpWatch, Setting, WatchTiming
from . import programs, render, status
from .pmc import PmcClient, PmcError
from .record import PtpRecord
from .supervisor import FAILED, RUNNING, Child

log = logging.getLogger("appliance.linuxptp")


class PtpError(Exception):
    """PTP cannot be started as configured (a missing program, an unrenderable config)."""


def make_watch(cfg: Config) -> PtpWatch:
    """The core's view of ptp4l, configured from ``cfg.ptp``."""
    p = cfg.ptp
    priority2 = Priority2Policy(
        cfg.designated_index(),
        p.priority2_base,
        listen_s=2 * render.announce_timeout_s(cfg) + 2 * p.poll_interval_s,
        wait_to_restore_s=p.wait_to_restore_s,
    )
    profile = ProfileConfig(
        utc_offset_s=p.utc_offset_s,
        ptp_timescale=p.timestamping == "hardware",
        primary_is_gnss=cfg.gnss is not None,
        holdover_spec_ns=p.holdover_spec_ns,
    )
    timing = WatchTiming.for_intervals(p.log_sync_interval, p.log_min_delay_req_interval, p.poll_interval_s)
    return PtpWatch(timing, priority2, profile, p.priority1)


class PtpManager:
    def __init__(self, cfg: Config, binaries: dict[str, str] | None = None) -> None:
        if not cfg.ptp.enabled:
            raise PtpError("ptp.enabled is false")
        self.cfg = cfg
        self.binaries = {**programs.DEFAULT_BINARIES, **(binaries or {})}
        self.dir = render.run_dir(cfg)
        try:
            self.files = render.render_all(cfg)
            self.uds = render.uds_address(cfg)
        except render.RenderError as exc:
            raise PtpError(str(exc)) from None
        self.watch = make_watch(cfg)
        self.pmc = PmcClient(self.uds, cfg.ptp.domain)
        self.children: dict[str, Child] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.own_identity: bytes | None = None  # DEFAULT_DATA_SET, read when ptp4l is ready
        self.record = PtpRecord(cfg.ptp.tx_timestamp_timeout_ms, self._primary_sample)
        self._last_answer_s = 0.0
        if cfg.ptp.timestamping == "software":
            self.record.warn_once(
                "software timestamping (ptp.timestamping: software): lab and test use only; "
                "offsets carry the kernel's scheduling jitter (tens of microseconds)"
            )

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        missing = programs.missing_binary(self.files, self.binaries)
        if missing is not None:
            raise PtpError(f"{missing} not found: install linuxptp (apt-get install linuxptp)")
        try:
            programs.write_files(self.dir, self.files)
        except OSError as exc:
            raise PtpError(f"cannot write linuxptp files into {self.dir}: {exc.strerror}") from None
        self.children = programs.build_children(
            self.cfg,
            self.dir,
            self.binaries,
            on_line=self._on_line,
            on_state=self._on_child_state,
            ptp4l_ready=self._ptp4l_ready,
            ptp4l_healthy=self._ptp4l_healthy,
        )
        for child in self.children.values():
            child.start()
        for w in self.record.warnings:
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

    # -- the discipline's side ------------------------------------------------------------------
    def update_sync(
        self,
        state: SyncState,
        error_bound_s: float,
        source: str | None,
        demoted: bool = False,
        stability_s: float | None = None,
    ) -> None:
        """The node's sync decision (once per discipline tick); ``source`` is what its time rests on;
        ``demoted``: the control nodes' vote put this node outside the majority, so it must not be
        grandmaster (it advertises clockClass 248 and priority2 255 until the vote takes it back);
        ``stability_s``: the offsets' jitter while locked, for the advertised variance."""
        with self._lock:
            self.watch.update_sync(state, error_bound_s, source, demoted, stability_s)

    def take_offset_ns(self) -> float | None:
        """This node's PTP clock - the grandmaster's, from the measurements since the last call (their
        mean); the latest one again if none is new yet but it is fresh; None when not following."""
        now = time.monotonic()
        with self._lock:
            return self.watch.take_offset_ns(now)

    def grandmaster(self) -> str | None:
        """The clock identity of the grandmaster followed (None when not following)."""
        with self._lock:
            gm = self.watch.following_gm
        return gm.hex() if gm is not None else None

    def take_primary_offset_ns(self) -> float | None:
        """The PHC - the GNSS/PPS input, from ts2phc (free-running), when fresh."""
        now = time.monotonic()
        with self._lock:
            return self.watch.take_primary_offset_ns(now)

    def steers_clock(self) -> bool:
        """True when something other than the appliance steers the clock right now: ptp4l itself
        (ptp.free_running false) while following, or phc2sys making the PHC follow the system clock."""
        if self.cfg.ptp.phc2sys == "phc_from_system":
            return True
        return not self.cfg.ptp.free_running and self.watch.state is PtpState.FOLLOWING

    # -- children --------------------------------------------------------------------------------
    def _ptp4l_ready(self) -> bool:
        try:
            dds = self.pmc.default_data_set()
        except PmcError:
            return False
        with self._lock:
            self.own_identity = dds.clock_identity
        return True

    def _ptp4l_healthy(self) -> bool:
        # the poll thread talks to ptp4l several times a second: healthy while it answered lately
        return time.monotonic() - self._last_answer_s <= 3.0

    def _on_line(self, program: str, line: str) -> None:
        self.record.on_line(program, line)

    def _primary_sample(self, offset_ns: float) -> None:
        now = time.monotonic()
        with self._lock:
            self.watch.primary_sample(now, offset_ns)

    def _on_child_state(self, name: str, old: str, new: str) -> None:
        self.record.event({"kind": "child", "program": name, "from": old, "to": new})
        if name == "ptp4l" and new == RUNNING:
            with self._lock:
                self._last_answer_s = time.monotonic()
                self.watch.ptp4l_started()
        elif name == "ptp4l" and (new == FAILED or old == RUNNING):
            with self._lock:
                change = self.watch.ptp4l_stopped(failed=new == FAILED)
            self.record.note_state(change)
        if new == FAILED:
            self.record.warn_once(
                f"{name} failed repeatedly and is no longer restarted: {self.children[name].last_error}"
            )

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
            self.record.counters["pmc_errors"] += 1
            log.debug("ptp4l management: %s", exc)
            return
        self._last_answer_s = now
        with self._lock:
            actions = self.watch.poll(now, port, ts, parent, cur)
        self._apply(actions)

    def _apply(self, actions: PollActions) -> None:
        self.record.note_state(actions.state_change)
        self.record.note_phase(actions.phase_change)
        setters: dict[str, Callable[[Any], object]] = {
            "priority1": self.pmc.set_priority1,
            "priority2": self.pmc.set_priority2,
            "grandmaster_settings": self.pmc.set_grandmaster_settings,
            "sync_uncertain": self.pmc.set_sync_uncertain,
        }
        for s in actions.settings:
            self._set(s, setters[s.key])

    def _set(self, setting: Setting, do: Callable[[Any], object]) -> None:
        try:
            do(setting.value)
        except PmcError as exc:
            self.record.counters["pmc_errors"] += 1
            log.warning("ptp4l: cannot set %s: %s", setting.text, exc)
            return
        with self._lock:
            self.watch.applied(setting)
        self.record.note_set(setting)

    # -- status (appliance.linuxptp.status) -----------------------------------------------------
    def status(self) -> dict[str, Any]:
        return status.of(self)
