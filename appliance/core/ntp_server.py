"""Sans-I/O NTP server (RFC 5905): decides what to answer to one datagram.

The adapter (appliance.ntp.server) owns the socket. For each datagram it passes the bytes, the
client's address, the kernel receive timestamp already converted to served time and a monotonic
``now_s``; it gets back either a ``Reply`` (to be finished with a transmit timestamp taken as late
as possible) or a ``Drop`` naming the reason, which is also counted here.

What is answered: client mode (3) of versions 1-4, and NTPv1's mode 0 from a port other than 123
(NTPv1 had no mode field). Never answered: modes 1, 2, 4, 5, 6, 7, datagrams shorter than 48 bytes,
bad versions, malformed extension fields, requests carrying a MAC (no keys are configured, so they
cannot be authenticated), clients outside the allow list and clients over their rate.
A reply is always 48 bytes, so never larger than the request.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass

from .access import AccessList
from .ntp_packet import (
    MAX_STRATUM,
    Leap,
    Mode,
    NtpPacketError,
    ns_to_ntp,
    parse,
    seconds_to_short,
)
from .ratelimit import RateLimiter, Verdict, client_key

NTP_PORT = 123
MIN_POLL = -6
MAX_POLL = 17

# Every reason a datagram can be dropped for: the counter labels (bounded, never per client).
DROP_REASONS = (
    "short",
    "oversized",
    "bad_version",
    "bad_extension",
    "mode_reserved",
    "mode_symmetric_active",
    "mode_symmetric_passive",
    "mode_server",
    "mode_broadcast",
    "mode_control",
    "mode_private",
    "authenticated",
    "denied",
    "ratelimited",
)

_PREFIX = struct.Struct("!BBbbII4sQQQ")  # header up to and including the receive timestamp
_TS = struct.Struct("!Q")
_MODE_REASON = {
    Mode.RESERVED: "mode_reserved",
    Mode.SYMMETRIC_ACTIVE: "mode_symmetric_active",
    Mode.SYMMETRIC_PASSIVE: "mode_symmetric_passive",
    Mode.SERVER: "mode_server",
    Mode.BROADCAST: "mode_broadcast",
    Mode.CONTROL: "mode_control",
    Mode.PRIVATE: "mode_private",
}


@dataclass(frozen=True)
class ServerState:
    """What the server tells clients about its clock. Built by the service from the clock state."""

    synchronized: bool
    stratum: int = 1
    ref_id: bytes = b"PHC\x00"
    ref_time_ns: int = 0
    root_delay_s: float = 0.0
    root_dispersion_s: float = 0.0
    precision_log2: int = -20
    leap: Leap = Leap.NONE  # leap warning while synchronized (ADD_SECOND / DEL_SECOND)

    @classmethod
    def unsynchronized(cls, precision_log2: int = -20) -> ServerState:
        return cls(synchronized=False, precision_log2=precision_log2)


@dataclass(frozen=True)
class Reply:
    """An answer waiting for its transmit timestamp (taken by the adapter just before sending)."""

    prefix: bytes  # 40 bytes
    transmit_ntp: int | None = None  # preset for KoD replies, which carry no time

    def finish(self, transmit_ntp: int) -> bytes:
        ts = self.transmit_ntp if self.transmit_ntp is not None else transmit_ntp
        return self.prefix + _TS.pack(ts)


@dataclass(frozen=True)
class Drop:
    reason: str


class NtpServerCore:
    def __init__(self, access: AccessList, ratelimit: RateLimiter | None = None):
        self.access = access
        self.ratelimit = ratelimit
        self.received = 0
        self.answered = 0
        self.kod_sent = 0
        self.dropped: Counter[str] = Counter({r: 0 for r in DROP_REASONS})
        self._state = ServerState.unsynchronized()
        self._fields = self._header_fields(self._state)

    @property
    def state(self) -> ServerState:
        return self._state

    def set_state(self, state: ServerState) -> None:
        # One tuple swap: the serving thread sees either the old or the new fields, never a mix.
        self._fields = self._header_fields(state)
        self._state = state

    @staticmethod
    def _header_fields(s: ServerState) -> tuple[int, int, int, int, bytes, int, int]:
        if s.synchronized:
            leap, stratum, ref_id = int(s.leap), s.stratum, s.ref_id
        else:
            leap, stratum, ref_id = int(Leap.UNSYNCHRONIZED), MAX_STRATUM, b"\x00\x00\x00\x00"
        return (
            leap,
            stratum,
            s.precision_log2,
            seconds_to_short(s.root_delay_s),
            ref_id,
            seconds_to_short(s.root_dispersion_s),
            ns_to_ntp(s.ref_time_ns) if s.ref_time_ns else 0,
        )

    def counters(self) -> dict:
        return {
            "received": self.received,
            "answered": self.answered,
            "kod_sent": self.kod_sent,
            "dropped": dict(self.dropped),
        }

    def _drop(self, reason: str) -> Drop:
        self.dropped[reason] += 1
        return Drop(reason)

    def handle(self, data: bytes, client_ip: str, client_port: int, rx_ns: int, now_s: float) -> Reply | Drop:
        self.received += 1
        try:
            pkt = parse(data)
        except NtpPacketError as exc:
            return self._drop(exc.reason)
        mode = pkt.mode
        if mode == Mode.RESERVED and pkt.version == 1 and client_port != NTP_PORT:
            mode = Mode.CLIENT
        if mode != Mode.CLIENT:
            return self._drop(_MODE_REASON[Mode(mode)])
        if pkt.mac:
            return self._drop("authenticated")
        if not self.access.permits(client_ip):
            return self._drop("denied")
        poll = min(max(pkt.poll, MIN_POLL), MAX_POLL)
        if self.ratelimit is not None:
            verdict = self.ratelimit.check(client_key(client_ip), now_s)
            if verdict is not Verdict.ALLOW:
                self.dropped["ratelimited"] += 1
                if verdict is Verdict.DROP:
                    return Drop("ratelimited")
                self.kod_sent += 1
                return self._kiss(pkt.version, poll, pkt.transmit_ts)
        leap, stratum, precision, rdelay, ref_id, rdisp, ref_ts = self._fields
        prefix = _PREFIX.pack(
            (leap << 6) | (pkt.version << 3) | Mode.SERVER,
            stratum,
            poll,
            precision,
            rdelay,
            rdisp,
            ref_id,
            ref_ts,
            pkt.transmit_ts,
            ns_to_ntp(rx_ns),
        )
        self.answered += 1
        return Reply(prefix)

    def _kiss(self, version: int, poll: int, client_transmit: int) -> Reply:
        """RATE Kiss-o'-Death (RFC 5905 section 7.4): stratum 0, leap 3, no time information."""
        prefix = _PREFIX.pack(
            (int(Leap.UNSYNCHRONIZED) << 6) | (version << 3) | Mode.SERVER,
            0,
            poll,
            self._fields[2],
            0,
            0,
            b"RATE",
            0,
            client_transmit,
            client_transmit,
        )
        return Reply(prefix, transmit_ntp=client_transmit)
