"""Metric families read from the appliance's status() dict, and the helpers that read it: a key
that is missing or of the wrong type gives no series (never an invented zero). The node's identity,
clock, NTP counters and supervised processes; appliance.monitoring.metrics assembles them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily

from ..core.ntp.answer import DROP_REASONS

MAX_LABEL_VALUES = 16  # cap on label values taken from status (children, peers without a configured list)
NUMBER = (int, float)


def read(d: Any, *path: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """d[path[0]][path[1]]..., or None where a key is missing or the value is not of ``kind``."""
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    if kind is not None and (not isinstance(d, kind) or (isinstance(d, bool) and kind is not bool)):
        return None
    return d


def gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=list(labels) if labels else None)
    g.add_metric(list(labels.values()) if labels else [], float(value))
    return g


def named_items(obj: Any) -> list[tuple[str, dict[str, Any]]]:
    """[(name, entry)] from {name: entry} or [{"name": ..., ...}]."""
    if isinstance(obj, dict):
        return [(str(k), v) for k, v in obj.items() if isinstance(v, dict)]
    if isinstance(obj, list):
        return [(str(v["name"]), v) for v in obj if isinstance(v, dict) and isinstance(v.get("name"), str)]
    return []


def info_families(st: dict[str, Any]) -> Iterator[Metric]:
    g = GaugeMetricFamily(
        "appliance_info",
        "The appliance's version, node name and clock; always 1.",
        labels=["version", "node", "clock_source", "clock"],
    )
    g.add_metric(
        [
            str(st.get("version", "")),
            str(st.get("node", "")),
            str(read(st, "clock", "source") or ""),
            str(read(st, "clock", "name") or ""),
        ],
        1,
    )
    yield g


def clock_families(st: dict[str, Any]) -> Iterator[Metric]:
    temp = read(st, "clock", "temperature_c", kind=NUMBER)
    if temp is not None:
        yield gauge("appliance_temperature_celsius", "Oscillator (or board) temperature.", temp)
    freq = read(st, "clock", "freq_ppb", kind=NUMBER)
    if freq is not None:
        yield gauge(
            "appliance_clock_frequency_adjustment_ratio",
            "Frequency correction applied to the clock (1e-6 = 1 ppm; positive speeds it up).",
            freq * 1e-9,
        )
        # the same number with the oscillator's sign, as status shows it: nobody has to flip it
        yield gauge(
            "appliance_oscillator_frequency_offset_ratio",
            "Frequency offset of the oscillator that the "
            "correction cancels (1e-6 = 1 ppm; positive = runs fast; the opposite of "
            "appliance_clock_frequency_adjustment_ratio).",
            -freq * 1e-9,
        )
    comp = read(st, "tempcomp", "compensation_ppm", kind=NUMBER)
    if comp is not None:
        yield gauge(
            "appliance_temperature_compensation_ratio",
            "Frequency compensation applied by the learned temperature model (1e-6 = 1 ppm).",
            comp * 1e-6,
        )


def ntp_families(st: dict[str, Any]) -> Iterator[Metric]:
    ntp = st.get("ntp")
    if not isinstance(ntp, dict):
        return
    for key, name, doc in (
        ("received", "appliance_ntp_requests", "NTP datagrams received."),
        ("answered", "appliance_ntp_responses", "NTP requests answered with time."),
        ("kod_sent", "appliance_ntp_kod", "Kiss-o'-Death (RATE) replies sent."),
        ("send_errors", "appliance_ntp_send_errors", "Replies the kernel refused to send."),
    ):
        v = read(ntp, key, kind=int)
        if v is not None:
            c = CounterMetricFamily(name, doc)
            c.add_metric([], v)
            yield c
    age_sum, age_count = read(ntp, "queue_age_sum_s", kind=NUMBER), read(ntp, "queue_age_count", kind=int)
    if age_sum is not None and age_count is not None:
        yield SummaryMetricFamily(
            "appliance_ntp_queue_age_seconds",
            "Time NTP requests waited in the receive queue, from their kernel receive timestamp.",
            count_value=age_count,
            sum_value=age_sum,
        )
    age_max = read(ntp, "queue_age_max_s", kind=NUMBER)
    if age_max is not None:
        yield gauge("appliance_ntp_queue_age_max_seconds", "The longest an NTP request waited in the queue.", age_max)
    yield from worker_families(ntp)
    dropped = ntp.get("dropped")
    if isinstance(dropped, dict):
        c = CounterMetricFamily("appliance_ntp_dropped", "NTP datagrams dropped, by reason.", labels=["reason"])
        for reason in DROP_REASONS:  # a fixed set: never a label value from the wire
            v = dropped.get(reason, 0)
            c.add_metric([reason], v if isinstance(v, int) else 0)
        yield c


def worker_families(ntp: dict[str, Any]) -> Iterator[Metric]:
    """The serving worker processes (ntp.workers), when the node has them."""
    for key, name, doc in (
        ("count", "appliance_ntp_workers", "NTP serving worker processes configured."),
        ("alive", "appliance_ntp_workers_up", "NTP serving worker processes running."),
    ):
        v = read(ntp, "workers", key, kind=int)
        if v is not None:
            yield gauge(name, doc, v)
    restarts = read(ntp, "workers", "restarts", kind=int)
    if restarts is not None:
        c = CounterMetricFamily("appliance_ntp_worker_restarts", "NTP serving workers started again after dying.")
        c.add_metric([], restarts)
        yield c


def children_families(st: dict[str, Any]) -> Iterator[Metric]:
    items = named_items(st.get("processes"))[:MAX_LABEL_VALUES]
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
