"""The one judgement every check of the appliance gives (diagnose, and the lab's qualification),
ordered by how bad, with the monitoring-plugin exit code of each:

  SKIP     0  nothing to judge: the component is absent here and nobody said it should be
  OK       0
  WARN     1
  UNKNOWN  3  could not be judged (bad usage, an input that cannot be read)
  FAIL     2

A report's verdict is its worst check's; ``Verdict.worst`` takes any number of them. UNKNOWN ranks
above WARN (what could not be judged may hide a failure) and below FAIL (a failure that was seen
is what the operator must act on first), so rank and exit code differ there.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Verdict(Enum):
    SKIP = "skip"
    OK = "ok"
    WARN = "warn"
    UNKNOWN = "unknown"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]

    @classmethod
    def worst(cls, verdicts: Iterable[Verdict]) -> Verdict:
        return max(verdicts, key=lambda v: _RANK[v], default=cls.OK)


_RANK = {Verdict.SKIP: -1, Verdict.OK: 0, Verdict.WARN: 1, Verdict.UNKNOWN: 2, Verdict.FAIL: 3}
EXIT_CODES = {Verdict.SKIP: 0, Verdict.OK: 0, Verdict.WARN: 1, Verdict.FAIL: 2, Verdict.UNKNOWN: 3}
