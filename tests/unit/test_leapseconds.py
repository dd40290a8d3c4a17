"""leap-seconds.list: parsed and verified (appliance.core.leapseconds), TAI-UTC into ptp4l's
utcOffset, the expiry as a metric and alert (promtool), the diagnose check leap-seconds."""

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from appliance import config, leapfile
from appliance.core.diagnose.diagnosis import evaluate
from appliance.core.diagnose.inputs import AVAILABLE, Raw
from appliance.core.leapseconds import NTP_UNIX_OFFSET_S, LeapFileError, parse
from appliance.core.verdict import Verdict
from appliance.linuxptp.render import render_ptp4l
from appliance.monitoring import prometheusrule
from appliance.monitoring.metrics import ApplianceCollector
from helpers.requirements import require_tool

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures" / "leap"
EXPIRED = FIX / "leap-seconds-2026-06-28.list"
BAD = FIX / "leap-seconds-bad-hash.list"


def make_leap_file(path: Path, expires_unix_s: float, extra: tuple[int, int] | None = None) -> Path:
    """The expired fixture with a new expiry (and optionally one more entry), hash recomputed."""
    lines = []
    for line in EXPIRED.read_text().splitlines():
        if line.startswith("#@"):
            line = f"#@\t{int(expires_unix_s) + NTP_UNIX_OFFSET_S}"
        if line.startswith("#h"):
            continue
        lines.append(line)
        if extra and line.startswith("3692217600"):
            lines.append(f"{extra[0] + NTP_UNIX_OFFSET_S}\t{extra[1]}\t# test entry")
    digest = []
    for line in lines:
        if line.startswith(("#$", "#@")):
            digest.append(line[2:].split()[0])
        elif line and not line.startswith("#"):
            digest.extend(line.split("#")[0].split()[:2])
    h = hashlib.sha1("".join(digest).encode()).hexdigest()
    # NIST drops leading zeros of a word; the parser must accept that
    words = [h[i : i + 8].lstrip("0") or "0" for i in range(0, 40, 8)]
    path.write_text("\n".join(lines + ["#h\t" + " ".join(words)]) + "\n")
    return path


def test_the_expired_fixture_verifies_and_gives_37():
    t = parse(EXPIRED.read_text())
    assert time.strftime("%Y-%m-%d", time.gmtime(t.expires_unix_s)) == "2026-06-28"
    assert t.tai_utc_s(time.time()) == 37 and t.expired(time.time())
    assert t.tai_utc_s(0) == 10  # 1972: the first entry
    assert t.tai_utc_s(1_483_228_800 - 1) == 36 and t.tai_utc_s(1_483_228_800) == 37  # 2017-01-01


def test_a_wrong_hash_is_rejected_with_the_reason():
    with pytest.raises(LeapFileError, match="hash mismatch: the file says 49db2447"):
        parse(BAD.read_text())


@pytest.mark.parametrize(
    "text, why",
    [
        ("#$ 1\n#@ 2\n#h 0 0 0 0 0\n", "no leap second entries"),
        ("#@ 2\n2272060800 10\n#h 0 0 0 0 0\n", "no '#\\$' line"),
        ("#$ 1\n#@ 2\n2272060800 10\n", "no '#h' line"),
        ("#$ 1\n#@ 2\n2272060800 ten\n#h 0 0 0 0 0\n", "line 3: expected"),
        # found by bench/fuzz_decoders.py: a run of minus signs, and digits int() does not read
        ("#$ 1\n#@ 2\n3 -------3\n#h 0 0 0 0 0\n", "line 3: expected"),
        ("#$ 1\n#@ 2\n2272060800 \u00b2\n#h 0 0 0 0 0\n", "line 3: expected"),
        ("#$ \u00b9\n#@ 2\n2272060800 10\n#h 0 0 0 0 0\n", "line 1: #\\$ without a number"),
    ],
)
def test_malformed_files_say_what_is_wrong(text, why):
    with pytest.raises(LeapFileError, match=why):
        parse(text)


def test_leading_zeros_dropped_from_hash_words(tmp_path):
    p = make_leap_file(tmp_path / "l.list", time.time() + 365 * 86400)
    assert parse(p.read_text()).latest_tai_utc_s == 37


def test_ptp4l_utc_offset_comes_from_the_file(tmp_path):
    """A (made-up) entry of 38 from a year ago: ptp4l's utc_offset follows the file, not 37."""
    p = make_leap_file(tmp_path / "l.list", time.time() + 365 * 86400, extra=(int(time.time()) - 365 * 86400, 38))
    cfg = config.parse(
        {
            "node": {"name": "a", "state_dir": str(tmp_path)},
            "leap_seconds": {"file": str(p)},
            "clock": {"source": "phc", "interface": "eth0"},
            "ptp": {"enabled": True, "interface": "eth0"},
        }
    )
    cfg2, st = leapfile.apply(cfg)
    assert st.source == "file" and st.utc_offset_s == 38 and not st.warnings
    assert "utc_offset 38" in render_ptp4l(cfg2, tmp_path)
    # an explicit ptp.utc_offset_s wins, with a warning that it differs
    cfg = config.parse({"node": {"name": "a"}, "leap_seconds": {"file": str(p)}, "ptp": {"utc_offset_s": 37}})
    _, st = leapfile.apply(cfg)
    assert st.utc_offset_s == 37 and any("differs" in w for w in st.warnings)
    # no file: the built-in value, said so
    _, st = leapfile.apply(config.parse({"node": {"name": "a"}, "leap_seconds": {"file": str(tmp_path / "none")}}))
    assert st.source == "default" and st.utc_offset_s == 37 and st.status()["valid"] is False


