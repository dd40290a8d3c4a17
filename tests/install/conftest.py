"""The offline bundle, built once per test session, unpacked once, copied per test that changes it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers.requirements import missing

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "image" / "bundle" / "build.py"


@pytest.fixture(scope="session")
def bundle_tarball(tmp_path_factory) -> Path:
    """dist-style tarball built from the work tree (building downloads wheels; installing won't)."""
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, str(BUILD), "--out", str(out)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        missing(f"cannot build the bundle (it needs the package index): {r.stderr.strip()[-600:]}")
    tarballs = list(out.glob("appliance-bundle-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    return tarballs[0]


@pytest.fixture(scope="session")
def bundle_tree(bundle_tarball, tmp_path_factory) -> Path:
    """The bundle unpacked once (read-only use: copy it with ``bundle_copy`` to change it)."""
    dest = tmp_path_factory.mktemp("bundle")
    with tarfile.open(bundle_tarball) as tar:
        tar.extractall(dest, filter="data")
    (root,) = dest.iterdir()
    return root


@pytest.fixture
def bundle_copy(bundle_tree, tmp_path):
    """A private copy of the unpacked bundle; files are hard links, so replace a file, never edit it."""

    def make() -> Path:
        dest = tmp_path / bundle_tree.name
        shutil.copytree(bundle_tree, dest, copy_function=os.link)
        return dest

    return make
