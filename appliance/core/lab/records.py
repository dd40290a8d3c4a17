"""What a lab run measured, as plain records (pure): the shell fills them in, the analysis reads them,
and measurements.json keeps them so that a run can be judged again without the hardware.

Units are in the names; offsets are clock - reference (the sign convention of the whole appliance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# A JSON object as measurements.json keeps it: what the shell found out about the device and its
# NIC family (free-form, read back from the file).
JsonObject = dict[str, Any]


@dataclass
class ReadBurst:
    method: str  # precise | extended | basic | sim
    samples: int  # readings per ioctl (1: every reading's own window)
    system_ns: list[int] = field(default_factory=list)
    offsets_ns: list[int] = field(default_factory=list)
    windows_ns: list[int] = field(default_factory=list)
    error: str | None = None  # why this method gave nothing


@dataclass
class FreqPoint:
    commanded_ppb: float
    rate_ppb: float  # the offset's rate while commanded (oscillator + correction, against the reference)
    sigma_ppb: float


@dataclass
class Refusal:
    attempted_ppb: float
    refused: bool
    message: str


@dataclass
class PhaseStep:
    kind: str  # step | adjphase
    commanded_ns: int
    landed_ns: float
    settle_s: float


@dataclass
class LoopbackRecord:
    pin_out: int
    pin_in: int
    period_ns: int
    event_times_ns: list[int] = field(default_factory=list)
    error: str | None = None


@dataclass
class StabilityRecord:
    interval_s: float
    reference: str  # "CLOCK_REALTIME", "/dev/ptp1", "simulated true time"
    method: str | None = None
    time_s: list[float] = field(default_factory=list)  # reading times, from the start of the phase
    phase_ns: list[float] = field(default_factory=list)  # clock - reference
    temperature_c: list[float | None] = field(default_factory=list)
    failed_reads: int = 0


@dataclass
class LabRecord:
    device: JsonObject
    requested_s: float
    started_utc: str
    expect_class: str | None = None
    family: JsonObject | None = None  # the nics.yaml family it matched, if any
    phases: dict[str, str] = field(
        default_factory=dict
    )  # phase -> "done" | "skipped: why" | "interrupted" | "failed: why"
    interrupted_in: str | None = None
    elapsed_s: float = 0.0
    reads: list[ReadBurst] = field(default_factory=list)
    stability_read: ReadBurst | None = None  # the best method, read as the stability phase reads it
    max_adj_ppb: float | None = None
    freq_points: list[FreqPoint] = field(default_factory=list)
    freq_baseline_ppb: float | None = None
    refusals: list[Refusal] = field(default_factory=list)
    phase_steps: list[PhaseStep] = field(default_factory=list)
    loopback: LoopbackRecord | None = None
    stability: StabilityRecord | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> JsonObject:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabRecord:
        d = dict(d)
        d["reads"] = [ReadBurst(**r) for r in d.get("reads", [])]
        if d.get("stability_read"):
            d["stability_read"] = ReadBurst(**d["stability_read"])
        d["freq_points"] = [FreqPoint(**p) for p in d.get("freq_points", [])]
        d["refusals"] = [Refusal(**r) for r in d.get("refusals", [])]
        d["phase_steps"] = [PhaseStep(**s) for s in d.get("phase_steps", [])]
        if d.get("loopback"):
            d["loopback"] = LoopbackRecord(**d["loopback"])
        if d.get("stability"):
            d["stability"] = StabilityRecord(**d["stability"])
        return cls(**d)
