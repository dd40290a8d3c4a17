"""Keeps the learned holdover model (core.holdover.predictor.TempCompPredictor) in node.state_dir.

The file is written atomically (temporary file in the same directory, fsync, rename, fsync of
the directory), so a crash leaves either the old or the new state, never half of one. Times in
the model are on the discipline loop's clock (time.monotonic(), which restarts at boot); the file
also records the wall clock at saving, and a restored model is shifted onto the new monotonic
axis, so the time spent down counts as elapsed (its random walk widens the level's uncertainty).
An unusable file is reported once, renamed aside (appliance.runtime.state_files) and learning
starts afresh; a failed save is logged once and then rate-limited, and shows in `status`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.holdover.model_io import ModelError
from ..core.holdover.predictor import TempCompPredictor
from .atomic import atomic_write_json
from .state_files import StateFiles, what_is_wrong

log = logging.getLogger("appliance.tempcomp")

FILENAME = "tempcomp.json"
FORMAT = "appliance-tempcomp-state"


class PredictorStore:
    def __init__(self, state_dir: str | Path, files: StateFiles | None = None):
        self.path = Path(state_dir) / FILENAME
        self.files = files if files is not None else StateFiles(state_dir)

    def load(
        self, now_s: float, now_wall_s: float, compensated: bool = True, tick_interval_s: float | None = None
    ) -> TempCompPredictor:
        """The stored predictor (or a new one); ``compensated``: the node has a TCXO/OCXO, not an XO."""
        if not self.path.exists():
            return TempCompPredictor(compensated=compensated, tick_interval_s=tick_interval_s)
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ModelError(f"format: expected {FORMAT!r}")
            predictor = TempCompPredictor.from_dict(
                data["predictor"], compensated=compensated, tick_interval_s=tick_interval_s
            )
            saved_s, saved_wall_s = float(data["saved_time_s"]), float(data["saved_wall_s"])
        except OSError as exc:  # unreadable, not wrong: left where it is
            log.warning("%s: cannot be read (%s); learning afresh", self.path, exc.strerror or exc)
            return TempCompPredictor(compensated=compensated, tick_interval_s=tick_interval_s)
        except (ValueError, KeyError, TypeError) as exc:
            self.files.set_aside(self.path, f"{what_is_wrong(exc)}; learning afresh")
            return TempCompPredictor(compensated=compensated, tick_interval_s=tick_interval_s)
        predictor.shift_time((now_s - now_wall_s) - (saved_s - saved_wall_s))
        if predictor.model is not None:
            m = predictor.model
            log.info(
                "%s: restored temperature model (trained %.2f..%.2f degC, lag %.0f s)",
                self.path,
                m.temp_lo_c,
                m.temp_hi_c,
                m.lag_s,
            )
        return predictor

    def save(self, state: Mapping[str, Any], now_s: float, now_wall_s: float) -> bool:
        """Write a predictor's state (``TempCompPredictor.to_dict()``); a failure is logged."""
        data = {
            "format": FORMAT,
            "saved_time_s": now_s,
            "saved_wall_s": now_wall_s,
            "predictor": dict(state),
        }
        return self.files.write(FILENAME, lambda: atomic_write_json(self.path, data))
