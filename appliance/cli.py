"""`appliance` command line. Each command lives in appliance/commands/<name>.py with a
``register(subparsers)`` function; heavy imports happen inside the command, not here.

After every command has registered, ``build_parser`` walks the whole tree once and gives each
parser what all of them share (the help layout, --log-level after the subcommand, the exit-code
epilog), so that a new command gets them without doing anything; the man page and the shell
completion (appliance.clidoc) are generated from the same tree.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import textwrap
from typing import NoReturn

from . import __version__
from .commands.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_WARN,
    CommandError,
    error,
    json_errors,
    set_json_errors,
)

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
    "man",
    "completion",
]

__all__ = ["EXIT_FAIL", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_WARN", "build_parser", "main"]

DESCRIPTION = """\
The time appliance of an air-gapped Kubernetes / Harvester cluster. On each of the three designated
control nodes it disciplines the NIC's PTP hardware clock (through linuxptp), learns the oscillator's
temperature drift to hold over well, and serves stratum-1 NTP to every other node. Without PTP
hardware it runs on a simulated clock.

Run a node with `appliance serve --config FILE`; look at it with `status`, `diagnose` and `discover`;
write the other nodes' chrony/timesyncd configuration with `config render clients`."""

EXIT_EPILOG = """\
exit status (every command):
  0  OK: done, or every check passed
  1  WARN: done, with warnings (commands that judge: diagnose, discover --expect-ptp, lab)
  2  FAIL: a check failed, or what was asked could not be done (no answer, cannot write)
  3  UNKNOWN: nothing judged or done: bad usage, or an input that cannot be read or is not
     what was expected (configuration, recording, CSV, bundle)
With --json, an error is a JSON object on standard output: {"error", "command", "exit_code"}.

durations are written with a unit, everywhere (options and configuration): 500ms, 2s, 5m, 1h;
a bare number is refused."""

LOG_LEVELS = ["debug", "info", "warning", "error"]
# Libraries whose INFO and WARNING lines mean nothing to an operator (font caches, plugin scans).
QUIET_LOGGERS = ("matplotlib", "PIL", "numexpr", "asyncio")


class Parser(argparse.ArgumentParser):
    """argparse with the appliance's exit code for bad usage (3) and JSON errors under --json."""

    def error(self, message: str) -> NoReturn:
        code = EXIT_UNKNOWN
        if json_errors():
            error(self.prog, message, code, usage=self.format_usage().strip())
            sys.exit(code)
        self.print_usage(sys.stderr)
        self.exit(code, f"{self.prog}: error: {message}\n(see `{self.prog} --help`)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Paragraphs are wrapped, indented lines are kept as written (examples, tables); every option
    with a default says it, unless its help already does."""

    def __init__(self, prog: str):
        width = min(100, max(60, _terminal_width()))
        super().__init__(prog, max_help_position=32, width=width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for para in re.split(r"\n\s*\n", text.strip("\n")):
            if para.startswith(" ") or "\n " in para or para.rstrip().endswith(":") and "\n" in para:
                out.append("\n".join(indent + line for line in para.splitlines()))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(para.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
        return "\n\n".join(out)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # never break an option name (--chronyc-socket) at its hyphen
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action: argparse.Action) -> str:
        return help_with_default(action)


def help_with_default(action: argparse.Action) -> str:
    text = action.help or ""
    default = action.default
    if (
        not action.option_strings
        or default in (None, False, argparse.SUPPRESS)
        or default == []
        or "default" in text.lower()
        or isinstance(action, argparse._VersionAction)
    ):
        return text
    return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns - 2
    except OSError:
        return 98


def subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of the direct subcommands, aliases once, in registration order."""
    out, seen = [], set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    out.append((name, helps.get(name, ""), sub))
    return out


def _finish(parser: argparse.ArgumentParser, help_text: str = "", top: bool = False) -> None:
    """What every parser of the tree shares; called once over the whole tree."""
    parser.formatter_class = HelpFormatter
    if parser.description is None and help_text:
        parser.description = help_text[0].upper() + help_text[1:] + "."
    if not top:
        if not any("--log-level" in a.option_strings for a in parser._actions):
            parser.add_argument(
                "--log-level",
                choices=LOG_LEVELS,
                default=argparse.SUPPRESS,
                metavar="LEVEL",
                help="how much the appliance logs to stderr: debug, info, warning, error (default: info)",
            )
        if parser.epilog is None:
            parser.epilog = (
                "exit status: 0 OK, 1 WARN, 2 FAIL, 3 UNKNOWN (bad usage or unreadable input); see `appliance --help`."
            )
    children = subparsers(parser)
    if not children:
        parser.set_defaults(_prog=parser.prog)
    for _, sub_help, sub in children:
        _finish(sub, sub_help)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="appliance", description=DESCRIPTION, epilog=EXIT_EPILOG)
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=LOG_LEVELS,
        help="how much the appliance logs to stderr; also accepted after the command",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"appliance.commands.{name}").register(sub)
    _finish(parser, top=True)
    return parser


def _wants_json(argv: list[str]) -> bool:
    head = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in head


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    set_json_errors(_wants_json(argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and bad usage (3)
        return exc.code if isinstance(exc.code, int) else EXIT_UNKNOWN
    level = getattr(logging, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.ERROR))
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        return error(getattr(args, "_prog", "appliance"), str(exc), exc.code, **exc.extra)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error, and no second one at exit
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
