"""appliance serve --config FILE [--listen ADDR:PORT ...] [--control-socket PATH]"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from ..runtime import sdnotify
from . import load_config
from .common import EXIT_FAIL, CommandError

DESCRIPTION = """\
Run the appliance on this node: discipline the clock (the NIC's PHC, or a simulated one), supervise \
linuxptp when ptp.enabled, vote with the other control nodes, serve NTP on ntp.listen, answer the \
control socket and export metrics (GET /metrics, /healthz) on monitoring.metrics_listen. Runs in the \
foreground until SIGTERM or Ctrl-C; SIGHUP reloads the configuration (a bad one is refused and the \
running one kept). The host's own clock is never adjusted."""

EPILOG = """\
exit status: 0 stopped by a signal, 2 could not start (address in use, no PHC, control socket taken),
3 bad usage or a configuration with problems.

examples:
  appliance serve --config examples/sim.yaml             (what `make run` does; no root needed)
  appliance serve --config /etc/appliance/appliance.yaml --listen 0.0.0.0:123 --listen [::]:123"""


def register(sub) -> None:
    p = sub.add_parser(
        "serve", help="run the appliance: discipline the clock and serve NTP", description=DESCRIPTION, epilog=EPILOG
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the appliance's configuration (YAML)")
    p.add_argument(
        "--listen",
        action="append",
        metavar="ADDR:PORT",
        help="serve NTP here instead of ntp.listen (repeatable; IPv6 as [::1]:123)",
    )
    p.add_argument("--control-socket", metavar="PATH", help="the control socket instead of monitoring.control_socket")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..addresses import parse_hostport
    from ..control_socket import ControlError
    from ..ntp.server import ListenError
    from ..runtime.app import Appliance
    from ..runtime.clocks import ServeError
    from ..runtime.signals import stop_on_signals

    cfg = load_config(args.config)
    for text in args.listen or []:
        try:
            parse_hostport(text)
        except ValueError as exc:
            raise CommandError(f"--listen {exc}") from None
    app = Appliance(cfg, listen=args.listen, control_socket=args.control_socket, config_path=args.config)
    try:
        app.start()
    except (ListenError, ControlError, ServeError) as exc:
        raise CommandError(str(exc), EXIT_FAIL) from None
    listen = app.status()["ntp"]["listen"]
    prog = os.path.relpath(sys.argv[0]) if os.path.basename(sys.argv[0]) == "appliance" else "python -m appliance"
    host, port = parse_hostport(listen[0])
    print(
        f"appliance {cfg.node.name}: serving NTP on {', '.join(listen)} from {app.clock.info().name}\n"
        f"  query it:  {prog} query {listen[0]}\n"
        f"        or:  chronyd -Q 'server {host} port {port} iburst'   (prints the offset, sets nothing)\n"
        f"  status:    {prog} status --control-socket {app.control_path}\n"
        + (f"  metrics:   http://{app.metrics.address}/metrics\n" if app.metrics else "")
        + "  stop:      Ctrl-C",
        flush=True,
    )
    _tell_the_service_manager(app)
    reload = threading.Event()
    with stop_on_signals(app, reload):
        while not app.wait(0.2):
            if reload.is_set():
                reload.clear()
                sdnotify.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
                _reload(app, args.config)
                sdnotify.notify("READY=1", "STATUS=serving (configuration reloaded)")
    sdnotify.notify("STOPPING=1")
    app.stop()
    return 0


def _tell_the_service_manager(app) -> None:
    """Type=notify: READY once the NTP sockets are open and the first tick ran (start() did both);
    WATCHDOG=1 from the tick loop, at least every half WatchdogSec, so a wedged tick gets the
    service restarted. Without NOTIFY_SOCKET (not under systemd) nothing is sent."""
    ping_s = sdnotify.watchdog_ping_interval_s()
    if ping_s is not None and app.loop is not None:
        app.loop.heartbeat_s = ping_s
        app.loop.heartbeat = lambda: sdnotify.notify("WATCHDOG=1")
    listen = ", ".join(app.status()["ntp"]["listen"])
    sdnotify.notify("READY=1", f"STATUS=serving NTP on {listen}")


def _reload(app, path: str) -> None:
    """SIGHUP: the configuration file again, validated first; a bad one is refused and the running
    configuration kept."""
    from ..config import ConfigError, load

    log = logging.getLogger("appliance.service")
    try:
        new = load(path)
    except ConfigError as exc:
        log.error("reload refused, keeping the running configuration: %s", "; ".join(exc.problems))
        return
    if new.node.name != app.cfg.node.name:
        log.error(
            "reload refused: node.name changed from %s to %s (restart to rename a node)",
            app.cfg.node.name,
            new.node.name,
        )
        return
    pending = app.reload(new)
    log.info(
        "configuration reloaded from %s%s",
        path,
        f"; these keys need a restart and keep their running values: {', '.join(pending)}" if pending else "",
    )
