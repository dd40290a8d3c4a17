"""Peer polling: this node queries the other control nodes over NTP (RFC 5905 client mode).

Its own UDP sockets (one per address family, ephemeral port) and its own thread. Every
``interval_s`` one client packet goes to each peer; its transmit timestamp is a random cookie (as
chrony does), matched against the reply's origin timestamp, so stray, late or duplicated replies
are dropped. T1 is read from the system clock just before ``sendto``, T4 is the kernel receive
timestamp (SO_TIMESTAMPNS); both go through the node's time map into its *clock* domain, and each
answer becomes one sample of the peer's clock filter (appliance.core.ntp.clockfilter). The packet codec
is appliance.core.ntp.packet; nothing here decides anything.

With a key (cluster.crosscheck.key, one of ntp.keyfile's), each query carries its MAC and an
answer counts only if it carries a valid MAC by the same key: an answer without one, with a bad
one or a crypto-NAK is counted as ``unauthenticated`` and never reaches the filter, so whoever
answers in a control node's name without the key cannot move the vote.

Sign convention: offset_s = local - peer.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..addresses import parse_hostport
from ..core.clock.timemap import TimeMap
from ..core.ntp.clockfilter import ClockFilter, PeerEstimate, PeerSample, client_sample
from ..core.ntp.packet import Mode, NtpPacket, NtpPacketError, parse
from ..core.ntp.symkey import SymmetricKey
from .server import CMSG_SPACE, RECV_BUFFER, SO_TIMESTAMPNS, _rx_system_ns

log = logging.getLogger("appliance.peers")

REACH_BITS = 8
RESOLVE_RETRY_POLLS = 8  # re-resolve a name after this many unanswered polls


@dataclass
class Peer:
    name: str
    address: str  # as configured: host or host:port
    host: str
    port: int
    sockaddr: tuple | None = None
    family: int | None = None
    reach: int = 0  # shift register: bit 0 = the latest poll was answered
    unanswered: int = 0
    sent: int = 0
    received: int = 0
    bad: int = 0  # malformed or unexpected replies
    unauthenticated: int = 0  # answers without a valid MAC by the crosscheck key (with a key only)
    last_error: str | None = None
    last: PeerSample | None = None
    filter: ClockFilter = field(default_factory=ClockFilter)
    outstanding: dict = field(default_factory=dict)  # cookie -> system ns at send


class PeerPoller:
    def __init__(
        self,
        peers: list[tuple[str, str]],
        clock_map: Callable[[], TimeMap],
        interval_s: float = 2.0,
        window: int = 4,
        timeout_s: float | None = None,
        key: SymmetricKey | None = None,
    ):
        self.key = key
        self.interval_s = interval_s
        self.timeout_s = timeout_s if timeout_s is not None else min(1.0, interval_s)
        max_age = max(window * interval_s * 2, 4 * interval_s)
        self.peers: list[Peer] = []
        for name, address in peers:
            host, port = parse_hostport(address, default_port=123)
            self.peers.append(Peer(name, address, host, port, filter=ClockFilter(window, max_age)))
        self.clock_map = clock_map
        self._lock = threading.Lock()
        self._socks: dict[int, socket.socket] = {}
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="peer-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stop:
            return
        self._stop = True
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for s in self._socks.values():
            s.close()
        self._socks.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- what the service reads ----------------------------------------------------------------
    def estimates(self, now_s: float) -> dict[str, PeerEstimate | None]:
        out: dict[str, PeerEstimate | None] = {}
        with self._lock:
            for p in self.peers:
                est = p.filter.estimate(now_s)
                if est is not None and p.last is not None:  # fitness follows the latest answer
                    est = replace(est, leap=p.last.leap, stratum=p.last.stratum, ref_id=p.last.ref_id)
                out[p.name] = est
        return out

    def rebase(self, shift_ns: int, publish: Callable[[], None]) -> None:
        """Publish a new time map (``publish``) and, where the local clock was stepped by shift_ns,
        move the stored samples with it, both under the lock that converting a reply takes: no
        sample is converted through the old map and then shifted, or the reverse."""
        with self._lock:
            publish()
            if shift_ns:
                for p in self.peers:
                    p.filter.shift(shift_ns * 1e-9)

    def reachable(self, peer: Peer) -> bool:
        return bool(peer.reach & 0x0F)  # answered at least one of the last four polls

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "name": p.name,
                    "address": p.address,
                    "reach": p.reach,
                    "reachable": self.reachable(p),
                    "sent": p.sent,
                    "received": p.received,
                    "bad": p.bad,
                    "authenticated": self.key is not None,
                    "unauthenticated": p.unauthenticated,
                    "last_error": p.last_error,
                    "leap": p.last.leap if p.last else None,
                    "stratum": p.last.stratum if p.last else None,
                    "root_dispersion_s": p.last.root_dispersion_s if p.last else None,
                }
                for p in self.peers
            ]

    # -- the polling thread --------------------------------------------------------------------
    def _socket(self, family: int) -> socket.socket:
        s = self._socks.get(family)
        if s is None:
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            s.setblocking(False)
            self._socks[family] = s
        return s

    def _resolve(self, peer: Peer) -> tuple[int, tuple] | None:
        """The peer's address family and socket address: the last ones, resolved again after
        RESOLVE_RETRY_POLLS unanswered polls; None while the name has never resolved."""
        known = None if peer.family is None or peer.sockaddr is None else (peer.family, peer.sockaddr)
        if known is not None and peer.unanswered < RESOLVE_RETRY_POLLS:
            return known
        try:
            infos = socket.getaddrinfo(peer.host, peer.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            peer.last_error = f"cannot resolve {peer.host}: {exc.strerror}"
            return known
        family, _, _, _, sockaddr = infos[0]
        peer.family, peer.sockaddr = family, sockaddr
        return family, sockaddr

    def _run(self) -> None:
        next_poll = time.monotonic()
        while not self._stop:
            now = time.monotonic()
            if now >= next_poll:
                next_poll = max(next_poll + self.interval_s, now)
                for peer in self.peers:
                    self._send(peer)
            wait = max(0.0, min(next_poll - time.monotonic(), self.interval_s))
            fds = [s.fileno() for s in self._socks.values()] + [self._wake_r]
            try:
                ready, _, _ = select.select(fds, [], [], wait)
            except OSError:
                return
            for s in list(self._socks.values()):
                if s.fileno() in ready:
                    self._drain(s)

    def _send(self, peer: Peer) -> None:
        with self._lock:
            peer.reach = (peer.reach << 1) & ((1 << REACH_BITS) - 1)
            if peer.outstanding:
                peer.unanswered += 1
            peer.outstanding.clear()  # a reply to an older poll is too late to be useful
        target = self._resolve(peer)
        if target is None:
            return
        family, sockaddr = target
        cookie = secrets.randbits(64)
        request = query(cookie, self.key)
        try:
            sock = self._socket(family)
            t1 = time.time_ns()
            sock.sendto(request, sockaddr)
        except OSError as exc:
            peer.last_error = f"send to {peer.address}: {exc.strerror or exc}"
            return
        with self._lock:
            peer.outstanding[cookie] = t1
            peer.sent += 1

    def _drain(self, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                data, anc, _flags, addr = sock.recvmsg(RECV_BUFFER, CMSG_SPACE)
            except BlockingIOError:
                return
            except OSError as exc:
                log.debug("peer receive failed: %s", exc)
                return
            self._handle(data, _rx_system_ns(anc), addr)

    def _handle(self, data: bytes, t4_sys: int, addr) -> None:
        peer = next((p for p in self.peers if p.sockaddr and p.sockaddr[:2] == addr[:2]), None)
        if peer is None:
            return
        try:
            pkt = parse(data)
        except NtpPacketError:
            peer.bad += 1
            return
        with self._lock:
            if pkt.mode != Mode.SERVER or pkt.origin_ts not in peer.outstanding:
                peer.bad += 1
                return
            if self.key is not None and not _signed_by(self.key, data, pkt.mac):
                # not taken off the outstanding polls: a forger that races the peer's answer
                # must not make the real, signed answer arrive "too late"
                peer.unauthenticated += 1
                peer.last_error = "answer not signed with cluster.crosscheck.key (no MAC, bad MAC or crypto-NAK)"
                return
            t1_sys = peer.outstanding.pop(pkt.origin_ts)
            if (t4_sys - t1_sys) > self.timeout_s * 1e9:
                return
            tmap = self.clock_map()
            sample = client_sample(pkt, tmap.to_clock_ns(t1_sys), tmap.to_clock_ns(t4_sys), time.monotonic())
            peer.last = sample
            peer.reach |= 1
            peer.received += 1
            peer.unanswered = 0
            if sample.leap == 3 and not math.isfinite(sample.offset_s):
                return  # a Kiss-o'-Death or no time at all: it answered, but says nothing usable
            peer.filter.add(sample)
            peer.last_error = None


def _signed_by(key: SymmetricKey, data: bytes, mac: bytes) -> bool:
    if len(mac) < 4 + 16 or mac[:4] != key.key_id.to_bytes(4, "big"):
        return False
    return hmac.compare_digest(key.mac(data[: len(data) - len(mac)]), mac)


def query(cookie: int, key: SymmetricKey | None) -> bytes:
    """One client-mode request whose transmit timestamp is ``cookie``, signed with ``key`` if any."""
    request = NtpPacket(
        leap=0,
        version=4,
        mode=Mode.CLIENT,
        stratum=0,
        poll=0,
        precision=-20,
        root_delay=0,
        root_dispersion=0,
        ref_id=b"\x00" * 4,
        ref_ts=0,
        origin_ts=0,
        receive_ts=0,
        transmit_ts=cookie,
    ).encode()
    return request if key is None else request + key.mac(request)
