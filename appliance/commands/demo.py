"""appliance demo [--duration SECONDS] [--seed N]"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="three simulated control nodes on loopback, serving NTP and voting, with a live view",
        description="Three simulated control nodes in this process on free 127.0.0.1 ports: real NTP "
        "between them, the majority vote, and a live view. Keys (on a terminal): 1-3 select a node, "
        "s step it +2 s (its reference stopped first), f +50 ppm frequency fault on/off, r reference "
        "stop/start, c clear faults, q quit. Or from another terminal: appliance sim inject "
        "--control-socket PATH (the paths are printed). Ctrl-C stops.",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C or q)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first node's oscillator (the others: +1, +2)")
    p.add_argument("--refresh", type=float, default=1.0, metavar="SECONDS", help="view refresh interval")
    p.add_argument("--plain", action="store_true", help="no ANSI screen refresh, no keys: one frame after another")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from ..demo import run as run_demo

    if args.duration is not None and not args.duration > 0:
        print("appliance demo: --duration must be a positive number of seconds", file=sys.stderr)
        return 2
    if not args.refresh > 0:
        print("appliance demo: --refresh must be positive", file=sys.stderr)
        return 2
    return run_demo(
        duration_s=args.duration, seed=args.seed, refresh_s=args.refresh,
        keys=False if args.plain else None, ansi=False if args.plain else None,
    )
