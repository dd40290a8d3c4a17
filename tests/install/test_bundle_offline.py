"""The offline bundle installs and serves on a node with no network.

The bundle is built once (that step downloads wheels); everything after runs inside a network
namespace with no route out (loopback, and a veth pair whose both ends are inside): install.sh,
`appliance --version`, the unit's ExecStart as written (its ${...} directories set the way systemd
sets them) under the unit's credentials - a user that is not root, the unit's ambient capabilities and bounding set,
no_new_privs, and the kernel's memory-deny-write-execute - serving NTP on port 123 of loopback,
answered from inside the namespace, with ptp4l as its supervised child over layer 2 (packet
sockets: CAP_NET_RAW, inherited as an ambient capability) on a veth pair of the namespace;
the unit's ExecReload check on a good and a bad configuration; then --uninstall, which keeps
the state directory.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from helpers import unitfile
from helpers.isolated import NoRouteNamespace
from helpers.requirements import STRICT, missing, require_root_netns, require_tool

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
# The system's interpreter, as a node has it (the venv must be reachable by the service's user).
SYSTEM_PYTHON = "/usr/bin/python3"

# Sets the kernel's memory-deny-write-execute (PR_SET_MDWE, Linux 6.3+) and execs its arguments:
# what MemoryDenyWriteExecute=yes enforces with seccomp (systemd 252 denies any mprotect that adds
# PROT_EXEC; the kernel's flag refuses the same on memory that was not executable before).
MDWE_WRAPPER = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("PR_SET_MDWE: " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"""


def kernel_has_mdwe() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(66, 0, 0, 0, 0) >= 0  # PR_GET_MDWE


def sim_config(path: Path, state_dir: Path, ptp_interface: str) -> Path:
    cfg = {
        "node": {"name": "sim-0", "state_dir": str(state_dir)},
        "cluster": {"control_nodes": [{"name": "sim-0", "address": "127.0.0.1"}]},
        "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": 1, "reference": True}},
        # ptp4l never steers a clock here: free_running, software timestamps, a simulated PHC
        "ptp": {
            "enabled": True,
            "interface": ptp_interface,
            "transport": "l2",
            "timestamping": "software",
            "free_running": True,
        },
        # port 123: binding it as a user that is not root proves the ambient capabilities work
        "ntp": {"listen": ["127.0.0.1:123"], "allow": ["127.0.0.0/8"]},
        "monitoring": {"metrics_listen": "127.0.0.1:9810", "control_socket": str(path.parent / "unused.sock")},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def setpriv_argv(service: dict[str, list[str]], mdwe: Path | None) -> list[str]:
    caps = ",".join("+" + c.removeprefix("CAP_").lower() for c in unitfile.words(service["AmbientCapabilities"]))
    bounding = ",".join("+" + c.removeprefix("CAP_").lower() for c in unitfile.words(service["CapabilityBoundingSet"]))
    argv = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        f"--inh-caps={caps}",
        f"--ambient-caps={caps}",
        f"--bounding-set=-all,{bounding}",
    ]
    if service.get("NoNewPrivileges") == ["yes"]:
        argv.append("--no-new-privs")
    argv.append("--")
    if mdwe is not None:
        argv += [SYSTEM_PYTHON, str(mdwe)]
    return argv


