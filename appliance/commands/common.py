"""What every command shares: the exit codes, how an error is reported (a line on stderr, or a JSON
object on stdout under --json), the argparse types of the one duration syntax, and the rules for
writing files (never create a parent directory the operator did not make).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..core.text import plural  # shared with the core's messages

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_UNKNOWN",
    "EXIT_WARN",
    "CommandError",
    "duration",
    "error",
    "number",
    "output_dir",
    "output_file",
    "plural",
    "read_error",
    "write_error",
]

# The monitoring-plugin convention, for every command: what was judged (or done) is 0 OK, 1 WARN,
# 2 FAIL; 3 UNKNOWN means it could not be judged (or done) at all: bad usage, or an input that
# cannot be read or is not what was expected.
EXIT_OK, EXIT_WARN, EXIT_FAIL, EXIT_UNKNOWN = 0, 1, 2, 3

_json_errors = False


def set_json_errors(on: bool) -> None:
    """cli.main sets this when --json is on the command line: errors then go out as JSON too."""
    global _json_errors
    _json_errors = on


def json_errors() -> bool:
    return _json_errors


def error(prog: str, message: str, code: int = EXIT_UNKNOWN, **extra) -> int:
    """Report a command's error and return its exit code. Under --json it is one JSON object on
    stdout (where a script reads the answer): {"error", "command", "exit_code", ...}."""
    if _json_errors:
        print(json.dumps({"error": message, "command": prog, "exit_code": code, **extra}, indent=2, default=str))
    else:
        print(f"{prog}: {message}", file=sys.stderr)
        for line in extra.get("problems", []):
            print(f"  {line}", file=sys.stderr)
    return code


class CommandError(Exception):
    """Raised inside a command; cli.main reports it with error() and exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_UNKNOWN, **extra):
        super().__init__(message)
        self.code = code
        self.extra = extra


# --- argparse types -------------------------------------------------------------------------


def duration(*, positive: bool = True, signed: bool = False):
    """An argparse type for the one duration syntax (500ms, 2s, 5m, 1h; a bare number is refused)."""
    from ..durations import parse_duration_s

    def parse(text: str) -> float:
        try:
            seconds = parse_duration_s(text, signed=signed)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if positive and seconds <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a duration greater than zero")
        return seconds

    parse.__name__ = "duration"
    return parse


def number(*, minimum: float | None = None, unit: str = ""):
    """An argparse type for a finite number (of the unit in the option's name or metavar)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number{f' of {unit}' if unit else ''}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: expected at least {minimum:g}{f' {unit}' if unit else ''}")
        return value

    parse.__name__ = "number"
    return parse


# --- files ----------------------------------------------------------------------------------


def output_file(option: str, path: str) -> Path:
    """A file a command is about to write: its directory must exist (CommandError otherwise, exit 3)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise CommandError(f"{option} {path}: is a directory; expected a file name")
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise CommandError(
            f"{option} {path}: the directory {parent} {what} (create it first; nothing outside "
            "the appliance's state directory is created for you)"
        )
    return p


def output_dir(option: str, path: str) -> Path:
    """A directory a command writes files into: created if its parent exists, never the parents."""
    p = Path(path)
    if p.is_dir():
        return p
    if p.exists():
        raise CommandError(f"{option} {path}: exists and is not a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise CommandError(
            f"{option} {path}: its parent directory {parent} does not exist (create it first; "
            "nothing outside the appliance's state directory is created for you)"
        )
    try:
        p.mkdir()
    except OSError as exc:
        raise CommandError(f"{option} {path}: cannot create the directory: {exc.strerror}", EXIT_FAIL) from None
    return p


def read_error(path: str, exc: OSError) -> str:
    """An OSError while reading ``path``, in words (no errno, no repr)."""
    if isinstance(exc, FileNotFoundError):
        return f"{path} does not exist"
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a directory, not a file"
    if isinstance(exc, NotADirectoryError):
        return f"{path}: a part of the path is not a directory"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied"
    return f"{path}: cannot read: {exc.strerror or exc}"


def write_error(path: str, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"cannot write {path}: permission denied"
    if isinstance(exc, FileNotFoundError):
        return f"cannot write {path}: its directory does not exist"
    return f"cannot write {path}: {exc.strerror or exc}"
