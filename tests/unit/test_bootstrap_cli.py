"""`appliance bootstrap` on real files, without network or root: an RTC from a sysfs/procfs tree
(APPLIANCE_HOST_ROOT), self-signed certificates with chosen validity windows (cryptography), the
build floor, the refusals naming their evidence, the exit codes, --apply on a simulated clock and
its audit log."""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.core.bootstrap.evidence import iso, parse_iso_ns

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures" / "bootstrap"
DAY = 86400


def write_cert(path: Path, not_before: dt.datetime, not_after: dt.datetime, cn: str = "kube-apiserver") -> Path:
    """A self-signed certificate with exactly this validity window."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def utc(offset_s: float = 0.0) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(time.time() + offset_s), dt.UTC)


def write_config(tmp_path: Path, **extra) -> Path:
    cfg = {
        "node": {"name": "cp-0", "state_dir": str(tmp_path / "state")},
        "cluster": {"control_nodes": [{"name": "cp-0", "address": "198.18.0.1"}]},
        "clock": {"source": "sim", "sim": {"reference": False}},
        "monitoring": {"metrics_listen": None, "control_socket": str(tmp_path / "control.sock")},
        "bootstrap": {"cert_globs": []},  # not this machine's certificates
        **extra,
    }
    p = tmp_path / "appliance.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def bootstrap(config: Path, *args: str, root: Path | None = None) -> tuple[int, dict | str]:
    env = {**os.environ, "APPLIANCE_HOST_ROOT": str(root or FIX / "none")}
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "bootstrap", "--config", str(config), "--non-interactive", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert "Traceback" not in r.stderr, r.stderr
    if "--json" in args and r.stdout.strip():
        return r.returncode, json.loads(r.stdout)
    return r.returncode, r.stdout + r.stderr


def row(out: dict, source: str) -> dict:
    return next(e for e in out["evidence"] if e["source"] == source)


def test_an_rtc_in_local_time_from_sysfs(tmp_path):
    rc, out = bootstrap(write_config(tmp_path), "--json", root=FIX / "rtc-local")
    rtc = row(out, "rtc")
    assert rtc["kind"] == "estimate" and rtc["time_utc"].startswith("2026-12-02T10:30:0"), rtc  # 11:30 in Berlin
    assert "keeps local time" in rtc["detail"] and "(/etc/adjtime)" in rtc["detail"]
    # last set 2025-11-24: 1 s + 20 ppm of a year and more
    assert 600 < rtc["uncertainty_s"] < 2000


def test_an_rtc_in_utc_from_procfs(tmp_path):
    rc, out = bootstrap(
        write_config(tmp_path, bootstrap={"cert_globs": [], "rtc_uncertainty_s": 45}),
        "--json",
        root=FIX / "rtc-utc-proc",
    )
    rtc = row(out, "rtc")
    assert rtc["time_utc"].startswith("2026-11-27T11:41:4") and rtc["uncertainty_s"] == 45
    assert "/proc/driver/rtc" in rtc["detail"] and "keeps UTC" in rtc["detail"]


def test_no_rtc_is_not_available(tmp_path):
    rc, out = bootstrap(write_config(tmp_path), "--json", root=tmp_path / "empty")
    assert row(out, "rtc")["verdict"] == "not available"


def test_operator_time_before_a_certificate_is_refused_naming_it(tmp_path):
    nb = utc(2 * DAY)
    crt = write_cert(tmp_path / "tls" / "serving-kube-apiserver.crt", nb, utc(365 * DAY))
    not_before = iso(int(nb.timestamp()) * 10**9)
    op = iso(int(time.time() + DAY) * 10**9)
    rc, out = bootstrap(
        write_config(tmp_path),
        "--json",
        "--cert",
        str(tmp_path / "tls" / "*.crt"),
        "--operator-time",
        op,
        "--operator-uncertainty",
        "5s",
    )
    assert rc == 2 and out["decision"] == "refused"
    assert out["reason"] == f"operator time {op} is before the notBefore {not_before} of {crt}"
    assert row(out, "operator")["verdict"] == "outlier"
    assert row(out, "certificates: latest notBefore")["verdict"] == "bound"
    # without an operator time this machine's clock (now) is before it too
    rc, out = bootstrap(write_config(tmp_path), "--json", "--cert", str(tmp_path / "tls" / "*.crt"))
    assert rc == 2 and f"before the notBefore {not_before} of {crt}" in out["reason"]
    # an operator time after the notBefore is accepted
    later = iso(int(time.time() + 3 * DAY) * 10**9)
    rc, out = bootstrap(
        write_config(tmp_path),
        "--json",
        "--cert",
        str(tmp_path / "tls" / "*.crt"),
        "--operator-time",
        later,
        "--operator-uncertainty",
        "2s",
    )
    assert rc == 0 and out["decision"] == "ok" and abs(parse_iso_ns(out["time_utc"]) - parse_iso_ns(later)) < 10**9
    assert out["uncertainty_s"] == pytest.approx(2.0)


def test_expired_certificates_need_an_explicit_operator_time(tmp_path):
    crt = write_cert(tmp_path / "pki" / "apiserver.crt", utc(-400 * DAY), utc(-DAY))
    rc, out = bootstrap(write_config(tmp_path), "--json", "--cert", str(tmp_path / "pki" / "*.crt"))
    assert rc == 2 and f"of {crt}: the certificates would have expired" in out["reason"]
    rc, out = bootstrap(
        write_config(tmp_path),
        "--json",
        "--cert",
        str(tmp_path / "pki" / "*.crt"),
        "--operator-time",
        iso(time.time_ns()),
    )
    assert rc == 0 and any("have expired" in w for w in out["warnings"])


def test_a_file_that_is_not_a_certificate_is_skipped(tmp_path):
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "broken.crt").write_text("not a certificate")
    write_cert(tmp_path / "tls" / "ok.crt", utc(-DAY), utc(DAY * 30))
    rc, out = bootstrap(write_config(tmp_path), "--json", "--cert", str(tmp_path / "tls" / "*.crt"))
    assert rc == 0 and any("broken.crt: not a certificate" in n for n in out["notes"])
    assert "of 1 certificate(s)" in row(out, "certificates: latest notBefore")["detail"]


def test_operator_time_before_the_build_floor_is_refused(tmp_path):
    rc, out = bootstrap(write_config(tmp_path), "--json", "--operator-time", "2020-01-01T00:00:00Z")
    assert rc == 2 and out["reason"].startswith("operator time 2020-01-01T00:00:00Z is before the build floor")


def test_the_table(tmp_path):
    rc, text = bootstrap(write_config(tmp_path), root=FIX / "rtc-utc-proc")
    assert rc == 0 and text.startswith("appliance bootstrap: OK, ")
    for word in ("source", "verdict", "rtc", "system clock", "build floor", "last-known-good", "dry run"):
        assert word in text


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--operator-time", "2026-12-02T06:30:00"], "no time zone"),
        (["--operator-time", "soon"], "ISO 8601"),
        (["--operator-uncertainty", "5s"], "needs --operator-time"),
        (["--operator-time", "2026-12-02T06:30:00Z", "--operator-uncertainty", "five"], "duration"),
        (["--apply-system"], "--apply-system needs --apply"),
        (["--peer", "host:99999"], "out of range"),
        (["--no-such-flag"], ""),
    ],
)
def test_bad_input_exits_1_without_a_traceback(tmp_path, args, msg):
    rc, text = bootstrap(write_config(tmp_path), *args)
    if args == ["--no-such-flag"]:
        assert rc == 3 and "unrecognized arguments" in text  # bad usage: 3, as on every command
        return
    assert rc == 1 and msg in text


def test_a_bad_config_exits_1(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("node: {name: a}\nbootstrap: {rtc_uncertainty_s: -1}\n")
    rc, text = bootstrap(p)
    assert rc == 1 and "bootstrap.rtc_uncertainty_s" in text
    rc, text = bootstrap(tmp_path / "missing.yaml")
    assert rc == 1 and "cannot read" in text


def test_apply_on_a_simulated_clock_records_its_offset_and_audits(tmp_path):
    cfg = write_config(tmp_path)
    target = time.time_ns() + 3600 * 10**9
    rc, out = bootstrap(cfg, "--json", "--apply", "--operator-time", iso(target), "--operator-uncertainty", "1s")
    assert rc == 0 and out["applied"]["clock"] == "simulated clock" and out["dry_run"] is False
    rec = json.loads((tmp_path / "state" / "bootstrap.json").read_text())
    assert rec["clock_kind"] == "sim" and abs(rec["sim_offset_ns"] - 3600 * 10**9) < 10**9
    assert rec["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    audit = (tmp_path / "state" / "bootstrap-audit.jsonl").read_text().splitlines()
    entry = json.loads(audit[-1])
    assert entry["decision"]["decision"] == "ok" and {e["source"] for e in entry["decision"]["evidence"]} >= {
        "operator",
        "rtc",
        "system clock",
        "build floor",
    }
    # a refusal is not applied and not recorded
    rc, out = bootstrap(cfg, "--json", "--apply", "--operator-time", "2020-01-01T00:00:00Z")
    assert rc == 2 and out["applied"] is None
    assert len((tmp_path / "state" / "bootstrap-audit.jsonl").read_text().splitlines()) == len(audit)
    # the next dry run sees the served (simulated) clock an hour ahead
    rc, out = bootstrap(cfg, "--json")
    served = row(out, "served clock")
    assert abs(parse_iso_ns(served["time_utc"]) - time.time_ns() - 3600 * 10**9) < 5 * 10**9
