"""Rendered linuxptp configuration, its config validation, and `appliance config render ptp`."""

import subprocess
import sys

import pytest
import yaml

from appliance import config
from appliance.linuxptp import render


def _cfg(name="cp-b", **ptp):
    data = {
        "node": {"name": name, "state_dir": "/var/lib/appliance"},
        "cluster": {
            "control_nodes": [{"name": n, "address": f"10.0.0.{i + 1}"} for i, n in enumerate(["cp-a", "cp-b", "cp-c"])]
        },
        "clock": {"source": "phc", "interface": "eth0"},
        "ptp": {"enabled": True, "interface": "eth0", **ptp},
    }
    return config.parse(data)


def _keys(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            k, v = line.split(None, 1)
            out[k] = v
    return out


def test_ptp4l_conf_defaults():
    text = render.render_ptp4l(_cfg())
    k = _keys(text)
    assert k["domainNumber"] == "24" and k["network_transport"] == "L2" and k["time_stamping"] == "hardware"
    assert k["priority1"] == "128" and k["priority2"] == "255"  # standby until the appliance sets 129
    assert "designated value 129" in text
    assert (k["clockClass"], k["clockAccuracy"], k["offsetScaledLogVariance"], k["timeSource"]) == (
        "248",
        "0xFE",
        "0xFFFF",
        "0xA0",
    )
    assert k["free_running"] == "1" and k["delay_mechanism"] == "E2E"
    assert k["uds_address"] == "/var/lib/appliance/linuxptp/ptp4l.sock"
    assert k["verbose"] == "1" and k["use_syslog"] == "0"
    assert text.rstrip().endswith("[eth0]")
    assert "WARNING" not in text


def test_transport_timestamping_and_intervals():
    k = _keys(
        render.render_ptp4l(
            _cfg(
                transport="udpv6",
                timestamping="software",
                log_announce_interval=-2,
                announce_receipt_timeout=3,
                log_sync_interval=-3,
                domain=0,
            )
        )
    )
    assert k["network_transport"] == "UDPv6" and k["time_stamping"] == "software"
    assert (k["logAnnounceInterval"], k["announceReceiptTimeout"], k["logSyncInterval"]) == ("-2", "3", "-3")
    assert render.announce_timeout_s(_cfg(log_announce_interval=-2, announce_receipt_timeout=3)) == 0.75
    assert "WARNING: software timestamping" in render.render_ptp4l(_cfg(timestamping="software"))


def test_priority2_follows_designated_order():
    assert [render.designated_priority2(_cfg(n)) for n in ("cp-a", "cp-b", "cp-c", "other")] == [128, 129, 130, 255]


def test_free_running_false_only_on_real_hardware():
    assert _keys(render.render_ptp4l(_cfg(free_running=False)))["free_running"] == "0"
    with pytest.raises(config.ConfigError, match="free_running false needs clock.source phc"):
        config.parse(
            {
                "node": {"name": "x"},
                "clock": {"source": "sim"},
                "ptp": {"enabled": True, "interface": "eth0", "free_running": False},
            }
        )


@pytest.mark.parametrize(
    "ptp, why",
    [
        ({"phc2sys": "system_from_phc"}, "phc2sys system_from_phc needs clock.source phc"),
        ({"ts2phc": {"source": "generic"}}, "ts2phc needs clock.source phc"),
    ],
)
def test_sim_nodes_never_run_clock_steering_tools(ptp, why):
    with pytest.raises(config.ConfigError, match=why):
        config.parse(
            {"node": {"name": "x"}, "clock": {"source": "sim"}, "ptp": {"enabled": True, "interface": "eth0", **ptp}}
        )


def test_domain_beyond_ptp4l_and_missing_interface():
    # what ptp4l would refuse is refused when the configuration is loaded (config check says so)
    with pytest.raises(config.ConfigError, match="0-127"):
        _cfg(domain=200)
    cfg = config.parse({"node": {"name": "x"}, "ptp": {"enabled": False}})
    with pytest.raises(render.RenderError, match="ptp.interface"):
        render.render_ptp4l(cfg)


def test_long_state_dir_is_refused():
    data = {"node": {"name": "x", "state_dir": "/" + "d" * 100}, "ptp": {"enabled": True, "interface": "eth0"}}
    with pytest.raises(config.ConfigError, match="too long"):
        config.parse(data)


def test_phc2sys_argv():
    assert render.phc2sys_argv(_cfg()) is None
    a = render.phc2sys_argv(_cfg(phc2sys="system_from_phc"))
    assert a[:6] == ["phc2sys", "-s", "eth0", "-c", "CLOCK_REALTIME", "-w"]
    assert a[a.index("-z") + 1].endswith("ptp4l.sock") and a[a.index("-n") + 1] == "24"
    a = render.phc2sys_argv(_cfg(phc2sys="phc_from_system", utc_offset_s=37))
    assert a[:7] == ["phc2sys", "-s", "CLOCK_REALTIME", "-c", "eth0", "-O", "37"]
    with pytest.raises(config.ConfigError, match="needs ptp.timestamping hardware"):
        _cfg(phc2sys="system_from_phc", timestamping="software")


def test_ts2phc():
    cfg = _cfg(ts2phc={"source": "nmea", "nmea_serialport": "/dev/ttyACM0", "pin_index": 1})
    text = render.render_ts2phc(cfg)
    k = _keys(text)
    assert k["ts2phc.nmea_serialport"] == "/dev/ttyACM0" and k["ts2phc.pin_index"] == "1"
    assert k["free_running"] == "1" and k["ts2phc.extts_polarity"] == "rising"
    assert render.ts2phc_argv(cfg, "/x/ts2phc.conf") == ["ts2phc", "-f", "/x/ts2phc.conf", "-s", "nmea", "-c", "eth0"]
    assert set(render.render_all(cfg)) == {"ptp4l.conf", "ts2phc.conf"}


def _write(tmp_path, ptp):
    path = tmp_path / "node.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "node": {"name": "cp-a", "state_dir": str(tmp_path / "state")},
                "cluster": {"control_nodes": [{"name": "cp-a", "address": "10.0.0.1"}]},
                "clock": {"source": "sim"},
                "ptp": ptp,
            }
        )
    )
    return path


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True, timeout=30)


