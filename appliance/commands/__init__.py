"""One module per top-level command; see appliance.cli.COMMAND_MODULES. What they share is in
common.py."""

from __future__ import annotations

from .common import EXIT_UNKNOWN, CommandError, plural


def load_config(path: str):
    """The validated Config; CommandError (exit 3) with every problem and its dotted key otherwise."""
    from .. import config

    try:
        return config.load(path)
    except config.ConfigError as exc:
        raise CommandError(
            f"{exc.source}: {plural(len(exc.problems), 'problem')} in the configuration",
            EXIT_UNKNOWN,
            problems=exc.problems,
        ) from None
