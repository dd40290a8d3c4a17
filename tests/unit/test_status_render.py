"""`appliance status` text: the vote and the peers are shown when the cross-check is enabled."""

from appliance.commands.status import render

BASE = {
    "version": "0.1.0",
    "node": "ctl-1",
    "uptime_s": 12.0,
    "clock": {"name": "sim:tcxo", "source": "sim", "freq_ppb": -190.0, "temperature_c": 22.0},
    "sync": {"state": "holdover", "healthy": True, "error_bound_s": 2e-6, "reference": "lost", "offset_ns": None},
    "ntp": {
        "listen": ["198.18.1.2:123"],
        "stratum": 16,
        "received": 10,
        "answered": 10,
        "kod_sent": 0,
        "dropped": {"short": 0},
    },
}


def test_demoted_node_with_peers():
    st = dict(BASE)
    st["crosscheck"] = {
        "enabled": True,
        "state": "demoted",
        "demoted": True,
        "majority": True,
        "configured_nodes": 3,
        "distance_s": 1.999,
        "threshold_s": 0.001,
        "grandmaster_eligible": False,
    }
    st["peers"] = [
        {
            "name": "ctl-0",
            "address": "198.18.1.1",
            "offset_s": 2.0,
            "delay_s": 1.2e-4,
            "reach": 0o377,
            "vote": "truechimer",
        },
        {"name": "ctl-2", "address": "198.18.1.3", "offset_s": None, "delay_s": None, "reach": 0, "vote": "no_data"},
    ]
    st["served"] = {"correction_s": -1.5, "monotonic": True, "error_bound_s": 1.5}
    text = render(st)
    assert "cluster vote     : demoted  (DEMOTED: answering with leap 3), a majority of 3, 1.999 s outside it" in text
    assert "grandmaster      : not eligible" in text
    assert (
        "peer ctl-0       : 198.18.1.1, offset +2.000 s (local - peer), delay 120.000 us, reach 377, truechimer" in text
    )
    assert "peer ctl-2       : 198.18.1.3, offset - (local - peer), delay -, reach 000, no_data" in text
    assert "served time      : slewing, -1.500 s still to absorb" in text


def test_single_node_shows_no_cluster_lines():
    st = dict(BASE, crosscheck={"enabled": False}, peers=[])
    assert "cluster vote" not in render(st)
    assert "cluster vote" not in render(BASE)  # a status from an older appliance


def test_frequency_is_the_oscillator_offset_with_the_house_sign_and_the_correction_is_labelled():
    # a clock that runs 50 ppm fast is corrected by -50 ppm: "freq -49946 ppb" read as the opposite
    st = dict(BASE, clock={**BASE["clock"], "freq_ppb": -49946.0, "freq_offset_ppb": 49946.0})
    text = render(st)
    assert "frequency        : runs 49.946 ppm fast (correction applied -49946.0 ppb)" in text
    assert "freq -49946" not in text
    older = dict(BASE, clock={**BASE["clock"], "freq_ppb": 190.0})  # no freq_offset_ppb: derived from the correction
    assert "runs 0.190 ppm slow (correction applied +190.0 ppb)" in render(older)


def test_status_json_has_the_offset_beside_the_correction():
    from types import SimpleNamespace

    from appliance.runtime.status import compose

    snap = SimpleNamespace(
        reading=None,
        freq_correction_ppb=-49946.0,
        temperature_c=None,
        state=SimpleNamespace(value="locked"),
        healthy=True,
        error_bound_s=1e-6,
        reference="available",
        offset_ns=3.0,
        reference_source="sim",
        reference_suspect=False,
        events=[],
        tempcomp=None,
        served_monotonic=True,
        served_correction_ns=0,
        served_bound_s=1e-6,
        unsynchronized_reason=None,
        crosscheck={"enabled": False},
        peers={},
    )
    st = compose(
        node="n",
        clock_source="sim",
        clock_info=None,
        started_s=0.0,
        snapshot=snap,
        ntp={},
        stratum=1,
        listen=[("::1", 123)],
        ptp={},
        processes={},
        peers=[],
        tick={},
    )
    assert st["clock"]["freq_ppb"] == -49946.0 and st["clock"]["freq_offset_ppb"] == 49946.0
    assert st["ntp"]["listen"] == ["[::1]:123"]


def test_status_says_why_the_node_is_not_stratum_1_and_what_is_left_to_absorb():
    st = dict(BASE, served={"unsynchronized_reason": "demoted by the control nodes' vote", "correction_s": 0.25})
    text = render(st)
    assert "stratum 16  (NOT serving as stratum 1: demoted by the control nodes' vote; replies say leap 3)" in text
    assert "served time      : slewing, +250.000 ms still to absorb" in text  # shown without the cluster vote too
    ok = dict(BASE, ntp={**BASE["ntp"], "stratum": 1}, served={"unsynchronized_reason": None, "correction_s": 0.0})
    assert "NOT serving" not in render(ok) and "still to absorb" not in render(ok)
    bound = dict(
        BASE,
        served={
            "unsynchronized_reason": "served-time error bound 0.2 s is above clock.discipline.max_error_bound_s 0.1 s",
            "correction_s": 0.0,
        },
    )
    assert "NOT serving as stratum 1: served-time error bound 0.2 s" in render(bound)


def test_status_on_a_regular_file_says_not_a_socket(tmp_path, capsys):
    from appliance.cli import main

    f = tmp_path / "status.txt"
    f.write_text("hello")
    assert main(["status", "--control-socket", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"{f} is not a socket (a regular file)" in err and "connection refused" not in err
    assert main(["status", "--control-socket", str(tmp_path)]) == 2
    assert "is not a socket (a directory)" in capsys.readouterr().err


def test_a_residual_below_a_microsecond_is_not_a_slew():
    st = dict(BASE, ntp={**BASE["ntp"], "stratum": 1}, served={"unsynchronized_reason": None, "correction_s": -6.7e-8})
    assert "still to absorb" not in render(st)


def test_ptp_configured_but_not_started_yet():
    """Status asked while the appliance starts, before its PTP manager is up: PTP shows as enabled
    in state init with no children, and both the JSON keys clients read and the text hold."""
    from appliance.linuxptp.status import starting_status

    st = dict(BASE)
    st["ptp"] = starting_status("eth1", "hardware")
    assert st["ptp"]["enabled"] and st["ptp"]["state"] == "init" and st["ptp"]["children"] == {}
    text = render(st)
    assert "ptp              : - (init), port -, grandmaster -, hardware timestamping" in text
