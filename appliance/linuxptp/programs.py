"""Which linuxptp programs run, found where, with what command line: ptp4l always, phc2sys and
ts2phc where the config asks for them (render.py says which files and arguments). Each becomes a
supervised Child (supervisor.py) with the same restart policy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..core.backoff import RestartPolicy
from . import render
from .supervisor import Child

DEFAULT_BINARIES = {"ptp4l": "ptp4l", "phc2sys": "phc2sys", "ts2phc": "ts2phc"}


def binary_path(name: str) -> str:
    """The program on PATH, else in /usr/sbin (not on a non-root PATH on Debian), else the bare name."""
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else name)


def missing_binary(files: dict[str, str], binaries: dict[str, str]) -> str | None:
    """The first program the rendered files need that is not installed, or None."""
    for name in (
        ["ptp4l"] + (["phc2sys"] if "phc2sys.args" in files else []) + (["ts2phc"] if "ts2phc.conf" in files else [])
    ):
        if shutil.which(binaries[name]) is None and not os.path.exists(f"/usr/sbin/{binaries[name]}"):
            return binaries[name]
    return None


def write_files(run_dir: Path, files: dict[str, str]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (run_dir / name).write_text(text)


def build_children(
    cfg: Config,
    run_dir: Path,
    binaries: dict[str, str],
    *,
    on_line: Callable[[str, str], None],
    on_state: Callable[[str, str, str], None],
    ptp4l_ready: Callable[[], bool],
    ptp4l_healthy: Callable[[], bool],
) -> dict[str, Child]:
    """ptp4l (ready when it answers management, healthy while it keeps answering), then phc2sys and
    ts2phc when configured; ``on_state(name, old, new)`` hears every program's state changes."""
    p = cfg.ptp

    def child(
        name: str, argv: list[str], ready: Callable[[], bool] | None = None, healthy: Callable[[], bool] | None = None
    ) -> Child:
        return Child(
            name,
            argv,
            policy=RestartPolicy(limit=p.restart_limit, window_s=p.restart_window_s),
            on_line=on_line,
            on_state=lambda old, new: on_state(name, old, new),
            ready=ready,
            healthy=healthy,
        )

    out = {
        "ptp4l": child(
            "ptp4l",
            render.ptp4l_argv(run_dir / "ptp4l.conf", binary_path(binaries["ptp4l"])),
            ready=ptp4l_ready,
            healthy=ptp4l_healthy,
        )
    }
    argv = render.phc2sys_argv(cfg, binary=binary_path(binaries["phc2sys"]))
    if argv is not None:
        out["phc2sys"] = child("phc2sys", argv)
    argv = render.ts2phc_argv(cfg, run_dir / "ts2phc.conf", binary_path(binaries["ts2phc"]))
    if argv is not None:
        out["ts2phc"] = child("ts2phc", argv)
    return out
