"""Where the appliance finds the data that ships beside the package (hardware/ profiles)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def hardware_dir() -> Path:
    """hardware/ of the checkout (installed editable), or $APPLIANCE_HARDWARE_DIR."""
    env = os.environ.get("APPLIANCE_HARDWARE_DIR")
    return Path(env) if env else REPO_ROOT / "hardware"
