"""Metrics of node.state_dir's health, from status' ``state`` (appliance.runtime.state_files)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


def state_families(st: dict[str, Any]) -> Iterator[Metric]:
    state = st.get("state")
    if not isinstance(state, dict) or not isinstance(state.get("writable"), bool):
        return
    yield GaugeMetricFamily(
        "appliance_state_writable",
        "1 while every write into node.state_dir succeeds; 0 while one fails (disk full, read-only, I/O "
        "error): serving goes on, but the model and the last-known-good are not kept.",
        value=int(state["writable"]),
    )
    failures = state.get("write_failures_total")
    if isinstance(failures, int):
        c = CounterMetricFamily("appliance_state_write_failures", "Failed writes into node.state_dir.")
        c.add_metric([], failures)
        yield c
    aside = state.get("set_aside")
    if isinstance(aside, list):
        c = CounterMetricFamily(
            "appliance_state_files_set_aside",
            "State files found unusable (corrupt, truncated, wrong format) and renamed <name>.corrupt-<time>.",
        )
        c.add_metric([], len(aside))
        yield c
