"""The /metrics collector: names, units and labels from a status() dict, what is absent stays
absent, labels stay bounded, a failing status does not break a scrape; and the HTTP server."""

import socket
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from appliance.core.clock.states import SyncState
from appliance.core.ntp.answer import DROP_REASONS
from appliance.monitoring.metrics import ApplianceCollector, MetricsError, MetricsServer, health_of

NOW = 1_800_000_000.0


def status(**over):
    st = {
        "version": "0.1.0",
        "node": "control-0",
        "uptime_s": 10,
        "clock": {
            "source": "sim",
            "name": "sim:tcxo",
            "timescale": "TAI",
            "freq_ppb": 250.0,
            "offset_to_system_ns": 37e9,
            "offset_method": "sim",
            "temperature_c": 24.5,
        },
        "sync": {
            "state": "locked",
            "healthy": True,
            "error_bound_s": 2.5e-7,
            "reference": "available",
            "offset_ns": -12.0,
            "events": [],
        },
        "ntp": {
            "listen": ["127.0.0.1:123"],
            "stratum": 1,
            "received": 10,
            "answered": 7,
            "kod_sent": 1,
            "dropped": {**{r: 0 for r in DROP_REASONS}, "denied": 2},
            "send_errors": 0,
            "internal_errors": 0,
        },
    }
    for k, v in over.items():
        st[k] = v
    return st


def scrape(collector) -> dict:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    text = generate_latest(reg).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.documentation, f"{fam.name} has no help text"
        assert fam.name.startswith("appliance_"), fam.name
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m, name, **labels):
    return m[(name, tuple(sorted(labels.items())))]


def names(m):
    return {n for n, _ in m}


def test_today_status():
    m = scrape(
        ApplianceCollector(
            lambda: status(), peer_names=["control-1", "control-2"], max_error_bound_s=0.1, clock=lambda: NOW
        )
    )
    assert value(m, "appliance_reference_offset_seconds") == pytest.approx(-12e-9)
    assert value(m, "appliance_error_bound_seconds") == pytest.approx(2.5e-7)
    assert value(m, "appliance_max_error_bound_seconds") == 0.1
    assert value(m, "appliance_ntp_stratum") == 1 and value(m, "appliance_synchronized") == 1
    assert value(m, "appliance_reference_available") == 1
    assert value(m, "appliance_sync_state", state="locked") == 1
    assert sum(value(m, "appliance_sync_state", state=s.value) for s in SyncState) == 1
    assert value(m, "appliance_holdover_seconds") == 0
    assert value(m, "appliance_temperature_celsius") == 24.5
    assert value(m, "appliance_clock_frequency_adjustment_ratio") == pytest.approx(250e-9)
    # the oscillator's offset, with the house's sign: the correction's opposite (status: clock.freq_offset_ppb)
    assert value(m, "appliance_oscillator_frequency_offset_ratio") == pytest.approx(-250e-9)
    assert value(m, "appliance_ntp_requests_total") == 10 and value(m, "appliance_ntp_responses_total") == 7
    assert value(m, "appliance_ntp_kod_total") == 1
    assert value(m, "appliance_ntp_dropped_total", reason="denied") == 2
    assert {dict(lbl)["reason"] for n, lbl in m if n == "appliance_ntp_dropped_total"} == set(DROP_REASONS)
    assert value(m, "appliance_info", version="0.1.0", node="control-0", clock_source="sim", clock="sim:tcxo") == 1
    assert value(m, "appliance_status_errors_total") == 0
    # not in today's status: absent, not zero
    for absent in (
        "appliance_ptp_offset_seconds",
        "appliance_ptp_port_state",
        "appliance_self_demoted",
        "appliance_temperature_compensation_ratio",
        "appliance_peer_offset_seconds",
        "appliance_child_restarts_total",
    ):
        assert absent not in names(m)


def test_holdover_duration_from_events():
    st = status()
    st["sync"].update(
        state="holdover",
        reference="lost",
        offset_ns=None,
        events=[
            {"time": NOW - 500, "from": "acquiring", "to": "locked", "event": "locked"},
            {"time": NOW - 120, "from": "locked", "to": "holdover", "event": "reference_lost"},
        ],
    )
    m = scrape(ApplianceCollector(lambda: st, clock=lambda: NOW))
    assert value(m, "appliance_holdover_seconds") == pytest.approx(120)
    assert value(m, "appliance_reference_available") == 0
    assert "appliance_reference_offset_seconds" not in names(m)


