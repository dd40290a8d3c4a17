"""Sans-I/O NTP server (RFC 5905): decides what to answer to one datagram.

The adapter (appliance.ntp.server) owns the socket. For each datagram it passes the bytes, the
client's address, the kernel receive timestamp already converted to served time and a monotonic
``now_s``; it gets back either a ``Reply`` (to be finished with a transmit timestamp taken as late
as possible) or a ``Drop`` naming the reason, which is also counted here.

What is answered: client mode (3) of versions 1-4, and NTPv1's mode 0 from a port other than 123
(NTPv1 had no mode field). Never answered: modes 1, 2, 4, 5, 6, 7, datagrams shorter than 48 bytes,
bad versions, malformed extension fields, requests carrying a MAC when no keys are configured
(``ntp.keyfile``), clients outside the allow list and clients over their rate. A request with a MAC
is answered signed with its key, or with a crypto-NAK when the key is unknown or the MAC is wrong.
A reply is 48 bytes plus the request's MAC length at most, so never larger than the request.

Interleaved mode (``interleave``): a client whose receive and transmit fields differ may be sent,
in its next reply, the kernel transmit timestamp of this one; signed replies take part alike.

Fast path: a bare 48-byte client request of version 1-4 (what chrony, ntpd and SNTP clients send)
is answered from the raw bytes, without building an ``NtpPacket``: for such a datagram ``parse``
has nothing to reject, so the decisions (access, rate limit, reply fields) are the same as on the
general path, which every other datagram takes. The reply header before the origin timestamp is
precomputed per server state, version and poll (``_reply_heads``).

Root dispersion is computed for the instant of each reply, as chrony does: the state carries the
error bound at one instant and the rate at which it grows (``ServerState.advertise``), so a reply
64 s after the last tick still carries an honest bound. The precomputed fields are rebuilt only
when the 16.16 value of the dispersion changes, which the serving thread finds with one
comparison per reply; past ``max_dispersion_s`` the node answers as unsynchronized.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from .access import AccessList
from .interleave import InterleaveTable
from .nts import NAK_KISS, NtsError, NtsServer, check_request, is_nts, nak_trailer
from .packet import (
    MAX_STRATUM,
    NTP_HEADER_LEN,
    Leap,
    Mode,
    NtpPacketError,
    ns_to_ntp,
    parse,
    seconds_to_short,
)
from .ratelimit import RateDecision, RateLimiter, client_key
from .symkey import CRYPTO_NAK, KeyRing

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
    "late",
    "nts_malformed",
    "nts_bad_cookie",
    "nts_bad_auth",
)

_PREFIX = struct.Struct("!BBbbII4sQQQ")  # header up to and including the receive timestamp
_HEAD = struct.Struct("!BBbbII4sQ")  # header up to and including the reference timestamp
_TAIL = struct.Struct("!bII4sQ")  # precision .. reference timestamp: bytes 3-23 of a reply
_TS = struct.Struct("!Q")
_pack_ts = _TS.pack
_NO_TS = bytes(8)  # a zero receive field: not interleaved (chronyd basic, SNTP); see core/ntp/interleave.py
# First octets (LI, VN, mode) of the requests the fast path takes: 48-byte client mode, version 1-4.
_FAST_LVM = frozenset((leap << 6) | (version << 3) | 3 for leap in range(4) for version in range(1, 5))
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
class Advertisement:
    """What one reply says about the server's clock (RFC 5905 7.3)."""

    synchronized: bool
    stratum: int
    leap: Leap
    ref_id: bytes
    root_delay_s: float
    root_dispersion_s: float


