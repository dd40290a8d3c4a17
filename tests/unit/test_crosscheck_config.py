"""The cluster.crosscheck and ntp.max_slew_ppm keys: defaults and clear rejections."""

import pytest

from appliance import config


def test_defaults():
    c = config.parse({"node": {"name": "a"}})
    cc = c.cluster.crosscheck
    assert cc.enabled and cc.poll_interval_s == 2.0 and cc.filter_window == 4
    assert cc.demote_threshold_s == 0.001 and cc.promote_after_s == 6.0
    assert c.ntp.max_slew_ppm == 83_333.333


def test_bad_values_name_their_key():
    import pytest

    with pytest.raises(config.ConfigError) as e:
        config.parse(
            {
                "node": {"name": "a"},
                "cluster": {
                    "crosscheck": {"poll_interval_s": 0, "filter_window": 40, "demote_threshold_s": -1, "vote": 1}
                },
                "ntp": {"max_slew_ppm": 2_000_000},
            }
        )
    text = "\n".join(e.value.problems)
    for key in (
        "cluster.crosscheck.poll_interval_s",
        "cluster.crosscheck.filter_window",
        "cluster.crosscheck.demote_threshold_s",
        "cluster.crosscheck.vote: unknown key",
        "ntp.max_slew_ppm",
    ):
        assert key in text


def test_a_crosscheck_key_needs_the_keyfile():
    from appliance.config import ConfigError, parse

    base = {"node": {"name": "a"}, "cluster": {"crosscheck": {"key": 3}}}
    with pytest.raises(ConfigError, match="cluster.crosscheck.key needs ntp.keyfile"):
        parse(base)
    with pytest.raises(ConfigError, match="cluster.crosscheck.key"):
        parse({**base, "cluster": {"crosscheck": {"key": 0}}, "ntp": {"keyfile": "/k"}})
    assert parse({**base, "ntp": {"keyfile": "/k"}}).cluster.crosscheck.key == 3
