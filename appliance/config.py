"""The appliance's configuration: one YAML file, validated at load against a schema.

Unknown keys, duplicate keys and wrong types are rejected with the dotted path of the key, its line
and column, and what was expected; ``load`` raises ConfigError carrying every problem at once
(``appliance config check`` prints them). Everything a command later relies on (addresses a client
is told to use, networks, listen addresses) is checked here, once, so that no command accepts what
another then refuses. Units are in the key names (``interval_s``, ``max_error_bound_s``);
``timesync.threshold`` keeps the seed's duration form with a unit ("500ms"; a bare number is refused,
see appliance.durations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from .addresses import ListenAddress, Networks, ServerAddress, listen_address, parse_hostport, server_address
from .durations import parse_duration_s
from .yamlfile import YamlError, position
from .yamlfile import load as load_yaml

MAX_NTP_WORKERS = 64  # ntp.workers
__all__ = ["Config", "ConfigError", "load", "parse"]


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[str], unreadable: bool = False):
        self.source = source
        self.problems = problems
        self.unreadable = unreadable  # the file could not be read at all (as opposed to: read, and wrong)
        super().__init__(f"{source}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections -------------------------------------------------------------------------------


class NodeConfig(_Strict):
    name: str = Field(min_length=1)
    state_dir: Path = Path("/var/lib/appliance")


class ControlNode(_Strict):
    name: str = Field(min_length=1)
    address: str

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        return server_address(v)


class CrossCheckConfig(_Strict):
    """The control nodes' vote: each node queries the others over NTP and demotes itself
    when a majority puts it further than demote_threshold_s away."""

    enabled: bool = True
    poll_interval_s: float = Field(2.0, ge=0.25, le=64)
    filter_window: int = Field(4, ge=1, le=16)  # samples kept per peer; the lowest-delay one is used
    demote_threshold_s: float = Field(0.001, gt=0, le=10)
    promote_after_s: float = Field(6.0, ge=0, le=3600)  # within threshold/2 this long to return
    # A key id of ntp.keyfile: the queries to the other control nodes carry its MAC, and only
    # answers signed with it count in the vote (the other nodes need the same key in their keyfile).
    key: int | None = Field(None, ge=1, le=2**32 - 1)


class ClusterConfig(_Strict):
    control_nodes: list[ControlNode] = []
    crosscheck: CrossCheckConfig = CrossCheckConfig()

    @model_validator(mode="after")
    def _unique(self) -> ClusterConfig:
        names = [n.name for n in self.control_nodes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"control node names must be unique, repeated: {', '.join(dup)}")
        return self


class SimTemperature(_Strict):
    mean_c: float = 24.0
    diurnal_amplitude_c: float = Field(1.5, ge=0)
    hvac_amplitude_c: float = Field(0.6, ge=0)
    hvac_period_s: float = Field(900.0, gt=0)


class SimClockConfig(_Strict):
    oscillator: str = "tcxo"
    seed: int = 1
    reference: bool = True  # a simulated reference (GNSS / upstream grandmaster) is present
    reference_noise_ns: float = Field(20.0, ge=0)
    initial_error_ns: int = 0
    temperature: SimTemperature = SimTemperature()

    @field_validator("oscillator")
    @classmethod
    def _known(cls, v: str) -> str:
        _oscillator_class(v)
        return v


class DisciplineTuning(_Strict):
    interval_s: float = Field(1.0, gt=0, le=64)
    lock_threshold_ns: float = Field(1000.0, gt=0)
    step_threshold_ns: int = Field(20_000_000, ge=0)
    max_error_bound_s: float = Field(0.1, gt=0)


def _oscillator_class(v: str | None) -> str | None:
    from .catalog import oscillator_classes

    known = oscillator_classes()
    if v is not None and v not in known:
        raise ValueError(f"expected one of {', '.join(sorted(known))} (classes in hardware/oscillators.yaml)")
    return v


class ClockConfig(_Strict):
    source: Literal["phc", "sim"] = "sim"
    interface: str | None = None
    device: str | None = None  # /dev/ptpN, instead of finding it from the interface
    # The class of the oscillator behind a real PHC (what a free-running node advertises as its
    # reference ID, and whether the model may assume a compensated curve). Unset: "xo", the class
    # that promises least.
    oscillator: str | None = None
    sim: SimClockConfig = SimClockConfig()
    discipline: DisciplineTuning = DisciplineTuning()

    @field_validator("oscillator")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        return _oscillator_class(v)

    @model_validator(mode="after")
    def _phc_needs_device(self) -> ClockConfig:
        if self.source == "phc" and not (self.interface or self.device):
            raise ValueError("clock.source phc needs clock.interface (or clock.device)")
        if self.source == "sim" and self.oscillator is not None and self.oscillator != self.sim.oscillator:
            raise ValueError(
                f"clock.oscillator {self.oscillator} differs from clock.sim.oscillator "
                f"{self.sim.oscillator}: a simulated clock's class is clock.sim.oscillator"
            )
        return self

    @property
    def oscillator_class(self) -> str:
        """The class of the oscillator actually in use."""
        if self.source == "sim":
            return self.sim.oscillator
        return self.oscillator or "xo"


# --- ptp (linuxptp orchestration; see appliance/linuxptp/README.md) -------------------


class Ts2phcConfig(_Strict):
    """A GNSS receiver's PPS wired to a PHC pin: ts2phc timestamps it (rendered as ts2phc.conf)."""

    source: Literal["generic", "nmea"] = "nmea"  # generic: PPS only; nmea: PPS + time of day on a serial port
    nmea_serialport: str = "/dev/ttyS0"
    pin_index: int = Field(0, ge=0)
    channel: int = Field(0, ge=0)
    extts_polarity: Literal["rising", "falling", "both"] = "rising"
    pulsewidth_ns: int = Field(100_000_000, ge=1_000_000, le=999_000_000)


