"""Prometheus metrics of `appliance serve`, on monitoring.metrics_listen: HTTP GET /metrics, and
GET /healthz (200 "ok" only while the node serves stratum 1, else 503 with the reason: for a load
balancer or a kubelet probe, which read the status code and nothing else). Any other path is 404,
another method 405 (appliance.monitoring.endpoint is the HTTP side).

A custom collector reads the appliance's status() at scrape time, so a metric is never older than
the scrape and the discipline loop does no metrics work. Base units (seconds, ratios, degrees
Celsius), the ``appliance_`` prefix, help text on every family, and bounded labels: sync and port
states, role, drop reasons, child process names, peer names from cluster.control_nodes; never one
series per NTP client.

What status() has today is exported now; the rest is read from the status keys other parts of the
appliance are adding, and is simply absent until they exist (no invented zeros):

  peers                   [{"name", "offset_s", "reachable"}] or {name: {...}}    (cross-checking)
  crosscheck.demoted      bool                                                  (self-demotion)
  ptp.role, ptp.port_state, ptp.gm_identity, ptp.offset_ns, ptp.path_delay_ns,
  ptp.gm_changes          (optional counter; otherwise changes seen between scrapes are counted)
  tempcomp.compensation_ppm                                                     (TCXO model)
  processes               {"ptp4l": {"running": bool, "restarts": int}, ...} or [{"name", ...}]

Frequencies are exported as ratios (1e-6 = 1 ppm), as node_exporter's
node_timex_frequency_adjustment_ratio is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from ..core.clock.states import SyncState
from ..core.diagnose.pmc_report import PORT_STATES
from .endpoint import MetricsError, MetricsServer
from .families import (
    MAX_LABEL_VALUES,
    NUMBER,
    children_families,
    clock_families,
    gauge,
    info_families,
    named_items,
    ntp_families,
    read,
)
from .state_families import state_families

__all__ = ["ApplianceCollector", "MetricsError", "MetricsServer", "for_appliance", "health_of"]

log = logging.getLogger("appliance.metrics")

PTP_ROLES = ("grandmaster", "follower", "listening", "faulty")


class ApplianceCollector(Collector):
    def __init__(
        self,
        status: Callable[[], dict],
        peer_names: list[str] | None = None,
        max_error_bound_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._status = status
        self._peer_names = list(peer_names) if peer_names else None
        self._max_bound = max_error_bound_s
        self._now = clock
        self._lock = threading.Lock()
        self._status_errors = 0
        self._last_gm: str | None = None
        self._gm_changes_seen = 0

    def describe(self):
        return []  # collected fresh at every scrape; no fixed description

    def collect(self):
        try:
            st = self._status()
        except Exception as exc:  # a status failure must not break the scrape: count it
            log.warning("status for metrics failed: %s", exc)
            with self._lock:
                self._status_errors += 1
            st = None
        with self._lock:
            errors = self._status_errors
        c = CounterMetricFamily("appliance_status_errors", "Scrapes at which the appliance's status could not be read.")
        c.add_metric([], errors)
        yield c
        if not isinstance(st, dict):
            return
        yield from info_families(st)
        yield from self._sync(st)
        yield from self._peers(st)
        yield from self._ptp(st)
        yield from clock_families(st)
        yield from ntp_families(st)
        yield from children_families(st)
        yield from tick_families(st)
        yield from site_families(st)
        yield from state_families(st)

    # -- families ---------------------------------------------------------------------------
    def _sync(self, st):
        state = read(st, "sync", "state", kind=str)
        g = GaugeMetricFamily(
            "appliance_sync_state",
            "The node's sync state: 1 for the current state, 0 for the others.",
            labels=["state"],
        )
        for s in SyncState:
            g.add_metric([s.value], 1.0 if state == s.value else 0.0)
        yield g
        healthy = read(st, "sync", "healthy", kind=bool)
        if healthy is not None:
            yield gauge(
                "appliance_synchronized",
                "1 while the node claims stratum 1 (locked, holdover, or free-run "
                "within max_error_bound_s); 0 while it answers with leap indicator 3.",
                int(healthy),
            )
        bound = read(st, "sync", "error_bound_s", kind=NUMBER)
        if bound is not None:
            yield gauge(
                "appliance_error_bound_seconds",
                "Bound on the error of the served time (sent as NTP root dispersion).",
                bound,
            )
        if self._max_bound is not None:
            yield gauge(
                "appliance_max_error_bound_seconds",
                "Configured clock.discipline.max_error_bound_s: above it the node stops claiming stratum 1.",
                self._max_bound,
            )
        offset = read(st, "sync", "offset_ns", kind=NUMBER)
        if offset is not None:
            yield gauge(
                "appliance_reference_offset_seconds",
                "Last measured offset of the clock to its reference (local - reference).",
                offset * 1e-9,
            )
        suspect = read(st, "sync", "reference_suspect", kind=bool)
        if suspect is not None:
            yield gauge(
                "appliance_reference_suspect",
                "1 while the reference's offsets are beyond what the clock "
                "can have done and are not followed (the node holds over).",
                int(suspect),
            )
        ref = read(st, "sync", "reference", kind=str)
        if ref is not None:
            yield gauge(
                "appliance_reference_available",
                "1 while the reference is available, 0 when lost.",
                int(ref == "available"),
            )
        yield gauge(
            "appliance_holdover_seconds",
            "Time spent in the current holdover; 0 when not in holdover.",
            self._holdover_s(st, state),
        )
        stratum = read(st, "ntp", "stratum", kind=int)
        if stratum is not None:
            yield gauge("appliance_ntp_stratum", "Stratum served to NTP clients (16 = unsynchronised).", stratum)
        demoted = read(st, "crosscheck", "demoted", kind=bool)
        if demoted is not None:
            yield gauge(
                "appliance_self_demoted",
                "1 while the node has demoted itself for disagreeing with the other control nodes.",
                int(demoted),
            )

    def _holdover_s(self, st, state) -> float:
        if state != SyncState.HOLDOVER.value:
            return 0.0
        events = read(st, "sync", "events", kind=list) or []
        since: list[float] = [
            e["time"]
            for e in events
            if isinstance(e, dict) and e.get("to") == "holdover" and isinstance(e.get("time"), NUMBER)
        ]
        return max(0.0, self._now() - since[-1]) if since else 0.0

    def _peers(self, st):
        items = named_items(st.get("peers"))
        if self._peer_names is not None:
            items = [(n, e) for n, e in items if n in self._peer_names]
        items = items[:MAX_LABEL_VALUES]
        off = GaugeMetricFamily(
            "appliance_peer_offset_seconds",
            "Offset of this node to each other control node (local - peer), from the NTP cross-check.",
            labels=["peer"],
        )
        reach = GaugeMetricFamily(
            "appliance_peer_reachable", "1 while the peer answers the cross-check.", labels=["peer"]
        )
        for name, e in items:
            if isinstance(e.get("offset_s"), NUMBER) and not isinstance(e.get("offset_s"), bool):
                off.add_metric([name], e["offset_s"])
            if isinstance(e.get("reachable"), bool):
                reach.add_metric([name], int(e["reachable"]))
        yield off
        yield reach

    def _ptp(self, st):
        ptp = st.get("ptp")
        if not isinstance(ptp, dict):
            return
        offset = read(ptp, "offset_ns", kind=NUMBER)
        if offset is not None:
            yield gauge(
                "appliance_ptp_offset_seconds", "ptp4l's offset from its master (local - master).", offset * 1e-9
            )
        delay = read(ptp, "path_delay_ns", kind=NUMBER)
        if delay is not None:
            yield gauge("appliance_ptp_path_delay_seconds", "ptp4l's mean path delay to its master.", delay * 1e-9)
        port = read(ptp, "port_state", kind=str)
        if port is not None:
            g = GaugeMetricFamily(
                "appliance_ptp_port_state", "ptp4l's port state: 1 for the current state.", labels=["state"]
            )
            for s in PORT_STATES:
                g.add_metric([s], 1.0 if port.upper() == s else 0.0)
            yield g
        role = read(ptp, "role", kind=str)
        if role is not None:
            g = GaugeMetricFamily(
                "appliance_ptp_role", "This node's PTP role: 1 for the current role.", labels=["role"]
            )
            for r in PTP_ROLES:
                g.add_metric([r], 1.0 if role == r else 0.0)
            yield g
        gm = read(ptp, "gm_identity", kind=str)
        if gm:
            yield gauge(
                "appliance_ptp_grandmaster_info", "The grandmaster's clock identity; always 1.", 1, {"gm_identity": gm}
            )
        changes = read(ptp, "gm_changes", kind=int)
        if changes is None:
            with self._lock:
                if gm and self._last_gm is not None and gm != self._last_gm:
                    self._gm_changes_seen += 1
                if gm:
                    self._last_gm = gm
                changes = self._gm_changes_seen
        c = CounterMetricFamily("appliance_ptp_grandmaster_changes", "Changes of the PTP grandmaster identity.")
        c.add_metric([], changes)
        yield c


def tick_families(st):
    """The tick-duration histogram and its maximum, from status' ``tick``."""
    tick = st.get("tick")
    buckets = read(tick, "buckets", kind=dict)
    count, total = read(tick, "count", kind=int), read(tick, "sum_s", kind=NUMBER)
    if buckets is None or count is None or total is None:
        return
    h = HistogramMetricFamily(
        "appliance_tick_duration_seconds", "Duration of the node's ticks (measure, decide, apply)."
    )
    pairs = sorted((float(le), v) for le, v in buckets.items() if isinstance(v, int))
    h.add_metric([], [(repr(le), v) for le, v in pairs] + [("+Inf", count)], total)
    yield h
    worst = read(tick, "max_duration_s", kind=NUMBER)
    if worst is not None:
        yield gauge("appliance_tick_duration_max_seconds", "Longest tick since the start.", worst)


