"""appliance status [--json] [--control-socket PATH | --config FILE]"""

from __future__ import annotations

import json
import sys

DEFAULT_SOCKET = "/run/appliance/control.sock"


def register(sub) -> None:
    p = sub.add_parser("status", help="state of a running appliance, over its control socket")
    p.add_argument("--json", action="store_true")
    p.add_argument("--control-socket", metavar="PATH")
    p.add_argument("--config", metavar="FILE", help="take the control socket path from this config")
    p.set_defaults(func=run)


def socket_path(args) -> str:
    if args.control_socket:
        return args.control_socket
    if getattr(args, "config", None):
        from .. import config

        return str(config.load(args.config).monitoring.control_socket)
    return DEFAULT_SOCKET


def run(args) -> int:
    from ..config import ConfigError
    from ..control_socket import ControlError, request

    try:
        st = request(socket_path(args), "status")
    except (ControlError, ConfigError) as exc:
        print(f"appliance status: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(st, indent=2))
        return 0
    print(render(st))
    return 0


def _fmt_s(v) -> str:
    if v is None:
        return "-"
    if v >= 1:
        return f"{v:.3f} s"
    if v >= 1e-3:
        return f"{v * 1e3:.3f} ms"
    return f"{v * 1e6:.3f} us"


def render(st: dict) -> str:
    c, s, n = st["clock"], st["sync"], st["ntp"]
    temp = "-" if c.get("temperature_c") is None else f"{c['temperature_c']:.2f} degC"
    lines = [
        f"node             : {st['node']}  (appliance {st['version']}, up {st['uptime_s']:.0f} s)",
        f"clock            : {c['name']} [{c['source']}], freq {c['freq_ppb'] or 0:+.3f} ppb, {temp}",
        f"sync state       : {s['state']}{'' if s['healthy'] else '  (NOT serving as stratum 1)'}",
        f"error bound      : {_fmt_s(s['error_bound_s'])}",
        f"reference        : {s['reference'] or 'none'}"
        + ("" if s.get("offset_ns") is None else f", offset {s['offset_ns']:+.0f} ns"),
        f"ntp              : {', '.join(n['listen'])}, stratum {n['stratum']}",
        f"ntp packets      : received {n['received']}, answered {n['answered']}, KoD {n['kod_sent']}",
    ]
    dropped = {k: v for k, v in n["dropped"].items() if v}
    if dropped:
        lines.append("ntp dropped      : " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    lines += _render_cluster(st)  # issue 6
    return "\n".join(lines)


def _fmt_offset(v) -> str:
    if v is None:
        return "-"
    return ("+" if v >= 0 else "-") + _fmt_s(abs(v))


def _render_cluster(st: dict) -> list[str]:
    cc = st.get("crosscheck") or {}
    if not cc.get("enabled"):
        return []
    lines = [
        f"cluster vote     : {cc['state']}{'  (DEMOTED: answering with leap 3)' if cc['demoted'] else ''}"
        + f", {'a majority' if cc['majority'] else 'no majority'} of {cc['configured_nodes']}"
        + ("" if cc.get("distance_s") is None else f", {_fmt_s(cc['distance_s'])} outside it")
        + f" (threshold {_fmt_s(cc['threshold_s'])})",
        f"grandmaster      : {'eligible' if cc['grandmaster_eligible'] else 'not eligible'}",
    ]
    for p in st.get("peers", []):
        lines.append(
            f"peer {p['name']:<11} : {p['address']}, offset {_fmt_offset(p['offset_s'])} (local - peer), "
            f"delay {_fmt_s(p['delay_s'])}, reach {p['reach']:03o}, {p['vote']}"
        )
    served = st.get("served") or {}
    if served.get("correction_s"):
        lines.append(f"served time      : slewing, {_fmt_offset(served['correction_s'])} still to absorb")
    return lines
