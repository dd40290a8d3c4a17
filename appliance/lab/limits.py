"""The lab's limits and per-family notes from hardware/nics.yaml, and the oscillator classes from
hardware/oscillators.yaml.

nics.yaml carries a top-level ``lab.limits`` (the lab's defaults) and, per family, an optional
``lab`` with ``limits`` (overrides) and ``known_failures``: which lab checks are known to fail on
which firmware / driver / kernel, each with its sources (or marked unverified).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..catalog import hardware_dir, oscillator_classes
from ..core.lab.checks import LabLimits, LimitsError
from ..core.lab.classes import ClassError, OscillatorClass, load_classes


class LabDataError(Exception):
    pass


class KnownFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    check: str  # a check name or a prefix (phase.step_error_ns, read.precise, pins)
    when: str  # the firmware / driver / kernel it applies to
    effect: str
    sources: list[str] = Field(default_factory=list)
    unverified: bool = False

    @model_validator(mode="after")
    def _sourced(self):
        if not self.sources and not self.unverified:
            raise ValueError("a known failure needs sources, or unverified: true")
        return self


class _FamilyLab(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limits: dict = Field(default_factory=dict)
    known_failures: list[KnownFailure] = Field(default_factory=list)


def _nics(path: Path | None) -> dict:
    path = path or hardware_dir() / "nics.yaml"
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabDataError(f"{path}: {exc}") from None


def family_lab(family_id: str | None, path: Path | None = None) -> tuple[LabLimits, list[KnownFailure]]:
    """The limits for a NIC family (defaults overridden by the family's) and its known failures."""
    data = _nics(path)
    try:
        limits = LabLimits.from_dict((data.get("lab") or {}).get("limits"), where="lab.limits")
    except LimitsError as exc:
        raise LabDataError(f"nics.yaml: {exc}") from None
    if not family_id:
        return limits, []
    for i, fam in enumerate(data.get("families") or []):
        if fam.get("id") != family_id:
            continue
        try:
            lab = _FamilyLab.model_validate(fam.get("lab") or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise LabDataError(f"nics.yaml: families.{i} ({family_id}).lab: {problems}") from None
        try:
            limits = LabLimits.from_dict(lab.limits, base=limits, where=f"families.{i}.lab.limits")
        except LimitsError as exc:
            raise LabDataError(f"nics.yaml: {exc}") from None
        return limits, lab.known_failures
    return limits, []


def all_family_labs(path: Path | None = None) -> dict[str, tuple[LabLimits, list[KnownFailure]]]:
    data = _nics(path)
    return {f["id"]: family_lab(f["id"], path) for f in data.get("families") or []}


def classes(path: Path | None = None) -> dict[str, OscillatorClass]:
    try:
        return load_classes(oscillator_classes(path))
    except (ClassError, OSError, KeyError) as exc:
        raise LabDataError(f"oscillators.yaml: {exc}") from None
