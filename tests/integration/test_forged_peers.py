"""A forged peer answer does not demote a good node once the vote is authenticated.

ctl-0 is a real node (simulated clock locked to its reference: right). Whatever answers at
ctl-1's and ctl-2's addresses claims stratum 1 with a clock 1 s ahead (tests/helpers/forged_ntp.py):
what anyone on the node network can do.

1. Without a key the two forged answers are a majority against ctl-0: it demotes itself and
   realigns its clock to them, as the vote must when two of three disagree (what the key is for).
2. With cluster.crosscheck.key, forged answers without a MAC or with a wrong one never count:
   ctl-0 stays stratum 1 for four times as long as the demotion took in 1, and its status counts
   them as unauthenticated.
3. With the key, a real ctl-1 that has it is counted (reachable, its offset small) beside a
   forger at ctl-2 that is not.
"""

import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers.appliance_proc import ApplianceProc
from helpers.netns import TestNet
from helpers.requirements import require_root_netns
from helpers.wait import wait_for

pytestmark = pytest.mark.integration
FORGER = str(Path(__file__).resolve().parents[1] / "helpers" / "forged_ntp.py")
NAMES = ["ctl-0", "ctl-1", "ctl-2"]
KEY_ID = 7
KEYLINE = f"{KEY_ID} SHA256 HEX:{'5a' * 32}\n"


@pytest.fixture(scope="module")
def net():
    require_root_netns()
    with TestNet(NAMES) as n:
        yield n


def node_config(tmp: Path, net, i: int, key: bool) -> Path:
    addrs = [net[n].addr for n in NAMES]
    cfg = {
        "node": {"name": NAMES[i], "state_dir": str(tmp / f"{NAMES[i]}-state")},
        "cluster": {
            "control_nodes": [{"name": n, "address": a} for n, a in zip(NAMES, addrs, strict=True)],
            "crosscheck": {"poll_interval_s": 1.0, "promote_after_s": 4.0, **({"key": KEY_ID} if key else {})},
        },
        "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": 21 + i, "reference": True}},
        "ntp": {"listen": [f"{addrs[i]}:123"], "allow": ["all"], "ratelimit": None},
        "monitoring": {"metrics_listen": None, "control_socket": str(tmp / f"{NAMES[i]}.sock")},
    }
    if key:
        (tmp / "keys").write_text(KEYLINE)
        cfg["ntp"]["keyfile"] = str(tmp / "keys")
    path = tmp / f"{NAMES[i]}-{'key' if key else 'nokey'}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def forge(net, name: str, mac: str, seconds: float):
    return net[name].popen([sys.executable, FORGER, net[name].addr, "123", "1.0", mac, str(seconds)])


def peer(status: dict, name: str) -> dict:
    return next(p for p in status["peers"] if p["name"] == name)


def test_forged_answers_demote_without_a_key_and_never_with_one(net, tmp_path):
    forgers = [forge(net, "ctl-1", "none", 600), forge(net, "ctl-2", "junk", 600)]
    # it never locks: the forged majority keeps pulling its clock away from its reference
    app = ApplianceProc(node_config(tmp_path, net, 0, key=False), host=net["ctl-0"]).start(wait_state=None)
    try:
        t0 = time.monotonic()
        wait_for(lambda: app.status()["crosscheck"]["demoted"], 60, 0.5, "ctl-0 demoted by two forged peers")
        took_s = time.monotonic() - t0
        print(f"without a key: demoted {took_s:.1f} s after start by two forged answers")
    finally:
        app.stop()

    app = ApplianceProc(node_config(tmp_path, net, 0, key=True), host=net["ctl-0"]).start()
    try:
        watch_s = max(4 * took_s, 20.0)
        end = time.monotonic() + watch_s
        while time.monotonic() < end:
            st = app.status()
            assert not st["crosscheck"]["demoted"], st["crosscheck"]
            time.sleep(0.5)
        for name in ("ctl-1", "ctl-2"):
            p = peer(st, name)
            print(f"with the key, {name}: {p}")
            assert p["authenticated"] is True
            assert p["unauthenticated"] >= watch_s / 2  # about one forged answer per 1 s poll
            assert not p["reachable"]
        print(f"with the key: not demoted in {watch_s:.0f} s")
    finally:
        app.stop()
        for f in forgers:
            f.kill()
            f.wait(timeout=10)


def test_a_peer_with_the_key_counts_and_a_forger_beside_it_does_not(net, tmp_path):
    forger = forge(net, "ctl-2", "nak", 600)
    real = ApplianceProc(node_config(tmp_path, net, 1, key=True), host=net["ctl-1"]).start()
    app = ApplianceProc(node_config(tmp_path, net, 0, key=True), host=net["ctl-0"]).start()
    try:
        st = wait_for(
            app.status,
            60,
            0.5,
            "ctl-0 counts ctl-1",
            until=lambda s: peer(s, "ctl-1")["reachable"] and peer(s, "ctl-2")["unauthenticated"] >= 3,
        )
        one, two = peer(st, "ctl-1"), peer(st, "ctl-2")
        print(f"ctl-1 (has the key): {one}\nctl-2 (forger, crypto-NAKs): {two}")
        assert one["unauthenticated"] == 0 and one["received"] >= 1
        assert not two["reachable"]
        assert not st["crosscheck"]["demoted"]
    finally:
        app.stop()
        real.stop()
        forger.kill()
        forger.wait(timeout=10)
