"""appliance man [-o FILE]: the man page, generated from this parser."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "man",
        help="print the appliance(1) man page (roff), generated from the commands' own help",
        description="Print appliance(1), generated from the command-line parser: every command, its options "
        "with their defaults and units, and the exit status. Read it with `appliance man | man -l -`; "
        "`make man` writes dist/appliance.1 for the bundle.",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write it to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import __version__
    from ..cli import build_parser
    from ..clidoc import manpage
    from .completion import emit

    return emit(args, manpage.render(build_parser(), __version__))
