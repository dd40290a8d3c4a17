"""The lab log: one JSON line per qualified part (--append-to FILE.jsonl), and the table
`appliance lab compare` prints from it, so that a lab can compare parts and firmware."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

COLUMNS = (
    ("time_utc", "when (UTC)"),
    ("model", "model"),
    ("serial", "serial"),
    ("firmware", "firmware"),
    ("verdict", "verdict"),
    ("estimated_class", "class"),
    ("expect_class", "claimed"),
    ("adev_1s", "ADEV(1 s)"),
    ("temp_slope_ppb_per_c", "ppb/degC"),
    ("failed", "failed checks"),
)


class LabDbError(Exception):
    pass


def entry(report: dict, out_dir: Path, expect_class: str | None) -> dict:
    dev = report["device"]
    adev = report.get("adev") or []
    first = adev[0] if adev else None
    return {
        "time_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": dev.get("model") or dev.get("clock_name"),
        "serial": dev.get("serial") or dev.get("mac"),
        "firmware": dev.get("firmware"),
        "driver": dev.get("driver"),
        "device": dev.get("name"),
        "family": dev.get("family"),
        "expect_class": expect_class,
        "estimated_class": report.get("estimated_class"),
        "verdict": report["verdict"],
        "temp_slope_ppm_per_c": report.get("temp_slope_ppm_per_c"),
        "adev_tau_s": first["tau_s"] if first else None,
        "adev": first["adev"] if first else None,
        "failed": [c["name"] for c in report["checks"] if c["verdict"] == "fail"],
        "warned": [c["name"] for c in report["checks"] if c["verdict"] == "warn"],
        "report": str(Path(out_dir).resolve() / "report.html"),
    }


def append(path: Path, line: dict) -> None:
    """One line, written with a single write (O_APPEND): two lab runs appending at once do not interleave."""
    data = (json.dumps(line, sort_keys=False) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LabDbError(f"{path}: cannot append: {exc.strerror}") from None
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def load(path: Path) -> list[dict]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise LabDbError(f"{path}: cannot read: the file does not exist") from None
    except UnicodeDecodeError:
        raise LabDbError(
            f"{path}: not a text file: expected a lab log (one JSON object per line, --append-to)"
        ) from None
    except OSError as exc:
        raise LabDbError(f"{path}: cannot read: {exc.strerror}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabDbError(f"{path}: line {n}: not JSON: {exc.msg}") from None
        if not isinstance(d, dict) or "verdict" not in d:
            raise LabDbError(f"{path}: line {n}: not a lab log entry (no verdict)")
        out.append(d)
    return out


def _cell(d: dict, key: str) -> str:
    if key == "adev_1s":
        return f"{d['adev']:.2e}" if d.get("adev") is not None and d.get("adev_tau_s") == 1.0 else "-"
    if key == "temp_slope_ppb_per_c":
        v = d.get("temp_slope_ppm_per_c")
        return f"{v * 1000:+.2f}" if v is not None else "-"
    v = d.get(key)
    if isinstance(v, list):
        return ", ".join(v) if v else "-"
    return "-" if v in (None, "") else str(v)


def table(entries: list[dict]) -> str:
    rows = [[h for _, h in COLUMNS]] + [[_cell(e, k) for k, _ in COLUMNS] for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(entries: list[dict]) -> str:
    by_model: dict[str, dict[str, int]] = {}
    for e in entries:
        key = f"{e.get('model') or '?'} / firmware {e.get('firmware') or '?'}"
        counts = by_model.setdefault(key, {"pass": 0, "warn": 0, "fail": 0})
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    return "\n".join(f"{k}: {v['pass']} pass, {v['warn']} warn, {v['fail']} fail" for k, v in sorted(by_model.items()))
