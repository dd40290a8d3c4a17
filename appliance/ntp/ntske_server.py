"""The NTS-KE server: TLS 1.3 on TCP (port 4460), ALPN ``ntske/1``, one request per connection.

pyOpenSSL, because the keys come from the TLS exporter (RFC 5705), which the ``ssl`` module does
not expose. One accepting thread; each connection is served by a short-lived thread, at most
``max_connections`` at once (more are closed at once), each bounded by ``timeout_s`` whole (a
client that trickles its request is cut off). The answer is appliance.core.ntp.ntske.respond's.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from OpenSSL import SSL

from ..core.ntp import ntske

log = logging.getLogger("appliance.ntske")

ALPN = b"ntske/1"
Respond = Callable[[bytes, ntske.Export], bytes]


class NtsKeError(Exception):
    """The NTS-KE server cannot start (certificate, key, address)."""


def tls_context(certificate: Path, key: Path) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    try:
        ctx.use_certificate_chain_file(str(certificate))
    except SSL.Error as exc:
        raise NtsKeError(f"ntp.nts.certificate {certificate}: not a usable PEM certificate ({_why(exc)})") from None
    try:
        ctx.use_privatekey_file(str(key))
        ctx.check_privatekey()
    except SSL.Error as exc:
        raise NtsKeError(f"ntp.nts.key {key}: not the certificate's private key in PEM ({_why(exc)})") from None

    def alpn(_conn: SSL.Connection, offered: list[bytes]) -> bytes | SSL._NoOverlappingProtocols:
        return ALPN if ALPN in offered else SSL.NO_OVERLAPPING_PROTOCOLS

    ctx.set_alpn_select_callback(alpn)
    return ctx


def _why(exc: SSL.Error) -> str:
    parts = [p for err in exc.args[0] for p in err[2:] if p] if exc.args and isinstance(exc.args[0], list) else []
    return "; ".join(parts) or str(exc) or "rejected by OpenSSL"


class NtsKeServer:
    def __init__(
        self,
        addresses: list[tuple[str, int]],
        ctx: SSL.Context,
        respond: Respond,
        max_connections: int = 32,
        timeout_s: float = 5.0,
    ):
        self.addresses = addresses
        self.ctx = ctx
        self.respond = respond
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._socks: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.served = 0
        self.failed = 0
        self.refused_busy = 0

    def start(self) -> None:
        for host, port in self.addresses:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                s.listen(64)
            except OSError as exc:
                s.close()
                self.stop()
                raise NtsKeError(f"NTS-KE cannot listen on {host}:{port}: {exc.strerror}") from None
            self._socks.append(s)
        self._thread = threading.Thread(target=self._accept, name="ntske-accept", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for s in self._socks:
            s.close()
        self._socks = []

    def counters(self) -> dict[str, int]:
        return {"served": self.served, "failed": self.failed, "refused_busy": self.refused_busy}

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select(self._socks, [], [], 0.5)
            except (OSError, ValueError):
                return
            for s in ready:
                try:
                    conn, peer = s.accept()
                except OSError:
                    continue
                if not self._slots.acquire(blocking=False):
                    self.refused_busy += 1
                    conn.close()
                    continue
                threading.Thread(target=self._serve, args=(conn, peer), name="ntske-conn", daemon=True).start()

    def _serve(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        deadline = time.monotonic() + self.timeout_s
        timeval = struct.pack("ll", int(self.timeout_s), 0)
        tls = None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            tls = SSL.Connection(self.ctx, sock)
            tls.set_accept_state()
            tls.do_handshake()
            if tls.get_alpn_proto_negotiated() != ALPN:
                raise NtsKeError("the client did not offer ALPN ntske/1")
            data = b""
            while True:
                if time.monotonic() > deadline:
                    raise NtsKeError(f"no whole request within {self.timeout_s:g} s")
                chunk = tls.recv(4096)
                if not chunk:
                    raise NtsKeError("the client closed before End of Message")
                data += chunk
                if len(data) > ntske.MAX_REQUEST_BYTES:
                    raise NtsKeError(f"request longer than {ntske.MAX_REQUEST_BYTES} bytes")
                try:
                    _, complete = ntske.decode_records(data)
                except ntske.NtskeError:
                    complete = True  # bytes after End of Message: respond says it is a bad request
                if complete:
                    break

            def export(context: bytes) -> bytes:
                return bytes(tls.export_keying_material(ntske.EXPORTER_LABEL, ntske.KEY_BYTES, context))

            tls.sendall(self.respond(data, export))
            tls.shutdown()
            self.served += 1
        except (SSL.Error, OSError, NtsKeError) as exc:
            self.failed += 1
            log.debug("NTS-KE with %s failed: %s", peer[0], exc)
        finally:
            sock.close()
            self._slots.release()
