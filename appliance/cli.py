"""`appliance` command line. Each command lives in appliance/commands/<name>.py with a
``register(subparsers)`` function; heavy imports happen inside the command, not here."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

# Each module registers one top-level command (and its subcommands).
COMMAND_MODULES = [
    "serve",
    "query",
    "status",
    "config_cmd",
    "discover",
    "diagnose",
    "model",
    "lab",
    "sim_cmd",
    "demo",
    "bootstrap",
]

EXIT_OK, EXIT_WARN, EXIT_FAIL = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"appliance.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
