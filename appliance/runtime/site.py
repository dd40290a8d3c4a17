"""What `serve` adds for a site's time (apart from Appliance, which stays one screenful): what
vouches for the clock at start (bootstrap records, last-known-good), the last-known-good writer,
the references of a connected site (upstream NTP servers, a GNSS receiver through ts2phc without
PTP), the leap-seconds file's warnings, and their part of status."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bootstrap import records
from ..core.bootstrap.evidence import iso
from ..core.bootstrap.state import StartState, start_state, valid_lastgood, valid_record
from .clocks import ServeError
from .lastgood import LastGoodWriter
from .state_files import what_is_wrong

if TYPE_CHECKING:
    from .app import Appliance

log = logging.getLogger("appliance.service")


def vouched_at_start(app: Appliance, clock_kind: str) -> StartState:
    """What vouches for the clock now (appliance.core.bootstrap.state); the warnings a site
    engineer must see at start are logged here once."""
    from ..bootstrap import host

    cfg = app.cfg
    lkg = _usable(app, records.LASTGOOD, valid_lastgood)
    rec = _usable(app, records.RECORD, valid_record)
    st = start_state(host.boot_id(), clock_kind, lkg, rec, cfg.bootstrap.required)
    has_ref = app.reference is not None or cfg.reference.ntp is not None or cfg.ptp.enabled
    if not st.bootstrapped:
        log.warning(
            "not bootstrapped (%s): answering with leap 3 until %s",
            st.why,
            "a reference locks the clock or `appliance bootstrap --apply` sets it"
            if has_ref
            else "`appliance bootstrap --apply` sets the clock",
        )
    for w in app.leap.warnings:
        log.warning("%s", w)
    ntp = cfg.reference.ntp
    if ntp is not None and len(ntp.servers) < 3:
        log.warning(
            "reference.ntp has %d server(s): with fewer than 3 one wrong server cannot be outvoted", len(ntp.servers)
        )
    return st


def bootstrap_command(app: Appliance) -> str:
    return f"appliance bootstrap --config {app.config_path or 'FILE'} --apply"


def start_gnss(app: Appliance, stack: contextlib.ExitStack) -> None:
    """ts2phc for reference.gnss when PTP does not run it (the PtpManager does otherwise)."""
    if app.cfg.reference.gnss is None or app.cfg.ptp.enabled:
        return
    from ..linuxptp.gnss import GnssError, GnssReference

    gnss = GnssReference(app.cfg)
    try:
        gnss.start()
    except GnssError as exc:
        raise ServeError(f"reference.gnss: {exc}") from None
    stack.callback(gnss.stop)
    app.reference = gnss


def start_upstream(app: Appliance, stack: contextlib.ExitStack) -> None:
    ntp = app.cfg.reference.ntp
    if ntp is None:
        return
    from ..ntp.peers import PeerPoller

    app.upstream = PeerPoller([(s, s) for s in ntp.servers], app.timemap, ntp.poll_interval_s, ntp.filter_window)
    app.upstream.start()
    stack.callback(app.upstream.stop)


def _usable(app: Appliance, name: str, invalid: Callable[[Any], str | None]) -> Any:
    """A bootstrap record's content, or None; one that exists but cannot be used is set aside."""
    path = Path(app.cfg.node.state_dir) / name
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except OSError as exc:  # unreadable, not wrong: left where it is
        log.warning("%s: cannot be read (%s); not used", path, exc.strerror or exc)
        return None
    except ValueError as exc:
        why: str | None = what_is_wrong(exc)
    else:
        why = invalid(data)
        if why is None:
            return data
    if app.state_files is not None:
        app.state_files.set_aside(path, str(why))
    return None


def start_lastgood(app: Appliance, stack: contextlib.ExitStack, clock_name: str) -> None:
    cfg = app.cfg
    app.lastgood = LastGoodWriter(
        cfg.node.state_dir, cfg.bootstrap.lastgood_interval_s, cfg.node.name, clock_name, app.state_files
    )
    app.on_tick.append(app.lastgood.on_tick)
    stack.callback(app.lastgood.write)  # registered before the loop: runs after it has stopped


