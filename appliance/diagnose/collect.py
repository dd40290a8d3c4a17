"""Gather what `appliance diagnose` judges: each input becomes a core.diagnose.inputs.Raw, whatever
happens (a missing tool is "not available", a silent daemon "not running", anything else "error"
with the reason). Nothing here changes the host: chronyc and pmc only GET, adjtimex is read with
modes = 0.

A gathered set can be saved to a directory (one file per input, as the tool printed it, and
bundle.json with the states and the time of collection) and judged later or elsewhere (--replay):
the test fixtures are such directories.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.diagnose.inputs import AVAILABLE, ERROR, NOT_AVAILABLE, NOT_RUNNING, SOURCES, Raw

PMC_GETS = ("TIME_STATUS_NP", "PORT_DATA_SET", "CURRENT_DATA_SET", "PARENT_DATA_SET", "DEFAULT_DATA_SET")
# Which input each --expect name covers.
EXPECT_GROUPS = {
    "chrony": ("chronyc_tracking", "chronyc_sources", "chronyc_sourcestats"),
    "timedatectl": ("timedatectl",),
    "rtc": ("rtc",),
    "adjtimex": ("adjtimex",),
    "ptp": ("pmc",),
    "appliance": ("appliance_status",),
    "leap-seconds": ("leap_seconds",),
}
FILES = {
    "chronyc_tracking": "chronyc-tracking.csv",
    "chronyc_sources": "chronyc-sources.csv",
    "chronyc_sourcestats": "chronyc-sourcestats.csv",
    "timedatectl": "timedatectl-show.txt",
    "rtc": "proc-driver-rtc.txt",
    "adjtimex": "adjtimex.json",
    "pmc": "pmc.txt",
    "appliance_status": "appliance-status.json",
    "appliance_history": "appliance-history.json",
    "leap_seconds": "leap-seconds.list",
}
BUNDLE = "bundle.json"
STATES = (AVAILABLE, NOT_AVAILABLE, NOT_RUNNING, ERROR)


@dataclass
class Options:
    chronyc: str = "chronyc"
    chronyc_socket: str | None = None  # chronyc -h; None = chronyc's default (/run/chrony/chronyd.sock, then UDP)
    timedatectl: str = "timedatectl"
    rtc_file: str = "/proc/driver/rtc"
    pmc: str = "pmc"
    ptp4l_socket: str = "/var/run/ptp4l"
    ptp_domain: int = 24
    control_socket: str = "/run/appliance/control.sock"
    leap_file: str = "/usr/share/zoneinfo/leap-seconds.list"
    leap_warn_days: float = 30.0
    timeout_s: float = 5.0
    expect: set[str] = field(default_factory=set)  # names from EXPECT_GROUPS


def _which(cmd: str) -> str | None:
    if os.sep in cmd:
        return cmd if os.access(cmd, os.X_OK) else None
    return shutil.which(cmd) or next((p for p in (f"/usr/sbin/{cmd}", f"/sbin/{cmd}") if os.access(p, os.X_OK)), None)


def _run(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess | Raw:
    exe = _which(argv[0])
    if exe is None:
        where = "does not exist or is not executable" if os.sep in argv[0] else "not found in PATH"
        return Raw(NOT_AVAILABLE, detail=f"{argv[0]} {where}")
    try:
        # its own process group, so that a hung tool is killed with whatever it started
        p = subprocess.Popen(
            [exe, *argv[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env={**os.environ, "LC_ALL": "C"},
            start_new_session=True,
        )
    except OSError as exc:
        return Raw(ERROR, detail=f"{argv[0]}: {exc.strerror}")
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        return Raw(ERROR, detail=f"{argv[0]} did not finish within {timeout_s:g} s")
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def chronyc(opts: Options, report: str) -> Raw:
    argv = [opts.chronyc, "-n", "-c"]
    if opts.chronyc_socket:
        argv += ["-h", opts.chronyc_socket]
    r = _run(argv + [report], opts.timeout_s)
    if isinstance(r, Raw):
        return r
    if r.returncode == 0:
        return Raw(AVAILABLE, r.stdout)
    msg = _first_line(r.stderr) or _first_line(r.stdout) or f"exit status {r.returncode}"
    if "Cannot talk to daemon" in msg or "Could not open connection" in msg or "Could not open" in msg:
        where = f"socket {opts.chronyc_socket}" if opts.chronyc_socket else "default socket, then UDP 323"
        return Raw(NOT_RUNNING, detail=f"chronyc: {msg}; tried the {where}")
    if "Not authorised" in msg or "501" in msg:
        return Raw(ERROR, detail=f"chronyc: {msg}: run as root (or the chrony user) to use the command socket")
    return Raw(ERROR, detail=f"chronyc {report}: {msg}")


def timedatectl(opts: Options) -> Raw:
    r = _run([opts.timedatectl, "show"], opts.timeout_s)
    if isinstance(r, Raw):
        return r
    if r.returncode == 0:
        return Raw(AVAILABLE, r.stdout)
    msg = _first_line(r.stderr) or f"exit status {r.returncode}"
    if "not been booted with systemd" in msg or "Failed to connect to bus" in msg or "Failed to create bus" in msg:
        return Raw(NOT_RUNNING, detail=f"timedatectl: {msg}")
    return Raw(ERROR, detail=f"timedatectl: {msg}")


def read_file(path: str) -> Raw:
    try:
        return Raw(AVAILABLE, Path(path).read_text(errors="replace"), origin=path)
    except FileNotFoundError:
        return Raw(NOT_AVAILABLE, detail=f"{path} does not exist", origin=path)
    except IsADirectoryError:
        return Raw(ERROR, detail=f"{path} is a directory, not a file", origin=path)
    except OSError as exc:
        return Raw(ERROR, detail=f"{path}: {exc.strerror}", origin=path)


def adjtimex() -> Raw:
    from .adjtimex import AdjtimexError, read_timex

    try:
        return Raw(AVAILABLE, json.dumps(read_timex()))
    except AdjtimexError as exc:
        return Raw(ERROR, detail=str(exc))
    except (OSError, AttributeError) as exc:
        return Raw(NOT_AVAILABLE, detail=f"adjtimex: {exc}")


def pmc(opts: Options) -> Raw:
    sock = opts.ptp4l_socket
    if os.sep in opts.pmc and _which(opts.pmc) is None:  # a path given for pmc is reported as given
        return Raw(NOT_AVAILABLE, detail=f"{opts.pmc} does not exist or is not executable")
    if not os.path.exists(sock):
        return Raw(NOT_RUNNING, detail=f"no ptp4l socket at {sock}")
    if _which(opts.pmc) is None:
        return Raw(ERROR, detail=f"ptp4l's socket {sock} exists but {opts.pmc} is not installed (linuxptp)")
    with tempfile.TemporaryDirectory(prefix="appliance-pmc-") as tmp:
        argv = [opts.pmc, "-u", "-b", "0", "-d", str(opts.ptp_domain), "-s", sock, "-i", os.path.join(tmp, "pmc.sock")]
        r = _run(argv + [f"GET {g}" for g in PMC_GETS], opts.timeout_s)
    if isinstance(r, Raw):
        return r
    if r.returncode != 0:
        return Raw(ERROR, detail=f"pmc: {_first_line(r.stderr) or f'exit status {r.returncode}'}")
    return Raw(AVAILABLE, r.stdout)


HISTORY_SAMPLES = 1200  # the appliance's last samples fetched for the trend (20 min at 1 s)


def appliance(opts: Options, command: str, **args) -> Raw:
    from ..control_socket import ControlError, request

    path = opts.control_socket
    try:
        return Raw(AVAILABLE, json.dumps(request(path, command, timeout_s=opts.timeout_s, **args)))
    except ControlError as exc:
        msg = str(exc)
        if "no appliance is running" in msg:
            return Raw(NOT_RUNNING, detail=msg)
        if "unknown command" in msg:
            return Raw(NOT_AVAILABLE, detail=f"this appliance does not answer {command!r}")
        return Raw(ERROR, detail=msg)


def gather(opts: Options) -> tuple[dict[str, Raw], float]:
    """Every input, and the time (s since the epoch) at which the time-sensitive ones were read."""
    raw: dict[str, Raw] = {}
    raw["rtc"] = read_file(opts.rtc_file)
    collected_at = time.time()  # the RTC's reading is compared with this
    raw["adjtimex"] = adjtimex()
    for report in ("tracking", "sources", "sourcestats"):
        raw[f"chronyc_{report}"] = replace(chronyc(opts, report), origin=opts.chronyc)
    raw["timedatectl"] = replace(timedatectl(opts), origin=opts.timedatectl)
    raw["pmc"] = replace(pmc(opts), origin=opts.ptp4l_socket)
    raw["appliance_status"] = replace(appliance(opts, "status"), origin=opts.control_socket)
    raw["appliance_history"] = (
        appliance(opts, "history", last=HISTORY_SAMPLES)
        if raw["appliance_status"].state == AVAILABLE
        else Raw(NOT_RUNNING, detail="no appliance status")
    )
    leap = read_file(opts.leap_file)  # its path, for the check to name
    raw["leap_seconds"] = leap if leap.state != AVAILABLE else Raw(AVAILABLE, leap.text, opts.leap_file)
    return mark_expected(raw, opts.expect), collected_at


def mark_expected(raw: dict[str, Raw], expect: set[str]) -> dict[str, Raw]:
    names = {n for group in expect for n in EXPECT_GROUPS.get(group, ())}
    return {k: (replace(r, expected=True) if k in names else r) for k, r in raw.items()}


# --- save / replay --------------------------------------------------------------------------


class BundleError(Exception):
    pass


def save(directory: str | Path, raw: dict[str, Raw], collected_at: float, provenance: str = "") -> Path:
    d = Path(directory)
    d.mkdir(exist_ok=True)  # never its parents: the command checked that they exist
    inputs = {}
    for name in SOURCES:
        r = raw.get(name)
        if r is None:
            continue
        entry = {"state": r.state, "detail": r.detail, "expected": r.expected, "origin": r.origin, "file": None}
        if r.text is not None:
            (d / FILES[name]).write_text(r.text)
            entry["file"] = FILES[name]
        inputs[name] = entry
    bundle = {
        "collected_at_s": collected_at,
        "provenance": provenance or "recorded by `appliance diagnose --save`",
        "inputs": inputs,
    }
    (d / BUNDLE).write_text(json.dumps(bundle, indent=2) + "\n")
    return d


def _load_error(d: Path, problem: str) -> BundleError:
    return BundleError(f"{d}: {problem} (a directory written by `appliance diagnose --save DIR` was expected)")


def load(directory: str | Path) -> tuple[dict[str, Raw], float, dict]:
    d = Path(directory)
    if not d.exists():
        raise _load_error(d, "does not exist")
    if not d.is_dir():
        raise _load_error(d, "is a file, not a directory")
    f = d / BUNDLE
    try:
        text = f.read_text()
    except FileNotFoundError:
        raise _load_error(d, f"no {BUNDLE} in it") from None
    except UnicodeDecodeError:
        raise _load_error(d, f"{BUNDLE} is not text") from None
    except OSError as exc:
        raise _load_error(d, f"{BUNDLE} cannot be read: {exc.strerror}") from None
    try:
        bundle = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _load_error(d, f"{BUNDLE} is not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(bundle, dict) or not isinstance(bundle.get("inputs"), dict):
        raise _load_error(d, f"{BUNDLE}: expected an object with 'inputs'")
    at = bundle.get("collected_at_s")
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise BundleError(f"{f}: collected_at_s: expected seconds since the epoch, got {at!r}")
    raw: dict[str, Raw] = {}
    for name, entry in bundle["inputs"].items():
        if name not in FILES or not isinstance(entry, dict):
            raise BundleError(f"{f}: inputs.{name}: unknown input (known: {', '.join(SOURCES)})")
        content: str | None = None
        if entry.get("file"):
            try:
                content = (d / str(entry["file"])).read_text(errors="replace")
            except OSError as exc:
                raise BundleError(f"{f}: inputs.{name}.file {entry['file']}: cannot be read: {exc.strerror}") from None
        state = entry.get("state", AVAILABLE if content is not None else NOT_AVAILABLE)
        if state not in STATES:
            raise BundleError(f"{f}: inputs.{name}.state {state!r}: expected one of {', '.join(STATES)}")
        raw[name] = Raw(
            str(state),
            content,
            str(entry.get("detail", "")),
            entry.get("expected") is True,
            str(entry.get("origin") or ""),
        )
    return raw, float(at), bundle
