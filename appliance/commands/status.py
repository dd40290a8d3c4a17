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
    tc = st.get("tempcomp")  # the learned TCXO model
    if tc:
        if tc.get("ready"):
            lo, hi = tc["trained_range_c"]
            model = f"trained {lo:.2f}..{hi:.2f} degC, lag {tc['lag_s']:.0f} s, aging {tc['aging_ppb_per_day']:+.2f} ppb/day"
        else:
            model = f"learning ({tc['records_buffered']} records)" + (f"; {tc['last_error']}" if tc.get("last_error") else "")
        lines.append(f"holdover model   : {model}")
    dropped = {k: v for k, v in n["dropped"].items() if v}
    if dropped:
        lines.append("ntp dropped      : " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    lines += _render_ptp(st.get("ptp") or {})
    lines += _render_cluster(st)
    lines += _render_site(st)
    return "\n".join(lines)


def _render_site(st: dict) -> list[str]:
    """Bootstrap, the upstream servers, the leap-seconds file: lines only when there is something to say."""
    lines = []
    boot = st.get("bootstrap") or {}
    reason = (st.get("served") or {}).get("unsynchronized_reason") or ""
    if boot.get("bootstrapped") is False or reason.startswith("not bootstrapped"):
        lines.append(f"WARNING          : not bootstrapped ({boot.get('at_start') or 'nothing vouches for the clock'}): "
                     f"answering with leap 3; run `{boot.get('command') or 'appliance bootstrap --apply'}`")
    elif "before the last-known-good" in reason:
        lines.append(f"WARNING          : {reason}")
    up = st.get("upstream")
    if up:
        rows = ", ".join(f"{r['name']} {r['vote']}" for r in up.get("servers", []))
        lines.append(f"upstream ntp     : {rows or '-'}" + (f" ({up['reason']})" if up.get("reason") else ""))
        if up.get("warning"):
            lines.append(f"WARNING          : {up['warning']}")
    leap = st.get("leap_seconds") or {}
    if leap.get("error"):
        lines.append(f"WARNING          : leap seconds: {leap['error']}")
    elif leap.get("expired"):
        lines.append(f"WARNING          : leap seconds: {leap.get('file')} has expired; TAI-UTC {leap.get('tai_utc_s')} s "
                     "is the last known")
    return lines


def _render_ptp(p: dict) -> list[str]:
    """PTP lines; nothing when PTP is not enabled."""
    if not p.get("enabled"):
        return []
    lines = [
        f"ptp              : {p['role']} ({p['state']}), port {p['port_state'] or '-'}, "
        f"grandmaster {p['gm_identity'] or '-'}, {p['timestamping']} timestamping",
    ]
    if p.get("offset_ns") is not None:
        delay = p.get("path_delay_ns")
        lines.append(f"ptp offset       : {p['offset_ns']:+.0f} ns" + ("" if delay is None else f", path delay {delay:.0f} ns"))
    pre = p.get("preemption") or {}
    lines.append(f"ptp advertises   : clockClass {p.get('clock_class') or '-'}, priority2 {p.get('priority2') or '-'} "
                 f"(designated {p.get('designated_priority2')}, {pre.get('phase', '-')})")
    for name, c in (p.get("children") or {}).items():
        if c["state"] != "running":
            lines.append(f"ptp {name:<12} : {c['state']}" + (f": {c['last_error']}" if c.get("last_error") else ""))
    for w in p.get("warnings") or []:
        lines.append(f"WARNING          : ptp: {w}")
    return lines



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
