"""The one judgement every check of the appliance gives (diagnose, and the lab's qualification):
ok, warn or fail, ordered by how bad, with the monitoring-plugin exit code of each.

A report's verdict is its worst check's; ``Verdict.worst`` takes any number of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Verdict(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        return _RANK[self]

    @classmethod
    def worst(cls, verdicts: Iterable[Verdict]) -> Verdict:
        return max(verdicts, key=lambda v: _RANK[v], default=cls.OK)


_RANK = {Verdict.OK: 0, Verdict.WARN: 1, Verdict.FAIL: 2}
EXIT_CODES = {v: v.exit_code for v in Verdict}
