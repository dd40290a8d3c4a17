import subprocess
import sys
from pathlib import Path

import pytest

from appliance import config, durations
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
    p = problems(
        tmp_path,
        """
node: {name: x, colour: red}
clock: {source: gps, sim: {oscillator: rubidium, seed: abc}}
ntp: {listen: ["1.2.3.4"], ratelimit: {interval_s: -1, burst: 0}}
timesync: {threshold: soon}
""",
    )
    joined = "\n".join(p)
    for key in [
        "node.colour: unknown key",
        "clock.source",
        "clock.sim.oscillator",
        "clock.sim.seed",
        "ntp.listen",
        "ntp.ratelimit.interval_s",
        "ntp.ratelimit.burst",
        "timesync.threshold",
    ]:
        assert key in joined, (key, joined)
    assert len(p) == 8


def test_missing_node_and_empty_file(tmp_path):
    assert problems(tmp_path, "ntp: {}\n") == ["node: required key is missing"]
    assert "empty" in problems(tmp_path, "")[0]


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = problems(tmp_path, "node: {name: x\nntp: [\n")
    assert "line" in p[0] and "YAML" in p[0]


def test_an_unprintable_character_is_a_yaml_problem_not_a_traceback(tmp_path):
    p = problems(tmp_path, "node: {name: x}\n\x00\n")
    assert p == ["line 2, column 1: not valid YAML: character U+0000 is not allowed in YAML"]


def test_phc_needs_an_interface(tmp_path):
    p = problems(tmp_path, "node: {name: x}\nclock: {source: phc}\n")
    assert "clock" in p[0] and "interface" in p[0]


def test_duplicate_control_nodes(tmp_path):
    p = problems(
        tmp_path,
        "node: {name: a}\ncluster: {control_nodes: [{name: a, address: 1.1.1.1}, {name: a, address: 1.1.1.2}]}\n",
    )
    assert "unique" in p[0]


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("500ms", 0.5),
        ("1s", 1.0),
        ("2m", 120.0),
        ("250us", 250e-6),
        ("1.5h", 5400.0),
        (" 2 s ", 2.0),
        ("1d", 86400.0),
        ("10min", 600.0),
    ],
)
def test_durations(text, seconds):
    assert durations.parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value, message",
    [
        (3, "'3' has no unit"),
        ("500", "'500' has no unit"),
        (0.5, "'0.5' has no unit"),
        ("fast", "not a duration"),
        ("-2s", "not negative"),
        (True, "expected a duration"),
        ("5 parsecs", "not a duration"),
    ],
)
def test_a_duration_needs_a_unit(value, message):
    with pytest.raises(ValueError, match=message) as e:
        durations.parse_duration_s(value)
    assert "ms" in str(e.value) or "not negative" in str(e.value)  # names the units


def test_signed_durations():
    assert durations.parse_duration_s("-2s", signed=True) == -2.0
    assert durations.parse_duration_s("+500ms", signed=True) == 0.5


def test_a_bare_threshold_is_refused_not_read_as_seconds(tmp_path):
    # 500 once became 500 s: maxdistance 500 switched the clients' distance check off
    p = problems(tmp_path, "node: {name: a}\ntimesync: {threshold: 500}\n")
    assert len(p) == 1 and p[0].startswith("timesync.threshold: '500' has no unit") and "(line 2, column" in p[0]
    assert "ms" in p[0] and "h" in p[0]
    assert problems(tmp_path, "node: {name: a}\ntimesync: {threshold: 0s}\n")[0].startswith("timesync.threshold")


def test_a_duplicate_key_is_an_error_not_a_replacement(tmp_path):
    p = problems(tmp_path, "node: {name: a}\nclock: {source: sim}\nntp: {allow: [all]}\nclock:\n  source: phc\n")
    assert p == [
        "line 4, column 1: duplicate key clock (first at line 2): a second block would silently replace "
        "the first; merge them into one"
    ]
    p = problems(tmp_path, "node: {name: a, name: b}\n")
    assert "duplicate key node.name" in p[0]


def test_every_problem_says_where_it_is(tmp_path):
    p = problems(tmp_path, "node: {name: x}\nntp:\n  listen: ['127.0.0.1:123', nonsense]\n")
    assert p == ["ntp.listen.1: expected ADDRESS:PORT, got 'nonsense' (no port) (line 3, column 29)"]


@pytest.mark.parametrize("address", ["not an ip!", "10.0.0.1:abc", "-bad.example", "10.0.0.999", "host_name"])
def test_an_address_a_client_cannot_use_is_refused_at_load(tmp_path, address):
    # `config check` said ok, and `config render clients` then refused it
    p = problems(tmp_path, f"node: {{name: a}}\ncluster: {{control_nodes: [{{name: a, address: '{address}'}}]}}\n")
    assert (
        p[0].startswith("cluster.control_nodes.0.address: ") and repr(address.split(":")[0]) in p[0] or "'abc'" in p[0]
    )
    p = problems(tmp_path, f"node: {{name: a}}\ntimesync: {{servers: ['10.0.0.1', '{address}']}}\n")
    assert p[0].startswith("timesync.servers.1: ")


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "10.0.0.1:10123", "ntp-1.site.example", "fd00::12", "[fd00::12]:123", "fe80::1%eth0"]
)
def test_good_addresses_load(address):
    cfg = config.parse({"node": {"name": "a"}, "timesync": {"servers": [address]}})
    assert cfg.timesync.servers == [address]


def test_what_render_would_refuse_is_refused_at_load(tmp_path):
    p = problems(tmp_path, "node: {name: a}\nptp: {enabled: true, interface: eth0, domain: 200}\n")
    assert p[0].startswith("ptp: ") and "0-127" in p[0]
    p = problems(tmp_path, "node: {name: a}\ntimesync: {mode: timesyncd, servers: ['10.0.0.1:10123']}\n")
    assert "timesyncd talks to port 123 only" in p[0]


def test_config_check_command_exit_codes(tmp_path, capsys):
    assert main(["config", "check", str(REPO / "examples" / "sim.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: {name: x, extra: 1}\nntp: {allow: [nonsense]}\n")
    assert main(["config", "check", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "node.extra: unknown key" in out and "ntp.allow" in out and "2 problems" in out
    # one or more files, positional or --config; one unreadable file makes it UNKNOWN (3)
    assert (
        main(
            [
                "config",
                "check",
                str(REPO / "examples" / "sim.yaml"),
                "--config",
                str(REPO / "examples" / "control-node.yaml"),
            ]
        )
        == 0
    )
    assert main(["config", "check", str(bad), str(tmp_path / "missing.yaml")]) == 3
    assert "missing.yaml: cannot be read" in capsys.readouterr().out
    assert main(["config", "check"]) == 3


def test_config_check_json_and_notes(tmp_path, capsys):
    import json

    assert main(["config", "check", "--json", str(REPO / "examples" / "sim-ideal.yaml")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["valid"] and r["files"][0]["node"] == "sim-ideal"
    assert any("no servers" in n for n in r["files"][0]["notes"])
    bad = tmp_path / "b.yaml"
    bad.write_text("node: {name: a}\ntimesync: {threshold: 500}\n")
    assert main(["config", "check", "--json", str(bad)]) == 2
    r = json.loads(capsys.readouterr().out)
    assert not r["valid"] and "has no unit" in r["files"][0]["problems"][0]


def test_serve_refuses_a_bad_config_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: {name: x}\nclock: {source: nope}\n")
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "serve", "--config", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 3  # UNKNOWN: an input that is not what was expected
    assert "clock.source" in r.stderr and "(line 2, column" in r.stderr and "Traceback" not in r.stderr
