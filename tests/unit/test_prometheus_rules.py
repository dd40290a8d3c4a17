"""The Prometheus rules: `promtool check rules` and `promtool test rules` (Debian's prometheus
package), a mutated threshold makes the promtool tests fail, the PrometheusRule manifest holds
exactly the rules of the rule files, and every appliance_* series an expression uses is one the
collector exports."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from appliance.monitoring import prometheusrule
from appliance.monitoring.metrics import ApplianceCollector
from helpers.requirements import require_tool

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests" / "promtool"


def promtool(*args, cwd=None) -> subprocess.CompletedProcess:
    require_tool("promtool")
    exe = shutil.which("promtool") or "/usr/bin/promtool"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_check_rules():
    files = prometheusrule.rule_files()
    assert {f.name for f in files} == {"node-time.rules.yml", "appliance.rules.yml"}
    r = promtool("check", "rules", *map(str, files))
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests():
    tests = sorted(TESTS.glob("*.test.yml"))
    assert len(tests) == 2
    r = promtool("test", "rules", *map(str, tests))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == 2


def test_promtool_tests_catch_a_changed_threshold(tmp_path):
    """The promtool tests are not vacuous: 50 ms -> 70 ms for control-plane nodes must fail them."""
    rules = tmp_path / "appliance" / "monitoring" / "rules"
    rules.mkdir(parents=True)
    text = (prometheusrule.RULES_DIR / "node-time.rules.yml").read_text()
    assert "node:node_timex_offset_seconds:abs > 0.05" in text
    (rules / "node-time.rules.yml").write_text(
        text.replace("node:node_timex_offset_seconds:abs > 0.05", "node:node_timex_offset_seconds:abs > 0.07")
    )
    (tmp_path / "tests" / "promtool").mkdir(parents=True)
    shutil.copy(TESTS / "node-time.test.yml", tmp_path / "tests" / "promtool")
    r = promtool("test", "rules", "tests/promtool/node-time.test.yml", cwd=tmp_path)
    assert r.returncode != 0 and "ControlPlaneClockOffsetHigh" in r.stdout + r.stderr


def test_manifest_has_exactly_the_rule_files_rules():
    manifest = yaml.safe_load(prometheusrule.MANIFEST.read_text())
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1" and manifest["kind"] == "PrometheusRule"
    groups = []
    for f in prometheusrule.rule_files():
        groups.extend(yaml.safe_load(f.read_text())["groups"])
    assert manifest["spec"]["groups"] == groups
    assert prometheusrule.main(["--check"]) == 0


def test_every_alert_has_severity_and_text():
    for g in prometheusrule.rule_groups():
        for rule in g["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
            else:
                assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z_]*", rule["record"]), rule["record"]


def test_rules_use_only_exported_metrics():
    st = {
        "version": "0",
        "node": "n",
        "clock": {"source": "sim", "name": "x", "freq_ppb": 0.0, "temperature_c": 20.0},
        "tempcomp": {"ready": True, "compensation_ppm": 0.0},
        "sync": {
            "state": "holdover",
            "healthy": True,
            "error_bound_s": 1e-3,
            "reference": "lost",
            "offset_ns": 0.0,
            "events": [],
        },
        "ntp": {
            "stratum": 1,
            "received": 0,
            "answered": 0,
            "kod_sent": 0,
            "send_errors": 0,
            "dropped": {},
            "workers": {"count": 2, "alive": 2, "restarts": 0},
        },
        "crosscheck": {"demoted": False},
        "peers": [{"name": "p", "offset_s": 0.0, "reachable": True}],
        "ptp": {"role": "follower", "port_state": "SLAVE", "gm_identity": "a", "offset_ns": 0, "path_delay_ns": 0},
        "processes": {"ptp4l": {"running": True, "restarts": 0}},
        "leap_seconds": {"valid": True, "expires_s": 1.8e9, "tai_utc_s": 37},
        "bootstrap": {"bootstrapped": True},
        "state": {"writable": True, "write_failures_total": 0, "set_aside": []},
    }
    exported = set()
    for fam in ApplianceCollector(lambda: st, peer_names=["p"], max_error_bound_s=0.1).collect():
        exported.update(s.name for s in fam.samples)
    used = set()
    for g in prometheusrule.rule_groups():
        for rule in g["rules"]:
            used.update(re.findall(r"\b(appliance_[a-z_]+)", rule["expr"]))
    assert used and used <= exported, used - exported
