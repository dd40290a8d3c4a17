"""Serving worker processes: each has its own SO_REUSEPORT sockets, its own sans-I/O core and
reads the one served-time state the node publishes (appliance.ntp.shared), never a lock per
request. Forked, so they must be started before the process starts other threads."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable

from ..core.clock.timemap import TimeMap
from ..core.ntp.answer import NtpServerCore
from .server import NtpUdpServer, open_socket
from .shared import SharedServedState


def shared_timemap(shared: SharedServedState, core: NtpServerCore) -> Callable[[], TimeMap]:
    """The adapter's time-map callable for a worker: the published map, and the published server
    state handed to the worker's core whenever a new one appears (the same objects until then)."""

    def timemap() -> TimeMap:
        tmap, state = shared.read()
        if state is not core.state:
            core.set_state(state)
        return tmap

    return timemap


def _serve(shared: SharedServedState, addresses: list[tuple[str, int]], make_core: Callable[[], NtpServerCore]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    core = make_core()
    sockets = [open_socket(host, port, reuse_port=True) for host, port in addresses]
    NtpUdpServer(core, sockets, shared_timemap(shared, core)).serve_forever()


class Workers:
    """``count`` forked serving processes on ``addresses`` (which must be bound with reuse_port)."""

    def __init__(
        self,
        count: int,
        shared: SharedServedState,
        addresses: list[tuple[str, int]],
        make_core: Callable[[], NtpServerCore],
    ):
        ctx = multiprocessing.get_context("fork")
        self.procs = [
            ctx.Process(target=_serve, args=(shared, addresses, make_core), name=f"ntp-worker-{i}", daemon=True)
            for i in range(count)
        ]

    def start(self) -> None:
        for p in self.procs:
            p.start()

    def stop(self) -> None:
        for p in self.procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            p.join(timeout=5)