@dataclass(frozen=True)
class ServerState:
    """What the server tells clients about its clock; built by the node from its state.

    ``root_dispersion_s`` holds at ``dispersion_anchor_ns`` (served time) and grows at
    ``dispersion_rate`` (seconds per second) after it; beyond ``max_dispersion_s`` the server no
    longer claims to be synchronized."""

    synchronized: bool
    stratum: int = 1
    ref_id: bytes = b"PHC\x00"
    ref_time_ns: int = 0
    root_delay_s: float = 0.0
    root_dispersion_s: float = 0.0
    precision_log2: int = -20
    leap: Leap = Leap.NONE  # leap warning while synchronized (ADD_SECOND / DEL_SECOND)
    dispersion_anchor_ns: int = 0
    dispersion_rate: float = 0.0
    max_dispersion_s: float | None = None

    @classmethod
    def unsynchronized(cls, precision_log2: int = -20) -> ServerState:
        return cls(synchronized=False, precision_log2=precision_log2)

    def root_dispersion_at(self, instant_ns: int) -> float:
        elapsed_s = max(0, instant_ns - self.dispersion_anchor_ns) * 1e-9
        return self.root_dispersion_s + self.dispersion_rate * elapsed_s

    def synchronized_at(self, instant_ns: int) -> bool:
        limit = self.max_dispersion_s
        return self.synchronized and (limit is None or self.root_dispersion_at(instant_ns) <= limit)

    def advertise(self, instant_ns: int) -> Advertisement:
        """What a reply sent at ``instant_ns`` (served time) says: a pure function of the state."""
        if not self.synchronized_at(instant_ns):
            return Advertisement(
                False,
                MAX_STRATUM,
                Leap.UNSYNCHRONIZED,
                b"\x00\x00\x00\x00",
                self.root_delay_s,
                self.root_dispersion_at(instant_ns) if self.synchronized else 0.0,
            )
        return Advertisement(
            True, self.stratum, self.leap, self.ref_id, self.root_delay_s, self.root_dispersion_at(instant_ns)
        )

    def valid_until_ns(self, instant_ns: int) -> float:
        """The first instant after ``instant_ns`` at which a reply's fields differ (the 16.16
        dispersion ticks over, or the limit is passed); infinity when nothing grows."""
        if not self.synchronized or self.dispersion_rate <= 0:
            return math.inf
        now_s = self.root_dispersion_at(instant_ns)
        next_s = (seconds_to_short(now_s) + 1) / 65536
        if self.max_dispersion_s is not None and now_s <= self.max_dispersion_s < next_s:
            next_s = self.max_dispersion_s + 1e-12
        return max(instant_ns, self.dispersion_anchor_ns) + (next_s - now_s) / self.dispersion_rate * 1e9


class _Fields:
    """The reply fields of one state at one instant, valid until ``until_ns`` (served time)."""

    __slots__ = ("state", "until_ns", "header", "fast")

    def __init__(self, state: ServerState, instant_ns: int):
        self.state = state
        self.until_ns = state.valid_until_ns(instant_ns)
        a = state.advertise(instant_ns)
        self.header = (
            int(a.leap),
            a.stratum,
            state.precision_log2,
            seconds_to_short(a.root_delay_s),
            a.ref_id,
            seconds_to_short(a.root_dispersion_s) if a.synchronized else 0,
            ns_to_ntp(state.ref_time_ns) if state.ref_time_ns and a.synchronized else 0,
        )
        leap, stratum, precision, rdelay, ref_id, rdisp, ref_ts = self.header
        self.fast = (_reply_heads(leap, stratum), _TAIL.pack(precision, rdelay, rdisp, ref_id, ref_ts))


class Reply:
    """An answer waiting for its transmit timestamp (taken by the adapter just before sending).

    Immutable by convention; a slotted class rather than a frozen dataclass because one is built
    per answered request."""

    __slots__ = ("prefix", "transmit_ntp", "track_tx", "sign")

    def __init__(
        self,
        prefix: bytes,
        transmit_ntp: int | None = None,
        track_tx: bool = False,
        sign: Callable[[bytes], bytes] | None = None,
    ):
        self.prefix = prefix  # 40 bytes
        # Preset for KoD replies, which carry no time, and for interleaved replies, which carry the
        # kernel transmit timestamp of the previous reply.
        self.transmit_ntp = transmit_ntp
        # Whether the adapter should have the kernel timestamp this reply's transmission and
        # report it to the core's interleave table (``NtpServerCore.record_tx``).
        self.track_tx = track_tx
        self.sign = sign  # appends the MAC to the finished 48 bytes (authenticated requests only)

    def finish(self, transmit_ntp: int) -> bytes:
        ts = self.transmit_ntp if self.transmit_ntp is not None else transmit_ntp
        packet = self.prefix + _pack_ts(ts)
        return packet if self.sign is None else self.sign(packet)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Reply:
            return NotImplemented
        return (self.prefix, self.transmit_ntp, self.track_tx) == (other.prefix, other.transmit_ntp, other.track_tx)

    def __hash__(self) -> int:
        return hash((self.prefix, self.transmit_ntp, self.track_tx))

    def __repr__(self) -> str:
        return f"Reply(prefix={self.prefix!r}, transmit_ntp={self.transmit_ntp!r}, track_tx={self.track_tx!r})"


