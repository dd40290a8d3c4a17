"""SIGHUP: what a validated new configuration changes in a running node.

The NTP access rules and the rate limit take effect at once (the NTP thread reads them per
datagram, and each is replaced whole). Everything else (listen addresses, the clock, PTP, the
cluster) is fixed when the node starts: those keys are named back, and keep their running values
until a restart.
"""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..core.ntp.access import AccessList
from ..core.ntp.answer import NtpServerCore
from ..core.ntp.ratelimit import RateLimiter
from ..core.ntp.symkey import KeyfileError, KeyRing, parse_keyfile


def ntp_policy(cfg: Config) -> tuple[AccessList, RateLimiter | None]:
    rl = cfg.ntp.ratelimit
    return AccessList(cfg.ntp.allow, cfg.ntp.deny), (RateLimiter(rl.interval_s, rl.burst, rl.kod) if rl else None)


def ntp_keys(cfg: Config) -> KeyRing | None:
    """The symmetric keys of ntp.keyfile, or None. Raises ValueError naming ntp.keyfile."""
    path = cfg.ntp.keyfile
    if path is None:
        return None
    try:
        return KeyRing(parse_keyfile(path.read_text(), str(path)))
    except (OSError, KeyfileError) as exc:
        raise ValueError(f"ntp.keyfile: {exc}") from exc


def serving_core(cfg: Config, keys: KeyRing | None, nts: Any = None) -> NtpServerCore:
    """An NTP server core with the configuration's policy: access list, a fresh rate limiter and
    interleave table, the request age limit (the node's own, and each serving worker's)."""
    from ..core.ntp.interleave import InterleaveTable

    limit = cfg.ntp.interleave_limit
    return NtpServerCore(
        *ntp_policy(cfg),
        keys=keys,
        interleave=InterleaveTable(limit) if limit else None,
        max_request_age_ns=round(cfg.ntp.max_request_age_ms * 1e6),
        nts=nts,
    )


def changed_keys(a: Any, b: Any, prefix: str = "") -> set[str]:
    """The dotted keys whose values differ between two dumped configurations."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= changed_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


def apply(running: Config, new: Config, core: NtpServerCore) -> tuple[Config, list[str]]:
    """(the configuration now in effect, the changed keys that need a restart)."""
    changed = sorted(changed_keys(running.model_dump(mode="json"), new.model_dump(mode="json")))
    live = [k for k in changed if k in ("ntp.allow", "ntp.deny") or k.startswith("ntp.ratelimit")]
    core.access, core.ratelimit = ntp_policy(new)
    ntp = running.ntp.model_copy(update={"allow": new.ntp.allow, "deny": new.ntp.deny, "ratelimit": new.ntp.ratelimit})
    return running.model_copy(update={"ntp": ntp}), [k for k in changed if k not in live]
