"""appliance config check FILE; appliance config render WHAT ..."""

from __future__ import annotations

import importlib
import sys

# Each module adds one `config render WHAT` subcommand with ``register_render(rsub)``.
RENDER_MODULES = [
    "render_clients",
]


def register(sub) -> None:
    p = sub.add_parser("config", help="check or render configuration")
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    csub.required = True
    c = csub.add_parser("check", help="validate a config file; prints every problem, exits 2 if any")
    c.add_argument("file", metavar="FILE")
    c.set_defaults(func=check)
    r = csub.add_parser("render", help="render configuration for other programs")
    rsub = r.add_subparsers(dest="render_what", metavar="WHAT")
    rsub.required = True
    for name in RENDER_MODULES:
        importlib.import_module(f"appliance.commands.{name}").register_render(rsub)


def check(args) -> int:
    from .. import config

    try:
        cfg = config.load(args.file)
    except config.ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return 2
    where = cfg.designated_index()
    role = "not a designated control node" if where is None else f"designated control node #{where + 1}"
    print(f"{args.file}: ok (node {cfg.node.name}, {role}, clock {cfg.clock.source})")
    return 0
