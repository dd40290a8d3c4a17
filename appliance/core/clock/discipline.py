"""The node's clock discipline, sans-I/O: one call per interval with the offset to the reference
(or None when there is none), and back come the actions for the clock, the sync state and the
current error bound. The service applies the actions; simulations call it in virtual time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from .errorbound import LOCKED_BOUND_RATE, MAX_DISPERSION_S, DriftBound, locked_bound_s
from .servo import PiServo, ServoState
from ..fsm import next_state
from .states import HEALTHY, TRANSITIONS, SyncEvent, SyncState


@dataclass(frozen=True)
class DisciplineConfig:
    max_freq_ppb: float
    has_reference: bool = True
    lock_threshold_ns: float = 1_000.0  # |offset| below this for lock_count samples = locked
    lock_count: int = 3
    unlock_threshold_ns: float = 100_000.0  # |offset| above this while locked = re-acquire
    step_threshold_ns: int = 20_000_000
    reference_accuracy_ns: float = 100.0
    max_error_bound_s: float = 0.1  # above this the node stops claiming stratum 1
    holdover_freq_uncertainty_ppb: float = 50.0
    holdover_wander_ppb_per_s: float = 0.01
    freerun_initial_s: float = 0.001
    freerun_freq_uncertainty_ppb: float = 500.0
    # PI gains per interval: firm for a reference measured fresh every tick (PPS, PTP); gentler for
    # one whose samples are filtered over a few polls (NTP), where a firm loop would chase old samples.
    servo_kp: float = 0.7
    servo_ki: float = 0.3
    servo_estimate_s: float = 0.0  # the first frequency estimate spans at least this (PiServo.min_estimate_s)


@dataclass(frozen=True)
class Decision:
    state: SyncState
    error_bound_s: float
    freq_ppb: float | None = None  # set the clock's total frequency correction to this
    step_ns: int = 0  # step the clock by this
    transitions: tuple[tuple[SyncState, SyncState, SyncEvent], ...] = ()

    @property
    def healthy(self) -> bool:
        return self.state in HEALTHY


@dataclass
class _Stats:
    offsets_ns: deque = field(default_factory=lambda: deque(maxlen=16))

    def jitter_ns(self) -> float:
        if len(self.offsets_ns) < 2:
            return 0.0
        mean = sum(self.offsets_ns) / len(self.offsets_ns)
        return math.sqrt(sum((o - mean) ** 2 for o in self.offsets_ns) / (len(self.offsets_ns) - 1))


class HoldoverPredictor(Protocol):
    """Optional holdover hook (implemented by core.holdover.TempCompPredictor). Frequencies are
    the oscillator's own offset (ppb, positive = fast): the opposite of the servo's correction."""

    def ready(self) -> bool: ...

    def observe(self, now_s: float, temp_c: float | None, freq_ppb: float) -> None: ...

    def start_holdover(self, now_s: float, temp_c: float | None) -> float | None: ...

    def predict_freq_ppb(self, now_s: float, temp_c: float | None) -> float | None: ...

    def bound_s(self, elapsed_s: float) -> float | None: ...

    def end_holdover(self) -> None: ...


class Discipline:
    def __init__(self, cfg: DisciplineConfig, initial_freq_ppb: float = 0.0, predictor: HoldoverPredictor | None = None):
        self.cfg = cfg
        self.state = SyncState.STARTING
        self.servo = PiServo(cfg.max_freq_ppb, kp=cfg.servo_kp, ki=cfg.servo_ki, step_threshold_ns=cfg.step_threshold_ns,
                             initial_freq_ppb=initial_freq_ppb, min_estimate_s=cfg.servo_estimate_s)
        self.freq_ppb = initial_freq_ppb
        self._good = 0
        self._stats = _Stats()
        self._since_s: float | None = None  # start of holdover / free-run
        self._bound_at_since_s = 0.0
        self._bound_s = MAX_DISPERSION_S
        self._reference_bound_s = 0.0
        self.holdover_freq_ppb: float | None = None  # frequency to hold; the TCXO model may replace it
        # holdover predictor hook: learns while locked, predicts in holdover
        self.predictor = predictor
        self._predicting = False

    @property
    def error_bound_s(self) -> float:
        return self._bound_s

    def _fire(self, event: SyncEvent, now_s: float, out: list) -> None:
        new = next_state(TRANSITIONS, self.state, event)
        if new is not self.state:
            out.append((self.state, new, event))
            if new in (SyncState.HOLDOVER, SyncState.FREERUN):
                self._since_s = now_s
                self._bound_at_since_s = (
                    self._bound_s if new is SyncState.HOLDOVER else self.cfg.freerun_initial_s
                )
            self.state = new

    def fault(self, now_s: float) -> Decision:
        out: list = []
        self._fire(SyncEvent.FAULT, now_s, out)
        self._bound_s = MAX_DISPERSION_S
        return Decision(self.state, self._bound_s, transitions=tuple(out))

    def tick(
        self, now_s: float, ref_offset_ns: float | None, temp_c: float | None = None, reference_bound_s: float = 0.0,
        fresh: bool = True,
    ) -> Decision:
        """One interval. ``temp_c``: the oscillator's temperature sensor, for the predictor.
        ``reference_bound_s``: how far the reference itself may be from true time (a grandmaster's
        own bound), added to the locked bound: a follower is never surer than what it follows.
        ``fresh`` False: the reference is there but has measured nothing new since the last tick (a
        polled NTP server between replies): the servo must not see the same sample twice, so the
        frequency is held and nothing is judged."""
        self._reference_bound_s = reference_bound_s if ref_offset_ns is not None else self._reference_bound_s
        if ref_offset_ns is not None and not fresh and self.state is not SyncState.FAULT:
            self._bound_s = self._bound(now_s, ref_offset_ns)
            return Decision(self.state, self._bound_s)
        out: list = []
        freq: float | None = None
        step = 0
        if self.state is SyncState.FAULT:
            self._fire(SyncEvent.RECOVERED, now_s, out)
        if self.state is SyncState.STARTING and not self.cfg.has_reference:
            self._fire(SyncEvent.NO_REFERENCE, now_s, out)
        if ref_offset_ns is None:
            if self.state in (SyncState.LOCKED, SyncState.ACQUIRING):
                if self.state is SyncState.LOCKED:
                    self.holdover_freq_ppb = self.servo.drift_ppb
                    # --- predictor hook: hold the predicted frequency instead of the last one
                    if self.predictor is not None and self.predictor.ready():
                        predicted = self.predictor.start_holdover(now_s, temp_c)
                        if predicted is not None:
                            self.holdover_freq_ppb = self.servo.drift_ppb = -predicted
                            self._predicting = True
                    freq = self.holdover_freq_ppb
                self._fire(SyncEvent.REFERENCE_LOST, now_s, out)
                self.servo.reset()
                self._good = 0
            elif self.state is SyncState.HOLDOVER and self._predicting:
                # --- predictor hook: a new predicted frequency at its fixed interval
                predicted = self.predictor.predict_freq_ppb(now_s, temp_c)
                if predicted is not None and -predicted != self.holdover_freq_ppb:
                    self.holdover_freq_ppb = self.servo.drift_ppb = -predicted
                    freq = self.holdover_freq_ppb
        else:
            if self._predicting:  # --- predictor hook: reference back
                self.predictor.end_holdover()
                self._predicting = False
            self._fire(SyncEvent.REFERENCE_SEEN, now_s, out)
            result = self.servo.sample(ref_offset_ns, now_s)
            freq = result.freq_ppb
            if result.state is ServoState.JUMP:
                step = result.step_ns
                self._stats.offsets_ns.clear()
                self._good = 0
            else:
                self._stats.offsets_ns.append(ref_offset_ns)
                if abs(ref_offset_ns) < self.cfg.lock_threshold_ns and result.state is ServoState.LOCKED:
                    self._good += 1
                else:
                    self._good = 0
                if self._good >= self.cfg.lock_count:
                    self._fire(SyncEvent.LOCKED, now_s, out)
                if abs(ref_offset_ns) > self.cfg.unlock_threshold_ns:
                    self._fire(SyncEvent.UNLOCKED, now_s, out)
                if self.predictor is not None and self.state is SyncState.LOCKED:
                    # --- predictor hook: the oscillator runs opposite to the servo's correction
                    self.predictor.observe(now_s, temp_c, -self.servo.drift_ppb)
        self._bound_s = self._bound(now_s, ref_offset_ns)
        if self.state in (SyncState.HOLDOVER, SyncState.FREERUN) and self._bound_s > self.cfg.max_error_bound_s:
            self._fire(SyncEvent.BOUND_EXCEEDED, now_s, out)
        if freq is not None:
            self.freq_ppb = freq
        return Decision(self.state, self._bound_s, freq, step, tuple(out))

    def bound_rate(self, now_s: float, horizon_s: float) -> float:
        """How fast the error bound grows after ``now_s`` (seconds per second), for answers
        between ticks: the chord of the bound over ``horizon_s``, which lies above a convex bound
        over that whole horizon. While the reference steers the clock, chrony's maximum clock
        error (LOCKED_BOUND_RATE) stands for what a tick can miss."""
        if self.state not in (SyncState.HOLDOVER, SyncState.FREERUN) or horizon_s <= 0:
            return LOCKED_BOUND_RATE if self.state in HEALTHY else 0.0
        ahead = self._bound(now_s + horizon_s, None)
        return max(0.0, (ahead - self._bound_s) / horizon_s)

    def _bound(self, now_s: float, ref_offset_ns: float | None) -> float:
        st = self.state
        if st is SyncState.LOCKED and ref_offset_ns is not None:
            return locked_bound_s(ref_offset_ns, self._stats.jitter_ns(), self.cfg.reference_accuracy_ns) + \
                self._reference_bound_s
        since_s = now_s if self._since_s is None else self._since_s
        if st is SyncState.HOLDOVER and self._predicting:
            # --- predictor hook: the model's bound from the start of holdover
            learned = self.predictor.bound_s(now_s - since_s)
            if learned is not None:
                return min(self._bound_at_since_s + learned, MAX_DISPERSION_S)
        if st is SyncState.HOLDOVER:
            drift = DriftBound(
                self._bound_at_since_s, self.cfg.holdover_freq_uncertainty_ppb, self.cfg.holdover_wander_ppb_per_s
            )
            return drift.bound_s(now_s - since_s)
        if st is SyncState.FREERUN:
            drift = DriftBound(self.cfg.freerun_initial_s, self.cfg.freerun_freq_uncertainty_ppb, 0.0)
            return drift.bound_s(now_s - since_s)
        return MAX_DISPERSION_S