def test_cluster_ptp_process_and_tempcomp_keys():
    st = status(
        peers=[
            {"name": "control-1", "offset_s": 1.5e-6, "reachable": True},
            {"name": "control-2", "offset_s": -3e-7, "reachable": False},
            {"name": "intruder", "offset_s": 1e-9, "reachable": True},
        ],
        crosscheck={"demoted": True},
        ptp={
            "role": "follower",
            "port_state": "SLAVE",
            "gm_identity": "aabbcc.fffe.000001",
            "offset_ns": -40,
            "path_delay_ns": 2500,
        },
        processes={"ptp4l": {"running": True, "restarts": 3}, "phc2sys": {"running": False, "restarts": 0}},
    )
    st["tempcomp"] = {"ready": True, "compensation_ppm": -0.35}
    m = scrape(ApplianceCollector(lambda: st, peer_names=["control-1", "control-2"]))
    assert value(m, "appliance_peer_offset_seconds", peer="control-1") == pytest.approx(1.5e-6)
    assert value(m, "appliance_peer_reachable", peer="control-2") == 0
    assert ("appliance_peer_offset_seconds", (("peer", "intruder"),)) not in m  # only configured peers
    assert value(m, "appliance_self_demoted") == 1
    assert value(m, "appliance_ptp_offset_seconds") == pytest.approx(-40e-9)
    assert value(m, "appliance_ptp_path_delay_seconds") == pytest.approx(2.5e-6)
    assert value(m, "appliance_ptp_port_state", state="SLAVE") == 1
    assert value(m, "appliance_ptp_port_state", state="MASTER") == 0
    assert value(m, "appliance_ptp_role", role="follower") == 1
    assert value(m, "appliance_ptp_grandmaster_info", gm_identity="aabbcc.fffe.000001") == 1
    assert value(m, "appliance_temperature_compensation_ratio") == pytest.approx(-0.35e-6)
    assert value(m, "appliance_child_restarts_total", process="ptp4l") == 3
    assert value(m, "appliance_child_up", process="phc2sys") == 0


def test_grandmaster_changes_counted_between_scrapes():
    current = {"gm": "a"}
    col = ApplianceCollector(lambda: status(ptp={"role": "follower", "gm_identity": current["gm"]}))
    seen = []
    for gm in ("a", "a", "b", "b", "a", "c"):
        current["gm"] = gm
        seen.append(value(scrape(col), "appliance_ptp_grandmaster_changes_total"))
    assert seen == [0, 0, 1, 1, 2, 3]
    # the supervisor's own count wins when status carries one
    m = scrape(ApplianceCollector(lambda: status(ptp={"gm_identity": "a", "gm_changes": 7})))
    assert value(m, "appliance_ptp_grandmaster_changes_total") == 7


def test_bounded_labels_and_odd_types():
    st = status(
        processes={f"p{i}": {"restarts": i, "running": True} for i in range(100)},
        peers={f"n{i}": {"offset_s": i * 1e-9} for i in range(100)},
    )
    st["sync"]["error_bound_s"] = "lots"
    st["ntp"]["dropped"] = {"short": "x", "from-the-wire": 5}
    m = scrape(ApplianceCollector(lambda: st))
    assert len([1 for n, _ in m if n == "appliance_child_restarts_total"]) == 16
    assert len([1 for n, _ in m if n == "appliance_peer_offset_seconds"]) == 16
    assert "appliance_error_bound_seconds" not in names(m)
    assert value(m, "appliance_ntp_dropped_total", reason="short") == 0
    assert {dict(lbl)["reason"] for n, lbl in m if n == "appliance_ntp_dropped_total"} == set(DROP_REASONS)


def test_status_failure_is_counted_not_raised():
    calls = {"n": 0}

    def broken():
        calls["n"] += 1
        raise RuntimeError("clock gone")

    col = ApplianceCollector(broken)
    scrape(col)
    m = scrape(col)
    assert value(m, "appliance_status_errors_total") == 2 and names(m) == {"appliance_status_errors_total"}


def test_http_server_and_port_conflict():
    server = MetricsServer(ApplianceCollector(lambda: status()), "127.0.0.1", 0)
    server.start()
    try:
        body = urllib.request.urlopen(f"http://{server.address}/metrics", timeout=5).read().decode()
        assert "appliance_synchronized 1.0" in body
        clash = MetricsServer(ApplianceCollector(lambda: status()), "127.0.0.1", server.port)
        with pytest.raises(
            MetricsError,
            match=f"cannot serve metrics on 127.0.0.1:{server.port} "
            r"\(monitoring.metrics_listen\)",
        ):
            clash.start()
    finally:
        server.stop()


