"""appliance serve --config FILE [--listen ADDR:PORT ...] [--control-socket PATH]"""

from __future__ import annotations

import logging
import os
import sys
import threading

from . import load_config


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the appliance: discipline the clock and serve NTP")
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--listen", action="append", metavar="ADDR:PORT", help="overrides ntp.listen (repeatable)")
    p.add_argument("--control-socket", metavar="PATH", help="overrides monitoring.control_socket")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..config import parse_hostport
    from ..control_socket import ControlError
    from ..ntp.server import ListenError
    from ..runtime.app import Appliance
    from ..runtime.clocks import ServeError
    from ..runtime.signals import stop_on_signals

    cfg = load_config(args.config)
    if cfg is None:
        return 2
    for text in args.listen or []:
        try:
            parse_hostport(text)
        except ValueError as exc:
            print(f"appliance: --listen: {exc}", file=sys.stderr)
            return 2
    app = Appliance(cfg, listen=args.listen, control_socket=args.control_socket, config_path=args.config)
    try:
        app.start()
    except (ListenError, ControlError, ServeError) as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return 1
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
    reload = threading.Event()
    with stop_on_signals(app, reload):
        while not app.wait(0.2):
            if reload.is_set():
                reload.clear()
                _reload(app, args.config)
    app.stop()
    return 0


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
        log.error("reload refused: node.name changed from %s to %s (restart to rename a node)",
                  app.cfg.node.name, new.node.name)
        return
    pending = app.reload(new)
    log.info("configuration reloaded from %s%s", path,
             f"; these keys need a restart and keep their running values: {', '.join(pending)}" if pending else "")
