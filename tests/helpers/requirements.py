"""Skip (or, in CI, fail) tests whose environment is missing: root, namespaces, tools."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

STRICT = os.environ.get("APPLIANCE_REQUIRE_INTEGRATION") == "1"


def missing(reason: str):
    if STRICT:
        pytest.fail(f"APPLIANCE_REQUIRE_INTEGRATION=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_root_netns() -> None:
    if os.geteuid() != 0:
        missing("needs root to create network namespaces")
    if shutil.which("ip") is None:
        missing("needs iproute2's ip")
    probe = f"aprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        missing(f"cannot create network namespaces: {r.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def require_tool(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None and not os.path.exists(f"/usr/sbin/{name}"):
            package = ("chrony" if name.startswith("chrony") else
                       "linuxptp" if name in ("ptp4l", "phc2sys", "pmc", "ts2phc") else
                       "prometheus" if name == "promtool" else name)
            missing(f"needs {name} (apt-get install {package})")
