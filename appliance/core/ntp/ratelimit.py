"""Per-client token-bucket rate limiting for the NTP server. Pure: time comes in as an argument.

Each client key (an IPv4 address, or the /64 prefix of an IPv6 address so that one host cannot
dodge the limit by rotating addresses) owns a bucket of ``burst`` tokens that refills one token
every ``interval_s``. A request takes a token; with none left it is dropped, and when Kiss-o'-Death
is enabled at most one RATE KoD per ``interval_s`` is sent to that client (so the KoDs cannot be
used as a reflection amplifier). The table is bounded: idle clients are forgotten first.
"""

from __future__ import annotations

from enum import Enum

DEFAULT_MAX_CLIENTS = 65536


class RateDecision(Enum):
    ALLOW = "allow"
    DROP = "drop"
    KOD = "kod"


class RateLimiter:
    __slots__ = ("interval_s", "burst", "kod", "max_clients", "_table")

    def __init__(self, interval_s: float, burst: int, kod: bool, max_clients: int = DEFAULT_MAX_CLIENTS):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.interval_s = float(interval_s)
        self.burst = int(burst)
        self.kod = kod
        self.max_clients = max_clients
        # key -> [tokens, last_refill_s, last_kod_s]
        self._table: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self._table)

    def check(self, key: str, now_s: float) -> RateDecision:
        entry = self._table.get(key)
        if entry is None:
            if len(self._table) >= self.max_clients:
                self._prune(now_s)
            self._table[key] = [self.burst - 1.0, now_s, -1e18]
            return RateDecision.ALLOW
        tokens = entry[0] + (now_s - entry[1]) / self.interval_s
        if tokens > self.burst:
            tokens = float(self.burst)
        entry[1] = now_s
        if tokens >= 1.0:
            entry[0] = tokens - 1.0
            return RateDecision.ALLOW
        entry[0] = tokens
        if self.kod and now_s - entry[2] >= self.interval_s:
            entry[2] = now_s
            return RateDecision.KOD
        return RateDecision.DROP

    def _prune(self, now_s: float) -> None:
        """Forget clients whose bucket would be full again (they lose nothing), then the oldest."""
        full_after_s = self.burst * self.interval_s
        table = self._table
        for key in [k for k, e in table.items() if now_s - e[1] >= full_after_s]:
            del table[key]
        if len(table) >= self.max_clients:
            for key in list(table)[: len(table) - self.max_clients // 2]:
                del table[key]


def client_key(ip: str) -> str:
    """The rate-limit key of a client address: IPv4 as is, IPv6 by its /64 prefix."""
    if ":" not in ip:
        return ip
    if ip.startswith("::ffff:") and "." in ip:
        return ip[7:]
    import ipaddress  # only on the IPv6 path

    net = ipaddress.IPv6Network((ip.split("%", 1)[0], 64), strict=False)
    return str(net.network_address) + "/64"
