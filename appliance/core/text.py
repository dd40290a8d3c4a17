"""Words for people, shared by the core's messages and the commands: counts with the right plural."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 problem', '2 problems', '0 problems' ('1 source', '3 sources')."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
