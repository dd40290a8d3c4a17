"""ptp4l / phc2sys / ts2phc log lines -> events (formats of linuxptp 3.1 and 4.x)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.ptp import log as pl


def test_port_state_change_3x_and_4x():
    ev = pl.parse_line("ptp4l[891.900]: port 1: LISTENING to MASTER on ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES")
    assert ev == pl.PortStateChanged("ptp4l", 891.9, 1, "LISTENING", "MASTER", "ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES")
    ev = pl.parse_line("ptp4l[12.5]: port 1 (eth0): UNCALIBRATED to SLAVE on MASTER_CLOCK_SELECTED")
    assert (ev.port, ev.old, ev.new, ev.event) == (1, "UNCALIBRATED", "SLAVE", "MASTER_CLOCK_SELECTED")
    ev = pl.parse_line("ptp4l[3.0]: port 1: SLAVE to FAULTY on FAULT_DETECTED (FT_UNSPECIFIED)")
    assert ev.new == "FAULTY" and ev.fault == "FT_UNSPECIFIED"
    assert ev.kind == "port_state" and ev.as_dict()["new"] == "FAULTY"


def test_message_tag_and_no_prefix():
    ev = pl.parse_line("ptp4l[1.000]: [cp-a] port 1: INITIALIZING to LISTENING on INIT_COMPLETE")
    assert ev.new == "LISTENING"
    ev = pl.parse_line("port 1: MASTER to UNCALIBRATED on RS_SLAVE")  # journal style, no prefix
    assert ev.program == "" and ev.monotonic_s is None and ev.new == "UNCALIBRATED"


def test_best_master_and_grandmaster_role():
    ev = pl.parse_line("ptp4l[891.900]: selected local clock 967f1e.fffe.6e1415 as best master")
    assert ev == pl.BestMasterSelected("ptp4l", 891.9, "967f1e.fffe.6e1415", True)
    ev = pl.parse_line("ptp4l[892.222]: selected best master clock 1241f3.fffe.b99e6b")
    assert ev.local is False and ev.clock_identity == "1241f3.fffe.b99e6b"
    assert pl.parse_line("ptp4l[1.0]: port 1: assuming the grand master role") == pl.GrandmasterRole("ptp4l", 1.0, 1)
    ev = pl.parse_line("ptp4l[891.722]: port 1: new foreign master 1241f3.fffe.b99e6b-1")
    assert ev.port_identity == "1241f3.fffe.b99e6b-1"


def test_servo_lines():
    ev = pl.parse_line("ptp4l[5.0]: master offset        -35 s2 freq   +1234 path delay      6920")
    assert (ev.offset_ns, ev.servo_state, ev.freq_ppb, ev.delay_ns) == (-35, "locked", 1234.0, 6920)
    ev = pl.parse_line("phc2sys[7.1]: CLOCK_REALTIME phc offset       -12 s2 freq    +100 delay    500")
    assert (ev.clock, ev.offset_ns, ev.servo_state, ev.delay_ns) == ("CLOCK_REALTIME", -12, "locked", 500)
    ev = pl.parse_line("phc2sys[7.1]: eth0 sys offset 40 s1 freq -3")
    assert (ev.clock, ev.servo_state, ev.delay_ns) == ("eth0", "jump", None)
    ev = pl.parse_line("ts2phc[9.0]: eth0 master offset         -3")
    assert (ev.program, ev.clock, ev.offset_ns, ev.servo_state) == ("ts2phc", "eth0", -3, "unlocked")
    ev = pl.parse_line("ptp4l[9.0]: rms   12 max   30 freq  -120 +/-  15 delay  6900 +/-  40")
    assert ev == pl.ServoSummary("ptp4l", 9.0, 12.0, 30.0, -120.0, 15.0, 6900.0, 40.0)
    ev = pl.parse_line("ptp4l[9.0]: rms   12 max   30 freq  -120 +/-  15")
    assert ev.delay_ns is None


def test_faults():
    ev = pl.parse_line("ptp4l[4.0]: timed out while polling for tx timestamp")
    assert ev.kind == "tx_timestamp_timeout"
    ev = pl.parse_line("ptp4l[4.0]: clockcheck: clock jumped backward or running slower than expected!")
    assert ev == pl.ClockJump("ptp4l", 4.0, "backward")
    ev = pl.parse_line("phc2sys[4.0]: clockcheck: clock jumped forward or running faster than expected!")
    assert ev.direction == "forward"
    assert pl.parse_line("ptp4l[4.0]: clockcheck: clock frequency changed unexpectedly!").direction == "frequency"
    ev = pl.parse_line("ptp4l[0.1]: interface 'veth0' does not support requested timestamping mode")
    assert ev.kind == "error"
    assert pl.parse_line("ptp4l[0.1]: failed to open port eth9").kind == "error"
    assert pl.parse_line("ptp4l[0.1]: port 1: link down") == pl.LinkChanged("ptp4l", 0.1, 1, False)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "ptp4l[1.0]: ",
        "ptp4l[1.0]: foreign master not using PTP timescale",
        "random text",
        "ptp4l[x]: port 1: A to B on C",
    ],
)
def test_unknown_lines_give_none(line):
    ev = pl.parse_line(line)
    assert ev is None or ev.kind == "port_state"  # the last one has no valid prefix but parses as text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_parses_or_gives_none(text):
    ev = pl.parse_line(text)
    assert ev is None or isinstance(ev, pl.LogEvent)
