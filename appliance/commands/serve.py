"""appliance serve --config FILE [--listen ADDR:PORT ...] [--control-socket PATH]"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the appliance: discipline the clock and serve NTP")
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--listen", action="append", metavar="ADDR:PORT", help="overrides ntp.listen (repeatable)")
    p.add_argument("--control-socket", metavar="PATH", help="overrides monitoring.control_socket")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import config
    from ..config import parse_hostport
    from ..control_socket import ControlError
    from ..ntp.server import ListenError
    from ..service import Appliance, ServeError, stop_on_signals

    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"appliance: invalid configuration {exc.source}:", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    for text in args.listen or []:
        try:
            parse_hostport(text)
        except ValueError as exc:
            print(f"appliance: --listen: {exc}", file=sys.stderr)
            return 2
    app = Appliance(cfg, listen=args.listen, control_socket=args.control_socket)
    try:
        app.start()
    except (ListenError, ControlError, ServeError) as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return 1
    addrs = ", ".join(app.status()["ntp"]["listen"])
    first = app.status()["ntp"]["listen"][0] if app.udp and app.udp.addresses else "HOST:PORT"
    print(
        f"appliance {cfg.node.name}: serving NTP on {addrs} from {app.clock.info().name}\n"
        f"  query it:   appliance query {first}   (or: ntpdate -q / chronyd server ... port)\n"
        f"  status:     appliance status --control-socket {app.control_path}"
        + (f"\n  metrics:    http://{app.metrics.address}/metrics" if app.metrics else ""),
        flush=True,
    )
    with stop_on_signals(app):
        app.wait()
    app.stop()
    return 0
