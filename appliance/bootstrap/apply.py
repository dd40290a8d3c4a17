"""Carrying out an accepted bootstrap: set the clock the appliance serves from, record it.

* a PHC: clock_settime on its dynamic clock id (through appliance.hw.phc), in its timescale (TAI
  for a PHC that ptp4l disciplines: UTC + TAI-UTC);
* the simulated clock: nothing persists between runs, so the offset from the host clock is
  recorded (bootstrap.json, ``sim_offset_ns``) and the simulated clock starts with it at every
  `serve` (appliance.sim.factory);
* CLOCK_REALTIME only with --apply-system, and never from tests.

The appliance must not be running: it disciplines that clock, and would take the step for a fault.
Every applied decision is appended to the audit log with its evidence (appliance.bootstrap.records).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config import Config
from ..core.bootstrap.decide import Decision
from ..core.bootstrap.evidence import iso
from . import host, records

NS = 1_000_000_000


class ApplyError(Exception):
    """The decision could not be carried out; the message says why and what to do."""


def appliance_running(cfg: Config) -> bool:
    from ..control_socket import ControlError, request

    try:
        request(cfg.monitoring.control_socket, "status", timeout_s=2.0)
    except ControlError:
        return False
    return True


def apply(
    cfg: Config,
    decision: Decision,
    decided_mono_ns: int,
    utc_offset_s: int,
    *,
    system: bool = False,
    operator: str = "",
) -> dict[str, Any]:
    if not decision.ok or decision.time_ns is None:
        raise ApplyError("a refused decision is not applied")
    if appliance_running(cfg):
        raise ApplyError(
            f"the appliance is running (it answers on {cfg.monitoring.control_socket}): stop it first "
            "(systemctl stop appliance), bootstrap, then start it"
        )
    state_dir = Path(cfg.node.state_dir)
    record: dict[str, Any] = {
        "boot_id": host.boot_id(),
        "clock_kind": cfg.clock.source,
        "uncertainty_s": decision.uncertainty_s,
        "system_set": False,
    }
    mono = host.monotonic_ns()
    now_ns = decision.time_ns + (mono - decided_mono_ns)  # the chosen time, carried to this instant
    if cfg.clock.source == "sim":
        record["sim_offset_ns"] = now_ns - time.time_ns()
        record["clock"] = "simulated clock"
    else:
        record["clock"] = _set_phc(cfg, decision.time_ns, decided_mono_ns, utc_offset_s)
    if system:
        t = decision.time_ns + (host.monotonic_ns() - decided_mono_ns)
        try:
            time.clock_settime_ns(time.CLOCK_REALTIME, t)
        except OSError as exc:
            raise ApplyError(f"cannot set CLOCK_REALTIME: {exc.strerror} (needs CAP_SYS_TIME)") from None
        record["system_set"] = True
    record.update(
        {
            "time_ns": now_ns,
            "time_utc": iso(now_ns),
            "applied_mono_ns": mono,
            "applied_boottime_ns": host.boottime_ns(),
            "applied_wall_ns": time.time_ns(),
        }
    )
    audit = {**record, "operator": operator, "decision": decision.as_dict()}
    try:
        records.write_record(state_dir, record, audit)
    except OSError as exc:
        raise ApplyError(
            f"the clock was set but the record could not be written into {state_dir}: {exc.strerror}"
        ) from None
    return record


def _set_phc(cfg: Config, time_ns: int, decided_mono_ns: int, utc_offset_s: int) -> str:
    """Set the PHC to ``time_ns`` (the decided time, UTC) carried from ``decided_mono_ns`` to now."""
    from ..core.clock.interface import ClockError
    from ..hw.phc import open_phc

    try:
        clock = open_phc(interface=cfg.clock.interface, device=cfg.clock.device)
    except (ClockError, OSError) as exc:
        raise ApplyError(f"cannot open the PHC: {exc}") from None
    try:
        tai = utc_offset_s * NS if clock.info().timescale == "TAI" else 0
        t = time_ns + (host.monotonic_ns() - decided_mono_ns) + tai
        clock.settime_ns(t)
        return clock.info().name
    except (ClockError, OSError) as exc:
        raise ApplyError(f"cannot set the PHC: {exc}") from None
    finally:
        clock.close()
