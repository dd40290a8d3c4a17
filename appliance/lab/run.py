"""The measuring loop of `appliance lab run`: phases over a device (device.py), records out
(core.lab.records). No judgement here: appliance.core.lab.analyze does that.

Phases, in order:
  read        each sys-offset method, READS_PER_METHOD single readings back to back; then the best one
              read the way the stability phase reads it (best of STABILITY_READ_SAMPLES), whose jitter
              is the measurement floor of the stability analysis
  frequency   ADJ_FREQUENCY at FREQ_POINTS values across +-max_adj (0 first: the baseline rate), each
              held FREQ_DWELL_S while the offset's rate is measured; then values just beyond max_adj,
              which must be refused
  phase       ADJ_SETOFFSET steps (one beyond +-2^31 ns: drivers take another path there) and, where the
              driver has it, an ADJ_OFFSET slew, each undone; landed = offset change with the drift out
  pins        with --loopback: 1 PPS on one pin, external timestamps on the other
  stability   the free-running oscillator (correction 0) against the reference every interval for the
              rest of the duration, with the temperature
Ctrl-C (KeyboardInterrupt) ends the phase it lands in; what was recorded stays, and the PHC is put
back: its frequency correction as found, and its time where it would be had it run undisturbed.
"""

from __future__ import annotations

import datetime
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from ..core.clock.interface import ClockError
from ..core.lab import hardware as hw
from ..core.lab.records import FreqPoint, LabRecord, LoopbackRecord, PhaseStep, ReadBurst, Refusal, StabilityRecord
from .device import Loopback

log = logging.getLogger("appliance.lab")

READS_PER_METHOD = 200
STABILITY_READ_SAMPLES = 5
STABILITY_READ_BURST = 60
FREQ_POINTS = 9
FREQ_DWELL_S = 2.0
FREQ_READS = 21
FREQ_SETTLE_S = 0.1
BEYOND_FRACTION = 0.01  # refusal is tried this share (and at least 1 ppb) beyond max_adj
STEPS_NS = (1_000_000, -1_000_000, 2_500_000_000, -2_500_000_000)
STEP_WINDOW_S = 0.5
STEP_READS = 11
ADJPHASE_NS = 10_000
ADJPHASE_SETTLE_S = 3.0
LOOPBACK_EDGES = 10
STABILITY_INTERVAL_S = 1.0
MAX_FAILED_IN_A_ROW = 10


def fixed_phases_s(loopback: bool) -> float:
    """Real time the phases before stability take (about): the least useful --duration is more."""
    freq = (FREQ_POINTS + 1) * (FREQ_DWELL_S + FREQ_SETTLE_S)
    phase = len(STEPS_NS) * 2 * STEP_WINDOW_S + 2 * (2 * STEP_WINDOW_S + ADJPHASE_SETTLE_S)
    pins = LOOPBACK_EDGES + 3.0 if loopback else 0.0
    return 2.0 + freq + phase + pins


@dataclass
class RunOptions:
    duration_s: float
    expect_class: str | None = None
    loopback: tuple[int, int] | None = None
    stability_interval_s: float = STABILITY_INTERVAL_S
    stream_path: Path | None = None  # stability readings as they come (a crash still leaves them)


