"""What a control node knows about the time when nothing outside can be asked, as evidence items,
pure: each an estimate (an interval around a time, with its own uncertainty) or a one-sided bound.

Every time here is UTC in integer nanoseconds since the epoch, and every estimate is valid at one
instant, the decision's: the adapter (appliance.bootstrap.gather) measures each source with a
CLOCK_MONOTONIC stamp and carries it forward to that instant, so the items compare directly.

Roles decide how an item takes part (appliance.core.bootstrap.decide):

* ``local``: this machine's own clocks (the RTC, the system clock while the kernel says nothing
  disciplined it, the PHC). They are one witness, not several: at boot the system clock is set
  from the RTC, and a NIC driver initialises its PHC from the system clock, so when one is wrong
  the others are wrong the same way. An explicit operator time overrides them: correcting them is
  what the operator is there for.
* ``system``: the system clock while the kernel says it is synchronised: something disciplined it,
  an independent witness with the kernel's maximum error.
* ``peer``: another control node's appliance over NTP, synchronised or not.
* ``lastgood``: the time the appliance served, from the same boot (an estimate) or any boot (a
  lower bound: clients have seen it, time never goes back before it).
* ``operator``: the site engineer's explicit time.
* ``floor``: the build date of the installed appliance (a lower bound).
* ``certificate``: the latest notBefore of the cluster's certificates (a lower bound: a cluster
  whose servers come up earlier than its certificates' issue time cannot be joined) and the
  earliest notAfter (an upper *hint*: a site powered off for a year really can be past it, so only
  an explicit operator time may go beyond it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

NS = 1_000_000_000

# A battery-backed RTC keeps time to its 1 s resolution and drifts by its crystal's tolerance
# (20 ppm is a common RTC crystal; an undisciplined system clock runs on a crystal that may be
# 100 ppm off).
RTC_RESOLUTION_S = 1.0
RTC_DRIFT = 20e-6
SYSTEM_DRIFT = 100e-6


class Kind(Enum):
    ESTIMATE = "estimate"
    LOWER = "lower_bound"
    UPPER = "upper_bound"


LOCAL, SYSTEM, PEER, LASTGOOD, OPERATOR, FLOOR, CERTIFICATE = (
    "local",
    "system",
    "peer",
    "lastgood",
    "operator",
    "floor",
    "certificate",
)


def iso(time_ns: int | None) -> str | None:
    """ISO 8601 UTC, to the millisecond when there is a fraction ("2026-12-02T06:30:00Z")."""
    if time_ns is None:
        return None
    s, frac = divmod(time_ns, NS)
    try:
        text = datetime.fromtimestamp(s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"@{time_ns / NS:.3f}"
    ms = frac // 1_000_000
    return f"{text}.{ms:03d}Z" if ms else f"{text}Z"


def parse_iso_ns(text: str) -> int:
    """'2026-12-02T06:30:00Z' (or with an offset, or a fraction) -> ns since the epoch. A time
    without a zone is refused: an operator's local wall clock is exactly the ambiguity to avoid."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 UTC time such as 2026-12-02T06:30:00Z, got {text!r}") from None
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: write it in UTC with a Z (2026-12-02T06:30:00Z)")
    return _exact_ns(dt)


def _exact_ns(dt: datetime) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = dt - epoch
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


@dataclass(frozen=True)
class Evidence:
    """One item. ``time_ns`` None: looked for and not available (``detail`` says why)."""

    source: str  # what it is, for the table: "rtc", "system clock", "peer ctl-1", ...
    kind: Kind
    role: str
    time_ns: int | None
    uncertainty_s: float = 0.0
    detail: str = ""  # where it came from / why it is not available
    name: str = ""  # how a sentence names it: "the notBefore 2026-12-01T00:00:00Z of /path.crt"

    @property
    def available(self) -> bool:
        return self.time_ns is not None

    @property
    def low_ns(self) -> int:
        assert self.time_ns is not None
        return self.time_ns - int(round(self.uncertainty_s * NS))

    @property
    def high_ns(self) -> int:
        assert self.time_ns is not None
        return self.time_ns + int(round(self.uncertainty_s * NS))

    def says(self) -> str:
        """'operator time 2026-11-22T06:30:00Z' / 'peer ctl-1 2026-... +/- 0.3 ms'."""
        if self.name:
            return self.name
        u = f" +/- {fmt_s(self.uncertainty_s)}" if self.kind is Kind.ESTIMATE and self.uncertainty_s else ""
        return f"{self.source} {iso(self.time_ns)}{u}"


def fmt_s(v: float) -> str:
    a = abs(v)
    if a >= 86_400:
        return f"{v / 86_400:.1f} days"
    if a >= 3600:
        return f"{v / 3600:.1f} h"
    if a >= 100:
        return f"{v:.0f} s"
    if a >= 1:
        return f"{v:.3g} s"
    if a >= 1e-3:
        return f"{v * 1e3:.3g} ms"
    return f"{v * 1e6:.3g} us"


def missing(source: str, kind: Kind, role: str, why: str) -> Evidence:
    return Evidence(source, kind, role, None, 0.0, why)


# --- the items, built from what the adapter measured -------------------------------------------


def operator(time_ns: int, uncertainty_s: float) -> Evidence:
    return Evidence(
        "operator",
        Kind.ESTIMATE,
        OPERATOR,
        time_ns,
        uncertainty_s,
        "given by the operator",
        f"operator time {iso(time_ns)}",
    )