def test_the_expired_file_keeps_serving_with_its_last_offset():
    _, st = leapfile.apply(config.parse({"node": {"name": "a"}, "leap_seconds": {"file": str(EXPIRED)}}))
    assert st.utc_offset_s == 37 and st.status()["expired"] is True
    assert any("expired on 2026-06-28" in w for w in st.warnings)


def _check(path: Path, now_s: float | None = None):
    raw = {"leap_seconds": Raw(AVAILABLE, path.read_text(), str(path))}
    report = evaluate(raw, time.time() if now_s is None else now_s)
    return next(c for c in report.checks if c.name == "leap-seconds")


def test_diagnose_warns_about_an_expired_file():
    c = _check(EXPIRED)
    assert c.verdict is Verdict.WARN and "expired on 2026-06-28" in c.summary and "leap_seconds.file" in c.next_step


def test_diagnose_fails_a_wrong_hash_with_the_reason():
    c = _check(BAD)
    assert c.verdict is Verdict.FAIL and "rejected: hash mismatch" in c.summary


def test_diagnose_warns_ten_days_ahead_and_is_ok_a_year_ahead(tmp_path):
    soon = _check(make_leap_file(tmp_path / "soon.list", time.time() + 10 * 86400))
    assert soon.verdict is Verdict.WARN and "in 10 days" in soon.summary
    later = _check(make_leap_file(tmp_path / "later.list", time.time() + 365 * 86400))
    assert later.verdict is Verdict.OK and "TAI-UTC 37" in later.summary


def test_diagnose_command_reads_the_leap_file(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "diagnose",
            "--json",
            "--leap-file",
            str(BAD),
            "--control-socket",
            str(tmp_path / "none.sock"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    report = json.loads(r.stdout)
    check = next(c for c in report["checks"] if c["name"] == "leap-seconds")
    assert check["verdict"] == "fail" and "hash mismatch" in check["summary"] and r.returncode == 2


def _promtool(*args, cwd=None):
    require_tool("promtool")
    exe = shutil.which("promtool") or "/usr/bin/promtool"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def _expiry_metric(path: Path) -> float:
    cfg = config.parse({"node": {"name": "a"}, "leap_seconds": {"file": str(path)}})
    _, st = leapfile.apply(cfg)
    status = {"version": "0", "node": "a", "leap_seconds": st.status(), "bootstrap": {"bootstrapped": True}}
    for fam in ApplianceCollector(lambda: status).collect():
        for s in fam.samples:
            if s.name == "appliance_leap_file_expiry_timestamp_seconds":
                return s.value
    raise AssertionError("no appliance_leap_file_expiry_timestamp_seconds")


def _humanize(seconds: int) -> str:
    """Prometheus' humanizeDuration for whole seconds: from the first non-zero unit on."""
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    parts = [(d, "d"), (h, "h"), (m, "m")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{v}{u}" for v, u in parts) + (" " if parts else "") + f"{s}s"


def test_a_file_expiring_in_ten_days_raises_the_alert(tmp_path):
    """File -> parser -> metric -> rule: the metric of a real file (shifted to promtool's clock,
    which starts at the Unix epoch) raises LeapSecondsFileExpiring as a warning."""
    expiry = _expiry_metric(make_leap_file(tmp_path / "soon.list", time.time() + 10 * 86400))
    left_s = int(expiry - time.time())
    assert 9 * 86400 < left_s <= 10 * 86400
    rules = prometheusrule.RULES_DIR / "appliance.rules.yml"
    rule = next(
        r
        for g in prometheusrule.rule_groups()
        for r in g["rules"]
        if r.get("alert") == "LeapSecondsFileExpiring" and r["labels"]["severity"] == "warning"
    )
    summary = f"leap-seconds.list on cp:9810 expires in {_humanize(left_s - 600)}"
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'appliance_leap_file_expiry_timestamp_seconds{instance="cp:9810",job="appliance"}',
                        "values": f"{left_s}x20",
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "LeapSecondsFileExpiring", "exp_alerts": []},
                    {
                        "eval_time": "10m",
                        "alertname": "LeapSecondsFileExpiring",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "instance": "cp:9810", "job": "appliance"},
                                "exp_annotations": {
                                    "summary": summary,
                                    "description": rule["annotations"]["description"],
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    f = tmp_path / "leap.test.yml"
    f.write_text(yaml.safe_dump(test))
    r = _promtool("test", "rules", str(f))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_leap_alert_tests_catch_a_changed_horizon(tmp_path):
    """30 days -> 5 days must fail the promtool tests of the leap alert."""
    rules = tmp_path / "appliance" / "monitoring" / "rules"
    rules.mkdir(parents=True)
    text = (prometheusrule.RULES_DIR / "appliance.rules.yml").read_text()
    assert "time() < 30 * 86400" in text
    (rules / "appliance.rules.yml").write_text(text.replace("time() < 30 * 86400", "time() < 5 * 86400"))
    (tmp_path / "tests" / "promtool").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "promtool" / "appliance.test.yml", tmp_path / "tests" / "promtool")
    r = _promtool("test", "rules", "tests/promtool/appliance.test.yml", cwd=tmp_path)
    assert r.returncode != 0 and "LeapSecondsFileExpiring" in r.stdout + r.stderr
