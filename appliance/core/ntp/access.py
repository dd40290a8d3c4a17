"""Allow/deny networks for NTP clients, with chrony's semantics: nothing is allowed unless listed,
the most specific matching network decides, and on equal specificity deny wins."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_CACHE_MAX = 4096


class AccessList:
    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()):
        self._rules: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, bool]] = []
        for text, allowed in [(a, True) for a in allow] + [(d, False) for d in deny]:
            for net in parse_networks(text):
                self._rules.append((net, allowed))
        # Longest prefix first; deny before allow at equal length.
        self._rules.sort(key=lambda r: (-r[0].prefixlen, r[1]))
        self._cache: dict[str, bool] = {}

    @property
    def empty(self) -> bool:
        return not any(allowed for _, allowed in self._rules)

    def permits(self, ip: str) -> bool:
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        verdict = False
        for net, allowed in self._rules:
            if addr.version == net.version and addr in net:
                verdict = allowed
                break
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[ip] = verdict
        return verdict


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """'10.0.0.0/24', '10.0.0.5' or 'all' (every IPv4 and IPv6 address) -> networks.

    ValueError names the bad text."""
    if text == "all":
        return [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    try:
        return [ipaddress.ip_network(text, strict=False)]
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an address or network ({exc})") from None
