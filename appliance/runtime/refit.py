"""The learned model's refits, off the tick: the node hands out a RefitRequest, this runs it in a
separate process and hands the result back at a later tick.

A process rather than a thread: a week of records takes about a second of CPU (numpy and
Python), and in this process it would hold the GIL against the tick and the NTP fast path. The
process is spawned (not forked: this process has threads) on the first refit and kept. Where no
process can be started, the fit runs in one worker thread instead, and the log says so.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

from ..core.holdover.fit import FitResult
from ..core.holdover.learn import RefitRequest
from ..core.holdover.series import SampleError

log = logging.getLogger("appliance.refit")


def _run(request: RefitRequest) -> FitResult | SampleError:
    return request.run()


def _warm_imports() -> bool:
    """Import the fit's slow dependency (allantools, with scipy) where the fit runs; True if it is there."""
    try:
        import allantools  # noqa: F401, PLC0415
    except ImportError as exc:  # the fit reports it when it runs
        log.warning("allantools is not importable: %s", exc)
        return False
    return True


class RefitWorker:
    def __init__(self, use_process: bool = True):
        self._use_process = use_process
        self._executor: Executor | None = None
        self._pending: tuple[RefitRequest, Future[FitResult | SampleError]] | None = None
        self._lock = threading.Lock()

    def _start(self) -> Executor:
        if self._executor is None:
            if self._use_process:
                try:
                    self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                except (OSError, ValueError) as exc:
                    log.warning("model refits run in a thread (no worker process: %s)", exc)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="refit")
        return self._executor

    def submit(self, request: RefitRequest) -> None:
        with self._lock:
            if self._pending is not None:
                return  # the predictor asks for one fit at a time; never queue a second
            try:
                future = self._start().submit(_run, request)
            except Exception as exc:  # noqa: BLE001 - a broken pool: fall back to a thread
                log.warning("model refit in a worker process failed to start (%s); using a thread", exc)
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="refit")
                future = self._executor.submit(_run, request)
            self._pending = (request, future)

    def take(self) -> tuple[RefitRequest, FitResult | SampleError] | None:
        """The finished fit, once; None while it runs or when none was asked for."""
        with self._lock:
            if self._pending is None or not self._pending[1].done():
                return None
            request, future = self._pending
            self._pending = None
        try:
            return request, future.result()
        except Exception as exc:  # noqa: BLE001 - the worker died: the predictor records why
            return request, SampleError(f"the fit's worker failed: {exc}")

    def warm(self) -> Future[bool] | None:
        """Start the worker now and import the fit's dependencies in it: neither the first refit
        nor this process pays for them. An import holds the interpreter for seconds; in this
        process it would stall the NTP thread (requests dropped as late at start)."""
        with self._lock:
            try:
                return self._start().submit(_warm_imports)
            except Exception as exc:  # noqa: BLE001 - a broken pool: the first refit falls back
                log.warning("model refit worker did not start (%s)", exc)
                return None

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
