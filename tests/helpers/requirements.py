"""Skip (or, in CI, fail) tests whose environment is missing: root, namespaces, tools."""

from __future__ import annotations

import os
import shutil

import pytest

from .netns import Netns

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
    try:
        Netns.create("probe").delete()
    except RuntimeError as exc:
        missing(f"cannot create network namespaces: {exc}")


def require_tool(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None and not os.path.exists(f"/usr/sbin/{name}"):
            package = (
                "chrony"
                if name.startswith("chrony")
                else "linuxptp"
                if name in ("ptp4l", "phc2sys", "pmc", "ts2phc")
                else "prometheus"
                if name == "promtool"
                else name
            )
            missing(f"needs {name} (apt-get install {package})")
