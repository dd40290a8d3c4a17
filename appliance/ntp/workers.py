"""Serving worker processes (ntp.workers): one NTP fast path per process, so that serving scales
with cores instead of sharing one interpreter.

Each worker has its own socket in each listening address's SO_REUSEPORT group, the kernel choosing
the worker by the client's source address (appliance.ntp.reuseport), its own sans-I/O core (access
list, rate limiter and interleave table for the clients it is given), and reads the one served-time
state the node publishes in shared memory under a sequence lock (appliance.ntp.shared): no lock a
request ever waits on.

What changes rarely reaches a worker over its command pipe, which its serving loop polls beside the
sockets: the access list and rate limit after a SIGHUP, the NTS cookie keys when they rotate, and a
request for its counters, which the node sums for status and /metrics. A worker is forked (it
inherits the published state's mapping and its core's settings), ends with the node (parent-death
signal and its pipe closing), and one that died is started again from the tick loop, with its last
reported counters kept.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..core.clock.timemap import TimeMap
from ..core.ntp.answer import NtpServerCore
from .reuseport import join_group, open_group
from .server import ListenError, NtpUdpServer
from .shared import SharedServedState

log = logging.getLogger("appliance.ntp")

AUTO_WORKERS_LIMIT = 8  # ntp.workers "auto": one per CPU this process may run on, up to this
COUNTERS_TIMEOUT_S = 1.0  # a worker that does not report within this is shown with its last report
STOP_TIMEOUT_S = 2.0
RESTART_AFTER_S = 1.0  # a worker that died is started again no sooner than this after its last start
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def resolve_count(setting: int | str) -> int:
    """Worker processes for ntp.workers: a number as given, "auto" one per CPU up to
    AUTO_WORKERS_LIMIT; 0 (and "auto" on one CPU) serves from a thread of the node's process."""
    if setting == "auto":
        cpus = len(os.sched_getaffinity(0))
        return 0 if cpus <= 1 else min(cpus, AUTO_WORKERS_LIMIT)
    return int(setting)


def shared_timemap(shared: SharedServedState, core: NtpServerCore) -> Callable[[], TimeMap]:
    """The adapter's time-map callable for a worker: the published map, and the published server
    state handed to the worker's core whenever a new one appears (the same objects until then)."""

    def timemap() -> TimeMap:
        tmap, state = shared.read()
        if state is not core.state:
            core.set_state(state)
        return tmap

    return timemap


def serving_counters(core: NtpServerCore, server: NtpUdpServer) -> dict[str, Any]:
    """What one serving loop counted: its core's counters, NTS answers and NAKs, send and internal errors."""
    return {
        **core.counters(),
        "nts_answered": core.nts_answered,
        "nts_naks": core.nts_naks,
        "send_errors": server.send_errors,
        "internal_errors": server.internal_errors,
    }


