"""Interleaved server mode (client/server, as chronyd answers clients configured with ``xleave``).

A reply's transmit timestamp is best taken by the kernel as the packet leaves (SO_TIMESTAMPING),
which is known only after the reply is sent. In interleaved mode the server therefore sends, in
its next reply to the same client, the kernel transmit timestamp of the previous one. The client
names that previous reply by copying its receive timestamp into the origin field of its request.

What chronyd does, and what is done here:

* The table maps the receive timestamp (NTP format) of each tracked reply to its kernel transmit
  timestamp. Only replies to requests whose receive field is non-zero and differs from the
  transmit field are tracked: chronyd in basic mode (4.3, seen on the wire), SNTP clients and
  systemd-timesyncd send a zero receive field, so a server can tell they will never ask.
* A request is answered interleaved when its origin is non-zero, its receive and transmit fields
  differ and its origin is a key of the table. The entry is used once: a client whose previous
  reply was lost sends the origin of an older reply, already used, and gets a basic reply.
* In an interleaved reply the origin is the request's receive field, the receive timestamp is
  this request's and the transmit timestamp is the previous reply's.
* The table is bounded (chronyd's ``clientloglimit``): when full, the oldest entry goes, and a
  client whose entry went gets a basic reply.
"""

from __future__ import annotations

DEFAULT_LIMIT = 65_536


class InterleaveTable:
    """Receive timestamp of a reply -> kernel transmit timestamp of that reply (both NTP format).

    Pure: the adapter reports transmit timestamps with ``record`` as the kernel hands them back;
    the core asks with ``take``. A dict keeps insertion order, so the oldest entry is the first."""

    __slots__ = ("limit", "_tx_by_rx", "evicted")

    def __init__(self, limit: int = DEFAULT_LIMIT):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._tx_by_rx: dict[int, int] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._tx_by_rx)

    def record(self, rx_ntp: int, tx_ntp: int) -> None:
        table = self._tx_by_rx
        if rx_ntp in table:
            del table[rx_ntp]  # re-inserted as the newest
        table[rx_ntp] = tx_ntp
        while len(table) > self.limit:
            del table[next(iter(table))]
            self.evicted += 1

    def take(self, origin_ntp: int) -> int | None:
        """The transmit timestamp of the reply received at ``origin_ntp``, once; None if unknown."""
        if not origin_ntp:
            return None
        return self._tx_by_rx.pop(origin_ntp, None)


def wants_tracking(request: bytes) -> bool:
    """Whether a 48-byte client request may be followed by an interleaved one: its receive field
    is set and differs from its transmit field (chronyd in basic mode and SNTP clients send zero)."""
    return request[32:40] != bytes(8) and request[32:40] != request[40:48]
