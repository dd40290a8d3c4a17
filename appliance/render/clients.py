"""Client configuration for every other node of the cluster, pure: Config in, text out.

Servers: ``timesync.servers`` when the seed lists them, otherwise the addresses of
``cluster.control_nodes`` (in designated order). An address without a port means port 123 (as the
control nodes' vote polls it), except this node's own entry: it serves where ``ntp.listen`` says, so
a simulated node on 127.0.0.1:12300 is rendered as ``server 127.0.0.1 port 12300``, not as a
server on port 123 that does not exist. ``timesync.threshold`` (the seed's "500ms") is the
largest root distance a client accepts from a server - chrony's ``maxdistance``, timesyncd's
``RootDistanceMaxSec`` - so a server whose own error bound (root dispersion) plus half its path
delay exceeds it is not used. It does not go to ``makestep``: stepping is fixed at ``makestep 1.0 3``
(step only a clock that is more than 1 s off, and only in the first three updates; slew after).

* chrony (workers): all servers with ``iburst``; ``minsources 2`` so that a worker updates its clock
  only when two servers agree (a single wrong server cannot move it); chrony's own source
  selection drops a falseticker and every server that answers with leap indicator 3.
* systemd-timesyncd: an SNTP client - it follows one server at a time, in the listed order, and
  moves to the next when its server answers with leap indicator 3, stratum 0 or 16, or a root
  distance above RootDistanceMaxSec (timesyncd-manager.c). That is why a demoted control node
  answers with leap 3. FallbackNTP= is cleared: its compiled-in public servers are unreachable on an
  air-gapped site. timesyncd speaks to port 123 only.
* Harvester: the ``ntp-servers`` Setting (harvesterhci.io/v1beta1), whose value is the JSON string
  {"ntpServers": [...]}; Harvester writes it to its nodes' timesyncd. Port 123 only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml

from ..addresses import format_hostport, parse_hostport
from ..config import Config

FORMATS = ("chrony", "timesyncd", "harvester")
NTP_PORT = 123
_HOST = re.compile(r"^[A-Za-z0-9._:%-]+$")


class RenderError(Exception):
    pass


class NoServers(RenderError):
    """Nothing to tell the clients: a valid configuration (a lone simulated node), just not one to
    render clients from."""


@dataclass(frozen=True)
class Server:
    host: str
    port: int = NTP_PORT

    @property
    def text(self) -> str:
        return self.host if self.port == NTP_PORT else f"{self.host} port {self.port}"


def client_servers(cfg: Config) -> list[Server]:
    if cfg.timesync.servers:
        entries = [(f"timesync.servers.{i}", s) for i, s in enumerate(cfg.timesync.servers)]
    else:
        entries = [(f"cluster.control_nodes.{i}.address", n.address) for i, n in enumerate(cfg.cluster.control_nodes)]
    if not entries:
        raise NoServers("no servers: set timesync.servers or cluster.control_nodes")
    own = {
        f"cluster.control_nodes.{i}.address"
        for i, n in enumerate(cfg.cluster.control_nodes)
        if n.name == cfg.node.name and not cfg.timesync.servers
    }
    servers = []
    for where, text in entries:
        try:
            host, port = parse_hostport(text, default_port=NTP_PORT)
        except ValueError as exc:
            raise RenderError(f"{where}: {exc}") from None
        if not _HOST.match(host):
            raise RenderError(f"{where}: {host!r} is not a host name or IP address")
        if where in own and not _has_port(text):
            port = _own_port(cfg, where, text)
        servers.append(Server(host, port))
    return servers


def _has_port(text: str) -> bool:
    try:
        parse_hostport(text)
        return True
    except ValueError:
        return False


def _own_port(cfg: Config, where: str, text: str) -> int:
    """The port this node serves on (ntp.listen), for its own address written without one."""
    ports = sorted({parse_hostport(a)[1] for a in cfg.ntp.listen})
    if len(ports) == 1:
        return ports[0]
    if NTP_PORT in ports:
        return NTP_PORT
    raise RenderError(
        f"{where}: {text} has no port and this node ({cfg.node.name}) serves on ports "
        f"{', '.join(map(str, ports))} (ntp.listen): write the port, as {format_hostport(text, ports[0])}"
    )


def _seconds(value_s: float) -> str:
    return f"{value_s:.9g}"


def _header(fmt: str, source: str, comment: str = "#") -> list[str]:
    origin = f" from {source}" if source else ""
    return [
        f"{comment} Rendered by `appliance config render clients --format {fmt}`{origin}.",
        f"{comment} Servers: the cluster's control nodes, which vote among themselves; a node outside the",
        f"{comment} majority answers with leap indicator 3 so that clients move away from it.",
    ]


def render_chrony(
    servers: list[Server],
    threshold_s: float,
    source: str = "",
    connected: bool = False,
    nts_trusted_certs: str | None = None,
) -> str:
    """``connected``: the site has a reference (reference.ntp / reference.gnss), as the seed's
    standard setup: the clients also timestamp in hardware where their NICs can.
    ``nts_trusted_certs``: the servers speak NTS (ntp.nts); the CA file the clients check them with."""
    lines = _header("chrony", source)
    if nts_trusted_certs is not None:
        # chronyd's NTS-KE port is 4460 and the NTP port comes from the key exchange: no `port`.
        lines += [
            "# NTS (RFC 8915): the servers' certificates are checked against the cluster's CA.",
            f"ntstrustedcerts {nts_trusted_certs}",
        ]
        lines += [f"server {s.host} iburst nts" for s in servers]
    else:
        lines += [f"server {s.text} iburst" for s in servers]
    need = min(2, len(servers))
    lines += [
        "# Update the clock only when 2 servers agree."
        if need > 1
        else "# Only one server is configured: the clock follows it alone (a wrong server cannot be outvoted).",
        f"minsources {need}",
        "# Ignore a server whose root distance (error bound + half the round trip) exceeds timesync.threshold.",
        f"maxdistance {_seconds(threshold_s)}",
        "# Step a clock more than 1 s off, in the first three updates only; slew afterwards.",
        "makestep 1.0 3",
    ]
    if connected:
        lines += [
            "# A connected site (the seed's standard setup): hardware timestamps on every NIC that has them.",
            "hwtimestamp *",
        ]
    lines += [
        "driftfile /var/lib/chrony/chrony.drift",
        "rtcsync",
    ]
    return "\n".join(lines) + "\n"


def _port_123_only(servers: list[Server], fmt: str) -> None:
    for s in servers:
        if s.port != NTP_PORT:
            raise RenderError(
                f"{fmt} talks to port {NTP_PORT} only; server {s.host} is on port {s.port} "
                "(use --format chrony, or serve on port 123)"
            )


def render_timesyncd(servers: list[Server], threshold_s: float, source: str = "") -> str:
    _port_123_only(servers, "timesyncd")
    ms = threshold_s * 1e3
    lines = _header("timesyncd", source)
    lines += [
        "# timesyncd follows the first server that answers as synchronized and moves to the next on leap 3.",
        "[Time]",
        "NTP=" + " ".join(s.host for s in servers),
        "# No fallback: the compiled-in public servers are unreachable on an air-gapped site.",
        "FallbackNTP=",
        "# timesync.threshold: the largest root distance accepted from a server.",
        f"RootDistanceMaxSec={f'{ms:.6g}ms' if ms >= 1 else _seconds(threshold_s)}",
    ]
    return "\n".join(lines) + "\n"


def render_harvester(servers: list[Server], source: str = "") -> str:
    _port_123_only(servers, "Harvester's ntp-servers setting")
    manifest = {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": "ntp-servers"},
        "value": json.dumps({"ntpServers": [s.host for s in servers]}, separators=(",", ":")),
    }
    return "\n".join(_header("harvester", source)) + "\n" + yaml.safe_dump(manifest, sort_keys=False)


def render_clients(cfg: Config, fmt: str | None = None, source: str = "") -> str:
    fmt = fmt or cfg.timesync.mode
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    servers = client_servers(cfg)
    if fmt == "chrony":
        connected = cfg.reference.ntp is not None or cfg.gnss is not None
        nts = cfg.ntp.nts
        certs = str(nts.client_trusted_certs) if nts is not None else None
        return render_chrony(servers, cfg.timesync.threshold, source, connected=connected, nts_trusted_certs=certs)
    if fmt == "timesyncd":
        return render_timesyncd(servers, cfg.timesync.threshold, source)
    return render_harvester(servers, source)