def wait_serving(ns: NoRouteNamespace, appliance: Path, sock: Path, proc, timeout_s: float = 60) -> dict:
    """Until the clock is locked and ptp4l, alone on its link, is the grandmaster."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stdout.read().decode(errors='replace')}")
        r = ns.run([str(appliance), "status", "--json", "--control-socket", str(sock)], timeout=30)
        if r.returncode == 0:
            st = json.loads(r.stdout)
            if st["sync"]["state"] == "locked" and st["ptp"].get("port_state") == "MASTER":
                return st
            last = f"sync {st['sync']['state']}, ptp {st['ptp']}"
        else:
            last = r.stderr.strip()
        time.sleep(0.5)
    raise AssertionError(f"not locked with ptp4l MASTER within {timeout_s} s (last: {last})")


@pytest.fixture
def offline_ns():
    require_root_netns()
    for tool in ("setpriv", "systemd-sysusers", "systemd-tmpfiles", "pgrep"):
        if shutil.which(tool) is None:
            missing(f"needs {tool}")
    require_tool("ptp4l")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        missing(f"needs the system Python {SYSTEM_PYTHON} (apt-get install python3)")
    with NoRouteNamespace() as ns:
        # a link for ptp4l that leads nowhere: both ends inside the namespace
        for argv in (
            ["ip", "link", "add", "ptplink0", "type", "veth", "peer", "name", "ptplink1"],
            ["ip", "link", "set", "ptplink0", "up"],
            ["ip", "link", "set", "ptplink1", "up"],
        ):
            r = ns.run(argv)
            assert r.returncode == 0, r.stderr
        routes = ns.run(["ip", "route", "show", "table", "all"]).stdout
        assert "default" not in routes and "via" not in routes
        yield ns


@pytest.fixture
def node_dir():
    """A scratch directory the service's user can traverse (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="appliance-node-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_bundle_installs_and_serves_offline(bundle_tree, offline_ns, node_dir, capsys):
    ns = offline_ns
    work = node_dir
    prefix, root = work / "opt", work / "root"

    t0 = time.monotonic()
    r = ns.run(
        [str(bundle_tree / "install.sh"), "--prefix", str(prefix), "--root", str(root), "--python", SYSTEM_PYTHON],
        timeout=600,
    )
    install_s = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout
    appliance = prefix / "venv" / "bin" / "appliance"

    r = ns.run([str(appliance), "--version"])
    assert r.returncode == 0 and r.stdout.strip() == f"appliance {bundle_info(bundle_tree)['version']}"

    # The installed wheel carries hardware/ (oscillator classes, NIC families): discovery from a
    # recording works with no checkout around.
    r = ns.run(
        [str(appliance), "discover", "--replay", str(REPO / "tests/fixtures/discovery/intel-i210.yaml")], cwd="/"
    )
    assert r.returncode == 0 and "can be grandmaster" in r.stdout, r.stdout + r.stderr

    # What install.sh put under --root: the units with the prefix, sysusers/tmpfiles applied.
    units = root / "etc" / "systemd" / "system"
    service = unitfile.parse(units / "appliance.service")["Service"]
    assert str(prefix) in service["ExecStart"][0] and "/opt/appliance" not in service["ExecStart"][0]
    assert "appliance:" in (root / "etc" / "passwd").read_text()
    assert (root / "etc" / "appliance" / "appliance.yaml").is_file()
    assert (root / "var" / "lib" / "appliance").is_dir()

    # The directories systemd would create for the unit, owned by the service's user.
    conf_dir, state_dir, run_dir = work / "etc-appliance", work / "state", work / "run"
    for d in (conf_dir, state_dir, run_dir):
        d.mkdir()
    os.chown(state_dir, NOBODY, NOBODY)
    os.chown(run_dir, NOBODY, NOBODY)
    config = sim_config(conf_dir / "appliance.yaml", state_dir, "ptplink0")
    env = {
        "CONFIGURATION_DIRECTORY": str(conf_dir),
        "STATE_DIRECTORY": str(state_dir),
        "RUNTIME_DIRECTORY": str(run_dir),
        "MAINPID": "0",
    }
    start = unitfile.command_argv(service["ExecStart"][0], env)
    assert start[0] == str(appliance)

    mdwe = None
    if kernel_has_mdwe():
        mdwe = work / "mdwe.py"
        mdwe.write_text(MDWE_WRAPPER)
    elif STRICT:
        pytest.fail("the kernel has no PR_SET_MDWE (Linux 6.3+): MemoryDenyWriteExecute is not checked")

    umask = int(service["UMask"][0], 8)
    proc = ns.popen(
        setpriv_argv(service, mdwe) + start,
        preexec_fn=lambda: os.umask(umask),
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )
    try:
        sock = run_dir / "control.sock"
        wait_serving(ns, appliance, sock, proc)
        r = ns.run([str(appliance), "query", "127.0.0.1:123", "--json"], timeout=30)
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout)
        assert answer["stratum"] == 1 and answer["leap"] == 0
        assert abs(answer["offset_s"]) < 0.01
        # The service and its ptp4l run as the unit says: not root, the unit's capabilities
        # (CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_SYS_TIME = 0x2003400), no more.
        serve_pid = ns.run(["pgrep", "-u", str(NOBODY), "-f", "appliance serve"]).stdout.split()
        ptp4l_pid = ns.run(["pgrep", "-u", str(NOBODY), "-x", "ptp4l"]).stdout.split()
        assert serve_pid and ptp4l_pid, "the service or its ptp4l is not running as the service's user"
        for pid in (serve_pid[0], ptp4l_pid[0]):
            proc_status = Path(f"/proc/{pid}/status").read_text()
            assert re.search(rf"Uid:\s+{NOBODY}\s", proc_status), proc_status
            assert re.search(r"CapEff:\s+0000000002003400", proc_status), proc_status
            assert re.search(r"CapBnd:\s+0000000002003400", proc_status), proc_status
            assert re.search(r"NoNewPrivs:\s+1", proc_status), proc_status
        # Files the service creates follow UMask=0077.
        created = [p for p in state_dir.rglob("*") if p.is_file()]
        assert all(p.stat().st_mode & 0o077 == 0 for p in created), [(p, oct(p.stat().st_mode)) for p in created]

        # ExecReload's first line validates: the running configuration passes, a broken one is
        # refused with the key named, before the service would be signalled.
        check = unitfile.command_argv(service["ExecReload"][0], env)
        r = ns.run(setpriv_argv(service, None) + check)
        assert r.returncode == 0, r.stdout + r.stderr
        config.write_text(config.read_text().replace("oscillator: tcxo", "oscillator: sundial"))
        r = ns.run(setpriv_argv(service, None) + check)
        assert r.returncode == 2 and "clock.sim.oscillator" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, proc.stdout.read().decode(errors="replace")

    with capsys.disabled():
        print(
            f"\n  offline install: {install_s:.0f} s; served stratum {answer['stratum']} on 127.0.0.1:123, "
            f"ptp4l MASTER over L2, as uid {NOBODY} with the unit's capabilities{' under MDWE' if mdwe else ''}"
        )

    # --uninstall (from the installed copy of install.sh) keeps the state directory.
    marker = root / "var" / "lib" / "appliance" / "model.json"
    marker.write_text("{}")
    r = ns.run([str(prefix / "share" / "install.sh"), "--uninstall", "--prefix", str(prefix), "--root", str(root)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert not prefix.exists()
    assert not (units / "appliance.service").exists() and not (units / "appliance-bootstrap.service").exists()
    assert not (root / "etc" / "sysusers.d" / "appliance.conf").exists()
    assert not (root / "etc" / "appliance").exists()  # the example configuration was unchanged
    assert marker.read_text() == "{}"
    assert "kept the state directory" in r.stdout


def bundle_info(tree: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (tree / "BUNDLE-INFO").read_text().splitlines())
