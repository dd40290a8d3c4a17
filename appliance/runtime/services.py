"""The services `serve` starts beside the tick loop when configured: /metrics, the PTP side
(ptp4l and friends), and the poller of the other control nodes. Each is entered on the
Appliance's ExitStack, so it is stopped in reverse order on any failure and on shutdown."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..core.ntp.answer import NtpServerCore
from .clocks import ServeError

if TYPE_CHECKING:
    from .app import Appliance


def open_ntp(app: Appliance, stack: contextlib.ExitStack) -> None:
    """The NTP sockets, served from a thread the node starts with its loop, or the serving worker
    processes (ntp.workers), forked here: before the node starts its threads. A bind that fails
    is a ListenError naming the address."""
    from ..addresses import parse_hostport
    from ..ntp.server import NtpUdpServer, open_socket
    from ..ntp.shared import SharedServedState
    from ..ntp.workers import WorkerPool, resolve_count

    addresses = [parse_hostport(text) for text in app.listen]
    count = resolve_count(app.cfg.ntp.workers)
    if count == 0:
        sockets = []
        for host, port in addresses:
            sock = open_socket(host, port)
            stack.callback(sock.close)
            sockets.append(sock)
        app.udp = NtpUdpServer(app.ntp_core, sockets, app.timemap)
        return
    assert app.node is not None
    app.shared = SharedServedState(app.node.timemap, app.ntp_core.state)
    stack.callback(app.shared.close)
    pool = WorkerPool(count, addresses, app.shared, lambda: worker_core(app))
    pool.open()
    stack.callback(pool.stop)
    pool.start()
    app.workers = pool
    app.on_tick.append(lambda _actions: pool.check())


def worker_core(app: Appliance) -> NtpServerCore:
    """A serving worker's own core, with the node's settings as they are now (called in the
    worker: app.cfg has the policy of the last reload), its keys and NTS."""
    from .reload import serving_core

    worker = serving_core(app.cfg, app.ntp_core.keys, app.ntp_core.nts)
    worker.set_state(app.ntp_core.state)
    return worker


def start_metrics(app: Appliance, stack: contextlib.ExitStack) -> None:
    """/metrics on monitoring.metrics_listen; a port conflict is a ServeError naming it."""
    if not app.cfg.monitoring.metrics_listen:
        return
    from ..monitoring.metrics import MetricsError, for_appliance

    server = for_appliance(app, app.cfg.monitoring.metrics_listen)
    try:
        server.start()
    except MetricsError as exc:
        raise ServeError(str(exc)) from None
    app.metrics = server
    stack.callback(server.stop)


def start_ptp(app: Appliance, stack: contextlib.ExitStack) -> None:
    """The PTP side when configured; a missing program or a bad config stops `serve` here."""
    if not app.cfg.ptp.enabled:
        return
    from ..linuxptp.manager import PtpError, PtpManager

    try:
        ptp = PtpManager(app.cfg)
        stack.callback(ptp.stop)
        ptp.start()
    except PtpError as exc:
        raise ServeError(f"ptp: {exc}") from None
    app.ptp = ptp


def start_peers(app: Appliance, stack: contextlib.ExitStack) -> None:
    """The poller of the other control nodes, when the vote is on."""
    cfg = app.cfg
    assert app.node is not None
    if not app.node.cfg.crosscheck:
        return
    from ..ntp.peers import PeerPoller

    cc = cfg.cluster.crosscheck
    others = [(n.name, n.address) for n in cfg.cluster.control_nodes if n.name != cfg.node.name]
    key = None
    if cc.key is not None:
        keys = app.ntp_core.keys
        key = keys.keys.get(cc.key) if keys is not None else None
        if key is None:
            raise ServeError(f"cluster.crosscheck.key {cc.key}: no such key in ntp.keyfile {cfg.ntp.keyfile}")
    app.poller = PeerPoller(others, app.timemap, cc.poll_interval_s, cc.filter_window, key=key)
    app.poller.start()
    stack.callback(app.poller.stop)


def start_nts(app: Appliance, stack: contextlib.ExitStack) -> None:
    """NTS when ntp.nts is set: the cookie keys into the NTP server's core, then the NTS-KE
    server; the keys rotate from the tick hook. A bad certificate, key or shared key stops
    `serve` here, naming the file."""
    nts = app.cfg.ntp.nts
    if nts is None:
        return
    import os
    import time

    from ..addresses import parse_hostport
    from ..core.ntp import ntske
    from ..core.ntp.nts import NtsServer
    from ..core.ntp.nts_cookie import COOKIE_NONCE_BYTES, seal
    from ..ntp.ntske_server import NtsKeError, NtsKeServer, tls_context
    from .nts_keys import CookieKeyStore, NtsKeyError, read_shared_key

    try:
        secret = read_shared_key(nts.shared_key) if nts.shared_key is not None else None
        ctx = tls_context(nts.certificate, nts.key)
    except (NtsKeyError, NtsKeError) as exc:
        raise ServeError(str(exc)) from None
    store = CookieKeyStore(app.cfg.node.state_dir, nts.rotate_s, nts.keep_keys, secret, app.state_files)
    state = NtsServer(store.keys(time.time()), os.urandom)
    app.ntp_core.nts = state
    if app.workers is not None:
        app.workers.set_nts(state)
    ntp = [parse_hostport(text) for text in app.listen]
    addresses = [parse_hostport(text) for text in nts.listen] or [(host, ntske.NTSKE_PORT) for host, _ in ntp]

    def respond(data: bytes, export: ntske.Export) -> bytes:
        return ntske.respond(
            data,
            export,
            lambda c2s, s2c: seal(state.keys, c2s, s2c, os.urandom(COOKIE_NONCE_BYTES)),
            ntp_port=ntp[0][1],
        )

    server = NtsKeServer(addresses, ctx, respond)
    try:
        server.start()
    except NtsKeError as exc:
        raise ServeError(str(exc)) from None
    stack.callback(server.stop)
    app.ntske, app.nts_keys = server, store

    def rotate(_actions: object) -> None:
        now = time.time()
        if store.due_s(now) <= 0:
            state.keys = store.keys(now)
            if app.workers is not None:
                app.workers.set_nts(state)

    app.on_tick.append(rotate)
