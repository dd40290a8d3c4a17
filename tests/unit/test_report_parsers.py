"""Parsers of chronyc CSV, /proc/driver/rtc, timedatectl show, adjtimex and pmc output: recorded
fixtures parse to the values chrony/ptp4l printed; anything else raises the parser's own error."""

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.diagnose import chrony_report as C
from appliance.core.diagnose import pmc_report as P
from appliance.core.diagnose import sysclock_report as S

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "diagnose"


def test_tracking_recorded_synced():
    t = C.parse_tracking((FIX / "chrony-synced" / "chronyc-tracking.csv").read_text())
    assert t.synchronised and t.stratum == 2 and t.leap_status == "Normal"
    # chrony's reference ID of an IPv4 server is its address
    assert int(t.reference_id, 16) == int(ipaddress.IPv4Address(t.reference_name))
    # chrony's sign: system_time > 0 = system clock slow; ours is the opposite
    assert t.offset_s == -t.system_time
    assert t.max_error_s == pytest.approx(abs(t.system_time) + t.root_dispersion + t.root_delay / 2)
    d = t.as_dict()
    for key in (
        "reference_id",
        "stratum",
        "ref_time",
        "system_time",
        "last_offset",
        "rms_offset",
        "frequency",
        "residual_freq",
        "skew",
        "root_delay",
        "root_dispersion",
        "update_interval",
        "leap_status",
    ):
        assert key in d


@pytest.mark.parametrize("bundle", ["chrony-no-sources", "chrony-unsynchronised"])
def test_tracking_recorded_unsynchronised(bundle):
    t = C.parse_tracking((FIX / bundle / "chronyc-tracking.csv").read_text())
    assert not t.synchronised and t.stratum == 0 and t.reference_id == "00000000"
    assert t.leap_status == "Not synchronised"


def test_sources_recorded():
    (s,) = C.parse_sources((FIX / "chrony-synced" / "chronyc-sources.csv").read_text())
    assert (s.mode, s.state, s.stratum, s.reach) == ("^", "*", 1, 0o377)
    assert s.as_dict()["reach"] == "377" and s.as_dict()["state_name"] == "selected"
    (u,) = C.parse_sources((FIX / "chrony-unsynchronised" / "chronyc-sources.csv").read_text())
    assert u.state == "?" and u.reach == 0 and u.last_rx is None and not u.reachable
    assert C.parse_sources((FIX / "chrony-no-sources" / "chronyc-sources.csv").read_text()) == []


def test_sourcestats_recorded():
    (s,) = C.parse_sourcestats((FIX / "chrony-synced" / "chronyc-sourcestats.csv").read_text())
    assert s.np >= 3 and s.span > 0 and s.freq_skew > 0
    (u,) = C.parse_sourcestats((FIX / "chrony-unsynchronised" / "chronyc-sourcestats.csv").read_text())
    assert u.np == 0 and u.freq_skew == 2000.0


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "expected one line"),
        ("a,b,c\n", "14 comma-separated"),
        ("00000000,,x,0,0,0,0,0,0,0,1,1,0,Normal\n", "stratum"),
        ("00000000,,0,0,zz,0,0,0,0,0,1,1,0,Normal\n", "system_time"),
        ("00000000,,0,0,inf,0,0,0,0,0,1,1,0,Normal\n", "finite"),
        ("506 Cannot talk to daemon\n", "14 comma-separated"),
    ],
)
def test_tracking_odd(text, match):
    with pytest.raises(C.ChronyParseError, match=match):
        C.parse_tracking(text)


def test_sources_bad_reach_is_named():
    with pytest.raises(C.ChronyParseError, match="reach"):
        C.parse_sources("^,*,10.0.0.1,1,6,389,5,0.1,0.1,0.01\n")  # 9 is not octal


RTC_CMOS = (
    "rtc_time\t: 11:42:20\nrtc_date\t: 2026-11-27\nalrm_time\t: 00:00:00\nalrm_date\t: 1970-01-01\n"
    "alarm_IRQ\t: no\n24hr\t\t: yes\nbatt_status\t: okay\n"
)


