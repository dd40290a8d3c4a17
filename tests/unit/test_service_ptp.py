"""The PTP side of the service without ptp4l: status contract, reference selection and offset
composition, log lines into counters and events, a missing ptp4l reported."""

import pytest

from appliance import config
from appliance.commands.status import render as render_status
from appliance.core.clock.states import SyncState
from appliance.linuxptp.manager import PtpError, PtpManager
from appliance.runtime.app import Appliance


def _cfg(tmp_path, **ptp):
    return config.parse(
        {
            "node": {"name": "cp-a", "state_dir": str(tmp_path / "s")},
            "cluster": {"control_nodes": [{"name": "cp-a", "address": "10.0.0.1"}]},
            "clock": {"source": "sim", "sim": {"reference": False}},
            "ptp": {"enabled": bool(ptp), "interface": "eth0", **ptp},
            "monitoring": {"metrics_listen": None, "control_socket": str(tmp_path / "c.sock")},
        }
    )


CONTRACT = {"role", "port_state", "gm_identity", "offset_ns", "path_delay_ns"}


def test_status_has_ptp_contract_keys_when_disabled(tmp_path):
    st = Appliance(_cfg(tmp_path)).status()
    assert CONTRACT <= set(st["ptp"]) and st["ptp"]["enabled"] is False


@pytest.mark.parametrize(
    "ts, ptp_off, sys_off, primary, want",
    [
        ("software", -5_000.0, 120_000, None, (115_000.0, "ptp")),  # SimPhc - REALTIME + ptp4l's offset
        ("hardware", -5_000.0, 120_000, None, (-5_000.0, "ptp")),  # ptp4l measured the PHC itself
        ("software", None, 120_000, None, (None, None)),  # not following
        ("hardware", -5_000.0, 0, 42.0, (42.0, "primary")),  # own GNSS/PPS first
    ],
)
def test_reference_offset_composition(tmp_path, ts, ptp_off, sys_off, primary, want):
    from appliance.core.node import Node, choose_reference
    from appliance.core.node_types import ClockReading, TickInputs
    from appliance.runtime.node_config import node_config
    from appliance.sim.factory import build

    cfg = _cfg(tmp_path, timestamping=ts) if ts == "software" else _cfg(tmp_path)
    clock, _ = build(cfg.clock.sim)
    node = Node(node_config(cfg, clock.caps(), clock.info(), -20, False))
    inputs = TickInputs(
        0.0,
        0,
        ClockReading(sys_off, 0, "sim"),
        primary_offset_ns=primary,
        ptp_offset_ns=ptp_off,
        ptp_measures_system=cfg.ptp.timestamping == "software",
    )
    assert choose_reference(inputs, node.cfg.tai_offset_ns) == want


def test_missing_ptp4l_is_a_clear_error(tmp_path):
    mgr = PtpManager(_cfg(tmp_path, timestamping="software"), binaries={"ptp4l": "/nonexistent/ptp4l"})
    with pytest.raises(PtpError, match="not found: install linuxptp"):
        mgr.start()


def test_log_lines_become_counters_events_and_samples(tmp_path):
    mgr = PtpManager(_cfg(tmp_path, timestamping="software"))
    mgr._on_line("ptp4l", "ptp4l[5.0]: timed out while polling for tx timestamp")
    mgr._on_line("ptp4l", "ptp4l[5.1]: port 1: SLAVE to MASTER on ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES")
    mgr._on_line("ptp4l", "ptp4l[5.2]: clockcheck: clock jumped forward or running faster than expected!")
    mgr._on_line("ptp4l", "ptp4l[5.3]: rms   12 max   30 freq  -120 +/-  15 delay  6900 +/-  40")
    mgr._on_line("ts2phc", "ts2phc[5.4]: eth0 master offset         -3")
    st = mgr.status()
    assert st["counters"]["tx_timestamp_timeouts"] == 1 and st["counters"]["clock_jumps"] == 1
    kinds = [e["kind"] for e in st["events"]]
    assert kinds == ["tx_timestamp_timeout", "port_state", "clock_jump"]
    assert st["servo"]["rms_ns"] == 12.0
    assert mgr.take_primary_offset_ns() == -3.0 and mgr.take_primary_offset_ns() is None
    assert any("software timestamping" in w for w in st["warnings"])
    assert st["role"] == "listening" and st["offset_ns"] is None  # never saw ptp4l answer


def test_quality_follows_the_sync_state(tmp_path):
    mgr = PtpManager(_cfg(tmp_path, timestamping="software"))
    mgr.update_sync(SyncState.FREERUN, 1e-3, None)
    assert mgr.watch.want_gm.quality.clock_class == 248 and mgr.watch.want_gm.time_flags == 0  # UTC timescale
    mgr.watch.upstream_class = 6
    mgr.update_sync(SyncState.HOLDOVER, 1e-7, "ptp")
    assert mgr.watch.want_gm.quality.clock_class == 135


def test_status_text_shows_ptp_and_its_warning(tmp_path):
    mgr = PtpManager(_cfg(tmp_path, timestamping="software"))
    st = Appliance(_cfg(tmp_path)).status()
    st["ptp"] = mgr.status()
    text = render_status(st)
    assert "ptp              : listening (init)" in text
    assert "WARNING          : ptp: software timestamping" in text
