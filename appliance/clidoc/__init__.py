"""Documents generated from the command-line parser itself (appliance.cli.build_parser): the man
page and the shell completion. Nothing here lists commands or options by hand, so a command added
to appliance.cli.COMMAND_MODULES appears in both the next time they are generated.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("config", "render", "ptp"); () is `appliance` itself
    parser: argparse.ArgumentParser
    help: str

    @property
    def name(self) -> str:
        return " ".join(("appliance", *self.path))

    @property
    def children(self) -> list[str]:
        from ..cli import subparsers

        return [name for name, _, _ in subparsers(self.parser)]


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = (), help_text: str = "") -> list[Command]:
    """Every parser of the tree, depth first, the root first."""
    from ..cli import subparsers

    out = [Command(path, parser, help_text)]
    for name, sub_help, sub in subparsers(parser):
        out += walk(sub, (*path, name), sub_help)
    return out


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The optional arguments a person types, without -h/--help."""
    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction) and a.help is not argparse.SUPPRESS
    ]


def positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction) and a.help is not argparse.SUPPRESS
    ]


def takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def value_kind(action: argparse.Action) -> str:
    """What the value of an option is, for completion: 'choices', 'dir', 'file' or '' (free text)."""
    if action.choices:
        return "choices"
    meta = str(action.metavar or action.dest).upper()
    if "DIR" in meta:
        return "dir"
    if any(k in meta for k in ("FILE", "PATH", ".JSON", ".PNG", ".CSV", "/DEV/")):
        return "file"
    return ""
