"""The state-dir adapter of the learned model, and the service wiring (loopback, no root)."""

import json
import math
import os
import socket

import numpy as np

from appliance import config
from appliance.core.holdover.fit import fit
from appliance.core.holdover.lag import lag_filter
from appliance.core.holdover.predictor import TempCompPredictor
from appliance.runtime.atomic import atomic_write_json
from appliance.runtime.tempcomp_store import FILENAME, PredictorStore

SEED = 5


def _model():
    rng = np.random.default_rng(SEED)
    t = np.arange(0, 86400, 30.0)
    temp = 24 + 1.5 * np.sin(2 * np.pi * t / 86400) + 0.5 * np.sin(t / 150)
    y = 10 * np.sin(lag_filter(temp, 30.0, 100.0)) + rng.normal(0, 0.3, t.size)
    return fit(t, temp, y).model


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "d" / "x.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_save_and_restore_onto_a_new_monotonic_axis(tmp_path):
    store = PredictorStore(tmp_path)
    p = TempCompPredictor(_model())
    t_model = p.model.time_s
    # saved at monotonic 1000 s / wall 1e9; restored 500 s of wall time later on a clock that now reads 20 s
    assert store.save(p.to_dict(), now_s=1000.0, now_wall_s=1e9)
    q = store.load(now_s=20.0, now_wall_s=1e9 + 500.0)
    assert q.ready()
    assert q.model.time_s == t_model + (20.0 - (1e9 + 500.0)) - (1000.0 - 1e9)
    assert q.model.time_s == t_model - 1480.0  # 1000 s before the save, the save 500 s before now


def test_corrupt_or_foreign_state_is_reported_set_aside_and_learning_starts_afresh(tmp_path, caplog):
    (tmp_path / FILENAME).write_text("{broken")
    p = PredictorStore(tmp_path).load(0.0, 0.0)
    assert not p.ready() and "learning afresh" in caplog.text and not (tmp_path / FILENAME).exists()
    (tmp_path / FILENAME).write_text(json.dumps({"format": "something-else"}))
    assert not PredictorStore(tmp_path).load(0.0, 0.0).ready()
    assert len(list(tmp_path.glob(f"{FILENAME}.corrupt-*"))) == 2  # kept for a person to look at


def test_the_node_persists_once_a_model_exists_and_then_every_interval():
    from appliance.core.clock.discipline import DisciplineConfig
    from appliance.core.node import Node
    from appliance.core.node_types import NodeConfig, RefIds

    cfg = NodeConfig("n", DisciplineConfig(500_000), 1.0, RefIds(b"PHC\x00"), persist_every_s=600)
    assert Node(cfg, TempCompPredictor())._persist(0.0) is None
    node = Node(cfg, TempCompPredictor(_model()))
    assert node._persist(0.0) is not None
    assert node._persist(100.0) is None
    assert node._persist(700.0) is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_restores_the_model_and_saves_it_on_stop(tmp_path):
    from appliance.runtime.app import Appliance

    state = tmp_path / "state"
    PredictorStore(state).save(TempCompPredictor(_model()).to_dict(), 0.0, 0.0)
    before = json.loads((state / FILENAME).read_text())["saved_wall_s"]
    cfg = config.parse(
        {
            "node": {"name": "t", "state_dir": str(state)},
            "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": SEED}},
            "ntp": {"listen": [f"127.0.0.1:{_free_port()}"], "allow": ["127.0.0.0/8"]},
            "monitoring": {"metrics_listen": None, "control_socket": str(tmp_path / "c.sock")},
        }
    )
    app = Appliance(cfg)
    app.start()
    try:
        st = app.status()
        assert st["tempcomp"]["ready"] is True
        assert st["tempcomp"]["lag_s"] > 0
        assert st["clock"]["temperature_c"] is not None and math.isfinite(st["clock"]["temperature_c"])
    finally:
        app.stop()
    after = json.loads((state / FILENAME).read_text())["saved_wall_s"]
    assert after > before
    assert not [f for f in os.listdir(state) if f.endswith(".tmp")]


def test_the_store_hands_the_tick_interval_to_the_predictor(tmp_path):
    """A node ticking every 64 s needs records of the fit's largest spacing, new or restored."""
    fresh = PredictorStore(tmp_path).load(0.0, 0.0, tick_interval_s=64.0)
    assert fresh.record_s == 60.0 and fresh.max_tick_gap_s == 160.0
    PredictorStore(tmp_path).save(TempCompPredictor(_model()).to_dict(), 0.0, 0.0)
    restored = PredictorStore(tmp_path).load(0.0, 0.0, tick_interval_s=64.0)
    assert restored.ready() and restored.record_s == 60.0
