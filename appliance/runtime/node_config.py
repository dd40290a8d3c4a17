"""The pure node's configuration (appliance.core.node_types.NodeConfig), built from the validated
YAML configuration and what the opened clock says about itself."""

from __future__ import annotations

from dataclasses import replace

from ..config import Config
from ..core.bootstrap.state import StartState
from ..core.clock.discipline import DisciplineConfig
from ..core.clock.interface import ClockCaps, ClockInfo
from ..core.cluster.vote import VoteConfig
from ..core.node_types import NodeConfig, RefIds

# NTP over a LAN measures to some tens of microseconds, not to the 1 us that locks a PHC to PPS or
# PTP: with upstream NTP servers and no explicit clock.discipline.lock_threshold_ns, this one.
NTP_LOCK_THRESHOLD_NS = 100_000.0
# The servo's gains for NTP: its samples are the best of a few polls, up to seconds old, so the loop
# must be slow enough not to chase them (a time constant of some ten ticks).
NTP_SERVO_KP, NTP_SERVO_KI = 0.2, 0.02
NTP_ESTIMATE_S = 8.0  # the first frequency estimate over 8 s: +-50 us of NTP noise is +-6 ppm
# With NTP the first offset is often milliseconds: a slow loop would take minutes to work it off
# (and overshoot), so the first estimate steps beyond this, as chrony's makestep does. Served time is
# not affected: it follows the clock until the first synchronized answer, and slews after that.
NTP_STEP_THRESHOLD_NS = 1_000_000

# RFC 5905 7.3: four ASCII characters naming what a stratum-1 server's time rests on.
FREERUN_REFIDS = {"xo": b"XO\x00\x00", "tcxo": b"TCXO", "ocxo": b"OCXO", "ideal": b"LOCL"}


def refids(cfg: Config) -> RefIds:
    """Locked to its own primary reference: the simulated one ("PHC"), a GNSS receiver through
    ts2phc ("GPS", or "PPS" for a bare pulse); free-running: the oscillator class in use."""
    if cfg.clock.source == "sim":
        primary = b"PHC\x00"
    elif cfg.gnss is not None and cfg.gnss.source == "generic":
        primary = b"PPS\x00"
    else:
        primary = b"GPS\x00"
    freerun = FREERUN_REFIDS.get(cfg.clock.oscillator_class, b"XO\x00\x00")
    return RefIds(primary=primary, freerun=freerun)


def node_config(
    cfg: Config,
    caps: ClockCaps,
    info: ClockInfo,
    precision_log2: int,
    has_primary: bool,
    start: StartState | None = None,
    bootstrap_command: str = "appliance bootstrap --config FILE --apply",
) -> NodeConfig:
    """``start``: what vouches for the clock at start (appliance.core.bootstrap.state); None: the
    caller does not ask (a node built by hand, which is bootstrapped)."""
    d = cfg.clock.discipline
    upstream = cfg.reference.ntp is not None
    lock_ns = d.lock_threshold_ns
    if upstream and "lock_threshold_ns" not in d.model_fields_set:
        lock_ns = NTP_LOCK_THRESHOLD_NS
    cc = cfg.cluster.crosscheck
    peers = tuple(n.name for n in cfg.cluster.control_nodes if n.name != cfg.node.name)
    discipline = DisciplineConfig(
        max_freq_ppb=caps.max_adj_ppb,
        has_reference=has_primary or upstream or (cfg.ptp.enabled and cfg.gnss is not None),
        lock_threshold_ns=lock_ns,
        step_threshold_ns=NTP_STEP_THRESHOLD_NS
        if upstream and "step_threshold_ns" not in d.model_fields_set
        else d.step_threshold_ns,
        max_error_bound_s=d.max_error_bound_s,
    )
    if upstream:
        discipline = replace(discipline, servo_kp=NTP_SERVO_KP, servo_ki=NTP_SERVO_KI, servo_estimate_s=NTP_ESTIMATE_S)
    return NodeConfig(
        name=cfg.node.name,
        discipline=discipline,
        interval_s=d.interval_s,
        refids=refids(cfg),
        max_error_bound_s=d.max_error_bound_s,
        slew_ppb=cfg.ntp.max_slew_ppm * 1e3,
        precision_log2=precision_log2,
        tai_offset_ns=cfg.ptp.utc_offset_s * 1_000_000_000 if info.timescale == "TAI" else 0,
        vote=VoteConfig(len(peers) + 1, cc.demote_threshold_s, cc.promote_after_s),
        crosscheck=cc.enabled and bool(peers),
        peers=peers,
        realign=not cfg.ptp.enabled,
        sim_reference=has_primary,
        bootstrapped=True if start is None else start.bootstrapped,
        bootstrap_command=bootstrap_command,
        not_before_ns=0 if start is None else start.not_before_ns,
    )
