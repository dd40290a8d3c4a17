"""The model's refit runs off the tick: the node hands it out, the worker process fits, a later tick
installs it; the tick itself never fits (a week of records takes about a second)."""

import math

import numpy as np
import pytest

from appliance import config
from appliance.core.holdover.predictor import RefitRequest, TempCompPredictor
from appliance.core.holdover.series import SampleError
from appliance.core.node import Node
from appliance.runtime.loop import TickLoop
from appliance.runtime.node_config import node_config
from appliance.runtime.refit import RefitWorker
from appliance.sim import factory
from helpers.wait import wait_for

SEED = 4


def _due_predictor():
    p = TempCompPredictor(min_train_s=6 * 3600, defer_refit=True)
    rng = np.random.default_rng(SEED)
    for k in range(int(6.2 * 3600 / 10)):
        now = -7 * 3600 + 10.0 * k  # before the loop's monotonic time: the fit is due at once
        temp = 24 + 2 * math.sin(2 * math.pi * now / 21600) + 0.3 * math.sin(2 * math.pi * now / 900)
        p.observe(now, temp, 100 + 30 * (temp - 24) + rng.normal(0, 0.5))
    assert p.pending_refit is not None and not p.ready()
    return p


def test_a_due_refit_runs_in_the_worker_process_never_in_the_tick(tmp_path, monkeypatch):
    cfg = config.parse(
        {"node": {"name": "t", "state_dir": str(tmp_path)}, "clock": {"source": "sim", "sim": {"seed": SEED}}}
    )
    clock, reference = factory.build(cfg.clock.sim)
    node = Node(node_config(cfg, clock.caps(), clock.info(), -20, True), _due_predictor())
    worker = RefitWorker(use_process=True)
    loop = TickLoop(node, clock, 1.0, reference=reference, refit=worker)

    def not_here(self):
        raise AssertionError("the fit ran in the tick's process")

    monkeypatch.setattr(RefitRequest, "run", not_here)  # the spawned worker imports its own copy
    try:
        first = loop.tick()
        assert first.refit is not None and worker.busy and not node.predictor.ready()
        wait_for(lambda: (loop.tick(), node.predictor.ready())[1], 120, 0.2, "the worker's fit installed")
        assert node.predictor.fits == 1 and node.predictor.last_error is None
        assert loop.times.status()["count"] >= 2
    finally:
        worker.close()


def test_a_failed_worker_is_a_reason_not_a_crash():
    worker = RefitWorker(use_process=False)
    bad = RefitRequest(np.arange(3.0), np.zeros(3), np.zeros(3), True)
    worker.submit(bad)
    result = wait_for(worker.take, 10, 0.05, "the thread's fit")
    request, outcome = result
    assert request is bad and isinstance(outcome, SampleError) and str(outcome)
    worker.close()


@pytest.mark.parametrize("use_process", [True, False])
def test_one_fit_at_a_time(use_process):
    worker = RefitWorker(use_process=use_process)
    try:
        r1 = RefitRequest(np.arange(3.0), np.zeros(3), np.zeros(3), True)
        worker.submit(r1)
        worker.submit(RefitRequest(np.arange(4.0), np.zeros(4), np.zeros(4), True))  # ignored while busy
        request, _ = wait_for(worker.take, 60, 0.05, "the fit")
        assert request is r1 and worker.take() is None and not worker.busy
    finally:
        worker.close()


def test_the_fits_imports_are_warmed_in_its_worker_not_in_the_serving_process():
    # An import holds the interpreter for seconds: in the serving process it stalls the NTP thread.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from appliance.runtime.refit import RefitWorker\n"
        "w = RefitWorker()\n"
        "f = w.warm()\n"
        "print(f.result(timeout=120), 'allantools' in sys.modules)\n"
        "w.close()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]  # imported in the worker, never here