def rtc(
    time_ns: int, local_time: bool, last_set_age_s: float | None, default_uncertainty_s: float, device: str
) -> Evidence:
    """The RTC read (already converted from local time where it keeps local time). Its uncertainty
    is its resolution plus its drift since it was last set, where /etc/adjtime says when."""
    if last_set_age_s is not None and last_set_age_s >= 0:
        u = RTC_RESOLUTION_S + RTC_DRIFT * last_set_age_s
        why = f"last set {fmt_s(last_set_age_s)} ago (/etc/adjtime)"
    else:
        u = default_uncertainty_s
        why = "when it was last set is unknown (bootstrap.rtc_uncertainty_s)"
    scale = "local time" if local_time else "UTC"
    return Evidence("rtc", Kind.ESTIMATE, LOCAL, time_ns, u, f"{device}, keeps {scale}; {why}")


def system_clock(
    time_ns: int, boot_id: str, uptime_s: float, synchronised: bool, maxerror_s: float | None, rtc_uncertainty_s: float
) -> Evidence:
    """The system clock, with the boot it belongs to. Synchronised (the kernel's STA_UNSYNC clear):
    an independent witness with the kernel's maximum error. Otherwise it is the RTC's time at boot
    carried forward by an undisciplined crystal, and part of the local witness."""
    boot = f"boot {boot_id[:8]}, up {fmt_s(uptime_s)}"
    if synchronised and maxerror_s is not None:
        return Evidence(
            "system clock",
            Kind.ESTIMATE,
            SYSTEM,
            time_ns,
            maxerror_s,
            f"{boot}; the kernel says synchronised, max error {fmt_s(maxerror_s)}",
        )
    return Evidence(
        "system clock",
        Kind.ESTIMATE,
        LOCAL,
        time_ns,
        rtc_uncertainty_s + SYSTEM_DRIFT * uptime_s,
        f"{boot}; not synchronised: set from the RTC at boot",
    )


def served_clock(time_ns: int, clock_name: str, rtc_uncertainty_s: float, uptime_s: float) -> Evidence:
    """The clock the appliance serves from, as it reads now: part of the local witness (a PHC is
    initialised from the system clock by its driver)."""
    return Evidence(
        "served clock",
        Kind.ESTIMATE,
        LOCAL,
        time_ns,
        rtc_uncertainty_s + SYSTEM_DRIFT * uptime_s,
        f"{clock_name}, as it reads now",
    )


def last_known_good(
    served_ns: int, bound_s: float, same_boot: bool, elapsed_s: float | None, written: str
) -> list[Evidence]:
    """Any boot: a lower bound (clients have seen that time: time never goes back before it). Same
    boot, also an estimate: the served time carried forward by CLOCK_BOOTTIME (which counts suspend
    too) at the system crystal's worst rate."""
    out = [
        Evidence(
            "last-known-good",
            Kind.LOWER,
            LASTGOOD,
            served_ns,
            bound_s,
            f"served {'in this' if same_boot else 'in an earlier'} boot ({written})",
            f"the last-known-good {iso(served_ns)}",
        )
    ]
    if same_boot and elapsed_s is not None and elapsed_s >= 0:
        t = served_ns + round(elapsed_s * NS)
        out.insert(
            0,
            Evidence(
                "last-known-good, this boot",
                Kind.ESTIMATE,
                LASTGOOD,
                t,
                bound_s + SYSTEM_DRIFT * elapsed_s,
                f"served {iso(served_ns)}, {fmt_s(elapsed_s)} ago by CLOCK_BOOTTIME ({written})",
            ),
        )
    return out


def build_floor(time_ns: int, version: str, where: str) -> Evidence:
    return Evidence(
        "build floor",
        Kind.LOWER,
        FLOOR,
        time_ns,
        0.0,
        f"appliance {version}, {where}",
        f"the build floor {iso(time_ns)} (appliance {version})",
    )


def cert_not_before(time_ns: int, path: str, count: int) -> Evidence:
    return Evidence(
        "certificates: latest notBefore",
        Kind.LOWER,
        CERTIFICATE,
        time_ns,
        0.0,
        f"{path} (of {count} certificate(s))",
        f"the notBefore {iso(time_ns)} of {path}",
    )


def cert_not_after(time_ns: int, path: str, count: int) -> Evidence:
    return Evidence(
        "certificates: earliest notAfter",
        Kind.UPPER,
        CERTIFICATE,
        time_ns,
        0.0,
        f"{path} (of {count} certificate(s))",
        f"the notAfter {iso(time_ns)} of {path}",
    )


def peer(
    name: str,
    address: str,
    time_ns: int,
    delay_s: float,
    root_delay_s: float,
    root_dispersion_s: float,
    synchronised: bool,
    stratum: int,
    unsynchronised_uncertainty_s: float,
) -> Evidence:
    """Another control node's appliance. Synchronised: its root distance plus half the round trip
    (the offset error of one exchange is at most half its delay). Unsynchronised (leap 3): its
    clock vouches for nothing better than an RTC, so it gets the RTC's uncertainty."""
    half = delay_s / 2
    if synchronised:
        u = half + root_delay_s / 2 + root_dispersion_s
        why = f"{address}, stratum {stratum}, delay {fmt_s(delay_s)}, root dispersion {fmt_s(root_dispersion_s)}"
    else:
        u = half + unsynchronised_uncertainty_s
        why = f"{address}, not synchronised (leap 3), delay {fmt_s(delay_s)}"
    return Evidence(f"peer {name}", Kind.ESTIMATE, PEER, time_ns, u, why)
