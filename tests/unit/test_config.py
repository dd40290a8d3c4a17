import subprocess
import sys
from pathlib import Path

import pytest

from appliance import config
from appliance.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["sim.yaml", "sim-ideal.yaml", "control-node.yaml"])
def test_examples_are_valid(name):
    cfg = config.load(REPO / "examples" / name)
    assert cfg.node.name


def test_proposed_shape_of_the_issue_loads(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("""
node: {name: control-0, state_dir: /var/lib/appliance}
cluster:
  control_nodes:
    - {name: control-0, address: 10.0.0.10}
    - {name: control-1, address: 10.0.0.11}
    - {name: control-2, address: 10.0.0.12}
clock:
  source: phc
  interface: eth0
  sim: {oscillator: tcxo, seed: 1}
ptp: {enabled: true, interface: eth0, transport: l2, timestamping: hardware, domain: 24}
ntp:
  listen: ["0.0.0.0:123"]
  allow: ["10.0.0.0/24"]
  ratelimit: {interval_s: 1, burst: 16, kod: true}
monitoring: {metrics_listen: "127.0.0.1:9810", control_socket: /run/appliance/control.sock}
timesync: {enabled: true, mode: chrony, servers: [10.0.0.10, 10.0.0.11], threshold: 500ms}
""")
    cfg = config.load(f)
    assert cfg.timesync.threshold == pytest.approx(0.5)
    assert cfg.designated_index() == 0
    assert cfg.ntp.ratelimit.burst == 16


def problems(tmp_path, text):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(config.ConfigError) as e:
        config.load(f)
    return e.value.problems


def test_every_problem_with_its_dotted_path(tmp_path):
    p = problems(tmp_path, """
node: {name: x, colour: red}
clock: {source: gps, sim: {oscillator: rubidium, seed: abc}}
ntp: {listen: ["1.2.3.4"], ratelimit: {interval_s: -1, burst: 0}}
timesync: {threshold: soon}
""")
    joined = "\n".join(p)
    for key in ["node.colour: unknown key", "clock.source", "clock.sim.oscillator", "clock.sim.seed",
                "ntp.listen", "ntp.ratelimit.interval_s", "ntp.ratelimit.burst", "timesync.threshold"]:
        assert key in joined, (key, joined)
    assert len(p) == 8


def test_missing_node_and_empty_file(tmp_path):
    assert problems(tmp_path, "ntp: {}\n") == ["node: required key is missing"]
    assert "empty" in problems(tmp_path, "")[0]


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = problems(tmp_path, "node: {name: x\nntp: [\n")
    assert "line" in p[0] and "YAML" in p[0]


def test_phc_needs_an_interface(tmp_path):
    p = problems(tmp_path, "node: {name: x}\nclock: {source: phc}\n")
    assert "clock" in p[0] and "interface" in p[0]


def test_duplicate_control_nodes(tmp_path):
    p = problems(tmp_path, "node: {name: a}\ncluster: {control_nodes: [{name: a, address: 1.1.1.1}, {name: a, address: 1.1.1.2}]}\n")
    assert "unique" in p[0]


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("1s", 1.0), ("2m", 120.0), (3, 3.0), ("250us", 250e-6)])
def test_durations(text, seconds):
    assert config.parse_duration_s(text) == pytest.approx(seconds)


def test_config_check_command_exit_codes(tmp_path, capsys):
    assert main(["config", "check", str(REPO / "examples" / "sim.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: {name: x, extra: 1}\nntp: {allow: [nonsense]}\n")
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "node.extra: unknown key" in err and "ntp.allow" in err and "2 problem(s)" in err


def test_serve_refuses_a_bad_config_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: {name: x}\nclock: {source: nope}\n")
    r = subprocess.run([sys.executable, "-m", "appliance", "serve", "--config", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "clock.source" in r.stderr and "Traceback" not in r.stderr
