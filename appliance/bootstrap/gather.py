"""Every item of evidence `appliance bootstrap` can find on this node, as core evidence
(appliance.core.bootstrap.evidence), each carried forward to one decision instant.

Each source is read with a CLOCK_MONOTONIC stamp; at the end every estimate is moved by the
monotonic time elapsed since its reading, so that all of them say what the time is at the same
instant (``Gathered.mono_ns``). Bounds are instants in the past and do not move. Nothing here sets
anything; a source that cannot be read becomes "not available" with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..addresses import parse_hostport
from ..buildinfo import build_floor
from ..config import Config
from ..core.bootstrap import evidence as ev
from ..core.bootstrap.evidence import Evidence, Kind
from ..core.bootstrap.state import valid_lastgood
from . import host, records
from .certs import read_certs

NS = 1_000_000_000


@dataclass
class Gathered:
    items: list[Evidence] = field(default_factory=list)
    mono_ns: int = 0  # the instant every estimate refers to (CLOCK_MONOTONIC)
    notes: list[str] = field(default_factory=list)  # e.g. certificate files skipped
    _stamps: list[int] = field(default_factory=list)

    def add(self, item: Evidence, mono_ns: int | None = None) -> None:
        self.items.append(item)
        self._stamps.append(host.monotonic_ns() if mono_ns is None else mono_ns)

    def settle(self) -> Gathered:
        """Carry every estimate to one instant (now)."""
        self.mono_ns = host.monotonic_ns()
        out = []
        for item, stamp in zip(self.items, self._stamps, strict=False):
            if item.available and item.kind is Kind.ESTIMATE and item.time_ns is not None:
                item = replace(item, time_ns=item.time_ns + (self.mono_ns - stamp))
            out.append(item)
        self.items = out
        return self


def _rtc(g: Gathered, cfg: Config) -> None:
    r = host.read_rtc()
    if r.time_ns is None:
        g.add(ev.missing("rtc", Kind.ESTIMATE, ev.LOCAL, r.why))
        return
    g.add(ev.rtc(r.time_ns, r.local_time, r.last_set_age_s, cfg.bootstrap.rtc_uncertainty_s, r.device), r.mono_ns)


def _system(g: Gathered, cfg: Config) -> None:
    k = host.kernel_clock()
    mono = host.monotonic_ns()
    now = time.time_ns()
    uptime_s = host.boottime_ns() / NS
    g.add(
        ev.system_clock(now, host.boot_id(), uptime_s, k.synchronised, k.maxerror_s, cfg.bootstrap.rtc_uncertainty_s),
        mono,
    )


def _served_clock(g: Gathered, cfg: Config, utc_offset_s: int) -> None:
    uptime_s = host.boottime_ns() / NS
    u = cfg.bootstrap.rtc_uncertainty_s
    if cfg.clock.source == "sim":
        offset = records.sim_offset_ns(cfg.node.state_dir)
        mono = host.monotonic_ns()
        g.add(
            ev.served_clock(
                time.time_ns() + offset,
                f"simulated clock (offset {offset / NS:+.3f} s from the last bootstrap)",
                u,
                uptime_s,
            ),
            mono,
        )
        return
    try:
        from ..hw.phc import open_phc

        clock = open_phc(interface=cfg.clock.interface, device=cfg.clock.device, readonly=True)
    except Exception as exc:  # noqa: BLE001 - any failure to open is "not available", with its text
        g.add(ev.missing("served clock", Kind.ESTIMATE, ev.LOCAL, f"cannot open the PHC: {exc}"))
        return
    try:
        mono = host.monotonic_ns()
        t = clock.gettime_ns()
        tai = utc_offset_s * NS if clock.info().timescale == "TAI" else 0
        g.add(ev.served_clock(t - tai, clock.info().name, u, uptime_s), mono)
    except Exception as exc:  # noqa: BLE001
        g.add(ev.missing("served clock", Kind.ESTIMATE, ev.LOCAL, f"cannot read the PHC: {exc}"))
    finally:
        clock.close()


def _lastgood(g: Gathered, cfg: Config) -> None:
    path = Path(cfg.node.state_dir) / records.LASTGOOD
    lkg, why = records.read_lastgood(cfg.node.state_dir)
    if lkg is None:
        g.add(ev.missing("last-known-good", Kind.LOWER, ev.LASTGOOD, why or "absent"))
        return
    bad = valid_lastgood(lkg)
    if bad:
        g.add(ev.missing("last-known-good", Kind.LOWER, ev.LASTGOOD, f"{path}: {bad}"))
        return
    same = lkg["boot_id"] == host.boot_id()
    elapsed = (host.boottime_ns() - lkg["boottime_ns"]) / NS if same else None
    mono = host.monotonic_ns()
    for item in ev.last_known_good(lkg["served_ns"], float(lkg["error_bound_s"]), same, elapsed, str(path)):
        g.add(item, mono)


def _certs(g: Gathered, globs: list[str]) -> None:
    found, skipped = read_certs(globs)
    g.notes += [f"certificate skipped: {s}" for s in skipped]
    if not found:
        why = (
            f"no certificate found ({len(globs)} globs: bootstrap.cert_globs and --cert)"
            if globs
            else "no certificate globs"
        )
        g.add(ev.missing("certificates: latest notBefore", Kind.LOWER, ev.CERTIFICATE, why))
        g.add(ev.missing("certificates: earliest notAfter", Kind.UPPER, ev.CERTIFICATE, why))
        return
    latest = max(found, key=lambda c: c.not_before_ns)
    earliest = min(found, key=lambda c: c.not_after_ns)
    g.add(ev.cert_not_before(latest.not_before_ns, latest.path, len(found)))
    g.add(ev.cert_not_after(earliest.not_after_ns, earliest.path, len(found)))


def default_peers(cfg: Config) -> list[tuple[str, str]]:
    return [(n.name, n.address) for n in cfg.cluster.control_nodes if n.name != cfg.node.name]


def _peers(g: Gathered, cfg: Config, peers: list[tuple[str, str]]) -> None:
    from ..ntp.query import QueryError, query

    for name, address in peers:
        try:
            host_, port = parse_hostport(address, default_port=123)
            target = f"[{host_}]:{port}" if ":" in host_ else f"{host_}:{port}"
            r = query(target, timeout_s=cfg.bootstrap.peer_timeout_s)
        except (QueryError, ValueError) as exc:
            g.add(ev.missing(f"peer {name}", Kind.ESTIMATE, ev.PEER, str(exc)))
            continue
        mono, now = host.monotonic_ns(), time.time_ns()
        synced = r["leap"] != 3 and 0 < r["stratum"] < 16
        g.add(
            ev.peer(
                name,
                r["server"],
                now + int(round(r["offset_s"] * NS)),
                max(0.0, r["delay_s"]),
                r["root_delay_s"],
                r["root_dispersion_s"],
                synced,
                r["stratum"],
                cfg.bootstrap.rtc_uncertainty_s,
            ),
            mono,
        )


def gather(
    cfg: Config,
    *,
    extra_cert_globs: list[str],
    peers: list[tuple[str, str]] | None,
    operator: tuple[int, float, int] | None,
    utc_offset_s: int,
) -> Gathered:
    """``operator``: (time_ns, uncertainty_s, CLOCK_MONOTONIC when it was given) or None."""
    g = Gathered()
    if operator is not None:
        g.add(ev.operator(operator[0], operator[1]), operator[2])
    _rtc(g, cfg)
    _system(g, cfg)
    _served_clock(g, cfg, utc_offset_s)
    _lastgood(g, cfg)
    floor_ns, version, where = build_floor()
    g.add(ev.build_floor(floor_ns, version, where))
    _certs(g, list(cfg.bootstrap.cert_globs) + list(extra_cert_globs))
    _peers(g, cfg, default_peers(cfg) if peers is None else peers)
    return g.settle()
