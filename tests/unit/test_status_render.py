"""`appliance status` text: the vote and the peers are shown when the cross-check is enabled."""

from appliance.commands.status import render

BASE = {
    "version": "0.1.0", "node": "ctl-1", "uptime_s": 12.0,
    "clock": {"name": "sim:tcxo", "source": "sim", "freq_ppb": -190.0, "temperature_c": 22.0},
    "sync": {"state": "holdover", "healthy": True, "error_bound_s": 2e-6, "reference": "lost", "offset_ns": None},
    "ntp": {"listen": ["198.18.1.2:123"], "stratum": 16, "received": 10, "answered": 10, "kod_sent": 0,
            "dropped": {"short": 0}},
}


def test_demoted_node_with_peers():
    st = dict(BASE)
    st["crosscheck"] = {"enabled": True, "state": "demoted", "demoted": True, "majority": True, "configured_nodes": 3,
                        "distance_s": 1.999, "threshold_s": 0.001, "grandmaster_eligible": False}
    st["peers"] = [{"name": "ctl-0", "address": "198.18.1.1", "offset_s": 2.0, "delay_s": 1.2e-4, "reach": 0o377,
                    "vote": "truechimer"},
                   {"name": "ctl-2", "address": "198.18.1.3", "offset_s": None, "delay_s": None, "reach": 0,
                    "vote": "no_data"}]
    st["served"] = {"correction_s": -1.5, "monotonic": True, "error_bound_s": 1.5}
    text = render(st)
    assert "cluster vote     : demoted  (DEMOTED: answering with leap 3), a majority of 3, 1.999 s outside it" in text
    assert "grandmaster      : not eligible" in text
    assert "peer ctl-0       : 198.18.1.1, offset +2.000 s (local - peer), delay 120.000 us, reach 377, truechimer" in text
    assert "peer ctl-2       : 198.18.1.3, offset - (local - peer), delay -, reach 000, no_data" in text
    assert "served time      : slewing, -1.500 s still to absorb" in text


def test_single_node_shows_no_cluster_lines():
    st = dict(BASE, crosscheck={"enabled": False}, peers=[])
    assert "cluster vote" not in render(st)
    assert "cluster vote" not in render(BASE)  # a status from an older appliance