class PtpConfig(_Strict):
    enabled: bool = False
    interface: str | None = None
    transport: Literal["l2", "udpv4", "udpv6"] = "l2"
    timestamping: Literal["hardware", "software"] = "hardware"
    domain: int = Field(24, ge=0, le=239)
    utc_offset_s: int = Field(37, ge=0, le=1000)
    # ptp4l only measures and the appliance's discipline steers the clock (one controller).
    # Must stay true with clock.source sim: ptp4l would otherwise steer the host clock.
    free_running: bool = True
    priority1: int = Field(128, ge=0, le=255)  # equal on every node: the designated order is in priority2
    priority2_base: int = Field(128, ge=1, le=250)  # designated node #i advertises priority2_base + i
    log_announce_interval: int = Field(0, ge=-3, le=4)  # log2 s
    announce_receipt_timeout: int = Field(3, ge=2, le=255)  # announce intervals
    log_sync_interval: int = Field(-1, ge=-7, le=4)  # log2 s; at least 2 syncs per discipline interval
    log_min_delay_req_interval: int = Field(0, ge=-7, le=6)  # log2 s
    tx_timestamp_timeout_ms: int = Field(10, ge=1, le=1000)
    wait_to_restore_s: float = Field(60.0, ge=0)  # a returning node follows this long before it preempts
    holdover_spec_ns: float = Field(1400.0, gt=0)  # holdover "within specification" while the bound is below
    phc2sys: Literal["off", "system_from_phc", "phc_from_system"] = "off"
    ts2phc: Ts2phcConfig | None = None
    restart_limit: int = Field(5, ge=1)  # this many failures of a child within restart_window_s: give up
    restart_window_s: float = Field(300.0, gt=0)
    poll_interval_s: float = Field(0.25, gt=0, le=10)  # management queries to ptp4l

    @model_validator(mode="after")
    def _iface(self) -> PtpConfig:
        if self.enabled and not self.interface:
            raise ValueError("ptp.enabled needs ptp.interface")
        if self.phc2sys != "off" and self.timestamping != "hardware":
            raise ValueError(f"ptp.phc2sys {self.phc2sys} needs ptp.timestamping hardware (a PHC)")
        return self


