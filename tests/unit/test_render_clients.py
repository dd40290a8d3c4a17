"""`appliance config render clients`: chrony.conf (checked by chronyd's own parser), timesyncd.conf
and the Harvester ntp-servers Setting, from the control nodes or the seed's timesync block."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from appliance import config
from appliance.render.clients import RenderError, render_clients
from helpers.requirements import require_tool

REPO = Path(__file__).resolve().parents[2]
CHRONYD = shutil.which("chronyd") or ("/usr/sbin/chronyd" if Path("/usr/sbin/chronyd").exists() else None)


def cfg(**extra):
    data = {
        "node": {"name": "control-0"},
        "cluster": {
            "control_nodes": [
                {"name": "control-0", "address": "10.0.0.10"},
                {"name": "control-1", "address": "10.0.0.11:123"},
                {"name": "control-2", "address": "fd00::12"},
            ]
        },
    }
    data.update(extra)
    return config.parse(data)


def appliance(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], capture_output=True, text=True, cwd=REPO, timeout=30, **kw
    )


def test_chrony_conf_has_the_contract_lines():
    text = render_clients(cfg(), "chrony")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[:3] == ["server 10.0.0.10 iburst", "server 10.0.0.11 iburst", "server fd00::12 iburst"]
    assert "minsources 2" in lines
    assert "maxdistance 0.5" in lines  # timesync.threshold's default, 500ms
    assert "makestep 1.0 3" in lines


def test_seed_timesync_block_renders_the_same_way_and_threshold_is_maxdistance():
    c = cfg(
        timesync={"enabled": True, "mode": "chrony", "servers": ["192.0.2.1", "192.0.2.2:10123"], "threshold": "250ms"}
    )
    text = render_clients(c)  # format from timesync.mode
    assert "server 192.0.2.1 iburst" in text
    assert "server 192.0.2.2 port 10123 iburst" in text
    assert "maxdistance 0.25\n" in text
    assert "10.0.0.10" not in text  # the seed's servers win over the control nodes
    one = render_clients(config.parse({"node": {"name": "x"}, "timesync": {"servers": ["192.0.2.1"]}}), "chrony")
    assert "minsources 1" in one


NTS = {"ntp": {"nts": {"certificate": "/etc/appliance/nts.crt", "key": "/etc/appliance/nts.key"}}}


def test_chrony_clients_of_an_nts_server_use_nts_and_trust_the_clusters_ca():
    text = render_clients(cfg(**NTS), "chrony")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert "ntstrustedcerts /var/lib/rancher/rke2/agent/server-ca.crt" in lines
    assert lines[1:4] == ["server 10.0.0.10 iburst nts", "server 10.0.0.11 iburst nts", "server fd00::12 iburst nts"]
    own = {**NTS["ntp"], "listen": ["127.0.0.1:12300"], "allow": ["all"]}
    alone = config.parse({"node": {"name": "x"}, "ntp": own, "timesync": {"servers": ["127.0.0.1"]}})
    assert "server 127.0.0.1 iburst nts" in render_clients(alone, "chrony")  # the NTS-KE names the port


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"timesync": {"servers": ["192.0.2.1", "[fd00::1]:10123", "ntp.example"], "threshold": "1.5s"}},
        NTS,
    ],
)
def test_rendered_chrony_conf_passes_chronyds_parser(tmp_path, extra):
    require_tool("chronyd")  # skipped without chrony; in CI (APPLIANCE_REQUIRE_INTEGRATION=1) a failure
    path = tmp_path / "chrony.conf"
    path.write_text(render_clients(cfg(**extra), "chrony"))
    r = subprocess.run([CHRONYD, "-p", "-f", str(path)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "makestep 1.0 3" in r.stdout and "minsources 2" in r.stdout
    # ... and the parser does reject a broken file, so the check means something.
    path.write_text(path.read_text() + "maxdistance soon\n")
    assert subprocess.run([CHRONYD, "-p", "-f", str(path)], capture_output=True, timeout=20).returncode != 0


def test_timesyncd_conf():
    text = render_clients(cfg(), "timesyncd")
    assert "[Time]" in text
    assert "\nNTP=10.0.0.10 10.0.0.11 fd00::12\n" in text
    assert "\nFallbackNTP=\n" in text
    assert "\nRootDistanceMaxSec=500ms\n" in text


def test_harvester_setting_manifest():
    doc = yaml.safe_load(render_clients(cfg(), "harvester"))
    assert doc["apiVersion"] == "harvesterhci.io/v1beta1"
    assert doc["kind"] == "Setting"
    assert doc["metadata"]["name"] == "ntp-servers"
    assert isinstance(doc["value"], str)
    assert json.loads(doc["value"]) == {"ntpServers": ["10.0.0.10", "10.0.0.11", "fd00::12"]}


def test_errors_name_what_is_wrong():
    with pytest.raises(RenderError, match="no servers"):
        render_clients(config.parse({"node": {"name": "x"}}), "chrony")
    ported = cfg(timesync={"servers": ["192.0.2.1:10123"]})
    with pytest.raises(RenderError, match="port 123 only; server 192.0.2.1 is on port 10123"):
        render_clients(ported, "timesyncd")
    with pytest.raises(RenderError, match="port 123 only"):
        render_clients(ported, "harvester")
    with pytest.raises(config.ConfigError, match=r"timesync.servers.0: 'bad host;rm' is neither"):
        cfg(timesync={"servers": ["bad host;rm"]})  # refused at load: `config check` says so too
    with pytest.raises(RenderError, match="unknown format"):
        render_clients(cfg(), "ntpd")


def test_cli_writes_the_file_and_reports_errors(tmp_path):
    conf = tmp_path / "site.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "node": {"name": "c0"},
                "cluster": {
                    "control_nodes": [{"name": "c0", "address": "10.0.0.10"}, {"name": "c1", "address": "10.0.0.11"}]
                },
            }
        )
    )
    r = appliance("config", "render", "clients", "--format", "chrony", "--config", str(conf))
    assert r.returncode == 0 and "server 10.0.0.11 iburst" in r.stdout
    out = tmp_path / "out" / "chrony.conf"
    out.parent.mkdir()
    r = appliance("config", "render", "clients", "--format", "harvester", "--config", str(conf), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(out.read_text())["kind"] == "Setting"
    r = appliance("config", "render", "clients", "--format", "chrony", "--config", str(tmp_path / "missing.yaml"))
    assert r.returncode == 3 and "cannot read" in r.stderr and "Traceback" not in r.stderr
    r = appliance(
        "config",
        "render",
        "clients",
        "--format",
        "chrony",
        "--config",
        str(conf),
        "--output",
        str(tmp_path / "no" / "such" / "dir" / "x.conf"),
    )
    assert r.returncode == 3 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "no").exists()
    r = appliance("config", "render", "clients", "--format", "ntpd", "--config", str(conf))
    assert r.returncode == 3 and "invalid choice" in r.stderr
    r = appliance("config", "render", "clients", "--format", "timesyncd", "--config", str(conf), "--json")
    assert r.returncode == 3 and "unrecognized arguments: --json" in json.loads(r.stdout)["error"]
    r = appliance("config", "render", "--help")
    assert r.returncode == 0 and "clients" in r.stdout


def test_a_node_serving_on_another_port_is_rendered_with_its_port():
    # examples/sim.yaml serves on 12300: `server 127.0.0.1 iburst` pointed clients at port 123
    c = config.load(REPO / "examples" / "sim.yaml")
    text = render_clients(c, "chrony")
    assert "server 127.0.0.1 port 12300 iburst" in text and "server 127.0.0.1 iburst" not in text
    with pytest.raises(RenderError, match="timesyncd talks to port 123 only; server 127.0.0.1 is on port 12300"):
        render_clients(c, "timesyncd")
    r = appliance("config", "render", "clients", "--config", str(REPO / "examples" / "sim.yaml"))
    assert r.returncode == 0 and "server 127.0.0.1 port 12300 iburst" in r.stdout


def test_the_other_nodes_keep_port_123_and_explicit_ports_win():
    c = config.parse(
        {
            "node": {"name": "a"},
            "ntp": {"listen": ["127.0.0.1:12300"]},
            "cluster": {
                "control_nodes": [
                    {"name": "a", "address": "127.0.0.1"},
                    {"name": "b", "address": "127.0.0.2"},
                    {"name": "c", "address": "127.0.0.3:12302"},
                ]
            },
        }
    )
    lines = [ln for ln in render_clients(c, "chrony").splitlines() if ln.startswith("server")]
    assert lines == [
        "server 127.0.0.1 port 12300 iburst",
        "server 127.0.0.2 iburst",
        "server 127.0.0.3 port 12302 iburst",
    ]
    with pytest.raises(
        config.ConfigError,
        match=r"control_nodes.0.address: 127.0.0.1 has no port and this node \(a\) "
        "serves on ports 12300, 12301",
    ):
        config.parse(
            {
                "node": {"name": "a"},
                "ntp": {"listen": ["127.0.0.1:12300", "127.0.0.1:12301"]},
                "cluster": {"control_nodes": [{"name": "a", "address": "127.0.0.1"}]},
            }
        )


def test_plurals_in_the_rendered_comments():
    text = render_clients(cfg(), "chrony")
    assert "server(s)" not in text and "2 servers agree" in text
    one = render_clients(config.parse({"node": {"name": "x"}, "timesync": {"servers": ["192.0.2.1"]}}), "chrony")
    assert "server(s)" not in one and "Only one server is configured" in one
