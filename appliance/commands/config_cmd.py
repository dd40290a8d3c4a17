"""appliance config check FILE...; appliance config render TARGET ... (ptp, clients)"""

from __future__ import annotations

import importlib
import json

from . import load_config
from .common import EXIT_FAIL, EXIT_OK, EXIT_UNKNOWN, CommandError, output_dir, plural, write_error

# `config render TARGET`: TARGET -> (function "module:name" taking a Config and returning
# {file name: text}, help). Adding a target is one entry here.
RENDER_TARGETS: dict[str, tuple[str, str]] = {
    "ptp": (
        "appliance.leapfile:render_ptp",
        "ptp4l.conf (and phc2sys/ts2phc where configured), TAI-UTC from leap_seconds.file",
    ),
}

# Each module adds one `config render WHAT` subcommand with ``register_render(rsub)``.
RENDER_MODULES = [
    "render_clients",
]

CHECK_DESCRIPTION = """\
Validate configuration files the way `appliance serve` loads them: unknown keys, duplicate keys, \
wrong types, durations without a unit, addresses, and everything `serve` and `config render` would \
build from them. Every problem is printed with its dotted key and its line and column. Notes say \
what a valid file leaves out (no servers to render for the clients, say)."""

CHECK_EPILOG = """\
exit status: 0 every file is valid, 2 a file has problems, 3 bad usage or a file that cannot be read.

examples:
  appliance config check /etc/appliance/appliance.yaml
  appliance config check examples/*.yaml --json"""

RENDER_PTP_EPILOG = """\
exit status: 0 rendered, 2 nothing to render (ptp.enabled is false) or DIR cannot be written,
3 bad usage or a configuration with problems."""


def register(sub) -> None:
    p = sub.add_parser(
        "config",
        help="check or render configuration",
        description="Check a configuration file, or render the files the appliance (ptp4l) and the "
        "cluster's other nodes (chrony, timesyncd, Harvester) would run with.",
    )
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    csub.required = True
    c = csub.add_parser(
        "check",
        help="validate configuration files; prints every problem with its key and line",
        description=CHECK_DESCRIPTION,
        epilog=CHECK_EPILOG,
    )
    c.add_argument("files", metavar="FILE", nargs="*", help="configuration files (YAML) to check")
    c.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="a configuration file to check, as every other command takes it (repeatable)",
    )
    c.add_argument("--json", action="store_true", help="one result per file as JSON; errors as JSON too")
    c.set_defaults(func=check)
    r = csub.add_parser("render", help="render the files the appliance would run a tool with, for a person to read")
    rsub = r.add_subparsers(dest="render_target", metavar="TARGET")
    rsub.required = True
    for name, (_, help_text) in RENDER_TARGETS.items():
        t = rsub.add_parser(
            name,
            help=help_text,
            epilog=RENDER_PTP_EPILOG,
            description=f"Print (or write into DIR) {help_text}, exactly as `appliance serve` "
            "would run it, for a person to read; nothing is started.",
        )
        t.add_argument("--config", required=True, metavar="FILE", help="the appliance's configuration")
        t.add_argument(
            "--out-dir",
            "--out",
            dest="out_dir",
            metavar="DIR",
            help="write the files into DIR (created if its parent exists; default: print them)",
        )
        t.set_defaults(func=render, target=name)
    for name in RENDER_MODULES:
        importlib.import_module(f"appliance.commands.{name}").register_render(rsub)


def _notes(cfg) -> list[str]:
    """What a valid configuration leaves out, that a command will then refuse or skip."""
    from ..render.clients import NoServers, RenderError, render_clients

    notes = []
    if cfg.timesync.enabled:
        try:
            render_clients(cfg)
        except NoServers:
            notes.append(
                "`config render clients` has no servers to render: set timesync.servers or cluster.control_nodes"
            )
        except RenderError:
            pass  # refused at load already
    if not cfg.ptp.enabled:
        notes.append("ptp.enabled is false: no ptp4l runs (`config render ptp` has nothing to render)")
    return notes


def _check_one(path: str) -> dict:
    from .. import config

    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        return {"file": path, "valid": False, "readable": not exc.unreadable, "problems": exc.problems, "notes": []}
    where = cfg.designated_index()
    role = "not a designated control node" if where is None else f"designated control node #{where + 1}"
    return {
        "file": path,
        "valid": True,
        "readable": True,
        "problems": [],
        "node": cfg.node.name,
        "role": role,
        "clock": cfg.clock.source,
        "notes": _notes(cfg),
    }


def check(args) -> int:
    paths = list(args.files) + list(args.config)
    if not paths:
        raise CommandError("no file to check: give one or more FILE (or --config FILE)")
    results = [_check_one(p) for p in paths]
    code = EXIT_OK
    if any(not r["valid"] for r in results):
        code = EXIT_FAIL
    if any(not r["readable"] for r in results):
        code = max(code, EXIT_UNKNOWN)
    if args.json:
        print(json.dumps({"valid": code == EXIT_OK, "exit_code": code, "files": results}, indent=2))
        return code
    for r in results:
        if r["valid"]:
            print(f"{r['file']}: ok (node {r['node']}, {r['role']}, clock {r['clock']})")
            for n in r["notes"]:
                print(f"  note: {n}")
        else:
            what = "cannot be read" if not r["readable"] else plural(len(r["problems"]), "problem")
            print(f"{r['file']}: {what}")
            for p in r["problems"]:
                print(f"  {p}")
    return code


def render(args) -> int:
    cfg = load_config(args.config)
    if args.target == "ptp" and not cfg.ptp.enabled:
        raise CommandError(
            f"ptp.enabled is false in {args.config}: the appliance runs no ptp4l there, so there is "
            "nothing to render (set ptp.enabled: true and ptp.interface)",
            EXIT_FAIL,
        )
    module, _, func = RENDER_TARGETS[args.target][0].partition(":")
    try:
        files = getattr(importlib.import_module(module), func)(cfg)
    except ValueError as exc:  # RenderError and friends: the config cannot be rendered
        raise CommandError(str(exc), EXIT_FAIL) from None
    if args.out_dir is None:
        for i, (name, text) in enumerate(files.items()):
            print(("" if i == 0 else "\n") + f"==> {name} <==")
            print(text, end="" if text.endswith("\n") else "\n")
        return 0
    out = output_dir("--out-dir", args.out_dir)
    for name, text in files.items():
        try:
            (out / name).write_text(text)
        except OSError as exc:
            raise CommandError(write_error(str(out / name), exc), EXIT_FAIL) from None
        print(out / name)
    return 0