@dataclass(frozen=True)
class Drop:
    reason: str


_DROPS = {reason: Drop(reason) for reason in DROP_REASONS}  # immutable, so shared


@lru_cache(maxsize=16)
def _reply_heads(leap: int, stratum: int) -> tuple[bytes, ...]:
    """The first three octets of a reply (LI/VN/mode, stratum, poll), indexed by
    ``(version << 8) | poll octet of the request``; empty for versions that are never answered."""
    heads: list[bytes] = [b""] * (8 << 8)
    for version in range(1, 5):
        for raw_poll in range(256):
            poll = min(max(raw_poll - 256 if raw_poll > 127 else raw_poll, MIN_POLL), MAX_POLL)
            lvm = (leap << 6) | (version << 3) | Mode.SERVER
            heads[(version << 8) | raw_poll] = bytes((lvm, stratum, poll & 0xFF))
    return tuple(heads)


class NtpServerCore:
    def __init__(
        self,
        access: AccessList,
        ratelimit: RateLimiter | None = None,
        keys: KeyRing | None = None,
        interleave: InterleaveTable | None = None,
        max_request_age_ns: int | None = None,
        nts: NtsServer | None = None,
    ):
        self.access = access
        self.ratelimit = ratelimit
        self.keys = keys  # symmetric keys: requests with a MAC are dropped without them
        self.nts = nts  # NTS: requests with NTS fields are answered with NTS (else as basic requests)
        self.nts_answered = 0
        self.nts_naks = 0
        self.authenticated = 0
        self.crypto_naks = 0
        # A request that waited longer than this behind other requests (the server falling behind
        # its load) is dropped: under overload, answering stale requests only makes every answer
        # later. None: never. See ``fresh``.
        self.max_request_age_ns = max_request_age_ns
        self.queue_age_sum_ns = 0
        self.queue_age_count = 0
        self.queue_age_max_ns = 0
        # None: basic mode only (the adapter cannot take kernel transmit timestamps).
        self.interleave = interleave
        self.received = 0
        self.answered = 0
        self.interleaved = 0
        self.kod_sent = 0
        self.dropped: Counter[str] = Counter({r: 0 for r in DROP_REASONS})
        self._state = ServerState.unsynchronized()
        self._cur = _Fields(self._state, 0)

    @property
    def state(self) -> ServerState:
        return self._state

    def set_state(self, state: ServerState) -> None:
        # Only the state is swapped here; the serving thread rebuilds its fields when it sees a new
        # state (or when the dispersion ticks over), so it never mixes the old and the new.
        self._state = state

    def _fields_at(self, instant_ns: int) -> _Fields:
        cur = self._cur
        state = self._state
        if cur.state is not state or instant_ns >= cur.until_ns:
            cur = self._cur = _Fields(state, instant_ns)
        return cur

    def counters(self) -> dict[str, object]:
        return {
            "received": self.received,
            "answered": self.answered,
            "kod_sent": self.kod_sent,
            "interleaved": self.interleaved,
            "queue_age_sum_s": self.queue_age_sum_ns * 1e-9,
            "queue_age_count": self.queue_age_count,
            "queue_age_max_s": self.queue_age_max_ns * 1e-9,
            "dropped": dict(self.dropped),
        }

    def _drop(self, reason: str) -> Drop:
        self.dropped[reason] += 1
        return _DROPS[reason]

    def fresh(self, age_ns: int, behind_ns: int | None = None) -> bool:
        """Whether a request is still worth answering. ``age_ns``: how long it waited in the socket
        (from its kernel receive timestamp), recorded as the queue age; ``behind_ns``: how much of
        that it waited while the server was busy answering others (the adapter counts its serving
        thread's CPU time since its current busy spell began), ``age_ns`` if not given.

        Only ``behind_ns`` is held against the limit. Time the serving thread could not run at all
        (another thread holding the interpreter, the process descheduled) makes a request old, not
        late: its reply is as accurate as any (the client removes the server's holding time from
        the delay, and the timestamps are the kernel's and the last instant's), and its client is
        still waiting. A late one is counted as received and dropped ("late")."""
        self.queue_age_sum_ns += age_ns
        self.queue_age_count += 1
        if age_ns > self.queue_age_max_ns:
            self.queue_age_max_ns = age_ns
        limit = self.max_request_age_ns
        if limit is not None and (age_ns if behind_ns is None else behind_ns) > limit:
            self.received += 1
            self.dropped["late"] += 1
            return False
        return True

    def handle(self, data: bytes, client_ip: str, client_port: int, rx_ns: int, now_s: float) -> Reply | Drop:
        self.received += 1
        if len(data) == NTP_HEADER_LEN and data[0] in _FAST_LVM:
            # Fast path (see the module docstring): the same checks as below, in the same order.
            if not self.access.permits(client_ip):
                return self._drop("denied")
            if self.ratelimit is not None:
                verdict = self.ratelimit.check(client_key(client_ip), now_s)
                if verdict is not RateDecision.ALLOW:
                    raw_poll = data[2]
                    poll = min(max(raw_poll - 256 if raw_poll > 127 else raw_poll, MIN_POLL), MAX_POLL)
                    return self._limited(verdict, (data[0] >> 3) & 7, poll, _TS.unpack_from(data, 40)[0])
            heads, tail = self._fields_at(rx_ns).fast
            head = heads[((data[0] & 0x38) << 5) | data[2]]  # (version << 8) | poll octet
            if head is not None:  # always, for the versions in _FAST_LVM
                self.answered += 1
                if self.interleave is not None and data[32:40] != _NO_TS and data[32:40] != data[40:48]:
                    return self._interleaved(data, head + tail, rx_ns)
                return Reply(head + tail + data[40:48] + _pack_ts(ns_to_ntp(rx_ns)))
        return self._handle_general(data, client_ip, client_port, rx_ns, now_s)

    def _interleaved(self, data: bytes, head: bytes, rx_ns: int, sign: Callable[[bytes], bytes] | None = None) -> Reply:
        assert self.interleave is not None
        reply = _interleaved_reply(self.interleave, data, head, rx_ns, sign)
        self.interleaved += reply.transmit_ntp is not None
        return reply

    def record_tx(self, reply: bytes, tx_ns: int) -> None:
        """The kernel's transmit timestamp (served time) of a tracked reply, as the adapter got it."""
        if self.interleave is not None and len(reply) >= NTP_HEADER_LEN:
            self.interleave.record(_TS.unpack_from(reply, 32)[0], ns_to_ntp(tx_ns))

    def _handle_general(self, data: bytes, client_ip: str, client_port: int, rx_ns: int, now_s: float) -> Reply | Drop:
        """Every datagram the fast path does not take (and, in the tests, any datagram: both paths
        must decide alike). Does not count ``received``."""
        try:
            pkt = parse(data)
        except NtpPacketError as exc:
            return self._drop(exc.reason)
        mode = pkt.mode
        if mode == Mode.RESERVED and pkt.version == 1 and client_port != NTP_PORT:
            mode = Mode.CLIENT
        if mode != Mode.CLIENT:
            return self._drop(_MODE_REASON[Mode(mode)])
        sign = None
        if pkt.mac:
            if self.keys is None:
                return self._drop("authenticated")
            sign = self._signer(data, pkt.mac)
        if not self.access.permits(client_ip):
            return self._drop("denied")
        poll = min(max(pkt.poll, MIN_POLL), MAX_POLL)
        if self.ratelimit is not None:
            verdict = self.ratelimit.check(client_key(client_ip), now_s)
            if verdict is not RateDecision.ALLOW:
                return self._limited(verdict, pkt.version, poll, pkt.transmit_ts)
        if self.nts is not None and sign is None and is_nts(pkt):
            try:
                req = check_request(data, pkt, self.nts.keys)
            except NtsError as exc:
                if not exc.nak or exc.unique_id is None:
                    return self._drop(exc.reason)
                self.dropped[exc.reason] += 1
                self.nts_naks += 1
                uid = exc.unique_id
                return _kiss(
                    pkt.version,
                    poll,
                    self._state.precision_log2,
                    pkt.transmit_ts,
                    NAK_KISS,
                    lambda p: p + nak_trailer(uid),
                )
            sign = self.nts.signer(len(data), req)
            self.nts_answered += 1
        leap, stratum, precision, rdelay, ref_id, rdisp, ref_ts = self._fields_at(rx_ns).header
        head = _HEAD.pack(
            (leap << 6) | (pkt.version << 3) | Mode.SERVER,
            stratum,
            poll,
            precision,
            rdelay,
            rdisp,
            ref_id,
            ref_ts,
        )
        self.answered += 1
        # An authenticated client may use interleaved mode too (chronyd's 'key N xleave'); a
        # crypto-NAK carries no usable time, so it is neither interleaved nor tracked.
        if self.interleave is not None and 0 != pkt.receive_ts != pkt.transmit_ts and sign is not _crypto_nak:
            return self._interleaved(data, head, rx_ns, sign)
        return Reply(head + _pack_ts(pkt.transmit_ts) + _pack_ts(ns_to_ntp(rx_ns)), sign=sign)

    def _signer(self, data: bytes, mac: bytes) -> Callable[[bytes], bytes]:
        """The reply's MAC: the request's key if its MAC verifies, else a crypto-NAK, which
        carries no digest and so tells an unauthenticated sender nothing about a key."""
        assert self.keys is not None
        key = self.keys.check(data[: len(data) - len(mac)], mac)
        if key is None:
            self.crypto_naks += 1
            return _crypto_nak
        self.authenticated += 1
        return lambda packet: packet + key.mac(packet)

    def _limited(self, verdict: RateDecision, version: int, poll: int, client_transmit: int) -> Reply | Drop:
        self.dropped["ratelimited"] += 1
        if verdict is RateDecision.DROP:
            return _DROPS["ratelimited"]
        self.kod_sent += 1
        return _kiss(version, poll, self._state.precision_log2, client_transmit)