def merge_counters(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The node's counters from its workers' reports: sums, the largest of a maximum, per key of
    a nested dict (dropped, by reason)."""
    out: dict[str, Any] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict):
                out[key] = merge_counters([out.get(key, {}), value])
            elif "_max_" in key:
                out[key] = max(out.get(key, value), value)
            else:
                out[key] = out.get(key, 0) + value
    return out


def _die_with_parent(parent_pid: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the closed command pipe ends the worker too
    if os.getppid() != parent_pid:
        os._exit(0)


def _command(conn: Connection, server: NtpUdpServer, core: NtpServerCore) -> None:
    try:
        msg = conn.recv()
    except (EOFError, OSError):  # the node has gone
        server.finish()
        return
    kind = msg[0]
    if kind == "counters":
        conn.send(("counters", msg[1], serving_counters(core, server)))
    elif kind == "policy":
        core.access, core.ratelimit = msg[1], msg[2]
    elif kind == "nts":
        core.nts = msg[1]
    elif kind == "stop":
        server.finish()


def _serve(
    parent_pid: int,
    socks: list[socket.socket],
    conn: Connection,
    inherited: list[Any],
    shared: SharedServedState,
    make_core: Callable[[], NtpServerCore],
) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C and SIGHUP are the node's to handle
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for obj in inherited:  # the other workers' sockets and pipe ends: not this worker's to hold
        obj.close()
    core = make_core()
    server = NtpUdpServer(core, socks, shared_timemap(shared, core))
    server.watch(conn.fileno(), lambda: _command(conn, server, core))
    # Everything inherited from the node (its modules, numpy, its state) is never collected here:
    # a collection of the older generations would walk all of it between two requests.
    gc.freeze()
    server.serve_forever()


class _Worker:
    def __init__(self, index: int):
        self.index = index
        self.proc: Any = None  # multiprocessing.Process (the fork context's)
        self.conn: Connection | None = None
        self.last: dict[str, Any] = {}  # its latest counters report
        self.started_s = 0.0
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()


class WorkerPool:
    """``count`` forked serving processes on ``addresses``. ``open`` binds (ListenError on a bind
    that fails, nothing left open); ``start`` forks, and should run before the node starts threads."""

    def __init__(
        self,
        count: int,
        addresses: list[tuple[str, int]],
        shared: SharedServedState,
        make_core: Callable[[], NtpServerCore],
    ):
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.count = count
        self.requested = addresses
        self.shared = shared
        self.make_core = make_core
        self.addresses: list[tuple[str, int]] = []
        self.restarts = 0
        self._groups: list[list[socket.socket]] = []
        self._workers = [_Worker(i) for i in range(count)]
        self._retired: dict[str, Any] = {}  # counters of workers that died
        self._lock = threading.Lock()  # one counters round at a time (status and /metrics threads)
        self._seq = 0
        self._ctx = multiprocessing.get_context("fork")

    def open(self) -> None:
        groups: list[list[socket.socket]] = []
        try:
            for host, port in self.requested:
                groups.append(open_group(host, port, self.count))
        except BaseException:
            for group in groups:
                for s in group:
                    s.close()
            raise
        self._groups = groups
        self.addresses = [g[0].getsockname()[:2] for g in groups]

    def start(self) -> None:
        for w in self._workers:
            self._fork(w, [g[w.index] for g in self._groups])

    def _fork(self, w: _Worker, socks: list[socket.socket]) -> None:
        parent_end, child_end = self._ctx.Pipe()
        inherited: list[Any] = [parent_end, *(s for g in self._groups for s in g if s not in socks)]
        inherited += [o.conn for o in self._workers if o.conn is not None]
        w.proc = self._ctx.Process(
            target=_serve,
            args=(os.getpid(), socks, child_end, inherited, self.shared, self.make_core),
            name=f"ntp-worker-{w.index}",
            daemon=True,
        )
        w.proc.start()
        child_end.close()
        for s in socks:  # the worker's own now: closed here, the group keeps it while the worker lives
            s.close()
        w.conn, w.started_s, w.starts = parent_end, time.monotonic(), w.starts + 1

    def check(self) -> None:
        """Start again any worker that died (from the tick loop: the forking thread must outlive
        the worker, which gets the parent-death signal when it ends)."""
        for w in self._workers:
            if w.proc is None or w.alive or time.monotonic() - w.started_s < RESTART_AFTER_S:
                continue
            code = w.proc.exitcode
            log.error("NTP serving worker %d (pid %s) exited with %s: starting it again", w.index, w.proc.pid, code)
            self._retired = merge_counters([self._retired, w.last])
            w.last = {}
            if w.conn is not None:
                w.conn.close()
                w.conn = None
            try:
                socks = [join_group(host, port, self.count) for host, port in self.addresses]
            except ListenError as exc:  # tried again at the next tick
                log.error("NTP serving worker %d: %s", w.index, exc)
                continue
            self._fork(w, socks)
            self.restarts += 1

    def _broadcast(self, msg: tuple[Any, ...]) -> None:
        for w in self._workers:
            if w.conn is not None and w.alive:
                try:
                    w.conn.send(msg)
                except OSError:
                    pass  # it died: check() starts it again with the node's current settings

    def set_policy(self, access: Any, ratelimit: Any) -> None:
        self._broadcast(("policy", access, ratelimit))

    def set_nts(self, state: Any) -> None:
        """NTS (its cookie keys), at start and whenever the keys rotate."""
        self._broadcast(("nts", state))

    def counters(self) -> dict[str, Any]:
        """Every worker's counters, summed (a worker that did not answer in time: its last report)."""
        with self._lock:
            self._seq += 1
            asked = []
            for w in self._workers:
                if w.conn is not None and w.alive:
                    try:
                        w.conn.send(("counters", self._seq))
                        asked.append(w)
                    except OSError:
                        pass
            deadline = time.monotonic() + COUNTERS_TIMEOUT_S
            for w in asked:
                assert w.conn is not None
                while w.conn.poll(max(0.0, deadline - time.monotonic())):
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        break
                    if msg[0] == "counters" and msg[1] == self._seq:
                        w.last = msg[2]
                        break
            return merge_counters([self._retired, *(w.last for w in self._workers)])

    def status(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "alive": sum(w.alive for w in self._workers),
            "restarts": self.restarts,
            "pids": [w.proc.pid if w.proc is not None else None for w in self._workers],
            "received": [w.last.get("received", 0) for w in self._workers],
        }

    def stop(self) -> None:
        self._broadcast(("stop",))
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for w in self._workers:
            if w.proc is not None:
                w.proc.join(max(0.0, deadline - time.monotonic()))
                if w.proc.is_alive():
                    w.proc.kill()
                    w.proc.join(1.0)
            if w.conn is not None:
                w.conn.close()
                w.conn = None
        for group in self._groups:
            for s in group:
                s.close()
