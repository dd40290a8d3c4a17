"""The bootstrap decision (appliance.core.bootstrap): hand-made evidence, every refusal naming the
evidence in conflict, the operator overriding this machine's clocks but never a floor."""

import pytest

from appliance.core.bootstrap import evidence as ev
from appliance.core.bootstrap.decide import BOUND, NOT_AVAILABLE, OUTLIER, USED, decide
from appliance.core.bootstrap.evidence import NS, iso, parse_iso_ns
from appliance.core.bootstrap.state import start_state

T = parse_iso_ns("2026-12-02T06:30:00Z")
H = 3600 * NS


def verdicts(d):
    return {j.evidence.source: j.verdict for j in d.evidence}


def local(t=T, u=60.0):
    return [ev.rtc(t, False, None, u, "/dev/rtc0"), ev.system_clock(t + NS // 10, "b" * 32, 100.0, False, None, u)]


def test_iso_round_trip_and_zone_required():
    assert iso(T) == "2026-12-02T06:30:00Z"
    assert parse_iso_ns("2026-12-02T07:30:00+01:00") == T
    assert iso(parse_iso_ns("2026-12-02T06:30:00.250Z")) == "2026-12-02T06:30:00.250Z"
    with pytest.raises(ValueError, match="no time zone"):
        parse_iso_ns("2026-12-02T06:30:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_iso_ns("yesterday")


def test_local_clocks_and_a_synchronised_peer_agree():
    items = local() + [
        ev.peer("ctl-1", "198.18.0.2:123", T + NS // 2, 200e-6, 0, 50e-6, True, 1, 60.0),
        ev.build_floor(T - 30 * 24 * H, "0.1.0", "test"),
    ]
    d = decide(items)
    assert d.ok, d.reason
    # the peer's tight interval is what the intersection keeps
    assert abs(d.time_ns - (T + NS // 2)) < 200_000 and d.uncertainty_s < 200e-6
    v = verdicts(d)
    assert v["rtc"] == v["system clock"] == v["peer ctl-1"] == USED and v["build floor"] == BOUND


def test_operator_before_a_certificate_notbefore_is_refused_naming_the_certificate():
    crt = "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt"
    items = local(parse_iso_ns("2026-12-02T08:00:00Z")) + [
        ev.operator(parse_iso_ns("2026-11-22T06:30:00Z"), 5.0),
        ev.cert_not_before(parse_iso_ns("2026-12-01T00:00:00Z"), crt, 12),
        ev.cert_not_after(parse_iso_ns("2027-12-01T00:00:00Z"), crt, 12),
    ]
    d = decide(items)
    assert not d.ok and d.time_ns is None
    assert d.reason == (f"operator time 2026-11-22T06:30:00Z is before the notBefore 2026-12-01T00:00:00Z of {crt}")
    assert verdicts(d)["operator"] == OUTLIER


def test_operator_before_the_last_known_good_is_refused():
    lkg = ev.last_known_good(T, 1e-6, same_boot=False, elapsed_s=None, written="/state/last-known-good.json")
    assert [e.kind for e in lkg] == [ev.Kind.LOWER]
    d = decide([ev.operator(T - H, 5.0), *lkg])
    assert not d.ok and "is before the last-known-good 2026-12-02T06:30:00Z" in d.reason


def test_operator_before_the_build_floor_is_refused():
    d = decide([ev.operator(T - 400 * 24 * H, 5.0), ev.build_floor(T - 30 * 24 * H, "0.1.0", "stamped")])
    assert not d.ok and "is before the build floor" in d.reason and "appliance 0.1.0" in d.reason


def test_peers_that_disagree_with_no_majority_are_refused_naming_each():
    items = [
        ev.peer("ctl-1", "a", T, 1e-4, 0, 1e-5, True, 1, 60),
        ev.peer("ctl-2", "b", T + H, 1e-4, 0, 1e-5, True, 1, 60),
        *local(T + 2 * H),
    ]
    d = decide(items)
    assert not d.ok and d.reason.startswith("no majority")
    assert "peer ctl-1" in d.reason and "peer ctl-2" in d.reason and "this machine's clocks" in d.reason


def test_two_peers_outvote_a_wrong_rtc():
    items = [
        ev.peer("ctl-1", "a", T, 1e-4, 0, 1e-5, True, 1, 60),
        ev.peer("ctl-2", "b", T + 50_000, 1e-4, 0, 1e-5, True, 1, 60),
        *local(T + 2 * H),
    ]
    d = decide(items)
    assert d.ok and abs(d.time_ns - T) < NS // 1000
    assert verdicts(d)["rtc"] == OUTLIER == verdicts(d)["system clock"]


def test_a_dead_rtc_is_overridden_by_the_operator():
    dead = parse_iso_ns("2000-01-01T00:00:00Z")
    floor = ev.build_floor(T - 30 * 24 * H, "0.1.0", "x")
    refused = decide(local(dead) + [floor])
    assert not refused.ok and "before the build floor" in refused.reason and "--operator-time" in refused.reason
    d = decide(local(dead) + [floor, ev.operator(T, 5.0)])
    assert d.ok and d.time_ns == T and d.uncertainty_s == 5.0
    assert verdicts(d)["rtc"] == OUTLIER and verdicts(d)["operator"] == USED


def test_this_machines_clocks_are_one_witness():
    """RTC and system clock agree (the system clock was set from it): they do not outvote an operator."""
    d = decide(local(T + 2 * H) + [ev.operator(T, 5.0)])
    assert d.ok and d.time_ns == T
    assert verdicts(d)["rtc"] == OUTLIER


def test_past_the_certificates_notafter_needs_the_operator():
    crt = "/etc/kubernetes/pki/apiserver.crt"
    after = ev.cert_not_after(T - 24 * H, crt, 3)
    d = decide(local(T) + [after])
    assert not d.ok and f"the notAfter {iso(T - 24 * H)} of {crt}" in d.reason and "--operator-time" in d.reason
    d = decide(local(T) + [after, ev.operator(T, 5.0)])
    assert d.ok and any("expired" in w for w in d.warnings)


def test_nothing_available_is_refused():
    d = decide([ev.missing("rtc", ev.Kind.ESTIMATE, ev.LOCAL, "no /dev/rtc*")])
    assert not d.ok and "no estimate of the time is available" in d.reason
    assert verdicts(d)["rtc"] == NOT_AVAILABLE


def test_same_boot_last_known_good_is_an_estimate():
    est, low = ev.last_known_good(T, 1e-5, same_boot=True, elapsed_s=10.0, written="x")
    assert est.kind is ev.Kind.ESTIMATE and est.time_ns == T + 10 * NS and low.kind is ev.Kind.LOWER
    d = decide([est, low] + local(T + 10 * NS))
    assert d.ok and abs(d.time_ns - (T + 10 * NS)) < NS // 1000
    # an operator before it is refused naming the last-known-good, not as a mere disagreement
    d = decide([est, low, ev.operator(T - H, 5.0)])
    assert not d.ok and "is before the last-known-good" in d.reason


def test_the_json_contract_fields():
    d = decide(local() + [ev.operator(T, 5.0)]).as_dict()
    assert {"decision", "time_utc", "uncertainty_s", "reason", "evidence"} <= set(d)
    assert d["decision"] == "ok" and d["time_utc"] == "2026-12-02T06:30:00Z"
    for row in d["evidence"]:
        assert {"source", "kind", "time_utc", "uncertainty_s", "verdict"} <= set(row)
        assert row["kind"] in ("estimate", "lower_bound", "upper_bound")
        assert row["verdict"] in ("used", "outlier", "bound", "not available")


@pytest.mark.parametrize(
    "lkg, record, kind, want",
    [
        (None, None, "sim", False),
        (
            {"served_ns": T, "error_bound_s": 0.0, "boot_id": "B", "boottime_ns": 1, "monotonic_ns": 1},
            None,
            "phc",
            True,
        ),
        (
            {"served_ns": T, "error_bound_s": 0.0, "boot_id": "OLD", "boottime_ns": 1, "monotonic_ns": 1},
            None,
            "phc",
            False,
        ),
        (None, {"time_ns": T, "boot_id": "OLD", "clock_kind": "sim"}, "sim", True),  # a sim offset holds in any boot
        (None, {"time_ns": T, "boot_id": "OLD", "clock_kind": "phc"}, "phc", False),  # a PHC is set again at boot
        (None, {"time_ns": T, "boot_id": "B", "clock_kind": "phc"}, "phc", True),
        ({"served_ns": "bad"}, None, "phc", False),
    ],
)
def test_start_state(lkg, record, kind, want):
    st = start_state("B", kind, lkg, record)
    assert st.bootstrapped is want, st.why
    if lkg and isinstance(lkg.get("served_ns"), int):
        assert st.not_before_ns == T