def test_rtc():
    r = S.parse_rtc(RTC_CMOS)
    assert r.time_s == 1795779740.0 and r.battery_ok is True and r.fields["alarm_IRQ"] == "no"
    r = S.parse_rtc("rtc_time\t: 25:00:00\nrtc_date\t: 2026-11-27\n")
    assert r.time_s is None and r.battery_ok is None
    with pytest.raises(S.ReportParseError):
        S.parse_rtc("garbage without colon\n")


def test_timedatectl():
    t = S.parse_timedatectl((FIX / "worker-timesyncd" / "timedatectl-show.txt").read_text())
    assert t.flag("NTPSynchronized") is True and t.flag("LocalRTC") is False and t.flag("Missing") is None
    assert t.properties["Timezone"] == "Etc/UTC"
    with pytest.raises(S.ReportParseError):
        S.parse_timedatectl("Failed to connect to bus\n")


def test_adjtimex_recorded_unsync_and_leap():
    k = S.decode_timex(json.loads((FIX / "chrony-synced" / "adjtimex.json").read_text()))
    assert k.state == "TIME_ERROR" and not k.synchronised and "STA_UNSYNC" in k.status_flags
    k = S.decode_timex(json.loads((FIX / "kernel-leap-pending" / "adjtimex.json").read_text()))
    assert k.state == "TIME_INS" and k.synchronised and k.leap_pending == "insert" and k.tai_s == 37


def test_adjtimex_units():
    base = {
        "return": 0,
        "status": 0,
        "offset": 1500,
        "freq": 65536 * 3,
        "maxerror": 2000,
        "esterror": 10,
        "constant": 2,
        "tick": 10000,
        "tai": 0,
    }
    k = S.decode_timex(base)
    assert k.offset_s == pytest.approx(1.5e-3) and k.freq_ppm == 3.0 and k.maxerror_s == pytest.approx(2e-3)
    k = S.decode_timex({**base, "status": S.STA_NANO})
    assert k.offset_s == pytest.approx(1.5e-6)
    with pytest.raises(S.ReportParseError, match="freq"):
        S.decode_timex({**base, "freq": "1"})


def test_pmc_recorded():
    gm = P.ptp_summary(P.parse_pmc((FIX / "ptp-grandmaster" / "pmc.txt").read_text()))
    assert gm.port_state == "MASTER" and gm.is_grandmaster and gm.domain == 24 and gm.gm_present is False
    f = P.ptp_summary(P.parse_pmc((FIX / "ptp-follower" / "pmc.txt").read_text()))
    assert f.port_state == "UNCALIBRATED" and not f.is_grandmaster and f.gm_identity == gm.gm_identity
    assert f.steps_removed == 1 and f.mean_path_delay_ns > 0 and f.offset_from_master_ns is not None
    with pytest.raises(S.ReportParseError, match="no response"):
        P.ptp_summary(P.parse_pmc("sending: GET TIME_STATUS_NP\n"))


# -- the fuzz rule: parse it or raise the parser's error, never anything else ---------------------

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300)
csvish = st.lists(
    st.sampled_from(
        ["", "0", "1.5", "-nan", "nan", "x", "^", "*", "377", "4294967295", "1e308", "Normal", "Insert second", " "]
    ),
    min_size=0,
    max_size=16,
).map(",".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(text, csvish, st.lists(csvish, max_size=4).map("\n".join)))
def test_chrony_parsers_raise_only_their_error(s):
    for fn in (C.parse_tracking, C.parse_sources, C.parse_sourcestats):
        try:
            fn(s)
        except C.ChronyParseError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text)
def test_text_parsers_raise_only_their_error(s):
    for fn in (S.parse_rtc, S.parse_timedatectl, lambda x: P.ptp_summary(P.parse_pmc(x))):
        try:
            fn(s)
        except S.ReportParseError:
            pass


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["return", "status", "offset", "freq", "maxerror", "esterror", "constant", "tick", "tai"]),
        st.one_of(st.integers(-(2**63), 2**63), st.none(), st.text(max_size=3), st.booleans()),
    )
)
def test_decode_timex_raises_only_its_error(d):
    try:
        S.decode_timex(d)
    except S.ReportParseError:
        pass
