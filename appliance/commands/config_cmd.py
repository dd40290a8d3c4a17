"""appliance config check FILE; appliance config render TARGET ... (ptp, clients)"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from . import load_config

# `config render TARGET`: TARGET -> (function "module:name" taking a Config and returning
# {file name: text}, help). Adding a target is one entry here.
RENDER_TARGETS: dict[str, tuple[str, str]] = {
    "ptp": ("appliance.leapfile:render_ptp", "ptp4l.conf (and phc2sys/ts2phc where configured), TAI-UTC from "
            "leap_seconds.file"),
}

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
    r = csub.add_parser("render", help="render the files the appliance would run a tool with, for a person to read")
    rsub = r.add_subparsers(dest="render_target", metavar="TARGET")
    rsub.required = True
    for name, (_, help_text) in RENDER_TARGETS.items():
        t = rsub.add_parser(name, help=help_text)
        t.add_argument("--config", required=True, metavar="FILE")
        t.add_argument("--out", metavar="DIR", help="write the files into DIR (default: print them)")
        t.set_defaults(func=render, target=name)
    for name in RENDER_MODULES:
        importlib.import_module(f"appliance.commands.{name}").register_render(rsub)


def check(args) -> int:
    cfg = load_config(args.file)
    if cfg is None:
        return 2
    where = cfg.designated_index()
    role = "not a designated control node" if where is None else f"designated control node #{where + 1}"
    print(f"{args.file}: ok (node {cfg.node.name}, {role}, clock {cfg.clock.source})")
    return 0


def render(args) -> int:
    cfg = load_config(args.config)
    if cfg is None:
        return 2
    module, _, func = RENDER_TARGETS[args.target][0].partition(":")
    try:
        files = getattr(importlib.import_module(module), func)(cfg)
    except ValueError as exc:  # RenderError and friends: the config cannot be rendered
        print(f"appliance config render {args.target}: {exc}", file=sys.stderr)
        return 2
    if args.out is None:
        for i, (name, text) in enumerate(files.items()):
            print(("" if i == 0 else "\n") + f"==> {name} <==")
            print(text, end="" if text.endswith("\n") else "\n")
        return 0
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / name).write_text(text)
            print(out / name)
    except OSError as exc:
        print(f"appliance config render {args.target}: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0
