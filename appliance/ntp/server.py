"""UDP adapter for the sans-I/O NTP server: sockets, kernel receive timestamps, late transmit stamps.

One thread polls every listening socket. For each datagram: the kernel's receive timestamp
(SO_TIMESTAMPNS, CLOCK_REALTIME) is converted to served time through the current TimeMap, the core
decides, and for a reply the transmit timestamp is taken immediately before ``sendto``.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from ..core.ntp_packet import ns_to_ntp
from ..core.ntp_server import Drop, NtpServerCore
from ..core.timemap import TimeMap

log = logging.getLogger("appliance.ntp")

SO_TIMESTAMPNS = 35  # linux/asm-generic/socket.h (SO_TIMESTAMPNS_OLD; 64-bit timespec on 64-bit ABIs)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
RECV_BUFFER = 2048  # larger than any accepted request, so oversized datagrams are seen whole
CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
MAX_SWAP_LAG_NS = 10_000_000  # transmit stamps this close behind the previous one are held forward


class ListenError(Exception):
    pass


def open_socket(host: str, port: int) -> socket.socket:
    """A bound, non-blocking UDP socket with kernel receive timestamps."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" if exc.errno == errno.EACCES else ""
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.setblocking(False)
    return sock


def _rx_system_ns(ancdata) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec * 1_000_000_000 + nsec
    return time.time_ns()


class NtpUdpServer:
    def __init__(self, core: NtpServerCore, sockets: list[socket.socket], timemap: Callable[[], TimeMap]):
        self.core = core
        self.sockets = sockets
        self.timemap = timemap
        self.send_errors = 0
        self.internal_errors = 0
        self._last_tx_ns = 0  # the latest transmit timestamp, in served time
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [s.getsockname()[:2] for s in self.sockets]

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="ntp-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for s in self.sockets:
            s.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def serve_forever(self) -> None:
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.sockets}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._stop:
            for fd, _ in poller.poll(1000):
                sock = by_fd.get(fd)
                if sock is not None:
                    self._drain(sock)

    def _drain(self, sock: socket.socket) -> None:
        core = self.core
        handle = core.handle
        recvmsg = sock.recvmsg
        sendto = sock.sendto
        monotonic = time.monotonic
        time_ns = time.time_ns
        for _ in range(256):  # bounded, so that one busy socket cannot starve the others
            try:
                data, anc, _flags, addr = recvmsg(RECV_BUFFER, CMSG_SPACE)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("receive failed: %s", exc)
                return
            try:
                tmap = self.timemap()
                result = handle(data, addr[0], addr[1], tmap.to_served_ns(_rx_system_ns(anc)), monotonic())
                if result.__class__ is Drop:
                    continue
                tx = tmap.to_served_ns(time_ns())
                # A map swapped in while this thread still held the old one can put a stamp a few us
                # behind the previous one during a slew; transmit stamps never go back for that.
                # (A real step before the node first served synchronized time is larger and passes.)
                last = self._last_tx_ns
                if last - MAX_SWAP_LAG_NS < tx <= last:
                    tx = last + 1
                self._last_tx_ns = tx
                packet = result.finish(ns_to_ntp(tx))
            except Exception:  # the core should never raise; count it and keep serving
                self.internal_errors += 1
                log.exception("internal error while handling a datagram from %s", addr[0])
                continue
            try:
                sendto(packet, addr)
            except OSError:
                self.send_errors += 1
