"""The three control nodes' vote, pure: is this node's served time with the cluster's majority?

Every vote takes one correctness interval per candidate, in "true time - local served time"
coordinates (seconds):

  * this node:  [-bound, +bound], its own served error bound (what it tells clients as root
    dispersion);
  * each peer that answers as synchronized (leap != 3, stratum 1..15), from its filtered estimate
    (appliance.core.ntp.clockfilter): centre -offset_s (offset = local - peer), half-width the peer's
    distance (half the round trip + its root delay / 2 + its root dispersion + age + jitter).

The intersection is found with Marzullo's algorithm in the form RFC 5905 section 11.2.1 uses: for
f = 0, 1, ... falsetickers, the lowest and the highest point covered by at least n - f intervals;
the first f for which lowest <= highest gives the intersection [low, high]. (RFC 5905 additionally
counts midpoints outside the intersection; with three nodes that rule changes nothing that the
threshold below does not already decide, so it is left out.) A *majority* needs the intersection to
be covered by more than half of the *configured* control nodes (2 of 3), not of those that answer:
two nodes that disagree while the third is silent prove nothing.

Decision: this node's distance from the majority is how far local time (0) lies outside
[low, high]. Beyond ``threshold_s``, and refuted by the majority (it is a falseticker, or every
other node of the majority lies beyond the threshold from local time), the node is outside the
majority and demotes itself; it returns
once the distance has stayed within threshold_s / 2 for ``promote_after_s`` (hysteresis, so that a
node at the edge does not flap). The result of every vote is a state of the table below; DEMOTED
is left only by RECONCILED, so a demoted node that loses its majority (peers silent or split) stays
demoted: it knows it was wrong and has nothing to check against.

The vote's state is kept apart from the sync state (appliance.core.clock.states): a node can be locked to
its own reference and still be outside the majority (its reference is wrong), and the sync table
stays the clock's. The server answers as stratum 1 only when both allow it.

Sign convention: cluster_offset_s = local served time - the cluster's (the majority's midpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..fsm import markdown_table, next_state
from ..ntp.clockfilter import PeerEstimate

# --- the intersection algorithm -----------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    name: str
    low_s: float
    high_s: float

    @classmethod
    def around(cls, name: str, centre_s: float, half_width_s: float) -> Interval:
        w = max(0.0, half_width_s)
        return cls(name, centre_s - w, centre_s + w)


@dataclass(frozen=True)
class Selection:
    low_s: float
    high_s: float
    count: int  # intervals covering [low, high] (n - f)
    truechimers: tuple[str, ...]  # intervals that reach [low, high]
    falsetickers: tuple[str, ...]

    @property
    def midpoint_s(self) -> float:
        return (self.low_s + self.high_s) / 2


def select(intervals: list[Interval]) -> Selection | None:
    """Marzullo / RFC 5905 intersection; None when no point is covered by more than half of them."""
    n = len(intervals)
    if n == 0:
        return None
    # Endpoints sorted ascending; at equal values a lower end comes first, so touching intervals meet.
    edges = sorted([(iv.low_s, -1) for iv in intervals] + [(iv.high_s, +1) for iv in intervals])
    for f in range((n + 1) // 2):  # f < n/2: at least a strict majority of the candidates
        need = n - f
        low = high = None
        chime = 0
        for value, kind in edges:
            chime -= kind
            if chime >= need:
                low = value
                break
        chime = 0
        for value, kind in reversed(edges):
            chime += kind
            if chime >= need:
                high = value
                break
        if low is not None and high is not None and low <= high:
            true = tuple(iv.name for iv in intervals if iv.low_s <= high and iv.high_s >= low)
            false = tuple(iv.name for iv in intervals if iv.name not in true)
            return Selection(low, high, need, true, false)
    return None


def distance_outside_s(low_s: float, high_s: float, point_s: float = 0.0) -> float:
    if point_s < low_s:
        return low_s - point_s
    if point_s > high_s:
        return point_s - high_s
    return 0.0


# --- the vote's state machine -------------------------------------------------------------------


class VoteState(Enum):
    STARTING = "starting"  # no vote yet
    AGREE = "agree"  # a majority exists and this node is in it
    NO_MAJORITY = "no_majority"  # peers answer, but no majority of the configured nodes agrees
    ISOLATED = "isolated"  # no synchronized peer answers
    DEMOTED = "demoted"  # a majority exists and this node is outside it by more than the threshold


class VoteEvent(Enum):
    AGREED = "agreed"
    DISAGREED = "disagreed"
    NO_MAJORITY = "no_majority"
    NO_PEERS = "no_peers"
    RECONCILED = "reconciled"  # a demoted node has stayed within threshold/2 for promote_after_s


V, VE = VoteState, VoteEvent

TRANSITIONS: dict[tuple[VoteState, VoteEvent], VoteState] = {}
for _s in (V.STARTING, V.AGREE, V.NO_MAJORITY, V.ISOLATED):
    TRANSITIONS[(_s, VE.AGREED)] = V.AGREE
    TRANSITIONS[(_s, VE.DISAGREED)] = V.DEMOTED
    TRANSITIONS[(_s, VE.NO_MAJORITY)] = V.NO_MAJORITY
    TRANSITIONS[(_s, VE.NO_PEERS)] = V.ISOLATED
TRANSITIONS[(V.DEMOTED, VE.RECONCILED)] = V.AGREE
for _k in [k for k, v in TRANSITIONS.items() if k[0] is v]:
    del TRANSITIONS[_k]  # self-loops are implicit


def describe() -> str:
    """Markdown table of the vote's machine, generated from TRANSITIONS."""
    lines = markdown_table(TRANSITIONS)
    lines.append("")
    lines.append("Any other (state, event) pair leaves the state unchanged; demoted is left only by reconciled.")
    return "\n".join(lines)


