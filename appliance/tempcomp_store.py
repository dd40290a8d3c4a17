"""Keeps the learned holdover model (core.holdover.TempCompPredictor) in node.state_dir.

The file is written atomically (temporary file in the same directory, fsync, rename, fsync of
the directory), so a crash leaves either the old or the new state, never half of one. Times in
the model are on the discipline loop's clock (time.monotonic(), which restarts at boot); the file
also records the wall clock at saving, and a restored model is shifted onto the new monotonic
axis, so the time spent down counts as elapsed (its random walk widens the level's uncertainty).
An unreadable or invalid file is reported and left in place; learning starts afresh.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from .core.holdover.predictor import TempCompPredictor
from .core.holdover.model_io import ModelError

log = logging.getLogger("appliance.tempcomp")

FILENAME = "tempcomp.json"
FORMAT = "appliance-tempcomp-state"
SAVE_EVERY_S = 600.0


def atomic_write_json(path: Path, data) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class PredictorStore:
    def __init__(self, state_dir: str | Path, save_every_s: float = SAVE_EVERY_S):
        self.path = Path(state_dir) / FILENAME
        self.save_every_s = save_every_s
        self._last_save_s: float | None = None

    @staticmethod
    def warm_imports() -> None:
        """Import the fit's slow dependency (allantools) off the discipline loop."""
        try:
            import allantools  # noqa: F401, PLC0415
        except ImportError as exc:  # the fit reports it when it runs
            log.warning("allantools is not importable: %s", exc)

    def load(self, now_s: float, now_wall_s: float, compensated: bool = True) -> TempCompPredictor:
        """The stored predictor (or a new one); ``compensated``: the node has a TCXO/OCXO, not an XO."""
        if not self.path.exists():
            return TempCompPredictor(compensated=compensated)
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ModelError(f"format: expected {FORMAT!r}")
            predictor = TempCompPredictor.from_dict(data["predictor"], compensated=compensated)
            saved_s, saved_wall_s = float(data["saved_time_s"]), float(data["saved_wall_s"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: not used, learning afresh (%s)", self.path, exc)
            return TempCompPredictor(compensated=compensated)
        predictor.shift_time((now_s - now_wall_s) - (saved_s - saved_wall_s))
        if predictor.model is not None:
            m = predictor.model
            log.info(
                "%s: restored temperature model (trained %.2f..%.2f degC, lag %.0f s)",
                self.path, m.temp_lo_c, m.temp_hi_c, m.lag_s,
            )
        return predictor

    def save(self, predictor: TempCompPredictor, now_s: float, now_wall_s: float) -> bool:
        data = {
            "format": FORMAT,
            "saved_time_s": now_s,
            "saved_wall_s": now_wall_s,
            "predictor": predictor.to_dict(),
        }
        try:
            atomic_write_json(self.path, data)
        except OSError as exc:
            log.error("cannot save the temperature model to %s: %s", self.path, exc)
            return False
        self._last_save_s = now_s
        return True

    def maybe_save(self, predictor: TempCompPredictor, now_s: float, now_wall_s: float) -> bool:
        """Save every save_every_s once a model exists."""
        if predictor.model is None:
            return False
        if self._last_save_s is not None and now_s - self._last_save_s < self.save_every_s:
            return False
        return self.save(predictor, now_s, now_wall_s)