class RateLimitConfig(_Strict):
    interval_s: float = Field(1.0, gt=0)
    burst: int = Field(16, ge=1)
    kod: bool = True


class NtsConfig(_Strict):
    """NTS (RFC 8915): NTS-KE over TLS 1.3 and authenticated NTP. The certificate is the one
    clients check the server's address against (on an rke2 site: signed by the cluster's CA)."""

    certificate: Path  # PEM, the server's certificate (and any intermediates after it)
    key: Path  # PEM, its private key
    listen: list[ListenAddress] = []  # NTS-KE: default, each ntp.listen address at port 4460
    rotate_s: float = Field(86400.0, ge=60, le=30 * 86400)  # a new cookie key this often
    keep_keys: int = Field(3, ge=2, le=30)  # keys that still open cookies (the current one included)
    # A secret file shared by the control nodes: their cookie keys derive from it, so a cookie
    # from one works on the others. Without it each node keeps its own keys in node.state_dir.
    shared_key: Path | None = None
    # What the rendered chrony clients trust (ntstrustedcerts): the CA file on the client nodes.
    client_trusted_certs: Path = Path("/var/lib/rancher/rke2/agent/server-ca.crt")


class NtpConfig(_Strict):
    listen: list[ListenAddress] = ["0.0.0.0:123"]
    allow: list[Networks] = []
    deny: list[Networks] = []
    ratelimit: RateLimitConfig | None = RateLimitConfig()
    keyfile: Path | None = None  # symmetric keys in chrony's keyfile format (ID TYPE HEX:...)
    nts: NtsConfig | None = None
    # Served time never steps back once served synchronized: backward corrections (and the
    # appliance's own) are slewed at this rate (chrony's default maxslewrate).
    max_slew_ppm: float = Field(83_333.333, gt=0, le=500_000)
    # Replies remembered for interleaved mode (their kernel transmit timestamps), like chronyd's
    # clientloglimit; the oldest goes first. 0 answers every client in basic mode.
    interleave_limit: int = Field(65_536, ge=0, le=16_777_216)
    # A request that waited longer than this behind other requests in the receive queue (the
    # server not keeping up) is dropped, not answered ever later; counted as dropped "late". Time
    # the serving thread could not run at all is not held against a request (NtpServerCore.fresh).
    max_request_age_ms: float = Field(5.0, gt=0, le=10_000)
    # Serving processes, each with its own socket per listen address (SO_REUSEPORT, the kernel
    # choosing by the client's source address): "auto" one per CPU up to 8; 0 (and "auto" on one
    # CPU) answers from a thread of the node's own process. appliance.ntp.workers.
    workers: Literal["auto"] | int = "auto"

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: Any) -> Any:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_NTP_WORKERS):
            return v
        raise ValueError(f'expected "auto" or a number of serving processes 0..{MAX_NTP_WORKERS}, got {v!r}')


class MonitoringConfig(_Strict):
    metrics_listen: str | None = "127.0.0.1:9810"
    control_socket: Path = Path("/run/appliance/control.sock")
    # A group (name or gid) whose members may read the control socket (0660); None: 0600, the
    # service's own. Commands that change the node stay with root and the service's user.
    control_group: str | int | None = None

    @field_validator("metrics_listen")
    @classmethod
    def _metrics(cls, v: str | None) -> str | None:
        return None if v is None else listen_address(v)


class TimesyncConfig(_Strict):
    """The seed's Harvester `timesync:` block, rendered into client configuration."""

    enabled: bool = True
    mode: Literal["chrony", "timesyncd"] = "chrony"
    servers: list[ServerAddress] = []
    threshold: float = 0.5  # seconds; written as a duration with a unit ("500ms") in YAML

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> float:
        seconds = parse_duration_s(v)
        if seconds <= 0:
            raise ValueError(f"{v!r}: expected a positive duration (the largest root distance a client accepts)")
        return seconds


