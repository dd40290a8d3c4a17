"""appliance completion bash [-o FILE]: shell completion, generated from this parser."""

from __future__ import annotations

import sys

from .common import EXIT_FAIL, CommandError, output_file, write_error


def register(sub) -> None:
    p = sub.add_parser(
        "completion",
        help="print the shell completion script (bash), generated from the commands",
        description="Print a completion script for the shell, generated from the command-line parser "
        "(subcommands, options, choices, file and directory arguments). Install it with "
        "`appliance completion bash > /etc/bash_completion.d/appliance`, or for this shell only "
        "`source <(appliance completion bash)`. zsh: run `autoload -U bashcompinit && bashcompinit` first.",
    )
    p.add_argument("shell", choices=["bash"], help="the shell (bash; zsh through bashcompinit)")
    p.add_argument("--output", "-o", metavar="FILE", help="write it to FILE instead of standard output")
    p.set_defaults(func=run)


def emit(args, text: str) -> int:
    """Print ``text`` or write it to --output."""
    if not args.output:
        sys.stdout.write(text)
        return 0
    path = output_file("--output", args.output)
    try:
        path.write_text(text)
    except OSError as exc:
        raise CommandError(write_error(args.output, exc), EXIT_FAIL) from None
    return 0


def run(args) -> int:
    from ..cli import build_parser
    from ..clidoc import bash

    return emit(args, bash.render(build_parser()))
