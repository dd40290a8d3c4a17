"""The data that ships beside the package (hardware/): where it is, and the oscillator classes.

Read by the configuration (which classes exist), the simulator (what a class's crystal looks like)
and, later, the lab (what a class promises); none of them imports another for it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

# An installed wheel carries hardware/ as the package data appliance/_hardware/ (setup.py maps it);
# a checkout (installed editable) has only the top-level folder.
PACKAGED_HARDWARE_DIR = Path(__file__).resolve().parent / "_hardware"


def hardware_dir() -> Path:
    """$APPLIANCE_HARDWARE_DIR, else the copy inside the installed package, else the checkout's."""
    env = os.environ.get("APPLIANCE_HARDWARE_DIR")
    if env:
        return Path(env)
    if (PACKAGED_HARDWARE_DIR / "oscillators.yaml").is_file():
        return PACKAGED_HARDWARE_DIR
    return REPO_ROOT / "hardware"


@lru_cache(maxsize=4)
def _classes(path: str) -> dict:
    with open(path) as f:
        data = yaml.safe_load(f)
    return data["classes"]


def oscillator_classes(path: Path | None = None) -> dict:
    """hardware/oscillators.yaml's classes by name (xo, tcxo, ocxo, ideal), with their ranges."""
    return _classes(str(path or hardware_dir() / "oscillators.yaml"))