# --- bootstrap, leap seconds, references of a connected site -----------------------------------

# Where rke2, k3s and kubeadm keep the cluster's certificates (their notBefore is a floor for the
# time a node may start at).
DEFAULT_CERT_GLOBS = [
    "/var/lib/rancher/rke2/server/tls/*.crt",
    "/var/lib/rancher/rke2/server/tls/etcd/*.crt",
    "/var/lib/rancher/rke2/agent/*.crt",
    "/var/lib/rancher/k3s/server/tls/*.crt",
    "/var/lib/rancher/k3s/server/tls/etcd/*.crt",
    "/var/lib/rancher/k3s/agent/*.crt",
    "/etc/kubernetes/pki/*.crt",
    "/etc/kubernetes/pki/etcd/*.crt",
]


class BootstrapConfig(_Strict):
    """`appliance bootstrap` and what `serve` requires before it claims stratum 1."""

    # A node whose clock nothing vouches for (no reference lock, no bootstrap record, no
    # last-known-good of this boot) answers leap 3. false: a lab or test node that may free-run
    # from whatever its clock says.
    required: bool = True
    cert_globs: list[str] = DEFAULT_CERT_GLOBS
    rtc_uncertainty_s: float = Field(60.0, gt=0, le=10 * 365 * 86400)  # an RTC whose last setting is unknown
    operator_uncertainty_s: float = Field(10.0, gt=0, le=86400)  # --operator-time without --operator-uncertainty
    lastgood_interval_s: float = Field(300.0, ge=1, le=86400)  # serve writes the last-known-good this often
    peer_timeout_s: float = Field(2.0, gt=0, le=30)


class LeapSecondsConfig(_Strict):
    """The IERS/NIST leap-seconds.list (tzdata ships it): TAI - UTC and its expiry."""

    file: Path = Path("/usr/share/zoneinfo/leap-seconds.list")
    warn_days: float = Field(30.0, ge=0, le=3650)  # diagnose warns this long before it expires


class NtpReferenceConfig(_Strict):
    """Upstream NTP servers (a connected site): at least 3 stratum 1/2 servers, so that one wrong
    server is outvoted."""

    servers: list[str] = Field(min_length=1)
    poll_interval_s: float = Field(1.0, ge=0.25, le=1024)
    filter_window: int = Field(4, ge=1, le=16)

    @field_validator("servers")
    @classmethod
    def _servers(cls, v: list[str]) -> list[str]:
        for text in v:
            host, _ = parse_hostport(text, default_port=123)
            if not host:
                raise ValueError(f"expected HOST[:PORT], got {text!r}")
        if len(set(v)) != len(v):
            raise ValueError("each upstream server once")
        return v


class ReferenceConfig(_Strict):
    ntp: NtpReferenceConfig | None = None
    gnss: Ts2phcConfig | None = None  # a GNSS receiver's PPS + NMEA on a PHC pin, through ts2phc