@dataclass(frozen=True)
class VoteConfig:
    configured_nodes: int  # control nodes in the cluster, this one included
    threshold_s: float = 0.001
    promote_after_s: float = 6.0

    @property
    def quorum(self) -> int:
        return self.configured_nodes // 2 + 1


SELF = "self"


@dataclass(frozen=True)
class Vote:
    state: VoteState
    event: VoteEvent
    candidates: tuple[str, ...] = ()  # this node ("self") and the synchronized peers
    selection: Selection | None = None
    majority: bool = False
    distance_s: float | None = None  # how far local time lies outside the majority's intersection
    cluster_offset_s: float | None = None  # local served - cluster (majority midpoint)
    transitions: tuple[tuple[VoteState, VoteState, VoteEvent], ...] = ()

    @property
    def demoted(self) -> bool:
        return self.state is VoteState.DEMOTED


class CrossCheck:
    def __init__(self, cfg: VoteConfig):
        if cfg.configured_nodes < 1:
            raise ValueError("configured_nodes must be at least 1")
        self.cfg = cfg
        self.state = VoteState.STARTING
        self._reconciled_since_s: float | None = None
        self.last: Vote | None = None

    @property
    def demoted(self) -> bool:
        return self.state is VoteState.DEMOTED

    def update(self, now_s: float, own_bound_s: float, peers: dict[str, PeerEstimate | None]) -> Vote:
        """One vote. ``peers`` maps each other control node to its filtered estimate (None: no
        recent answer); offsets are in served time (local served - peer)."""
        fit = {name: est for name, est in sorted(peers.items()) if est is not None and est.fit}
        intervals = [Interval.around(SELF, 0.0, own_bound_s)]
        intervals += [Interval.around(name, -est.offset_s, est.distance_s) for name, est in fit.items()]
        candidates = tuple(iv.name for iv in intervals)
        selection = select(intervals) if fit else None
        majority = selection is not None and selection.count >= self.cfg.quorum
        distance = cluster_offset = None
        if not fit:
            event = VoteEvent.NO_PEERS
        elif not majority or selection is None:
            event = VoteEvent.NO_MAJORITY
        else:
            distance = distance_outside_s(selection.low_s, selection.high_s)
            cluster_offset = -selection.midpoint_s
            # Outside when the majority refutes it: it is a falseticker, or every other node of the
            # majority lies beyond the threshold from it. Not when one of them still covers local
            # time: wide intervals (stale samples of a slow poll) can meet far from every centre.
            others = [iv for iv in intervals if iv.name in selection.truechimers and iv.name != SELF]
            refuted = SELF in selection.falsetickers or all(
                distance_outside_s(iv.low_s, iv.high_s) > self.cfg.threshold_s for iv in others
            )
            outside = refuted and distance > self.cfg.threshold_s
            event = VoteEvent.DISAGREED if outside else VoteEvent.AGREED
        if self.state is VoteState.DEMOTED:
            if event is VoteEvent.AGREED and distance is not None and distance <= self.cfg.threshold_s / 2:
                if self._reconciled_since_s is None:
                    self._reconciled_since_s = now_s
                if now_s - self._reconciled_since_s >= self.cfg.promote_after_s:
                    event = VoteEvent.RECONCILED
            else:
                self._reconciled_since_s = None
        out = []
        new = next_state(TRANSITIONS, self.state, event)
        if new is not self.state:
            out.append((self.state, new, event))
            self.state = new
            self._reconciled_since_s = None
        self.last = Vote(new, event, candidates, selection, majority, distance, cluster_offset, tuple(out))
        return self.last


def realign_step_ns(vote: Vote, correction_ns: int, threshold_s: float) -> int:
    """The clock step that puts a demoted node's *clock* back on the cluster's time (0 for none).

    The step goes to the clock only: served time absorbs it by slewing (appliance.core.clock.timemap),
    so it never steps backward. ``correction_ns`` is what served time still has to absorb
    (clock - served), so clock - cluster = cluster_offset + correction. Nothing is done while the
    clock is already within threshold_s / 2 of the cluster (served time is still catching up), nor
    without a majority to align to.
    """
    if not vote.demoted or vote.cluster_offset_s is None or not vote.majority:
        return 0
    clock_minus_cluster_ns = vote.cluster_offset_s * 1e9 + correction_ns
    if abs(clock_minus_cluster_ns) <= threshold_s * 1e9 / 2:
        return 0
    return -int(round(clock_minus_cluster_ns))