def site_families(st):
    """The leap-seconds file's expiry, whether the node is bootstrapped, the upstream servers' vote."""
    expires = read(st, "leap_seconds", "expires_s", kind=NUMBER)
    valid = read(st, "leap_seconds", "valid", kind=bool)
    if valid is not None:
        yield gauge(
            "appliance_leap_file_valid", "1 while leap_seconds.file is present and its hash verifies.", int(valid)
        )
    if expires is not None:
        yield gauge(
            "appliance_leap_file_expiry_timestamp_seconds",
            "When leap_seconds.file expires (Unix time): after it a leap second announced since is not known.",
            expires,
        )
    tai = read(st, "leap_seconds", "tai_utc_s", kind=int)
    if tai is not None:
        yield gauge("appliance_tai_utc_offset_seconds", "TAI - UTC the appliance runs with (ptp4l's utcOffset).", tai)
    boot = read(st, "bootstrap", "bootstrapped", kind=bool)
    if boot is not None:
        yield gauge(
            "appliance_bootstrapped",
            "1 once something vouches for the clock (a bootstrap, a last-known-good "
            "of this boot, a reference); 0: answering with leap 3, run `appliance bootstrap`.",
            int(boot),
        )
    servers = read(st, "upstream", "servers", kind=list)
    if servers is not None:
        g = GaugeMetricFamily(
            "appliance_upstream_truechimer",
            "1 while the upstream NTP server agrees with the majority (reference.ntp).",
            labels=["server"],
        )
        for row in servers[:MAX_LABEL_VALUES]:  # configured servers only: a bounded set
            if isinstance(row, dict) and isinstance(row.get("name"), str):
                g.add_metric([row["name"]], 1.0 if row.get("vote") == "truechimer" else 0.0)
        yield g


def health_of(st: dict | None) -> tuple[bool, str]:
    """(serves stratum 1, why not) from a status() dict."""
    if not isinstance(st, dict):
        return False, "status unavailable"
    served = st["served"] if isinstance(st.get("served"), dict) else {}
    reason = served.get("unsynchronized_reason")
    if read(st, "ntp", "stratum", kind=int) == 1 or ("unsynchronized_reason" in served and reason is None):
        return True, "serving stratum 1"
    state = read(st, "sync", "state", kind=str) or "unknown"
    return False, str(reason or f"not serving stratum 1 (sync state {state})")


def for_appliance(app, listen: str) -> MetricsServer:
    """The metrics server of a running Appliance (appliance.runtime.app)."""
    from ..addresses import parse_hostport

    host, port = parse_hostport(listen)
    peers = [n.name for n in app.cfg.cluster.control_nodes if n.name != app.cfg.node.name]
    collector = ApplianceCollector(
        app.status, peer_names=peers, max_error_bound_s=app.cfg.clock.discipline.max_error_bound_s
    )
    return MetricsServer(collector, host, port, health=lambda: health_of(app.status()))
