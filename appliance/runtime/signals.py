"""Signals for `serve`: SIGINT and SIGTERM stop the node, SIGHUP asks it to re-read its
configuration. Handlers only set flags; the main thread acts on them (nothing runs inside a
signal handler but that)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("appliance.service")


@contextlib.contextmanager
def stop_on_signals(app: Any, reload: threading.Event | None = None) -> Iterator[None]:
    """Install the handlers, restoring the old ones after."""

    def stop(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        app.request_stop()

    def hup(_signum: int, _frame: Any) -> None:
        if reload is not None:
            reload.set()  # the main thread looks at it between its short waits

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    if reload is not None:
        old[signal.SIGHUP] = signal.signal(signal.SIGHUP, hup)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