class Config(_Strict):
    node: NodeConfig
    cluster: ClusterConfig = ClusterConfig()
    clock: ClockConfig = ClockConfig()
    ptp: PtpConfig = PtpConfig()
    ntp: NtpConfig = NtpConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    timesync: TimesyncConfig = TimesyncConfig()
    bootstrap: BootstrapConfig = BootstrapConfig()
    leap_seconds: LeapSecondsConfig = LeapSecondsConfig()
    reference: ReferenceConfig = ReferenceConfig()

    @property
    def gnss(self) -> Ts2phcConfig | None:
        """The GNSS receiver ts2phc reads (reference.gnss, or the older ptp.ts2phc)."""
        return self.reference.gnss or self.ptp.ts2phc

    @property
    def gnss_interface(self) -> str | None:
        """The NIC whose PHC pin takes the receiver's pulse."""
        return self.ptp.interface or self.clock.interface

    @model_validator(mode="after")
    def _gnss(self) -> Config:
        g = self.reference.gnss
        if g is not None:
            if self.ptp.ts2phc is not None:
                raise ValueError("reference.gnss and ptp.ts2phc name the same receiver: keep one (reference.gnss)")
            if self.clock.source != "phc":
                raise ValueError("reference.gnss needs clock.source phc: ts2phc timestamps a PHC pin")
            if not self.gnss_interface:
                raise ValueError("reference.gnss needs clock.interface (the NIC whose PHC pin takes the pulse)")
        return self

    @model_validator(mode="after")
    def _crosscheck_key(self) -> Config:
        if self.cluster.crosscheck.key is not None and self.ntp.keyfile is None:
            raise ValueError("cluster.crosscheck.key needs ntp.keyfile: the key is one of its lines")
        return self

    @model_validator(mode="after")
    def _sim_never_steers_host(self) -> Config:
        # ptp4l, phc2sys and ts2phc adjust real clocks; a simulated node must never let them.
        if self.clock.source == "sim":
            if not self.ptp.free_running:
                raise ValueError(
                    "ptp.free_running false needs clock.source phc: with a simulated clock "
                    "ptp4l would steer the host clock"
                )
            if self.ptp.phc2sys != "off":
                raise ValueError(
                    f"ptp.phc2sys {self.ptp.phc2sys} needs clock.source phc: phc2sys adjusts CLOCK_REALTIME or a PHC"
                )
            if self.ptp.ts2phc is not None:
                raise ValueError("ptp.ts2phc needs clock.source phc: ts2phc timestamps a PHC pin")
        return self

    @model_validator(mode="after")
    def _renderable(self) -> Config:
        # What `serve` and `config render` will build from this configuration is built once here, so
        # that `config check` never says "ok" to what they would then refuse.
        from .linuxptp.render import RenderError as PtpRenderError
        from .linuxptp.render import render_all
        from .render.clients import NoServers, RenderError, render_clients

        if self.ptp.enabled:
            try:
                render_all(self)
            except PtpRenderError as exc:
                raise ValueError(f"ptp: {exc}") from None
        if self.timesync.enabled:
            try:
                render_clients(self)
            except NoServers:
                pass  # a lone node: nothing to render for clients, and nothing wrong
            except RenderError as exc:
                raise ValueError(f"timesync (mode {self.timesync.mode}): {exc}") from None
        return self

    def designated_index(self) -> int | None:
        """This node's place in the designated order (0 = preferred grandmaster), or None."""
        for i, n in enumerate(self.cluster.control_nodes):
            if n.name == self.node.name:
                return i
        return None


# --- loading --------------------------------------------------------------------------------


def _format_error(err: ErrorDetails, positions: dict[Any, Any] | None = None) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    path = ".".join(str(p) for p in loc)
    at = position(positions, loc) if positions else None
    where = f" (line {at[0]}, column {at[1]})" if at else ""
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key{where}"
    if kind == "missing":
        return f"{path}: required key is missing{where}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = err.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None or repr(got) in msg else f" (got {got!r})"
    return f"{path}: {msg}{shown}{where}" if path else f"{msg}{shown}{where}"


def parse(data: Any, source: str = "<config>", positions: dict | None = None) -> Config:
    if data is None:
        raise ConfigError(source, ["the file is empty; expected a mapping with at least node.name"])
    if not isinstance(data, dict):
        raise ConfigError(source, [f"expected a mapping at the top level, got {type(data).__name__}"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_format_error(e, positions) for e in exc.errors()]) from None


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except IsADirectoryError:
        raise ConfigError(str(path), ["is a directory: expected a YAML configuration file"], True) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["not a text file: expected a YAML configuration file"], True) from None
    except FileNotFoundError:
        raise ConfigError(str(path), ["cannot read: the file does not exist"], True) from None
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror}"], True) from None
    try:
        data, positions = load_yaml(text)
    except YamlError as exc:
        raise ConfigError(str(path), [str(exc)]) from None
    return parse(data, str(path), positions)
