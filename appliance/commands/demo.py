"""appliance demo [--duration DURATION] [--seed N] [--refresh DURATION] [--plain]"""

from __future__ import annotations

from .common import duration


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="three simulated control nodes on loopback, serving NTP and voting, with a live view",
        description="Three simulated control nodes in this process on free 127.0.0.1 ports: real NTP "
        "between them, the majority vote, and a live view. Keys (on a terminal): 1-3 select a node, "
        "s step it +2 s (its reference stopped first), f +50 ppm frequency fault on/off, r reference "
        "stop/start, c clear faults, q quit. Or from another terminal: appliance sim inject "
        "--control-socket PATH (the paths are printed). Ctrl-C stops.",
        epilog="exit status: 0 done, 2 the nodes could not start, 3 bad usage.",
    )
    p.add_argument(
        "--duration",
        type=duration(),
        metavar="DURATION",
        help="stop after this long, e.g. 30s or 5m (default: until Ctrl-C or q)",
    )
    p.add_argument(
        "--seed", type=int, default=1, metavar="N", help="seed of the first node's oscillator (the others: +1, +2)"
    )
    p.add_argument("--refresh", type=duration(), default="1s", metavar="DURATION", help="view refresh interval")
    p.add_argument("--plain", action="store_true", help="no ANSI screen refresh, no keys: one frame after another")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run as run_demo

    return run_demo(
        duration_s=args.duration,
        seed=args.seed,
        refresh_s=args.refresh,
        keys=False if args.plain else None,
        ansi=False if args.plain else None,
    )
