"""Restart policy for supervised programs, pure: exponential backoff, and a limit after which the
supervisor stops retrying and says so loudly instead of restarting forever in silence.

    policy = RestartPolicy()
    delay = policy.failed(now_s, ran_s)   # seconds to wait before the next start, or None: give up

A run that lasted ``stable_s`` or longer counts as a recovery: the next failure starts the backoff
from ``base_s`` again. Failures older than ``window_s`` no longer count toward ``limit``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    limit: int = 5  # failures within window_s before giving up
    window_s: float = 300.0
    stable_s: float = 60.0
    _failures: deque[float] = field(default_factory=deque, repr=False)
    _consecutive: int = 0
    gave_up: bool = False

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.factor < 1 or self.max_s < self.base_s or self.limit < 1 or self.window_s <= 0:
            raise ValueError("RestartPolicy: need base_s > 0, factor >= 1, max_s >= base_s, limit >= 1, window_s > 0")

    @property
    def failures_in_window(self) -> int:
        return len(self._failures)

    def failed(self, now_s: float, ran_s: float) -> float | None:
        """Record a failure at ``now_s`` of a run that lasted ``ran_s``; the delay before restarting,
        or None when the limit is reached (the caller stops and reports)."""
        if self.gave_up:
            return None
        while self._failures and now_s - self._failures[0] > self.window_s:
            self._failures.popleft()
        self._failures.append(now_s)
        self._consecutive = 1 if ran_s >= self.stable_s else self._consecutive + 1
        if len(self._failures) >= self.limit:
            self.gave_up = True
            return None
        return min(self.max_s, self.base_s * self.factor ** (self._consecutive - 1))

    def reset(self) -> None:
        """An operator asked for a fresh start."""
        self._failures.clear()
        self._consecutive = 0
        self.gave_up = False