def status(app: Appliance) -> dict[str, Any]:
    """The appliance's whole status (appliance.runtime.status.compose)."""
    from ..linuxptp.status import disabled_status, starting_status
    from ..ntp.workers import serving_counters
    from . import status as status_mod

    if app.workers is not None:
        ntp, listen = app.workers.counters(), app.workers.addresses
        ntp["workers"] = app.workers.status()
    elif app.udp is not None:
        ntp, listen = serving_counters(app.ntp_core, app.udp), app.udp.addresses
    else:  # not serving yet
        ntp, listen = app.ntp_core.counters(), []
    serve = app.ntp_core.state
    now_ns = time.time_ns()
    served_ns = app.timemap().to_served_ns(now_ns) if app.node is not None else now_ns
    stratum = serve.stratum if serve.synchronized_at(served_ns) else 16
    processes = (
        {}
        if app.ptp is None
        else {
            name: {"running": c.state == "running", "restarts": c.status()["restarts"]}
            for name, c in app.ptp.children.items()
        }
    )
    return status_mod.compose(
        node=app.cfg.node.name,
        clock_source=app.cfg.clock.source,
        clock_info=app.clock.info() if app.clock is not None else None,
        started_s=app.started_s,
        snapshot=app.node.snapshot if app.node is not None else None,
        ntp=ntp,
        stratum=stratum,
        listen=listen,
        ptp=(
            app.ptp.status()
            if app.ptp is not None
            else starting_status(app.cfg.ptp.interface, app.cfg.ptp.timestamping)
            if app.cfg.ptp.enabled
            else disabled_status()
        ),
        processes=processes,
        peers=app.poller.snapshot() if app.poller is not None else [],
        tick=app.loop.times.status() if app.loop is not None else {"count": 0},
        **site_status(app, ntp),
    )


def site_status(app: Appliance, ntp: dict[str, Any]) -> dict[str, Any]:
    """bootstrap, leap seconds, upstream servers, state files and NTS (``ntp``: the NTP counters)."""
    snap = app.node.snapshot if app.node is not None else None
    st = app.start_state
    boot = {
        "bootstrapped": bool(snap.bootstrapped) if snap is not None else (st.bootstrapped if st else None),
        "at_start": st.why if st else None,
        "not_before_utc": iso(st.not_before_ns) if st and st.not_before_ns else None,
        "command": app.node.cfg.bootstrap_command if app.node is not None else None,
        "lastgood": app.lastgood.status() if app.lastgood is not None else None,
    }
    upstream = None
    if app.upstream is not None:
        vote = dict(snap.upstream) if snap is not None and snap.upstream is not None else {}
        rows = []
        for row in app.upstream.snapshot():
            name = row["name"]
            v = (
                "truechimer"
                if name in vote.get("truechimers", [])
                else "falseticker"
                if name in vote.get("falsetickers", [])
                else "unfit"
            )
            rows.append({**row, "vote": v})
        upstream = {
            **vote,
            "servers": rows,
            "configured": len(rows),
            "warning": None if len(rows) >= 3 else "fewer than 3 upstream servers: one wrong server cannot be outvoted",
        }
    state = app.state_files.status() if app.state_files is not None else None
    return {
        "bootstrap": boot,
        "leap": app.leap.status(),
        "upstream": upstream,
        "state": state,
        "nts": nts_status(app, ntp),
    }


def nts_status(app: Appliance, ntp: dict[str, Any]) -> dict[str, Any]:
    nts = app.ntp_core.nts
    if nts is None:
        return {"enabled": False}
    return {
        "enabled": True,
        "answered": ntp.get("nts_answered", 0),
        "naks": ntp.get("nts_naks", 0),
        "cookie_key": nts.keys.current,
        "cookie_keys": len(nts.keys.keys),
        "shared_keys": app.cfg.ntp.nts is not None and app.cfg.ntp.nts.shared_key is not None,
        "ke": app.ntske.counters() if app.ntske is not None else None,
    }
