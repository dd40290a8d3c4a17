"""The HTTP endpoint of the metrics: GET (or HEAD) /metrics and /healthz and nothing else.

Anything else gets a short answer and the connection is closed: another path 404, another method
405 (with ``Allow``), a request line or header over 64 KiB or more than 100 headers 414/431 (the
standard library's limits), a request that is not HTTP 400. A client that connects and says
nothing is dropped after ``REQUEST_TIMEOUT_S``; at most ``MAX_CONNECTIONS`` are handled at once
(more are closed at accept), so neither idle nor slow clients can pile up threads. The endpoint
never reads a request body.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.registry import Collector

log = logging.getLogger("appliance.metrics")

PATHS = ("/metrics", "/healthz")
METHODS = ("GET", "HEAD")
REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 64

StartResponse = Callable[..., Any]


class MetricsError(Exception):
    pass


class _QuietHandler(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT_S  # socketserver sets it on the connection: a silent client is dropped

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (TimeoutError, ConnectionError):  # a client that went quiet or away: nothing to answer
            self.close_connection = True


class _BoundedThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, *args: Any, **kwargs: Any):
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.refused = 0
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics request from %s failed", client_address, exc_info=True)


def _server_class(host: str) -> type[_BoundedThreadingServer]:
    class MetricsHTTPServer(_BoundedThreadingServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return MetricsHTTPServer


def _text(start_response: StartResponse, status: str, body: str, extra: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = (body + "\n").encode()
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            *extra,
        ],
    )
    return [data]


def _app(registry: CollectorRegistry, health: Callable[[], tuple[bool, str]] | None) -> Callable[..., list[bytes]]:
    """/metrics to Prometheus' WSGI app, /healthz to ``health``, 404/405 for anything else."""
    metrics = make_wsgi_app(registry)
    paths = PATHS if health is not None else PATHS[:1]

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        body = answer(environ, start_response)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else body  # HEAD: the headers only

    def answer(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path not in paths:
            return _text(start_response, "404 Not Found", f"not found: {path[:200]} (try {' or '.join(paths)})")
        if method not in METHODS:
            return _text(
                start_response,
                "405 Method Not Allowed",
                f"{method[:20]} is not served: {path} answers {' and '.join(METHODS)}",
                [("Allow", ", ".join(METHODS))],
            )
        if path == "/metrics":
            return list(metrics({**environ, "REQUEST_METHOD": "GET"}, start_response))  # its HEAD is 405
        assert health is not None
        try:
            ok, why = health()
        except Exception as exc:  # the probe must answer, not hang up
            log.warning("health for /healthz failed: %s", exc)
            ok, why = False, "status unavailable"
        return _text(start_response, "200 OK" if ok else "503 Service Unavailable", "ok" if ok else why)

    return app


class MetricsServer:
    """HTTP /metrics (and /healthz) for one collector, in a daemon thread."""

    def __init__(
        self, collector: Collector, host: str, port: int, health: Callable[[], tuple[bool, str]] | None = None
    ):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self.health = health
        self.host, self.port = host, port
        self._httpd: _BoundedThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._httpd = make_server(
                self.host,
                self.port,
                _app(self.registry, self.health),
                _server_class(self.host),
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            raise MetricsError(
                f"cannot serve metrics on {self.address} (monitoring.metrics_listen): {exc.strerror or exc}"
            ) from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
