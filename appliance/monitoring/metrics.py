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
from ..core.ntp.answer import DROP_REASONS
from .endpoint import MetricsError, MetricsServer
from .state_families import state_families

__all__ = ["ApplianceCollector", "MetricsError", "MetricsServer", "for_appliance", "health_of"]

log = logging.getLogger("appliance.metrics")

PTP_ROLES = ("grandmaster", "follower", "listening", "faulty")
MAX_LABEL_VALUES = 16  # cap on label values taken from status (children, peers without a configured list)
_NUM = (int, float)


def _get(d, *path, kind=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    if kind is not None and (not isinstance(d, kind) or (isinstance(d, bool) and kind is not bool)):
        return None
    return d


def _gauge(name: str, doc: str, value, labels: dict | None = None) -> GaugeMetricFamily | None:
    if value is None:
        return None
    g = GaugeMetricFamily(name, doc, labels=list(labels) if labels else None)
    g.add_metric(list(labels.values()) if labels else [], float(value))
    return g


def _named_items(obj) -> list[tuple[str, dict]]:
    """[(name, entry)] from {name: entry} or [{"name": ..., ...}]."""
    if isinstance(obj, dict):
        return [(str(k), v) for k, v in obj.items() if isinstance(v, dict)]
    if isinstance(obj, list):
        return [(str(v["name"]), v) for v in obj if isinstance(v, dict) and isinstance(v.get("name"), str)]
    return []


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
        yield from self._info(st)
        yield from self._sync(st)
        yield from self._peers(st)
        yield from self._ptp(st)
        yield from self._clock(st)
        yield from self._ntp(st)
        yield from self._children(st)
        yield from tick_families(st)
        yield from site_families(st)
        yield from state_families(st)

    # -- families ---------------------------------------------------------------------------
    def _info(self, st):
        g = GaugeMetricFamily(
            "appliance_info",
            "The appliance's version, node name and clock; always 1.",
            labels=["version", "node", "clock_source", "clock"],
        )
        g.add_metric(
            [
                str(st.get("version", "")),
                str(st.get("node", "")),
                str(_get(st, "clock", "source") or ""),
                str(_get(st, "clock", "name") or ""),
            ],
            1,
        )
        yield g

    def _sync(self, st):
        state = _get(st, "sync", "state", kind=str)
        g = GaugeMetricFamily(
            "appliance_sync_state",
            "The node's sync state: 1 for the current state, 0 for the others.",
            labels=["state"],
        )
        for s in SyncState:
            g.add_metric([s.value], 1.0 if state == s.value else 0.0)
        yield g
        healthy = _get(st, "sync", "healthy", kind=bool)
        if healthy is not None:
            yield _gauge(
                "appliance_synchronized",
                "1 while the node claims stratum 1 (locked, holdover, or free-run "
                "within max_error_bound_s); 0 while it answers with leap indicator 3.",
                int(healthy),
            )
        bound = _get(st, "sync", "error_bound_s", kind=_NUM)
        if bound is not None:
            yield _gauge(
                "appliance_error_bound_seconds",
                "Bound on the error of the served time (sent as NTP root dispersion).",
                bound,
            )
        if self._max_bound is not None:
            yield _gauge(
                "appliance_max_error_bound_seconds",
                "Configured clock.discipline.max_error_bound_s: above it the node stops claiming stratum 1.",
                self._max_bound,
            )
        offset = _get(st, "sync", "offset_ns", kind=_NUM)
        if offset is not None:
            yield _gauge(
                "appliance_reference_offset_seconds",
                "Last measured offset of the clock to its reference (local - reference).",
                offset * 1e-9,
            )
        suspect = _get(st, "sync", "reference_suspect", kind=bool)
        if suspect is not None:
            yield _gauge(
                "appliance_reference_suspect",
                "1 while the reference's offsets are beyond what the clock "
                "can have done and are not followed (the node holds over).",
                int(suspect),
            )
        ref = _get(st, "sync", "reference", kind=str)
        if ref is not None:
            yield _gauge(
                "appliance_reference_available",
                "1 while the reference is available, 0 when lost.",
                int(ref == "available"),
            )
        yield _gauge(
            "appliance_holdover_seconds",
            "Time spent in the current holdover; 0 when not in holdover.",
            self._holdover_s(st, state),
        )
        stratum = _get(st, "ntp", "stratum", kind=int)
        if stratum is not None:
            yield _gauge("appliance_ntp_stratum", "Stratum served to NTP clients (16 = unsynchronised).", stratum)
        demoted = _get(st, "crosscheck", "demoted", kind=bool)
        if demoted is not None:
            yield _gauge(
                "appliance_self_demoted",
                "1 while the node has demoted itself for disagreeing with the other control nodes.",
                int(demoted),
            )

    def _holdover_s(self, st, state) -> float:
        if state != SyncState.HOLDOVER.value:
            return 0.0
        events = _get(st, "sync", "events", kind=list) or []
        since = [
            e.get("time")
            for e in events
            if isinstance(e, dict) and e.get("to") == "holdover" and isinstance(e.get("time"), _NUM)
        ]
        return max(0.0, self._now() - since[-1]) if since else 0.0

    def _peers(self, st):
        items = _named_items(st.get("peers"))
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
            if isinstance(e.get("offset_s"), _NUM) and not isinstance(e.get("offset_s"), bool):
                off.add_metric([name], e["offset_s"])
            if isinstance(e.get("reachable"), bool):
                reach.add_metric([name], int(e["reachable"]))
        yield off
        yield reach

    def _ptp(self, st):
        ptp = st.get("ptp")
        if not isinstance(ptp, dict):
            return
        offset = _get(ptp, "offset_ns", kind=_NUM)
        if offset is not None:
            yield _gauge(
                "appliance_ptp_offset_seconds", "ptp4l's offset from its master (local - master).", offset * 1e-9
            )
        delay = _get(ptp, "path_delay_ns", kind=_NUM)
        if delay is not None:
            yield _gauge("appliance_ptp_path_delay_seconds", "ptp4l's mean path delay to its master.", delay * 1e-9)
        port = _get(ptp, "port_state", kind=str)
        if port is not None:
            g = GaugeMetricFamily(
                "appliance_ptp_port_state", "ptp4l's port state: 1 for the current state.", labels=["state"]
            )
            for s in PORT_STATES:
                g.add_metric([s], 1.0 if port.upper() == s else 0.0)
            yield g
        role = _get(ptp, "role", kind=str)
        if role is not None:
            g = GaugeMetricFamily(
                "appliance_ptp_role", "This node's PTP role: 1 for the current role.", labels=["role"]
            )
            for r in PTP_ROLES:
                g.add_metric([r], 1.0 if role == r else 0.0)
            yield g
        gm = _get(ptp, "gm_identity", kind=str)
        if gm:
            yield _gauge(
                "appliance_ptp_grandmaster_info", "The grandmaster's clock identity; always 1.", 1, {"gm_identity": gm}
            )
        changes = _get(ptp, "gm_changes", kind=int)
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

    def _clock(self, st):
        temp = _get(st, "clock", "temperature_c", kind=_NUM)
        if temp is not None:
            yield _gauge("appliance_temperature_celsius", "Oscillator (or board) temperature.", temp)
        freq = _get(st, "clock", "freq_ppb", kind=_NUM)
        if freq is not None:
            yield _gauge(
                "appliance_clock_frequency_adjustment_ratio",
                "Frequency correction applied to the clock (1e-6 = 1 ppm; positive speeds it up).",
                freq * 1e-9,
            )
            # the same number with the oscillator's sign, as status shows it: nobody has to flip it
            yield _gauge(
                "appliance_oscillator_frequency_offset_ratio",
                "Frequency offset of the oscillator that the "
                "correction cancels (1e-6 = 1 ppm; positive = runs fast; the opposite of "
                "appliance_clock_frequency_adjustment_ratio).",
                -freq * 1e-9,
            )
        comp = _get(st, "tempcomp", "compensation_ppm", kind=_NUM)
        if comp is not None:
            yield _gauge(
                "appliance_temperature_compensation_ratio",
                "Frequency compensation applied by the learned temperature model (1e-6 = 1 ppm).",
                comp * 1e-6,
            )

    def _ntp(self, st):
        ntp = st.get("ntp")
        if not isinstance(ntp, dict):
            return
        for key, name, doc in (
            ("received", "appliance_ntp_requests", "NTP datagrams received."),
            ("answered", "appliance_ntp_responses", "NTP requests answered with time."),
            ("kod_sent", "appliance_ntp_kod", "Kiss-o'-Death (RATE) replies sent."),
            ("send_errors", "appliance_ntp_send_errors", "Replies the kernel refused to send."),
        ):
            v = _get(ntp, key, kind=int)
            if v is not None:
                c = CounterMetricFamily(name, doc)
                c.add_metric([], v)
                yield c
        dropped = ntp.get("dropped")
        if isinstance(dropped, dict):
            c = CounterMetricFamily("appliance_ntp_dropped", "NTP datagrams dropped, by reason.", labels=["reason"])
            for reason in DROP_REASONS:  # a fixed set: never a label value from the wire
                v = dropped.get(reason, 0)
                c.add_metric([reason], v if isinstance(v, int) else 0)
            yield c

    def _children(self, st):
        items = _named_items(st.get("processes"))[:MAX_LABEL_VALUES]
        restarts = CounterMetricFamily(
            "appliance_child_restarts", "Restarts of a supervised process (ptp4l, phc2sys, ts2phc).", labels=["process"]
        )
        up = GaugeMetricFamily("appliance_child_up", "1 while the supervised process runs.", labels=["process"])
        for name, e in items:
            if isinstance(e.get("restarts"), int):
                restarts.add_metric([name], e["restarts"])
            if isinstance(e.get("running"), bool):
                up.add_metric([name], int(e["running"]))
        yield restarts
        yield up


def tick_families(st):
    """The tick-duration histogram and its maximum, from status' ``tick``."""
    tick = st.get("tick")
    buckets = _get(tick, "buckets", kind=dict)
    count, total = _get(tick, "count", kind=int), _get(tick, "sum_s", kind=_NUM)
    if buckets is None or count is None or total is None:
        return
    h = HistogramMetricFamily(
        "appliance_tick_duration_seconds", "Duration of the node's ticks (measure, decide, apply)."
    )
    pairs = sorted((float(le), v) for le, v in buckets.items() if isinstance(v, int))
    h.add_metric([], [(repr(le), v) for le, v in pairs] + [("+Inf", count)], total)
    yield h
    worst = _get(tick, "max_duration_s", kind=_NUM)
    if worst is not None:
        yield _gauge("appliance_tick_duration_max_seconds", "Longest tick since the start.", worst)


def site_families(st):
    """The leap-seconds file's expiry, whether the node is bootstrapped, the upstream servers' vote."""
    expires = _get(st, "leap_seconds", "expires_s", kind=_NUM)
    valid = _get(st, "leap_seconds", "valid", kind=bool)
    if valid is not None:
        yield _gauge(
            "appliance_leap_file_valid", "1 while leap_seconds.file is present and its hash verifies.", int(valid)
        )
    if expires is not None:
        yield _gauge(
            "appliance_leap_file_expiry_timestamp_seconds",
            "When leap_seconds.file expires (Unix time): after it a leap second announced since is not known.",
            expires,
        )
    tai = _get(st, "leap_seconds", "tai_utc_s", kind=int)
    if tai is not None:
        yield _gauge("appliance_tai_utc_offset_seconds", "TAI - UTC the appliance runs with (ptp4l's utcOffset).", tai)
    boot = _get(st, "bootstrap", "bootstrapped", kind=bool)
    if boot is not None:
        yield _gauge(
            "appliance_bootstrapped",
            "1 once something vouches for the clock (a bootstrap, a last-known-good "
            "of this boot, a reference); 0: answering with leap 3, run `appliance bootstrap`.",
            int(boot),
        )
    servers = _get(st, "upstream", "servers", kind=list)
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
    served = st.get("served") if isinstance(st.get("served"), dict) else {}
    reason = served.get("unsynchronized_reason")
    if _get(st, "ntp", "stratum", kind=int) == 1 or ("unsynchronized_reason" in served and reason is None):
        return True, "serving stratum 1"
    state = _get(st, "sync", "state", kind=str) or "unknown"
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
