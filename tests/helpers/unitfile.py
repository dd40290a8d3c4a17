"""Read a systemd unit file the way systemd does for the settings tests look at, and run its
command lines as systemd would write them out."""

from __future__ import annotations

import re
import shlex
from pathlib import Path


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values in order]}}; an empty assignment resets the list, as in systemd."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    text = Path(path).read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"{path}: cannot read line {raw!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        if value == "":
            current[key] = []
        else:
            current.setdefault(key, []).append(value)
    return sections


def words(values: list[str]) -> list[str]:
    """Space-separated list settings (Conflicts=, CapabilityBoundingSet=...) as one list."""
    return [w for v in values for w in v.split()]


def command_argv(line: str, env: dict[str, str]) -> list[str]:
    """An Exec*= line as argv: its prefixes (+-!@:) dropped, ${VAR} and $VAR expanded from env."""
    line = line.lstrip("+-!@:")

    def expand(word: str) -> str:
        def sub(m: re.Match) -> str:
            name = m.group(1) or m.group(2)
            if name not in env:
                raise KeyError(f"{line}: ${name} is not set")
            return env[name]

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, word)

    return [expand(w) for w in shlex.split(line)]
