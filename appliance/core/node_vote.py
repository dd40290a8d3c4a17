"""The node's vote step, pure: the other control nodes' estimates judged against served time,
and the realignment a demoted node without linuxptp makes onto the cluster (appliance.core.node,
step 4 of a tick)."""

from __future__ import annotations

from .clock.discipline import Decision
from .clock.states import SyncState
from .cluster.crosscheck import ClusterCheck
from .node_types import Event, TickInputs
from .ntp.clockfilter import PeerEstimate
from .served import ServedTime


def vote(
    cluster: ClusterCheck,
    served: ServedTime,
    realign: bool,
    inputs: TickInputs,
    decision: Decision,
    shift_ns: int,
    events: list[Event],
) -> int:
    """One vote; returns the realignment step it asks for (0 for none). ``shift_ns``: how far this
    tick's jumps and steps moved the clock (the estimates were taken before them)."""
    wall_ns = inputs.wall_ns
    if decision.state is SyncState.LOCKED:
        served.realign_bound_s = 0.0  # the node's own reference vouches for its clock again
    correction_ns = served.correction_ns(wall_ns)
    # The estimates were taken before this tick's jumps and steps: move them with the clock.
    estimates: dict[str, PeerEstimate | None] = {
        name: est if est is None or not shift_ns else est.shifted(shift_ns * 1e-9)
        for name, est in (inputs.peers or {}).items()
    }
    own_bound_s = served.bound_s(decision.error_bound_s, wall_ns)
    for rec in cluster.update(inputs.monotonic_s, wall_ns * 1e-9, own_bound_s, estimates, correction_ns):
        events.append(Event(rec.time_s, "crosscheck", "warning" if rec.warning else "info", rec.text(), rec.as_dict()))
    if not realign:
        return 0
    step_ns = cluster.realign_step_ns(correction_ns)
    if step_ns:
        # The clock will sit at the majority's midpoint: truth is within half the intersection.
        served.realign_bound_s = cluster.realign_uncertainty_s()
        events.append(
            Event(
                wall_ns * 1e-9,
                "clock",
                "warning",
                f"realigning the clock to the cluster by {step_ns / 1e9:+.9f} s; served time slews",
            )
        )
    return step_ns
