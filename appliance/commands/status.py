"""appliance status [--json] [--control-socket PATH | --config FILE]"""

from __future__ import annotations

import json

from .common import EXIT_FAIL, CommandError

DEFAULT_SOCKET = "/run/appliance/control.sock"
SHOWN_CORRECTION_S = 1e-6  # below this the served map's residual is noise, not a slew to wait for

DESCRIPTION = """\
The state of a running appliance, read over its control socket: the node, its clock (the \
oscillator's frequency offset, positive = runs fast, and the correction applied, its opposite), the \
sync state and error bound, the reference, whether it serves stratum 1 and if not why (demoted by \
the vote, unsynchronised, bound too large), what served time still has to absorb, NTP counters, \
PTP, the cluster vote and the peers. Read-only."""

EPILOG = """\
exit status: 0 the status was read (whatever it says), 2 no appliance answers on the socket,
3 bad usage or a --config that cannot be read. `appliance diagnose` judges the status.

examples:
  appliance status --control-socket .state/sim-0/control.sock
  appliance status --config /etc/appliance/appliance.yaml --json | jq .sync"""


def register(sub) -> None:
    p = sub.add_parser(
        "status", help="state of a running appliance, over its control socket", description=DESCRIPTION, epilog=EPILOG
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="the status as JSON (field names are a contract; units in the names); errors as JSON too",
    )
    p.add_argument(
        "--control-socket",
        metavar="PATH",
        help=f"the appliance's control socket (default {DEFAULT_SOCKET}, or monitoring.control_socket of --config)",
    )
    p.add_argument("--config", metavar="FILE", help="take the control socket path from this configuration")
    p.set_defaults(func=run)


def socket_path(args) -> str:
    if args.control_socket:
        return args.control_socket
    if getattr(args, "config", None):
        from . import load_config

        return str(load_config(args.config).monitoring.control_socket)
    return DEFAULT_SOCKET


def run(args) -> int:
    from ..control_socket import ControlError, request

    path = socket_path(args)
    try:
        st = request(path, "status")
    except ControlError as exc:
        raise CommandError(str(exc), EXIT_FAIL) from None
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


def _fmt_freq(c: dict) -> str:
    """The oscillator's frequency offset with the house's sign (positive = runs fast), and the
    correction applied (its opposite, positive speeds the clock up), each named."""
    from ..core.units import offset_of

    corr = c.get("freq_ppb")
    if corr is None:
        return "frequency not measured yet"
    off = c.get("freq_offset_ppb")
    off = offset_of(corr) if off is None else off
    speed = "fast" if off > 0 else "slow"
    runs = "runs at the nominal rate" if off == 0 else f"runs {abs(off) / 1000:.3f} ppm {speed}"
    return f"{runs} (correction applied {corr:+.1f} ppb)"


def _serving(st: dict) -> str:
    s, n = st["sync"], st["ntp"]
    served = st.get("served") or {}
    if n.get("stratum") == 1:
        return "stratum 1"
    why = served.get("unsynchronized_reason") or ("" if s.get("healthy") else f"sync state {s['state']}")
    return f"stratum {n['stratum']}  (NOT serving as stratum 1{': ' + why if why else ''}; replies say leap 3)"


def render(st: dict) -> str:
    c, s, n = st["clock"], st["sync"], st["ntp"]
    temp = "-" if c.get("temperature_c") is None else f"{c['temperature_c']:.2f} degC"
    lines = [
        f"node             : {st['node']}  (appliance {st['version']}, up {st['uptime_s']:.0f} s)",
        f"clock            : {c['name']} [{c['source']}], {temp}",
        f"frequency        : {_fmt_freq(c)}",
        f"sync state       : {s['state']}",
        f"error bound      : {_fmt_s(s['error_bound_s'])}",
        f"reference        : {s['reference'] or 'none'}"
        + ("" if s.get("offset_ns") is None else f", offset {s['offset_ns']:+.0f} ns (clock - reference)"),
        f"ntp              : {', '.join(n['listen'])}, {_serving(st)}",
        f"ntp packets      : received {n['received']}, answered {n['answered']}, KoD {n['kod_sent']}",
    ]
    served = st.get("served") or {}
    if abs(served.get("correction_s") or 0.0) >= SHOWN_CORRECTION_S:
        lines.append(
            f"served time      : slewing, {_fmt_offset(served['correction_s'])} still to absorb "
            "(clock - served; served time never steps back)"
        )
    tc = st.get("tempcomp")  # the learned TCXO model
    if tc:
        if tc.get("ready"):
            lo, hi = tc["trained_range_c"]
            model = (
                f"trained {lo:.2f}..{hi:.2f} degC, lag {tc['lag_s']:.0f} s, "
                f"aging {tc['aging_ppb_per_day']:+.2f} ppb/day"
            )
        else:
            model = f"learning ({tc['records_buffered']} records)" + (
                f"; {tc['last_error']}" if tc.get("last_error") else ""
            )
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
        lines.append(
            f"WARNING          : not bootstrapped ({boot.get('at_start') or 'nothing vouches for the clock'}): "
            f"answering with leap 3; run `{boot.get('command') or 'appliance bootstrap --apply'}`"
        )
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
        lines.append(
            f"WARNING          : leap seconds: {leap.get('file')} has expired; TAI-UTC {leap.get('tai_utc_s')} s "
            "is the last known"
        )
    return lines


def _render_ptp(p: dict) -> list[str]:
    """PTP lines; nothing when PTP is not enabled."""
    if not p.get("enabled"):
        return []
    lines = [
        f"ptp              : {p['role'] or '-'} ({p['state']}), port {p['port_state'] or '-'}, "
        f"grandmaster {p['gm_identity'] or '-'}, {p['timestamping']} timestamping",
    ]
    if p.get("offset_ns") is not None:
        delay = p.get("path_delay_ns")
        lines.append(
            f"ptp offset       : {p['offset_ns']:+.0f} ns" + ("" if delay is None else f", path delay {delay:.0f} ns")
        )
    pre = p.get("preemption") or {}
    lines.append(
        f"ptp advertises   : clockClass {p.get('clock_class') or '-'}, priority2 {p.get('priority2') or '-'} "
        f"(designated {p.get('designated_priority2')}, {pre.get('phase', '-')})"
    )
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
    return lines
