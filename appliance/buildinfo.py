"""When the installed appliance was built: a floor for the time (a node never starts earlier than
the software it runs). The image build stamps ``appliance/BUILD_DATE`` (one ISO 8601 UTC line,
`date -u +%Y-%m-%dT%H:%M:%SZ`); without a stamp the floor is SOURCE_DATE, the date of this source
tree, which the release moves forward (earlier than the truth is safe: a floor only refuses)."""

from __future__ import annotations

from pathlib import Path

from . import __version__
from .core.bootstrap.evidence import parse_iso_ns

SOURCE_DATE = "2026-12-01T00:00:00Z"
STAMP = Path(__file__).resolve().parent / "BUILD_DATE"


def build_floor() -> tuple[int, str, str]:
    """(time_ns, version, where it comes from)."""
    try:
        text = STAMP.read_text().strip()
        return parse_iso_ns(text), __version__, f"built {text} ({STAMP.name})"
    except (OSError, ValueError):
        return parse_iso_ns(SOURCE_DATE), __version__, f"source date {SOURCE_DATE} (no {STAMP.name} stamp)"
