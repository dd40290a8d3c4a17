"""The node's clock discipline, sans-I/O: one call per interval with the offset to the reference
(or None when there is none), and back come the actions for the clock, the sync state and the
current error bound. The shell applies the actions; simulations call it in virtual time.

The reference guard. While locked, the clock is within a few jitters of its reference; an offset
beyond ``guard_ns`` (the unlock threshold or GUARD_JITTERS x the offset's jitter, whichever is
larger) is something the clock itself cannot have done in one interval, so it is a fault of the
reference (a stepped or runaway grandmaster) until proven otherwise: the sample is not followed,
the node holds over (REFERENCE_SUSPECT) and says so. It returns to locked as soon as the reference
agrees again with what the holdover predicts (the guard plus the bound's growth since). The
reference is followed after all, through re-acquisition (a step where needed), when the control
nodes' vote finds this node the minority (``accept_step``: the majority agrees with the
reference), when the reference itself changed (a new grandmaster, ``reference_changed``), or once
holdover has used up the bound (unsynchronized: the node no longer knows better). So one upstream
cannot move a follower's served time by more than its guard, whatever the vote's timing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from ..fsm import next_state
from .errorbound import LOCKED_BOUND_RATE, MAX_DISPERSION_S, DriftBound, locked_bound_s
from .guard import PhaseGuard
from .servo import PiServo, ServoState
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


Transition = tuple[SyncState, SyncState, SyncEvent]  # (old state, new state, the event)


@dataclass(frozen=True)
class Decision:
    state: SyncState
    error_bound_s: float
    freq_ppb: float | None = None  # set the clock's total frequency correction to this
    step_ns: int = 0  # step the clock by this
    transitions: tuple[Transition, ...] = ()
    reference_suspect: bool = False  # the reference's offsets are outside the guard and not followed

    @property
    def healthy(self) -> bool:
        return self.state in HEALTHY


class _Stats:
    """The last 16 reference offsets and their spread (computed once per new sample)."""

    def __init__(self) -> None:
        self.offsets_ns: deque[float] = deque(maxlen=16)
        self._jitter_ns: float | None = None

    def add(self, offset_ns: float) -> None:
        self.offsets_ns.append(offset_ns)
        self._jitter_ns = None

    def clear(self) -> None:
        self.offsets_ns.clear()
        self._jitter_ns = None

    def jitter_ns(self) -> float:
        if self._jitter_ns is None:
            n = len(self.offsets_ns)
            if n < 2:
                self._jitter_ns = 0.0
            else:
                mean = sum(self.offsets_ns) / n
                self._jitter_ns = math.sqrt(sum((o - mean) ** 2 for o in self.offsets_ns) / (n - 1))
        return self._jitter_ns


class HoldoverPredictor(Protocol):
    """Optional holdover hook (implemented by core.holdover.TempCompPredictor). Frequencies are
    the oscillator's own offset (ppb, positive = fast): the opposite of the servo's correction."""

    def ready(self) -> bool: ...

    def observe(self, now_s: float, temp_c: float | None, freq_ppb: float) -> None: ...

    def start_holdover(self, now_s: float, temp_c: float | None) -> float | None: ...

    def predict_freq_ppb(self, now_s: float, temp_c: float | None) -> float | None: ...

    def bound_s(self, elapsed_s: float) -> float | None: ...

    def end_holdover(self) -> None: ...


AGREE_SAMPLES = 8  # a suspect reference must agree this many samples in a row to be followed again
GUARD_JITTERS = 8.0  # a locked reference's offset beyond this many jitters (or the unlock threshold) is suspect


class Discipline:
    def __init__(
        self, cfg: DisciplineConfig, initial_freq_ppb: float = 0.0, predictor: HoldoverPredictor | None = None
    ):
        self.cfg = cfg
        self.state = SyncState.STARTING
        self.servo = PiServo(
            cfg.max_freq_ppb,
            kp=cfg.servo_kp,
            ki=cfg.servo_ki,
            step_threshold_ns=cfg.step_threshold_ns,
            initial_freq_ppb=initial_freq_ppb,
            min_estimate_s=cfg.servo_estimate_s,
        )
        self.freq_ppb = initial_freq_ppb
        self._good = 0
        self._stats = _Stats()
        self._since_s: float | None = None  # start of holdover / free-run
        self._bound_at_since_s = 0.0
        self._bound_s = MAX_DISPERSION_S
        self._reference_bound_s = 0.0
        self.suspect = False  # holding over because the reference left the guard
        self._phase = PhaseGuard()
        self._agreed = 0
        self.holdover_freq_ppb: float | None = None  # frequency to hold; the TCXO model may replace it
        # holdover predictor hook: learns while locked, predicts in holdover
        self.predictor = predictor
        self._predicting = False

    @property
    def error_bound_s(self) -> float:
        return self._bound_s

    def jitter_ns(self) -> float:
        """The spread of the recent reference offsets (the measured stability while locked)."""
        return self._stats.jitter_ns()

    def _fire(self, event: SyncEvent, now_s: float, out: list[Transition]) -> None:
        new = next_state(TRANSITIONS, self.state, event)
        if new is not self.state:
            out.append((self.state, new, event))
            if new in (SyncState.HOLDOVER, SyncState.FREERUN):
                self._since_s = now_s
                self._bound_at_since_s = self._bound_s if new is SyncState.HOLDOVER else self.cfg.freerun_initial_s
            self.state = new

    def _end_prediction(self) -> None:
        """The reference is back: the predictor, if it was predicting, ends its holdover."""
        if self._predicting and self.predictor is not None:
            self.predictor.end_holdover()
        self._predicting = False

    def fault(self, now_s: float) -> Decision:
        out: list[Transition] = []
        self._fire(SyncEvent.FAULT, now_s, out)
        self._bound_s = MAX_DISPERSION_S
        return Decision(self.state, self._bound_s, transitions=tuple(out))

    def guard_ns(self, now_s: float) -> float:
        """How far from the reference the clock may be before the reference is suspect."""
        base = max(self.cfg.unlock_threshold_ns, GUARD_JITTERS * self._stats.jitter_ns())
        if self.state is SyncState.HOLDOVER:  # what holding over may have cost since
            base += max(0.0, bound_at_s(self, now_s, None) - self._bound_at_since_s) * 1e9
        return base

    def _judge(
        self, now_s: float, off: float, accept_step: bool, changed: bool, temp_c: float | None, out: list[Transition]
    ) -> tuple[float | None, float | None]:
        """The guard (module docstring): (the offset to follow or None, a holdover frequency)."""
        if accept_step or changed:
            self._phase.reset()
            if self.suspect or (self.state is SyncState.LOCKED and abs(off) > self.guard_ns(now_s)):
                self.servo.reset()  # re-acquire: the servo steps if the offset needs it
                self._good = 0
                self.suspect = False
            return off, None
        if self.state is not SyncState.LOCKED:
            self._phase.reset()
        elif self._outside_guard(now_s, off):
            # Hold the frequency from before the window: the servo has already followed part of a
            # runaway (the model's prediction, where there is one, is better still).
            trusted = self._phase.start_freq_ppb()
            if trusted is not None:
                self.servo.drift_ppb = trusted
            self._phase.reset()
            freq = _start_holdover(self, now_s, temp_c)
            self._fire(SyncEvent.REFERENCE_SUSPECT, now_s, out)
            self.suspect, self._agreed = True, 0
            return None, freq
        if self.state is SyncState.HOLDOVER and self.suspect:
            # Back only after AGREE_SAMPLES in a row within the guard, offset and phase both: a
            # runaway that is still small is not taken back.
            if self._outside_guard(now_s, off):
                self._phase.reset()
                self._agreed = 0
                return None, None
            self._agreed += 1
            if self._agreed < AGREE_SAMPLES:
                return None, None
            self._phase.reset()
            self._end_prediction()
            self._fire(SyncEvent.REFERENCE_AGREES, now_s, out)
            self.suspect = False
        elif self.suspect:  # the bound ran out (unsynchronized): follow the reference again
            self.servo.reset()
            self.suspect = False
        return off, None

    def _outside_guard(self, now_s: float, off: float) -> bool:
        """The offset itself, or the phase the clock would have kept on its own (guard.py: a
        reference running away slowly, which the servo would follow), beyond the guard."""
        guard = self.guard_ns(now_s)
        return abs(off) > guard or abs(
            self._phase.deviation_ns(now_s, off, self.freq_ppb, self.servo.drift_ppb)
        ) > self._phase.allowed_ns(guard)

    def tick(
        self,
        now_s: float,
        ref_offset_ns: float | None,
        temp_c: float | None = None,
        reference_bound_s: float = 0.0,
        accept_step: bool = False,
        reference_changed: bool = False,
        fresh: bool = True,
    ) -> Decision:
        """One interval. ``temp_c``: the oscillator's temperature sensor, for the predictor.
        ``reference_bound_s``: how far the reference itself may be from true time (a grandmaster's
        own bound), added to the locked bound: a follower is never surer than what it follows.
        ``accept_step``, ``reference_changed``: see the guard in the module docstring.
        ``fresh`` False: the reference is there but has measured nothing new since the last tick (a
        polled NTP server between replies): the servo must not see the same sample twice, so the
        frequency is held and nothing is judged."""
        self._reference_bound_s = reference_bound_s if ref_offset_ns is not None else self._reference_bound_s
        if ref_offset_ns is not None and not fresh and self.state is not SyncState.FAULT:
            self._bound_s = bound_at_s(self, now_s, ref_offset_ns)
            return Decision(self.state, self._bound_s)
        out: list[Transition] = []
        freq: float | None = None
        step = 0
        if self.state is SyncState.FAULT:
            self._fire(SyncEvent.RECOVERED, now_s, out)
        if self.state is SyncState.STARTING and not self.cfg.has_reference:
            self._fire(SyncEvent.NO_REFERENCE, now_s, out)
        if ref_offset_ns is not None:
            ref_offset_ns, freq = self._judge(now_s, ref_offset_ns, accept_step, reference_changed, temp_c, out)
        if ref_offset_ns is None:
            if self.state in (SyncState.LOCKED, SyncState.ACQUIRING):
                if self.state is SyncState.LOCKED:
                    freq = _start_holdover(self, now_s, temp_c)
                self._fire(SyncEvent.REFERENCE_LOST, now_s, out)
                self.servo.reset()
                self._good = 0
            elif self.state is SyncState.HOLDOVER and self._predicting and self.predictor is not None:
                # --- predictor hook: a new predicted frequency at its fixed interval
                predicted = self.predictor.predict_freq_ppb(now_s, temp_c)
                if predicted is not None and -predicted != self.holdover_freq_ppb:
                    self.holdover_freq_ppb = self.servo.drift_ppb = -predicted
                    freq = self.holdover_freq_ppb
        else:
            self._end_prediction()  # --- predictor hook: reference back
            self._fire(SyncEvent.REFERENCE_SEEN, now_s, out)
            result = self.servo.sample(ref_offset_ns, now_s)
            freq = result.freq_ppb
            if result.state is ServoState.JUMP:
                step = result.step_ns
                self._stats.clear()
                self._good = 0
            else:
                self._stats.add(ref_offset_ns)
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
        self._bound_s = bound_at_s(self, now_s, ref_offset_ns)
        if self.state in (SyncState.HOLDOVER, SyncState.FREERUN) and self._bound_s > self.cfg.max_error_bound_s:
            self._fire(SyncEvent.BOUND_EXCEEDED, now_s, out)
        if freq is not None:
            self.freq_ppb = freq
        return Decision(self.state, self._bound_s, freq, step, tuple(out), self.suspect)

    def bound_rate(self, now_s: float, horizon_s: float) -> float:
        """How fast the error bound grows after ``now_s`` (seconds per second), for answers
        between ticks: the chord of the bound over ``horizon_s``, which lies above a convex bound
        over that whole horizon. While the reference steers the clock, chrony's maximum clock
        error (LOCKED_BOUND_RATE) stands for what a tick can miss."""
        if self.state not in (SyncState.HOLDOVER, SyncState.FREERUN) or horizon_s <= 0:
            return LOCKED_BOUND_RATE if self.state in HEALTHY else 0.0
        ahead = bound_at_s(self, now_s + horizon_s, None)
        return max(0.0, (ahead - self._bound_s) / horizon_s)


def unlocked_bound_s(
    state: SyncState, cfg: DisciplineConfig, elapsed_s: float, bound_at_since_s: float, learned_s: float | None
) -> float:
    """The bound away from a reference: in holdover the model's (``learned_s``, from the start of
    holdover) or the class default's growth from the bound at the start; free-running from the
    class default; otherwise unknown."""
    if state is SyncState.HOLDOVER and learned_s is not None:
        return min(bound_at_since_s + learned_s, MAX_DISPERSION_S)
    if state is SyncState.HOLDOVER:
        return DriftBound(bound_at_since_s, cfg.holdover_freq_uncertainty_ppb, cfg.holdover_wander_ppb_per_s).bound_s(
            elapsed_s
        )
    if state is SyncState.FREERUN:
        return DriftBound(cfg.freerun_initial_s, cfg.freerun_freq_uncertainty_ppb, 0.0).bound_s(elapsed_s)
    return MAX_DISPERSION_S


def _start_holdover(d: Discipline, now_s: float, temp_c: float | None) -> float | None:
    """Hold the last frequency, or the model's prediction; the frequency to set."""
    d.holdover_freq_ppb = d.servo.drift_ppb
    if d.predictor is not None and d.predictor.ready():
        predicted = d.predictor.start_holdover(now_s, temp_c)
        if predicted is not None:
            d.holdover_freq_ppb = d.servo.drift_ppb = -predicted
            d._predicting = True
    return d.holdover_freq_ppb


def bound_at_s(d: Discipline, now_s: float, ref_offset_ns: float | None) -> float:
    """The error bound at ``now_s``: locked, from the reference's offsets; else from the holdover or
    free-run start (unlocked_bound_s)."""
    if d.state is SyncState.LOCKED and ref_offset_ns is not None:
        return locked_bound_s(ref_offset_ns, d._stats.jitter_ns(), d.cfg.reference_accuracy_ns) + d._reference_bound_s
    elapsed_s = now_s - (now_s if d._since_s is None else d._since_s)
    learned = d.predictor.bound_s(elapsed_s) if d._predicting and d.predictor is not None else None
    return unlocked_bound_s(d.state, d.cfg, elapsed_s, d._bound_at_since_s, learned)
