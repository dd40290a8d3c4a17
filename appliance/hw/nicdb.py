"""hardware/nics.yaml -> NicFamily records (validated; a bad file names the bad key)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..catalog import hardware_dir
from ..core.ptp.capability import NicFamily

# Where the families are read from unless a path is given; resolved at import, and again by load()
# so that a later $APPLIANCE_HARDWARE_DIR is honoured.
DEFAULT_PATH = hardware_dir() / "nics.yaml"


class NicDbError(Exception):
    pass


class _Match(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drivers: list[str]
    pci_ids: list[str] = Field(default_factory=list)

    @field_validator("pci_ids")
    @classmethod
    def _ids(cls, v):
        for i in v:
            parts = i.split(":")
            if len(parts) != 2 or not all(len(p) == 4 and all(c in "0123456789abcdef" for c in p) for p in parts):
                raise ValueError(f"PCI id {i!r} is not 'vvvv:dddd' in lowercase hex")
        return v


class _Family(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    match: _Match
    phc: Literal["per-port", "per-adapter", "per-function-or-shared", "unverified"]
    max_adj_ppb: int | str | None = None
    cross_timestamping: Literal["yes", "no", "conditional", "unverified"]
    cross_timestamping_note: str = ""
    pins: str = ""
    temperature_sensor: str | None = None
    temperature_note: str = ""
    known_limits: list[str] = Field(default_factory=list)
    firmware_notes: str | None = None
    unverified: list[str] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1)
    lab: dict | None = None  # the hardware lab's limits and known failures (validated by appliance.lab.limits)


class _Db(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_: int = Field(alias="schema")
    lab: dict | None = None
    families: list[_Family]


def load(path: Path | str | None = None) -> list[NicFamily]:
    path = Path(path) if path is not None else hardware_dir() / "nics.yaml"
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NicDbError(f"{path}: does not exist (expected NIC family data such as hardware/nics.yaml)") from None
    except UnicodeDecodeError:
        raise NicDbError(f"{path}: not a text file (expected NIC family data such as hardware/nics.yaml)") from None
    except OSError as exc:
        raise NicDbError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise NicDbError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or 'unreadable'}") from None
    try:
        db = _Db.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise NicDbError(f"{path}: " + "; ".join(problems)) from None
    ids = [f.id for f in db.families]
    if len(ids) != len(set(ids)):
        raise NicDbError(f"{path}: duplicate family ids")
    return [
        NicFamily(
            id=f.id,
            name=f.name,
            drivers=tuple(f.match.drivers),
            pci_ids=tuple(f.match.pci_ids),
            phc=f.phc,
            max_adj_ppb=f.max_adj_ppb,
            cross_timestamping=f.cross_timestamping,
            cross_timestamping_note=f.cross_timestamping_note,
            pins=f.pins,
            temperature_sensor=f.temperature_sensor,
            temperature_note=f.temperature_note,
            known_limits=tuple(f.known_limits),
            firmware_notes=f.firmware_notes,
            unverified=tuple(f.unverified),
            sources=tuple(f.sources),
        )
        for f in db.families
    ]
