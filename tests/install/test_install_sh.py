"""install.sh refuses a bundle that is not the one built, by file name, before it installs
anything; --no-systemd installs the Python environment alone; bad arguments are named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def replace_file(path: Path, data: bytes) -> None:
    """Write a new file in place of a hard-linked one (bundle_copy links the shared tree)."""
    path.unlink()
    path.write_bytes(data)


def install(bundle: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(bundle / "install.sh"), *args], capture_output=True, text=True, timeout=timeout)


def first_wheel(bundle: Path, name: str) -> Path:
    (wheel,) = (bundle / "wheels").glob(f"{name}-*.whl")
    return wheel


def test_changed_file_is_refused_by_name(bundle_copy, tmp_path):
    bundle = bundle_copy()
    wheel = first_wheel(bundle, "ntplib")
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    replace_file(wheel, bytes(data))
    prefix = tmp_path / "prefix"
    r = install(bundle, "--prefix", str(prefix), "--no-systemd")
    assert r.returncode != 0
    assert f"wheels/{wheel.name}: checksum mismatch" in r.stderr
    assert "refusing to install" in r.stderr
    assert not prefix.exists()


def test_added_wheel_is_refused_by_name(bundle_copy, tmp_path):
    # pip would pick up any wheel in wheels/: one that SHA256SUMS does not list is refused.
    bundle = bundle_copy()
    extra = bundle / "wheels" / "ntplib-9.9-py3-none-any.whl"
    extra.write_bytes(first_wheel(bundle, "ntplib").read_bytes())
    r = install(bundle, "--prefix", str(tmp_path / "prefix"), "--no-systemd")
    assert r.returncode != 0
    assert f"wheels/{extra.name}: not listed in SHA256SUMS" in r.stderr


def test_missing_file_and_changed_unit_are_both_named(bundle_copy, tmp_path):
    bundle = bundle_copy()
    (bundle / "requirements.txt").unlink()
    unit = bundle / "systemd" / "appliance.service"
    replace_file(unit, unit.read_bytes().replace(b"NoNewPrivileges=yes", b"NoNewPrivileges=no"))
    r = install(bundle, "--prefix", str(tmp_path / "prefix"), "--no-systemd")
    assert r.returncode != 0
    assert "requirements.txt: missing from the bundle" in r.stderr
    assert "systemd/appliance.service: checksum mismatch" in r.stderr


def test_sha256sums_path_outside_the_bundle_is_refused(bundle_copy, tmp_path):
    bundle = bundle_copy()
    sums = bundle / "SHA256SUMS"
    replace_file(sums, sums.read_bytes() + b"0" * 64 + b"  ../outside\n")
    r = install(bundle, "--prefix", str(tmp_path / "prefix"), "--no-systemd")
    assert r.returncode != 0 and "'../outside' leaves the bundle" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prefix", "relative/dir"], "is not an absolute path"),
        (["--prefix", "/tmp/with space"], "has characters other than"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--uninstall", "--prefix", "/nonexistent/appliance"], "no installation at /nonexistent/appliance"),
    ],
)
def test_bad_arguments_are_named(bundle_tree, args, message):
    r = install(bundle_tree, *args)
    assert r.returncode != 0 and message in r.stderr, r.stderr


def test_wrong_python_version_is_named(bundle_tree, tmp_path):
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\necho 3.9\n")
    fake.chmod(0o755)
    r = install(bundle_tree, "--prefix", str(tmp_path / "prefix"), "--no-systemd", "--python", str(fake))
    want = dict(line.split("=", 1) for line in (bundle_tree / "BUNDLE-INFO").read_text().splitlines())["python"]
    assert r.returncode != 0
    assert f"is Python 3.9; the wheels are for Python {want}" in r.stderr


def test_no_systemd_installs_only_the_environment(bundle_tree, tmp_path):
    prefix, root = tmp_path / "prefix", tmp_path / "root"
    root.mkdir()
    r = install(bundle_tree, "--prefix", str(prefix), "--root", str(root), "--no-systemd")
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(root.iterdir()) == []  # no units, users, directories
    v = subprocess.run([str(prefix / "venv" / "bin" / "appliance"), "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.startswith("appliance ")
    # exactly the pinned wheels, no more
    freeze = subprocess.run(
        [str(prefix / "venv" / "bin" / "python"), "-m", "pip", "freeze", "--all"],
        capture_output=True,
        text=True,
        env={"PIP_CONFIG_FILE": "/dev/null"},
    ).stdout
    installed = {line.split("==")[0].lower().replace("_", "-") for line in freeze.splitlines() if "==" in line}
    wanted = {line.split("==")[0] for line in (bundle_tree / "requirements.txt").read_text().splitlines()}
    assert installed - {"pip"} == wanted
    r = install(bundle_tree, "--uninstall", "--prefix", str(prefix), "--root", str(root))
    assert r.returncode == 0, r.stderr
    assert not prefix.exists()
