"""UDP adapter for the sans-I/O NTP server: sockets, kernel receive timestamps, late transmit stamps.

One thread polls every listening socket. For each datagram: the kernel's receive timestamp
(SO_TIMESTAMPNS, CLOCK_REALTIME) is converted to served time through the current TimeMap, the core
decides, and for a reply the transmit timestamp is taken immediately before ``sendto``.

"As late as possible", measured with kernel software transmit timestamps (SO_TIMESTAMPING, taken
as the packet reaches the driver) as the reference, on a lightly loaded server in a test
namespace: from the clock read to the driver took ~18 us (p50) / ~40 us (p99), against ~10 us /
~17 us for the same path written in C. Between requests the caches go cold, and then each Python
operation after the clock read, and CPython's sendto itself, costs microseconds. So (1) only an
addition, a shift, a division and a mask lie between the clock read and the call, and (2) after an
idle spell (REHEARSE_AFTER_IDLE_NS) the reply's send path is first run without transmitting:
the same expression, then sendto with MSG_PROBE (Linux runs the UDP send path, routing included,
and stops before building the packet). That brought it to ~9 us / ~19 us, on a par with C. It is
used only where a start-up check (``probe_sends_nothing``) shows that MSG_PROBE sends nothing.
Under load requests arrive back to back, the caches stay warm and nothing is rehearsed.
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

from ..core.clock.timemap import TimeMap
from ..core.ntp.answer import Drop, NtpServerCore
from ..core.ntp.packet import NTP_HEADER_LEN, NTP_UNIX_EPOCH_DELTA_S

log = logging.getLogger("appliance.ntp")

SO_TIMESTAMPNS = 35  # linux/asm-generic/socket.h (SO_TIMESTAMPNS_OLD; 64-bit timespec on 64-bit ABIs)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
_NTP_TS = struct.Struct("!Q")
_U16 = struct.Struct("!H")
_NTP_EPOCH_NS = NTP_UNIX_EPOCH_DELTA_S * 1_000_000_000  # 1900 -> 1970 in ns
_U64 = (1 << 64) - 1  # an NTP timestamp folds the era: 32 bits of seconds, 32 of fraction
MSG_PROBE = 0x10  # linux/socket.h: "Do not send. Only probe path f.e. for MTU"
# A reply after this much idle time first rehearses its send path (see the module docstring).
REHEARSE_AFTER_IDLE_NS = 200_000
# Sized for a burst, not for seconds: a request waiting longer than ntp.max_request_age_ms is
# dropped when read anyway (~1000 requests at ~1 KiB of kernel memory each; rmem_max caps it).
RCVBUF_BYTES = 1024 * 1024
RECV_BUFFER = 2048  # larger than any accepted request, so oversized datagrams are seen whole
CMSG_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
MAX_SWAP_LAG_NS = 10_000_000  # transmit stamps this close behind the previous one are held forward
# Kernel transmit timestamps for interleaved mode (linux/net_tstamp.h, asm-generic/socket.h):
# reported in software, generated per message for the replies the core tracks.
SO_TIMESTAMPING = 37
SCM_TIMESTAMPING = SO_TIMESTAMPING
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
MSG_ERRQUEUE = 0x2000
_TX_STAMP_CMSG = [(socket.SOL_SOCKET, SO_TIMESTAMPING, struct.pack("@i", SOF_TIMESTAMPING_TX_SOFTWARE))]
ERRQUEUE_CMSG_SPACE = socket.CMSG_SPACE(3 * _TIMESPEC.size) + socket.CMSG_SPACE(64)


class ListenError(Exception):
    pass


def open_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A bound, non-blocking UDP socket with kernel receive timestamps; with ``reuse_port``, one of
    several (SO_REUSEPORT) among which the kernel spreads clients, one per serving worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TIMESTAMPING_SOFTWARE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" if exc.errno == errno.EACCES else ""
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(f"cannot listen on {where}: {exc.strerror}{hint}") from None
    sock.setblocking(False)
    return sock


def _rx_system_ns(ancdata: list[tuple[int, int, bytes]]) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return int(sec * 1_000_000_000 + nsec)
    return time.time_ns()


def _tx_software_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The software stamp (the first of three timespecs) of an error-queue message, if any."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPING and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            if sec or nsec:
                return int(sec * 1_000_000_000 + nsec)
    return None


def _udp_payload(frame: bytes) -> bytes | None:
    """The NTP reply at the end of a looped-back frame (link, IP and UDP headers before it): 48
    bytes, or more with a MAC (a multiple of 4 bytes), found by the UDP header's length field just
    before it; nothing pads a frame that long. None if no length fits."""
    for size in range(NTP_HEADER_LEN, min(len(frame) - 8, RECV_BUFFER) + 1, 4):
        if _U16.unpack_from(frame, len(frame) - size - 4)[0] == size + 8:
            return frame[-size:]
    return None


def probe_sends_nothing(sock: socket.socket) -> bool:
    """Whether ``sendto(data, MSG_PROBE, addr)`` on this socket runs the send path without
    transmitting anything (Linux: "do not send, only probe path"). Checked by probing a socket of
    our own on the same address: nothing may arrive."""
    host = sock.getsockname()[0]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
    target = socket.socket(sock.family, socket.SOCK_DGRAM)
    try:
        target.bind((host, 0))
        target.setblocking(False)
        sock.sendto(bytes(48), MSG_PROBE, target.getsockname())
        time.sleep(0.01)  # a sent datagram would already be there (local delivery is synchronous)
        try:
            target.recv(64)
        except BlockingIOError:
            return True
        return False
    except OSError:
        return False
    finally:
        target.close()


class NtpUdpServer:
    def __init__(self, core: NtpServerCore, sockets: list[socket.socket], timemap: Callable[[], TimeMap]):
        self.core = core
        self.sockets = sockets
        self.timemap = timemap
        self.send_errors = 0
        self.internal_errors = 0
        self._last_tx_ns = 0  # the latest transmit timestamp, in served time
        self._rehearse = {s.fileno(): probe_sends_nothing(s) for s in sockets}
        self._last_reply_ns = 0
        self._busy_cpu_ns: dict[int, int] = {}  # thread CPU time at the start of a busy spell (_drain)
        self._wake_r, self._wake_w = os.pipe()
        self._watched: dict[int, Callable[[], None]] = {}
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

    def watch(self, fd: int, ready: Callable[[], None]) -> None:
        """Call ``ready`` from the serving loop whenever ``fd`` is readable or hung up (a serving
        worker's command pipe); ``ready`` may call ``finish`` to end ``serve_forever``."""
        self._watched[fd] = ready

    def finish(self) -> None:
        """End ``serve_forever`` after the current round (from the serving thread itself)."""
        self._stop = True

    def serve_forever(self) -> None:
        poller = select.poll()
        by_fd = {s.fileno(): s for s in self.sockets}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        for fd in (self._wake_r, *self._watched):
            poller.register(fd, select.POLLIN)
        while not self._stop:
            for fd, events in poller.poll(1000):
                sock = by_fd.get(fd)
                if sock is not None:
                    if events & select.POLLERR:
                        self._drain_tx_stamps(sock)
                    if events & select.POLLIN:
                        self._drain(sock)
                elif fd in self._watched:
                    self._watched[fd]()

    def _drain_tx_stamps(self, sock: socket.socket) -> None:
        """Kernel transmit timestamps of tracked replies, from the socket's error queue, to the core.
        The looped-back packet is the whole frame, which ends with the reply (``_udp_payload``)."""
        for _ in range(256):
            try:
                data, anc, _flags, _addr = sock.recvmsg(RECV_BUFFER, ERRQUEUE_CMSG_SPACE, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("reading transmit timestamps failed: %s", exc)
                return
            tx_system_ns = _tx_software_ns(anc)
            reply = _udp_payload(data)
            if tx_system_ns is not None and reply is not None:
                self.core.record_tx(reply, self.timemap().to_served_ns(tx_system_ns))

    def _drain(self, sock: socket.socket) -> None:
        core = self.core
        handle = core.handle
        fresh = core.fresh
        recvmsg = sock.recvmsg
        sendto = sock.sendto
        monotonic = time.monotonic
        time_ns = time.time_ns
        timemap = self.timemap
        pack_ts = _NTP_TS.pack
        fd = sock.fileno()
        rehearse = self._rehearse.get(fd, False)
        # How long a request waited *behind other requests* (``NtpServerCore.fresh``): the CPU
        # time this thread has spent since the start of this socket's busy spell, when it had
        # the first request of the spell in hand after having emptied the socket (unless the
        # previous drain stopped at its bound with requests left), and never more than the
        # request's own age. Time the thread could not run (another thread holding the
        # interpreter, another process on its CPU) is no CPU time of its own: it makes a request
        # old, not late. Taken after the first receive, not before it: the receive releases the
        # interpreter, and getting it back can take a switch interval (5 ms).
        thread_time_ns = time.thread_time_ns  # a system call: asked again only for a request past the limit
        limit_ns = core.max_request_age_ns if core.max_request_age_ns is not None else 1 << 62
        busy_cpu_ns = self._busy_cpu_ns.pop(fd, None)
        for _ in range(256):  # bounded, so that one busy socket cannot starve the others
            try:
                data, anc, _flags, addr = recvmsg(RECV_BUFFER, CMSG_SPACE)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("receive failed: %s", exc)
                return
            try:
                rx_system_ns = _rx_system_ns(anc)
                read_ns = time_ns()
                if busy_cpu_ns is None:
                    busy_cpu_ns = thread_time_ns()
                age_ns = read_ns - rx_system_ns
                behind_ns = age_ns if age_ns <= limit_ns else min(age_ns, thread_time_ns() - busy_cpu_ns)
                if not fresh(age_ns, behind_ns):
                    continue
                to_served_ns = timemap().to_served_ns
                result = handle(data, addr[0], addr[1], to_served_ns(rx_system_ns), monotonic())
                if isinstance(result, Drop):
                    continue
                if result.transmit_ntp is not None:  # a KoD: no time in it
                    packet = result.finish(0)
                else:
                    # The transmit timestamp, as late as possible: only an addition, the
                    # never-backward check, a shift, a division and a mask follow the clock read.
                    # `off` is served - system time (taken from the time map now; its rate term
                    # moves by rate x a few microseconds, far below 1 ns), so that
                    # ((system_ns + off + era) << 32) // 1e9 is ns_to_ntp(to_served_ns(system_ns)).
                    prefix = result.prefix
                    now_ns = time_ns()
                    off = to_served_ns(now_ns) - now_ns  # served - system
                    if rehearse and now_ns - self._last_reply_ns > REHEARSE_AFTER_IDLE_NS:
                        # Idle before this request, so the caches are cold: run the path from the
                        # clock read to the wire once without transmitting (MSG_PROBE), with the
                        # same expression and the same destination (see the module docstring).
                        packet = prefix + pack_ts((((time_ns() + off + _NTP_EPOCH_NS) << 32) // 1_000_000_000) & _U64)
                        try:
                            sendto(packet, MSG_PROBE, addr)
                        except OSError:
                            pass
                    self._last_reply_ns = now_ns
                    tx = time_ns() + off
                    # A map swapped in while this thread still held the old one can put a stamp a
                    # few us behind the previous one during a slew; transmit stamps never go back
                    # for that. (A real step before the node first served synchronized time is
                    # larger and passes.)
                    last = self._last_tx_ns
                    if last - MAX_SWAP_LAG_NS < tx <= last:
                        tx = last + 1
                    self._last_tx_ns = tx
                    packet = prefix + pack_ts((((tx + _NTP_EPOCH_NS) << 32) // 1_000_000_000) & _U64)
                    if result.sign is not None:  # an authenticated request: the MAC follows the stamp
                        packet = result.sign(packet)
            except Exception:  # the core should never raise; count it and keep serving
                self.internal_errors += 1
                log.exception("internal error while handling a datagram from %s", addr[0])
                continue
            try:
                if result.track_tx:
                    sock.sendmsg([packet], _TX_STAMP_CMSG, 0, addr)
                else:
                    sendto(packet, addr)
            except OSError:
                self.send_errors += 1
        if busy_cpu_ns is not None:
            self._busy_cpu_ns[fd] = busy_cpu_ns  # stopped at the bound: still behind
