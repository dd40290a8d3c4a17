"""One module per top-level command; see appliance.cli.COMMAND_MODULES."""

from __future__ import annotations

import sys


def load_config(path: str):
    """The validated Config, or None after printing every problem with its dotted key to stderr
    (the caller exits 2)."""
    from .. import config

    try:
        return config.load(path)
    except config.ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for p in exc.problems:
            print(f"  {p}", file=sys.stderr)
        return None
