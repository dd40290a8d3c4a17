"""Verdicts of `appliance diagnose` on recorded and hand-written bundles (tests/fixtures/diagnose,
each bundle.json says where it came from), the drift trend arithmetic, and the rule that odd input
never crashes the judging."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core.diagnose import drift
from appliance.core.diagnose.diagnosis import evaluate
from appliance.core.diagnose.inputs import AVAILABLE, ERROR, NOT_AVAILABLE, NOT_RUNNING, SOURCES, Raw
from appliance.core.diagnose.report import Limits
from appliance.core.verdict import Verdict
from appliance.diagnose import collect

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "diagnose"


def judge(bundle: str, limits: Limits = Limits(), expect: set[str] = frozenset()):
    raw, at, meta = collect.load(FIX / bundle)
    assert meta["provenance"], f"{bundle}: every fixture says where it came from"
    report = evaluate(collect.mark_expected(raw, set(expect)), at, limits)
    return report, {c.name: c for c in report.checks}


def test_every_fixture_has_provenance_and_loads():
    bundles = [d for d in FIX.iterdir() if d.is_dir()]
    assert len(bundles) >= 10
    for d in bundles:
        raw, at, meta = collect.load(d)
        assert isinstance(meta["provenance"], str) and len(meta["provenance"]) > 40, d
        assert set(raw) <= set(SOURCES)


def test_synced_chronyd_with_x():
    report, c = judge("chrony-synced")
    assert c["chrony"].verdict is Verdict.OK and c["clock"].verdict is Verdict.OK
    # one source only: cannot be outvoted
    assert c["chrony_sources"].verdict is Verdict.WARN and "only 1 usable" in c["chrony_sources"].summary
    # chronyd -x: synchronised, but the kernel clock stays unsynchronised, and diagnose says why
    assert c["kernel"].verdict is Verdict.FAIL and "-x" in c["kernel"].summary
    assert c["appliance"].verdict is Verdict.OK and "locked" in c["appliance"].summary
    assert report.exit_code == 2
    # chrony's values keep chrony's names and values
    ev = c["chrony"].evidence
    tracking = (FIX / "chrony-synced" / "chronyc-tracking.csv").read_text().strip().split(",")
    assert ev["stratum"] == int(tracking[2]) and ev["system_time"] == float(tracking[4])
    assert ev["leap_status"] == "Normal" and ev["offset_s"] == -float(tracking[4])
    src = c["chrony_sources"].evidence["sources"][0]
    assert set(src) >= {"name", "stratum", "poll", "reach", "offset", "measured_offset", "error", "state", "mode"}


def test_no_sources():
    report, c = judge("chrony-no-sources")
    assert c["chrony_sources"].verdict is Verdict.FAIL and c["chrony_sources"].summary == "chronyd has no sources"
    assert "server" in c["chrony_sources"].next_step
    assert c["chrony"].verdict is Verdict.FAIL and "not synchronised" in c["chrony"].summary
    assert c["clock"].verdict is Verdict.FAIL and report.exit_code == 2


def test_unsynchronised():
    _, c = judge("chrony-unsynchronised")
    assert c["chrony"].verdict is Verdict.FAIL
    assert c["chrony_sources"].verdict is Verdict.FAIL and "none is reachable" in c["chrony_sources"].summary
    assert c["drift"].state == "not available"  # no samples: no trend invented


def test_leap_second_pending():
    _, c = judge("chrony-leap-pending")
    assert c["chrony"].verdict is Verdict.WARN and "leap second pending" in c["chrony"].summary
    report, c = judge("kernel-leap-pending")
    assert c["kernel"].verdict is Verdict.WARN and "insert" in c["kernel"].summary
    assert report.exit_code == 1


def test_chronyd_not_running():
    # not expected (default socket): reported, and the clock check says nothing synchronises it
    report, c = judge("chrony-not-running")
    assert c["chrony"].state == NOT_RUNNING and c["clock"].verdict is Verdict.FAIL
    assert "chronyd not running" in c["clock"].summary
    # recorded with an explicit --chronyc-socket: expected, so FAIL on its own
    assert c["chrony"].verdict is Verdict.FAIL and c["chrony"].next_step


def test_timesyncd_worker_is_ok_without_chronyd():
    report, c = judge("worker-timesyncd")
    assert report.exit_code == 0, [(x.name, x.summary) for x in report.checks if x.verdict is not Verdict.OK]
    assert c["chrony"].verdict is Verdict.SKIP and c["chrony"].state == NOT_RUNNING  # absent here: nothing to judge
    assert "kernel" in c["clock"].summary and "timedatectl" in c["clock"].summary
    # unless chrony was expected
    report, c = judge("worker-timesyncd", expect={"chrony"})
    assert c["chrony"].verdict is Verdict.FAIL and report.exit_code == 2


def test_rtc_checks():
    _, c = judge("rtc-off")
    assert c["rtc"].verdict is Verdict.WARN and "37" in c["rtc"].summary
    assert c["rtc"].evidence["rtc_minus_system_s"] == pytest.approx(-37.25)
    report, c = judge("rtc-local-dead")
    assert c["rtc"].verdict is Verdict.WARN and "battery" in c["rtc"].summary
    assert "not compared" in c["rtc"].evidence["note"]
    assert c["timedatectl"].verdict is Verdict.WARN and "local time" in c["timedatectl"].summary
    assert "no NTP service" in c["timedatectl"].summary


def test_ptp_recorded():
    _, c = judge("ptp-grandmaster")
    assert c["ptp"].verdict is Verdict.OK and "grandmaster" in c["ptp"].summary
    _, c = judge("ptp-follower")
    assert c["ptp"].verdict is Verdict.WARN and "UNCALIBRATED" in c["ptp"].summary


def test_appliance_holdover_and_its_trend():
    report, c = judge("appliance-holdover")
    assert c["appliance"].verdict is Verdict.WARN and "holdover" in c["appliance"].summary
    (t,) = [t for t in report.trends if t.source.startswith("appliance:error_bound")]
    # the default holdover bound grows by holdover_freq_uncertainty_ppb = 50 ns/s, plus wander
    assert t.rate_s_per_s == pytest.approx(50e-9, rel=0.05)
    assert t.threshold_s == 0.1 and t.crossing_in_s == pytest.approx((0.1 - t.value_s) / t.rate_s_per_s)
    assert "reaches max_error_bound_s" in c["appliance"].summary


def test_threshold_changes_verdicts():
    # the synced chronyd's error bound is tens of microseconds: a 10 us limit makes it a problem
    _, c = judge("chrony-synced", Limits(offset_s=10e-6))
    assert c["chrony"].verdict in (Verdict.WARN, Verdict.FAIL)


def test_error_state_is_a_warning():
    raw = {"pmc": Raw(ERROR, detail="ptp4l's socket /var/run/ptp4l exists but pmc is not installed (linuxptp)")}
    c = {x.name: x for x in evaluate(raw, 0.0).checks}
    assert c["ptp"].verdict is Verdict.WARN and "pmc is not installed" in c["ptp"].summary


def test_nothing_readable():
    report = evaluate({k: Raw(NOT_AVAILABLE, detail="x") for k in SOURCES}, 0.0)
    c = {x.name: x for x in report.checks}
    assert c["clock"].verdict is Verdict.WARN and "cannot tell" in c["clock"].summary
    assert report.exit_code == 1


def test_unreadable_output_is_named():
    raw = {"chronyc_tracking": Raw(AVAILABLE, "this is not chronyc output\n")}
    c = {x.name: x for x in evaluate(raw, 0.0).checks}
    assert c["chrony"].verdict is Verdict.WARN and c["chrony"].state == "unreadable"
    assert "14 comma-separated" in c["chrony"].summary and c["chrony"].evidence["raw"].startswith("this is")


raws = st.builds(
    Raw,
    state=st.sampled_from([AVAILABLE, NOT_AVAILABLE, NOT_RUNNING, ERROR, "weird"]),
    text=st.one_of(
        st.none(),
        st.text(max_size=200),
        st.sampled_from(
            [
                '{"sync": {"state": 3, "healthy": "yes"}}',
                "[1,2]",
                '{"samples": [{"t": "x"}]}',
                '{"samples": [{"t": 1, "state": "holdover", "error_bound_s": 1e308}]}',
                '{"return": 0, "status": 64}',
                "^,*,a,1,1,377,1,nan,0,0\n",
                "a,99,2,10,nan,nan,nan,nan\n",
            ]
        ),
    ),
    detail=st.text(max_size=20),
    expected=st.booleans(),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(SOURCES), raws), st.floats(allow_nan=True))
def test_evaluate_never_raises(raw, now):
    report = evaluate(raw, now)
    json.dumps(report.as_dict(), default=str)
    assert report.exit_code in (0, 1, 2)


# -- drift arithmetic ------------------------------------------------------------------------


def test_time_to_cross():
    assert drift.time_to_cross(0.0, 1e-6, 0.05) == pytest.approx(50_000)
    assert drift.time_to_cross(0.01, -1e-6, 0.05) == pytest.approx(60_000)  # towards -threshold
    assert drift.time_to_cross(0.06, 0.0, 0.05) == 0.0
    assert drift.time_to_cross(0.01, 0.0, 0.05) is None
    assert drift.time_to_cross(0.01, -1e-6, 0.05, symmetric=False) is None
    assert drift.time_to_cross(math.nan, 1e-6, 0.05) is None


def test_from_sourcestats():
    t = drift.from_sourcestats("x", offset_s=0.001, frequency_ppm=2.0, skew_ppm=0.5, threshold_s=0.05)
    assert t.rate_ppm == pytest.approx(2.0)
    assert t.crossing_in_s == pytest.approx(0.049 / 2e-6)
    assert t.worst_case_crossing_in_s == pytest.approx(0.049 / 2.5e-6)


def test_fit_recovers_a_slope():
    times = [float(i) for i in range(100)]
    values = [1e-3 + 3e-7 * t + (1e-9 if i % 2 else -1e-9) for i, t in enumerate(times)]
    tr = drift.from_series("s", times, values, threshold_s=0.05)
    assert tr.rate_s_per_s == pytest.approx(3e-7, rel=1e-3)
    assert tr.value_s == pytest.approx(1e-3 + 3e-7 * 99, rel=1e-3)
    assert tr.crossing_in_s == pytest.approx((0.05 - tr.value_s) / tr.rate_s_per_s, rel=1e-6)
    assert drift.from_series("s", [1.0, 2.0], [0.0, 1.0], 1.0) is None
    assert drift.from_series("s", [1.0, 1.0, 1.0], [0.0, 1.0, 2.0], 1.0) is None


def test_a_demoted_appliance_fails_with_the_next_step():
    status = {
        "node": "control-1",
        "sync": {"state": "holdover", "healthy": True, "error_bound_s": 1e-4},
        "ntp": {"stratum": 16},
        "crosscheck": {"demoted": True},
    }
    report = evaluate({"appliance_status": Raw(AVAILABLE, json.dumps(status))}, 0.0)
    (check,) = [c for c in report.checks if c.name == "appliance"]
    assert check.verdict is Verdict.FAIL and "demoted" in check.summary
    assert "appliance status" in check.next_step