def _kiss(
    version: int,
    poll: int,
    precision_log2: int,
    client_transmit: int,
    code: bytes = b"RATE",
    sign: Callable[[bytes], bytes] | None = None,
) -> Reply:
    """Kiss-o'-Death (RFC 5905 section 7.4): stratum 0, leap 3, no time information; RATE, or
    NTSN (an NTS NAK, whose ``sign`` appends the request's Unique Identifier)."""
    prefix = _PREFIX.pack(
        (int(Leap.UNSYNCHRONIZED) << 6) | (version << 3) | Mode.SERVER,
        0,
        poll,
        precision_log2,
        0,
        0,
        code,
        0,
        client_transmit,
        client_transmit,
    )
    return Reply(prefix, transmit_ntp=client_transmit, sign=sign)


def _interleaved_reply(
    table: InterleaveTable, data: bytes, head: bytes, rx_ns: int, sign: Callable[[bytes], bytes] | None
) -> Reply:
    """A reply to a client that may use interleaved mode (see ``interleave``): interleaved (its
    transmit timestamp preset to the previous reply's) if the request names a tracked reply, basic
    otherwise; tracked either way. ``head`` is the reply up to its reference timestamp (24 bytes)."""
    previous_tx = table.take(_TS.unpack_from(data, 24)[0])
    rx = _pack_ts(ns_to_ntp(rx_ns))
    if previous_tx is None:
        return Reply(head + data[40:48] + rx, track_tx=True, sign=sign)
    return Reply(head + data[32:40] + rx, transmit_ntp=previous_tx, track_tx=True, sign=sign)


def _crypto_nak(packet: bytes) -> bytes:
    return packet + CRYPTO_NAK
