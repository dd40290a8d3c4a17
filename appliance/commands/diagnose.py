"""appliance diagnose [--json] [--save DIR | --replay DIR] [paths of the tools and files it reads]

One verdict per check (ok / warn / fail) with its evidence and the next step; exits 0, 1 or 2 by the
worst verdict. Reads chronyc -c tracking|sources|sourcestats, timedatectl show, /proc/driver/rtc, the
kernel's adjtimex state (read only), ptp4l's data sets (pmc, when ptp4l's socket exists) and the
appliance's status over its control socket; whatever is absent is reported as such.
"""

from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="check this node's time: chrony, kernel, RTC, PTP, the appliance; "
                       "a verdict per check with the next step (exit 0 ok, 1 warn, 2 fail)")
    p.add_argument("--json", action="store_true", help="the whole report as JSON (chrony's values keep chrony's names)")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each check's evidence")
    p.add_argument("--threshold", default="50ms", metavar="DURATION",
                   help="offset limit for the verdicts and the drift trend (default 50ms, the seed's control-plane "
                        "alert; 200ms on workers)")
    p.add_argument("--expect", action="append", default=[], metavar="NAME",
                   choices=["chrony", "timedatectl", "rtc", "adjtimex", "ptp", "appliance", "leap-seconds"],
                   help="fail (rather than report) when this one is absent: chrony, timedatectl, rtc, adjtimex, ptp, "
                        "appliance (repeatable); an explicit path option implies it")
    src = p.add_argument_group("where to look (defaults: the standard places)")
    src.add_argument("--chronyc", default="chronyc", metavar="PATH")
    src.add_argument("--chronyc-socket", metavar="PATH", help="chronyd's command socket (chronyc -h)")
    src.add_argument("--timedatectl", default="timedatectl", metavar="PATH")
    src.add_argument("--rtc-file", metavar="PATH", help="default /proc/driver/rtc")
    src.add_argument("--pmc", default="pmc", metavar="PATH")
    src.add_argument("--ptp4l-socket", metavar="PATH", help="ptp4l's uds_address (default /var/run/ptp4l)")
    src.add_argument("--ptp-domain", type=int, metavar="N", help="PTP domain (default ptp.domain of --config, or 24)")
    src.add_argument("--control-socket", metavar="PATH", help="the appliance's control socket")
    src.add_argument("--leap-file", metavar="PATH", help="leap-seconds.list (default leap_seconds.file of --config, "
                     "or /usr/share/zoneinfo/leap-seconds.list)")
    src.add_argument("--config", metavar="FILE", help="take the control socket and PTP domain from this config")
    src.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per tool (default 5)")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--save", metavar="DIR", help="also keep every raw output in DIR (to attach to a ticket)")
    rec.add_argument("--replay", metavar="DIR", help="judge a directory saved with --save instead of this host")
    p.set_defaults(func=run)


def _fail(msg: str) -> int:
    print(f"appliance diagnose: {msg}", file=sys.stderr)
    return 2


def options(args):
    from ..diagnose.collect import Options

    opts = Options(chronyc=args.chronyc, timedatectl=args.timedatectl, pmc=args.pmc, timeout_s=args.timeout,
                   expect=set(args.expect))
    if args.config:
        from .. import config

        cfg = config.load(args.config)
        opts.control_socket = str(cfg.monitoring.control_socket)
        opts.ptp_domain = cfg.ptp.domain
        opts.leap_file = str(cfg.leap_seconds.file)
        opts.leap_warn_days = cfg.leap_seconds.warn_days
        opts.expect.add("appliance")
        if cfg.ptp.enabled:
            opts.expect.add("ptp")
    for attr, group in (("chronyc_socket", "chrony"), ("rtc_file", "rtc"), ("ptp4l_socket", "ptp"),
                        ("control_socket", "appliance"), ("leap_file", "leap-seconds")):
        value = getattr(args, attr)
        if value:
            setattr(opts, attr, value)
            opts.expect.add(group)
    if args.ptp_domain is not None:
        opts.ptp_domain = args.ptp_domain
    return opts


def run(args) -> int:
    from ..config import ConfigError, parse_duration_s
    from ..core.diagnose.diagnosis import evaluate
    from ..core.diagnose.report import Limits
    from ..diagnose import collect

    try:
        threshold = parse_duration_s(args.threshold)
        if threshold <= 0:
            raise ValueError(f"expected a positive duration, got {args.threshold!r}")
    except ValueError as exc:
        return _fail(f"--threshold: {exc}")
    if args.timeout <= 0:
        return _fail("--timeout: expected a positive number of seconds")
    try:
        opts = options(args)
    except ConfigError as exc:
        return _fail(f"{exc.source}: " + "; ".join(exc.problems))
    if args.replay:
        try:
            raw, collected_at, _ = collect.load(args.replay)
        except collect.BundleError as exc:
            return _fail(str(exc))
        raw = collect.mark_expected(raw, set(args.expect))
    else:
        raw, collected_at = collect.gather(opts)
    if args.save:
        try:
            collect.save(args.save, raw, collected_at)
        except OSError as exc:
            return _fail(f"--save {args.save}: {exc.strerror or exc}")
    report = evaluate(raw, collected_at, Limits(offset_s=threshold, leap_warn_days=opts.leap_warn_days))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(render(report, verbose=args.verbose))
    return report.exit_code


def render(report, verbose: bool = False) -> str:
    from ..core.diagnose.report import fmt_duration, fmt_s

    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.collected_at_s))
    lines = [f"appliance diagnose: {report.worst.value.upper()} (exit {report.exit_code}), collected {when}", ""]
    width = max(len(c.name) for c in report.checks)
    for c in report.checks:
        lines.append(f"  {c.verdict.value.upper():<5} {c.name:<{width}}  {c.summary}")
        pad = " " * (width + 10)
        if c.next_step and c.verdict.value != "ok":
            lines.append(f"{pad}next: {c.next_step}")
        if verbose and c.evidence:
            for k, v in c.evidence.items():
                lines.append(f"{pad}{k}: {json.dumps(v, default=str)[:200]}")
    if report.trends:
        lines += ["", "drift trend (at the current rate):"]
        for t in report.trends:
            lines.append(
                f"  {t.source}: now {fmt_s(t.value_s)}, rate {t.rate_ppm:+.4f} ppm (+/- "
                f"{t.rate_uncertainty_s_per_s * 1e6:.4f}), {fmt_s(t.threshold_s)} reached in "
                f"{fmt_duration(t.crossing_in_s)} (worst case {fmt_duration(t.worst_case_crossing_in_s)})"
            )
    return "\n".join(lines)