def test_http_server_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    server = MetricsServer(ApplianceCollector(lambda: status()), "::1", 0)
    server.start()
    try:
        assert server.address.startswith("[::1]:")
        assert b"appliance_info" in urllib.request.urlopen(f"http://{server.address}/metrics", timeout=5).read()
    finally:
        server.stop()


def _get(url):
    import urllib.error

    try:
        r = urllib.request.urlopen(url, timeout=5)
        return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_is_200_only_while_serving_stratum_1_and_other_paths_are_404():
    current = {"st": status(served={"unsynchronized_reason": None, "correction_s": 0.0})}
    server = MetricsServer(
        ApplianceCollector(lambda: current["st"]), "127.0.0.1", 0, health=lambda: health_of(current["st"])
    )
    server.start()
    try:
        base = f"http://{server.address}"
        assert _get(base + "/healthz") == (200, "ok\n")
        current["st"] = status(
            ntp={**status()["ntp"], "stratum": 16},
            served={"unsynchronized_reason": "demoted by the control nodes' vote"},
        )
        assert _get(base + "/healthz") == (503, "demoted by the control nodes' vote\n")
        code, body = _get(base + "/metrics")
        assert code == 200 and "appliance_ntp_stratum 16.0" in body
        for path in ("/", "/metrics/x", "/health", "/favicon.ico"):
            code, body = _get(base + path)
            assert code == 404 and "not found" in body, path
    finally:
        server.stop()


def test_health_of_status():
    assert health_of(status()) == (True, "serving stratum 1")
    assert health_of(status(served={"unsynchronized_reason": None}, ntp={"stratum": 16})) == (True, "serving stratum 1")
    ok, why = health_of(status(ntp={"stratum": 16}, sync={"state": "unsynchronized"}))
    assert not ok and "unsynchronized" in why
    ok, why = health_of(status(ntp={"stratum": 16}, served={"unsynchronized_reason": "sync state holdover"}))
    assert not ok and why == "sync state holdover"
    assert health_of(None) == (False, "status unavailable")


def test_healthz_answers_even_when_the_status_fails():
    def broken():
        raise RuntimeError("boom")

    server = MetricsServer(ApplianceCollector(broken), "127.0.0.1", 0, health=lambda: health_of(broken()))
    server.start()
    try:
        assert _get(f"http://{server.address}/healthz") == (503, "status unavailable\n")
    finally:
        server.stop()


def test_history_ring():
    from appliance.monitoring.history import History

    h = History(maxlen=5, max_error_bound_s=0.1, interval_s=1.0)
    for i in range(8):
        h.record(100.0 + i, "locked", float(i), 1e-7, 10.0, 24.0)
    r = h.reply({})
    assert [s["t"] for s in r["samples"]] == [103.0, 104.0, 105.0, 106.0, 107.0]
    assert r["max_error_bound_s"] == 0.1 and r["interval_s"] == 1.0
    assert [s["offset_ns"] for s in h.reply({"last": 2})["samples"]] == [6.0, 7.0]
    assert h.reply({"last": 0})["samples"] == [] and len(h.reply({"last": "x"})["samples"]) == 5


def test_queue_age_and_late_drops():
    st = status()
    st["ntp"].update(queue_age_sum_s=0.25, queue_age_count=1000, queue_age_max_s=0.004)
    st["ntp"]["dropped"]["late"] = 3
    m = scrape(ApplianceCollector(lambda: st))
    assert value(m, "appliance_ntp_queue_age_seconds_count") == 1000
    assert value(m, "appliance_ntp_queue_age_seconds_sum") == 0.25
    assert value(m, "appliance_ntp_queue_age_max_seconds") == 0.004
    assert value(m, "appliance_ntp_dropped_total", reason="late") == 3


def test_serving_workers():
    st = status()
    assert "appliance_ntp_workers_up" not in names(scrape(ApplianceCollector(lambda: st)))  # a thread serves
    st["ntp"]["workers"] = {"count": 4, "alive": 3, "restarts": 2, "pids": [1, 2, 3, 4], "received": [5, 6, 7, 8]}
    m = scrape(ApplianceCollector(lambda: st))
    assert value(m, "appliance_ntp_workers") == 4
    assert value(m, "appliance_ntp_workers_up") == 3
    assert value(m, "appliance_ntp_worker_restarts_total") == 2
