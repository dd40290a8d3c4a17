"""The metrics endpoint answers GET/HEAD on /metrics and /healthz only; nothing else is served, and
no request (another method, an oversized line, junk, silence, many idle connections) hangs it."""

import http.client
import socket
import time

import pytest

from appliance.monitoring import endpoint
from appliance.monitoring.metrics import ApplianceCollector, MetricsServer

STATUS = {"node": "n", "sync": {"state": "locked"}, "ntp": {"stratum": 1}}


@pytest.fixture
def server():
    s = MetricsServer(ApplianceCollector(lambda: STATUS), "127.0.0.1", 0, health=lambda: (True, "ok"))
    s.start()
    yield s
    s.stop()


def _request(server, method, path, headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        c.close()


def _raw(server, data: bytes, timeout_s: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _still_serves(server):
    status, body, _ = _request(server, "GET", "/metrics")
    assert status == 200 and b"appliance_" in body


def test_the_documented_paths_answer_get_and_head(server):
    status, body, headers = _request(server, "GET", "/metrics")
    assert status == 200 and b"appliance_status_errors" in body
    status, body, _ = _request(server, "GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    status, body, headers = _request(server, "HEAD", "/metrics")
    assert status == 200 and body == b""
    status, body, headers = _request(server, "HEAD", "/healthz")
    assert status == 200 and body == b"" and headers["Content-Length"] == "3"


@pytest.mark.parametrize("path", ["/", "/metrics/", "/metricsx", "/healthz/", "/../etc/passwd", "/x" * 2000, "/%00"])
def test_no_other_path_is_served(server, path):
    status, body, _ = _request(server, "GET", path)
    assert status == 404 and b"appliance_" not in body and len(body) < 400
    _still_serves(server)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"])
def test_no_other_method_is_served(server, method):
    for path in endpoint.PATHS:
        status, body, headers = _request(server, method, path, body=b"x" * 100)
        assert status == 405 and headers["Allow"] == "GET, HEAD" and b"appliance_" not in body
    _still_serves(server)


def test_oversized_and_malformed_requests_get_an_error_not_a_hang(server):
    cases = {
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n": b" 414 ",
        b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n": b" 431 ",
        b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X%d: y\r\n" % i for i in range(200)) + b"\r\n": b" 431 ",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n": b" 400 ",
        b"GET /metrics HTTP/9.9\r\n\r\n": b" 505 ",
        b"BREW /metrics HTCPCP/1.0\r\n\r\n": b" 400 ",
    }
    for request, expected in cases.items():
        t0 = time.monotonic()
        out = _raw(server, request)
        assert expected in out.split(b"\r\n", 1)[0], (request[:40], out[:200])
        assert b"appliance_" not in out and time.monotonic() - t0 < 5
    _still_serves(server)


def test_silent_and_idle_clients_are_dropped_and_do_not_block_scrapes(server, monkeypatch):
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(40)]
    try:
        idle[0].sendall(b"GET /metrics HTTP/1.1\r\n")  # a request that never ends
        _still_serves(server)  # 40 idle connections do not hold up a scrape
        t0 = time.monotonic()
        for s in idle:
            assert s.recv(1) in (b"", b"H")  # closed by the server (or a 408-style answer), not left open
        waited = time.monotonic() - t0
        assert waited < endpoint.REQUEST_TIMEOUT_S + 5, waited
    finally:
        for s in idle:
            s.close()
    _still_serves(server)


def test_connections_beyond_the_limit_are_closed_at_accept(monkeypatch):
    monkeypatch.setattr(endpoint, "MAX_CONNECTIONS", 4)
    s = MetricsServer(ApplianceCollector(lambda: STATUS), "127.0.0.1", 0)
    s.start()
    held = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(4)]
    try:
        time.sleep(0.3)  # the four are accepted and each waits in its handler
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        extra.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        assert extra.recv(100) == b""  # refused: closed without an answer
        extra.close()
        assert s._httpd.refused >= 1
    finally:
        for h in held:
            h.close()
    time.sleep(0.3)
    status, body, _ = _request(s, "GET", "/metrics")
    assert status == 200
    s.stop()