def test_cli_render_prints_and_writes(tmp_path):
    cfg = _write(tmp_path, {"enabled": True, "interface": "eth0", "timestamping": "software"})
    r = _cli("config", "render", "ptp", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("==> ptp4l.conf <==") and "time_stamping software" in r.stdout
    out = tmp_path / "out"
    r = _cli("config", "render", "ptp", "--config", str(cfg), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "ptp4l.conf").read_text().count("[eth0]") == 1
    assert r.stdout.strip() == str(out / "ptp4l.conf")


def test_cli_render_reports_problems(tmp_path):
    cfg = _write(tmp_path, {"enabled": True, "interface": "eth0", "domain": 200})
    r = _cli("config", "render", "ptp", "--config", str(cfg))
    assert r.returncode == 3 and "0-127" in r.stderr and "Traceback" not in r.stderr
    r = _cli("config", "check", str(cfg))  # never "ok" for what render then refuses
    assert r.returncode == 2 and "0-127" in r.stdout
    cfg = _write(
        tmp_path, {"enabled": True, "interface": "eth0", "phc2sys": "system_from_phc", "timestamping": "hardware"}
    )
    r = _cli("config", "render", "ptp", "--config", str(cfg))
    assert r.returncode == 3 and "phc2sys system_from_phc needs clock.source phc" in r.stderr
    r = _cli("config", "render")
    assert r.returncode == 3 and "TARGET" in r.stderr


def test_cli_render_with_ptp_disabled_says_so(tmp_path):
    cfg = _write(tmp_path, {"enabled": False})
    r = _cli("config", "render", "ptp", "--config", str(cfg))
    assert r.returncode == 2 and "ptp.enabled is false" in r.stderr and "nothing to render" in r.stderr
    assert "ptp.interface is not set" not in r.stderr


def test_cli_render_out_dir_creates_no_parents(tmp_path):
    cfg = _write(tmp_path, {"enabled": True, "interface": "eth0", "timestamping": "software"})
    r = _cli("config", "render", "ptp", "--config", str(cfg), "--out-dir", str(tmp_path / "a" / "b"))
    assert r.returncode == 3 and "does not exist" in r.stderr and not (tmp_path / "a").exists()
    r = _cli("config", "render", "ptp", "--config", str(cfg), "--out-dir", str(tmp_path / "a"))
    assert r.returncode == 0 and (tmp_path / "a" / "ptp4l.conf").exists()
