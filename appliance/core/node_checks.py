"""What the node tells about itself, pure, apart from Node to keep it one screenful: why it does not
claim to be synchronized (``why_not``) and the status snapshot of a tick (``snapshot``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .bootstrap.evidence import iso
from .clock.discipline import Decision
from .clock.errorbound import MAX_DISPERSION_S
from .node_types import NodeConfig, Snapshot, TickInputs

if TYPE_CHECKING:
    from .node import Node


def why_not(
    readable: bool, decision: Decision, demoted: bool, bound_s: float, cfg: NodeConfig, vouched: bool, served_ns: int
) -> str | None:
    """Why the node does not claim stratum 1 now (None: it does)."""
    if not readable:
        return "the clock cannot be read"
    if not decision.healthy:
        return f"sync state {decision.state.value}"
    if not vouched:
        return f"not bootstrapped: run `{cfg.bootstrap_command}`"
    if cfg.not_before_ns and served_ns < cfg.not_before_ns:
        return (
            f"served time {iso(served_ns)} is before the last-known-good {iso(cfg.not_before_ns)}: "
            f"run `{cfg.bootstrap_command}`"
        )
    if demoted:
        return "demoted by the control nodes' vote"
    max_s = cfg.max_error_bound_s
    if bound_s > max_s:
        return f"served-time error bound {bound_s:.6g} s is above clock.discipline.max_error_bound_s {max_s:g} s"
    return None


def snapshot(node: Node, inputs: TickInputs, decision: Decision, offset_ns: float | None, wall_ns: int) -> Snapshot:
    cluster = node.cluster
    reference = None
    if node.cfg.sim_reference:
        reference = "available" if inputs.primary_offset_ns is not None else "lost"
    served = node.served
    return Snapshot(
        state=decision.state,
        healthy=decision.healthy,
        error_bound_s=decision.error_bound_s,
        freq_correction_ppb=node.discipline.freq_ppb,
        reading=inputs.reading,
        temperature_c=inputs.temperature_c,
        offset_ns=offset_ns,
        reference=reference,
        reference_source=node._ref_source,
        reference_suspect=decision.reference_suspect,
        served_monotonic=served.started,
        unsynchronized_reason=node.unsynchronized_reason,
        served_correction_ns=served.correction_ns(wall_ns),
        served_bound_s=served.bound_s(decision.error_bound_s, wall_ns) if inputs.reading else MAX_DISPERSION_S,
        events=node._status_events,
        cluster=cluster.view(),
        tempcomp=node.predictor.status() if node.predictor is not None else None,
        eligible=node.grandmaster_eligible,
        demoted=node.demoted,
        bootstrapped=node.vouched,
        upstream=node.upstream.status() if node.upstream is not None else None,
    )
