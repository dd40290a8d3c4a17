"""The live server under 10^5 mutated packets (valid requests with fields flipped, cut short, with
junk extension fields, signed ones with bad MACs) from one test host, while a well-behaved client
on another asks once every 50 ms: the server keeps running, answers nothing it must not, never
more than it was sent, signs only what verified, and serves the good client."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.appliance_proc import ApplianceProc, write_config
from helpers.fuzz_targets import KEYS
from helpers.netns import TestNet
from helpers.requirements import require_root_netns

pytestmark = pytest.mark.integration
STORM = str(Path(__file__).resolve().parents[1] / "helpers" / "mutant_storm.py")
PACKETS = 100_000
RATE_PER_S = 10_000  # paced, so that what is measured is the server's judgement, not a full queue
SEED = 20261203


def _keyfile(path: Path) -> Path:
    path.write_text("".join(f"{k.key_id} {k.kind} HEX:{k.secret.hex()}\n" for k in KEYS.values()))
    return path


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    with TestNet(["server", "good", "storm"]) as n:
        yield n


def test_a_storm_of_mutated_packets(net, tmp_path):
    server = net["server"]
    cfg = write_config(
        tmp_path / "srv.yaml",
        "srv",
        [f"{server.addr}:123"],
        extra={"ntp": {"keyfile": str(_keyfile(tmp_path / "srv.keys"))}},
    )
    app = ApplianceProc(cfg, host=server).start()
    try:
        before = app.status()["ntp"]
        good = net["good"].popen(
            [sys.executable, STORM, "--good", server.addr, "123", "300", "0.05"], stderr=subprocess.PIPE, text=True
        )
        print(f"mutant storm seed {SEED}: {PACKETS} packets at {RATE_PER_S}/s")
        r = net["storm"].run(
            [sys.executable, STORM, server.addr, "123", str(PACKETS), str(SEED), str(RATE_PER_S)], timeout=120
        )
        assert r.returncode == 0, r.stderr
        storm = json.loads(r.stdout)
        out, err = good.communicate(timeout=60)
        assert good.returncode == 0, err
        served = json.loads(out)
        print(f"storm: {storm}")
        print(f"good client: {served}")

        assert app.proc.poll() is None, "the server died under the storm"
        assert storm["sent"] == PACKETS
        assert storm["problems"] == {}, storm["examples"]
        # what had to be answered was, nearly all (a paced storm on a veth loses next to nothing)
        assert storm["replies"] >= 0.99 * storm["answerable"], storm
        assert served["answered"] >= 0.99 * served["sent"], served
        after = app.status()["ntp"]
        assert after["internal_errors"] == before["internal_errors"] == 0
        assert after["received"] - before["received"] >= PACKETS
    finally:
        app.stop()