class LabRun:
    def __init__(self, device, options: RunOptions, progress=None):
        self.dev = device
        self.opt = options
        self.progress = progress
        self.tb = device.timebase
        self.phase = "setup"
        self._t_start = 0.0
        self._stream: Stream | None = None
        self.method: str | None = None  # the sys-offset method the read phase chose
        self._baseline: float | None = None

    # -- helpers ---------------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self.tb.now_s() - self._t_start

    def _tick(self, phase_fraction: float = 0.0) -> None:
        if self.progress is None:
            return
        total = self.opt.duration_s
        elapsed = self._elapsed()
        self.progress.update(self.phase, elapsed / total if total else 1.0, max(total - elapsed, 0.0))

    def _method(self) -> str:
        """The chosen sys-offset method: the phases after read run only once there is one."""
        if self.method is None:
            raise ClockError("no sys-offset method was chosen")
        return self.method

    # -- phases ------------------------------------------------------------------------------------------
    def _read(self, rec: LabRecord) -> None:
        for method in self.dev.read_methods():
            rec.reads.append(read_burst(self.dev, method, READS_PER_METHOD, 1))
            self._tick()
        good = [b for b in rec.reads if not b.error and len(b.offsets_ns) >= 3]
        if not good:
            raise ClockError("no sys-offset method works: " + "; ".join(f"{b.method}: {b.error}" for b in rec.reads))
        stats = [hw.read_stats(b.method, b.system_ns, b.offsets_ns, b.windows_ns) for b in good]
        self.method = hw.best_method(stats)
        rec.stability_read = read_burst(self.dev, self._method(), STABILITY_READ_BURST, STABILITY_READ_SAMPLES)

    def _frequency(self, rec: LabRecord) -> None:
        caps = self.dev.clock.caps()
        rec.max_adj_ppb = float(caps.max_adj_ppb)
        if caps.max_adj_ppb <= 0:
            rec.phases["frequency"] = "skipped: max_adj is 0 (the PHC cannot be steered)"
            return
        points = hw.frequency_points(caps.max_adj_ppb, FREQ_POINTS)
        order = [0.0] + [p for p in points if p != 0.0] + [0.0]
        baseline = []
        for i, f in enumerate(order):
            self.dev.clock.adjust_frequency(f)
            self.tb.sleep_s(FREQ_SETTLE_S)
            rate, sigma, _, _ = measure_rate(self.dev, self.tb, FREQ_READS, FREQ_DWELL_S, self._method())
            if f == 0.0:
                baseline.append((rate, sigma))
            if i > 0 and (f != 0.0 or i == len(order) - 1):
                rec.freq_points.append(FreqPoint(f, rate, sigma if math.isfinite(sigma) else 0.0))
            self._tick()
        rec.freq_baseline_ppb = sum(b[0] for b in baseline) / len(baseline)
        beyond = caps.max_adj_ppb * (1 + BEYOND_FRACTION) + 1
        for f in (beyond, -beyond):
            refused, msg = self.dev.try_frequency_beyond(f)
            rec.refusals.append(Refusal(f, refused, msg))
        self.dev.clock.adjust_frequency(0.0)

    def _step(self, kind: str, amount_ns: int, settle_s: float, rec: LabRecord) -> None:
        rate, _, x_before, t_before = measure_rate(self.dev, self.tb, STEP_READS, STEP_WINDOW_S, self._method())
        if kind == "step":
            self.dev.clock.step(amount_ns)
        else:
            self.dev.clock.adjust_phase(amount_ns)
        self.tb.sleep_s(settle_s)
        _, _, x_after, t_after = measure_rate(self.dev, self.tb, STEP_READS, STEP_WINDOW_S, self._method())
        landed = x_after - (x_before + rate * (t_after - t_before) / 1e9)
        rec.phase_steps.append(PhaseStep(kind, amount_ns, landed, settle_s))

    def _phase(self, rec: LabRecord) -> None:
        self.dev.clock.adjust_frequency(0.0)
        for amount in STEPS_NS:
            self._step("step", amount, 0.0, rec)
            self._tick()
        caps = self.dev.clock.caps()
        if not caps.adjust_phase:
            rec.notes.append("phase: the driver has no adjphase (caps.adjust_phase 0): ADJ_OFFSET not measured")
            return
        amount = ADJPHASE_NS
        if caps.max_phase_adj_ns > 0:
            amount = min(amount, caps.max_phase_adj_ns // 2)
        for a in (amount, -amount):
            self._step("adjphase", int(a), ADJPHASE_SETTLE_S, rec)
            self._tick()

    def _pins(self, rec: LabRecord) -> None:
        if self.opt.loopback is None:
            caps = self.dev.clock.caps()
            rec.phases["pins"] = (
                f"skipped: no --loopback PIN_OUT:PIN_IN (the PHC has {caps.n_pins} pins, "
                f"{caps.n_per_out} periodic outputs, {caps.n_ext_ts} external timestamp inputs)"
            )
            return
        lb = Loopback(*self.opt.loopback)
        rec.loopback = LoopbackRecord(lb.pin_out, lb.pin_in, lb.period_ns)
        try:
            self.dev.loopback_start(lb)
            deadline = self.tb.now_s() + LOOPBACK_EDGES + 3.0
            while len(rec.loopback.event_times_ns) < LOOPBACK_EDGES and self.tb.now_s() < deadline:
                rec.loopback.event_times_ns.extend(self.dev.loopback_events(lb, 1.5))
                self._tick()
        except ClockError as exc:
            rec.loopback.error = str(exc)
        finally:
            self.dev.loopback_stop(lb)

    def _stability(self, rec: LabRecord) -> None:
        interval = self.opt.stability_interval_s
        method = self._method()
        s = StabilityRecord(interval_s=interval, reference=self.dev.reference_name, method=method)
        rec.stability = s
        self.dev.clock.adjust_frequency(0.0)
        left = self.opt.duration_s - self._elapsed()
        n = max(int(left / interval), 0) + 1
        stream = self._stream = Stream(self.opt.stream_path)
        t0 = self.tb.now_s()
        t_ref0 = None
        failed_in_a_row = 0
        for k in range(n):
            self.tb.sleep_s(t0 + k * interval - self.tb.now_s())
            try:
                t_ns, off = self.dev.offset_to_reference(method, STABILITY_READ_SAMPLES)
            except ClockError as exc:
                s.failed_reads += 1
                failed_in_a_row += 1
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                    raise ClockError(f"{failed_in_a_row} readings in a row failed: {exc}") from None
                continue
            failed_in_a_row = 0
            t_ref0 = t_ns if t_ref0 is None else t_ref0
            temp = self.dev.temperature_c()
            t_s = (t_ns - t_ref0) / 1e9
            s.time_s.append(t_s)
            s.phase_ns.append(off)
            s.temperature_c.append(temp)
            stream.row(t_s, off, temp)
            self._tick()

    # -- the run -------------------------------------------------------------------------------------------
    def run(self) -> LabRecord:
        identity, family = self.dev.identity()
        rec = LabRecord(
            device=identity,
            family=family,
            requested_s=self.opt.duration_s,
            started_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            expect_class=self.opt.expect_class,
        )
        self._t_start = self.tb.now_s()
        self.method = None
        self._baseline = None
        anchor = None
        freq0 = self.dev.clock.get_frequency_ppb()
        phases = [
            ("read", self._read),
            ("frequency", self._frequency),
            ("phase", self._phase),
            ("pins", self._pins),
            ("stability", self._stability),
        ]
        try:
            for name, func in phases:
                self.phase = name
                if self.method is None and name != "read":
                    rec.phases[name] = "skipped: the PHC could not be read"
                    continue
                try:
                    func(rec)
                    rec.phases.setdefault(name, "done")
                except ClockError as exc:
                    rec.phases[name] = f"failed: {exc}"
                    log.warning("%s phase: %s", name, exc)
                if name == "read" and self.method:
                    r = self.dev.read(self.method, STABILITY_READ_SAMPLES)
                    anchor = (float(r.offset_ns), int(r.system_ns))
                if name == "frequency" and rec.freq_baseline_ppb is not None:
                    self._baseline = rec.freq_baseline_ppb  # the offset's rate at correction 0
        except KeyboardInterrupt:
            rec.interrupted_in = self.phase
            rec.phases[self.phase] = "interrupted"
        finally:
            rec.elapsed_s = self._elapsed()
            if self._stream:
                self._stream.close()
            if self.progress is not None:
                self.progress.done()
            put_back(self.dev, self.method, self._baseline, freq0, anchor, rec)
        return rec


def read_burst(dev, method: str, n: int, samples: int) -> ReadBurst:
    """n readings with one method; the first failure ends it (recorded when nothing was read)."""
    burst = ReadBurst(method=method, samples=samples)
    for _ in range(n):
        try:
            r = dev.read(method, samples)
        except ClockError as exc:
            if not burst.offsets_ns:
                burst.error = str(exc)
                return burst
            continue
        burst.system_ns.append(int(r.system_ns))
        burst.offsets_ns.append(int(r.offset_ns))
        burst.windows_ns.append(int(r.delay_ns))
    return burst


def measure_rate(dev, tb, reads: int, span_s: float, method: str) -> tuple[float, float, float, float]:
    """Offset readings over span_s: (rate ppb, its sigma, offset ns at the middle, middle time s)."""
    ts, xs = [], []
    step = span_s / max(reads - 1, 1)
    for i in range(reads):
        r = dev.read(method, STABILITY_READ_SAMPLES)
        ts.append(int(r.system_ns))
        xs.append(float(r.offset_ns))
        if i < reads - 1:
            tb.sleep_s(step)
    rel = [(t - ts[0]) / 1e9 for t in ts]  # differences of integer ns: no float rounding at 1.7e9 s
    rate, sigma = hw.slope_ppb(rel, xs)
    mid = sum(rel) / len(rel)
    mean_x = sum(xs) / len(xs)
    return rate, sigma, mean_x, ts[0] + int(mid * 1e9)


class Stream:
    """The stability readings written as they come (line-buffered), so a crash still leaves them."""

    def __init__(self, path: Path | None):
        self._f = open(path, "w", buffering=1) if path is not None else None
        if self._f:
            self._f.write("# appliance lab run: stability readings as measured (clock - reference)\n")
            self._f.write("time_s,offset_ns,temperature_c\n")

    def row(self, t_s: float, offset_ns: float, temp_c: float | None) -> None:
        if self._f:
            self._f.write(f"{t_s:.6f},{offset_ns:.1f},{'' if temp_c is None else f'{temp_c:.4f}'}\n")

    def close(self) -> None:
        if self._f:
            self._f.close()
            self._f = None


def _restore(dev, method, baseline_ppb, freq0: float, anchor) -> None:
    """Frequency as found; time where the PHC would be had it run undisturbed (from the anchor
    reading and the rate at correction 0)."""
    dev.clock.adjust_frequency(freq0)
    if anchor is None or baseline_ppb is None or method is None:
        return
    off0, t0 = anchor
    r = dev.read(method, STABILITY_READ_SAMPLES)
    expected = off0 + (baseline_ppb + freq0) * (r.system_ns - t0) / 1e9
    delta = int(round(expected - r.offset_ns))
    if delta:
        dev.clock.step(delta)


def put_back(dev, method, baseline_ppb, freq0: float, anchor, rec: LabRecord) -> None:
    """_restore, once more if a second Ctrl-C lands in it; what could not be done goes into the notes."""
    for attempt in range(2):
        try:
            _restore(dev, method, baseline_ppb, freq0, anchor)
            return
        except KeyboardInterrupt:
            if attempt:
                rec.notes.append("putting the PHC back was interrupted twice: check its frequency correction")
                return
        except ClockError as exc:
            rec.notes.append(f"putting the PHC back: {exc}")
            return
