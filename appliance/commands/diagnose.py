"""appliance diagnose [--json] [--save DIR | --replay DIR] [paths of the tools and files it reads]

One verdict per check (ok / warn / fail, skip for what is absent here) with its evidence and the
next step; exits by the worst verdict. Reads chronyc -c tracking|sources|sourcestats, timedatectl
show, /proc/driver/rtc, the kernel's adjtimex state (read only), ptp4l's data sets (pmc, when
ptp4l's socket exists) and the appliance's status over its control socket.
"""

from __future__ import annotations

import json
import time

from .common import EXIT_FAIL, CommandError, duration, output_dir

DESCRIPTION = """\
Check this node's time: chronyd (tracking, sources, the drift trend), the kernel's clock state \
(adjtimex, what node_exporter exports), timedatectl, the RTC, ptp4l (through pmc) and the \
appliance itself. Each check gives a verdict with its evidence and the next step for a person; \
nothing on the host is changed.

A component that is absent here (no chronyd on a timesyncd worker, no ptp4l on a worker) is SKIP, \
not a failure, unless it was expected: with --expect NAME, or with an explicit path or socket of \
its own (--chronyc, --timedatectl, --rtc-file, --pmc, --ptp4l-socket, --control-socket, \
--chronyc-socket), or named by --config (the appliance, and PTP when ptp.enabled).

--save DIR keeps every raw output for a ticket; --replay DIR judges such a directory elsewhere."""

EPILOG = """\
exit status: 0 OK (every check ok or skipped), 1 WARN, 2 FAIL, 3 UNKNOWN (bad usage, or a
--replay/--config that cannot be read).

examples:
  appliance diagnose                                 this node, the standard places
  appliance diagnose --threshold 200ms               a worker (the seed's 200 ms warning)
  appliance diagnose --config /etc/appliance/appliance.yaml -v
  appliance diagnose --save /tmp/ticket-1234         keep the raw outputs
  appliance diagnose --replay /tmp/ticket-1234 --json"""

EXPECT_NAMES = ["chrony", "timedatectl", "rtc", "adjtimex", "ptp", "appliance", "leap-seconds"]
# Where diagnose looks when not told; an option given explicitly means "it should be there".
DEFAULTS = {
    "chronyc": "chronyc",
    "timedatectl": "timedatectl",
    "rtc_file": "/proc/driver/rtc",
    "pmc": "pmc",
    "ptp4l_socket": "/var/run/ptp4l",
    "control_socket": "/run/appliance/control.sock",
    "leap_file": "/usr/share/zoneinfo/leap-seconds.list",
}
EXPLICIT_IMPLIES = {
    "chronyc": "chrony",
    "chronyc_socket": "chrony",
    "timedatectl": "timedatectl",
    "rtc_file": "rtc",
    "pmc": "ptp",
    "ptp4l_socket": "ptp",
    "control_socket": "appliance",
    "leap_file": "leap-seconds",
}
EVIDENCE_WIDTH = 160


def register(sub) -> None:
    p = sub.add_parser(
        "diagnose",
        help="check this node's time: chrony, kernel, RTC, PTP, the appliance; a verdict per check with the next step",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="the whole report as JSON (chrony's values keep chrony's names); errors as JSON too",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also print each check's evidence")
    p.add_argument(
        "--threshold",
        type=duration(),
        default="50ms",
        metavar="DURATION",
        help="offset limit for the verdicts and the drift trend (default 50ms, the seed's control-plane "
        "alert; 200ms on workers)",
    )
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="NAME",
        choices=EXPECT_NAMES,
        help="fail (rather than skip) when this one is absent: " + ", ".join(EXPECT_NAMES) + " (repeatable)",
    )
    src = p.add_argument_group("where to look (an explicit path implies --expect for its component)")
    src.add_argument("--chronyc", metavar="PATH", help=f"chronyc to run (default {DEFAULTS['chronyc']}, from PATH)")
    src.add_argument(
        "--chronyc-socket",
        metavar="PATH",
        help="chronyd's command socket, for chronyc -h (default chronyc's own: /run/chrony/chronyd.sock, then UDP 323)",
    )
    src.add_argument("--timedatectl", metavar="PATH", help="timedatectl to run (default timedatectl, from PATH)")
    src.add_argument("--rtc-file", metavar="PATH", help=f"the RTC's procfs file (default {DEFAULTS['rtc_file']})")
    src.add_argument("--pmc", metavar="PATH", help="linuxptp's pmc to run (default pmc, from PATH)")
    src.add_argument("--ptp4l-socket", metavar="PATH", help=f"ptp4l's uds_address (default {DEFAULTS['ptp4l_socket']})")
    src.add_argument(
        "--ptp-domain", type=int, metavar="N", help="PTP domain number (default ptp.domain of --config, or 24)"
    )
    src.add_argument(
        "--control-socket",
        metavar="PATH",
        help=f"the appliance's control socket (default {DEFAULTS['control_socket']})",
    )
    src.add_argument(
        "--leap-file",
        metavar="PATH",
        help=f"leap-seconds.list (default leap_seconds.file of --config, or {DEFAULTS['leap_file']})",
    )
    src.add_argument(
        "--config",
        metavar="FILE",
        help="the appliance's configuration: its control socket and PTP "
        "domain, and the appliance (and PTP, when ptp.enabled) are then expected",
    )
    src.add_argument(
        "--timeout",
        type=duration(),
        default="5s",
        metavar="DURATION",
        help="how long each tool (chronyc, timedatectl, pmc) may take before it is stopped",
    )
    rec = p.add_mutually_exclusive_group()
    rec.add_argument(
        "--save",
        metavar="DIR",
        help="also keep every raw output in DIR (created if its parent exists; to attach to a ticket)",
    )
    rec.add_argument("--replay", metavar="DIR", help="judge a directory saved with --save instead of this host")
    p.set_defaults(func=run)


def options(args):
    from ..diagnose.collect import Options
    from . import load_config

    opts = Options(timeout_s=args.timeout, expect=set(args.expect))
    for attr, value in DEFAULTS.items():
        setattr(opts, attr, value)
    if args.config:
        cfg = load_config(args.config)
        opts.control_socket = str(cfg.monitoring.control_socket)
        opts.ptp_domain = cfg.ptp.domain
        opts.leap_file = str(cfg.leap_seconds.file)
        opts.leap_warn_days = cfg.leap_seconds.warn_days
        opts.expect.add("appliance")
        if cfg.ptp.enabled:
            opts.expect.add("ptp")
    for attr, group in EXPLICIT_IMPLIES.items():
        value = getattr(args, attr)
        if value:
            setattr(opts, attr, value)
            opts.expect.add(group)
    if args.ptp_domain is not None:
        opts.ptp_domain = args.ptp_domain
    return opts


def run(args) -> int:
    from ..core.diagnose.diagnosis import evaluate
    from ..core.diagnose.report import Limits
    from ..diagnose import collect

    opts = options(args)
    if args.replay:
        try:
            raw, collected_at, _ = collect.load(args.replay)
        except collect.BundleError as exc:
            raise CommandError(f"--replay {exc}") from None
        raw = collect.mark_expected(raw, opts.expect)
    else:
        if args.save:
            output_dir("--save", args.save)
        raw, collected_at = collect.gather(opts)
    if args.save:
        try:
            collect.save(args.save, raw, collected_at)
        except OSError as exc:
            raise CommandError(f"--save {args.save}: {exc.strerror or exc}", EXIT_FAIL) from None
    report = evaluate(raw, collected_at, Limits(offset_s=args.threshold, leap_warn_days=opts.leap_warn_days))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(render(report, verbose=args.verbose))
    return report.exit_code


def _evidence(key: str, value, pad: str) -> list[str]:
    """One evidence item, whole: on one line when short, else one line per element (never cut)."""
    text = json.dumps(value, default=str)
    if len(text) <= EVIDENCE_WIDTH or not isinstance(value, (list, dict)) or not value:
        return [f"{pad}{key}: {text}"]
    items = value.items() if isinstance(value, dict) else enumerate(value)
    lines = [f"{pad}{key}:"]
    for k, v in items:
        lines.append(f"{pad}  {k}: {json.dumps(v, default=str)}")
    return lines


def render(report, verbose: bool = False) -> str:
    from ..core.diagnose.drift_checks import describe_rate
    from ..core.diagnose.report import fmt_duration, fmt_s

    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.collected_at_s))
    lines = [f"appliance diagnose: {report.worst.value.upper()} (exit {report.exit_code}), collected {when}", ""]
    width = max(len(c.name) for c in report.checks)
    for c in report.checks:
        lines.append(f"  {c.verdict.value.upper():<5} {c.name:<{width}}  {c.summary}")
        pad = " " * (width + 10)
        if c.next_step and c.verdict.value not in ("ok", "skip"):
            lines.append(f"{pad}next: {c.next_step}")
        if verbose and c.evidence:
            for k, v in c.evidence.items():
                lines += _evidence(k, v, pad)
    if report.trends:
        lines += ["", "drift trend (at the current rate):"]
        for t in report.trends:
            worst = (
                ""
                if t.worst_case_crossing_in_s is None or not t.measurable
                else f" (worst case {fmt_duration(t.worst_case_crossing_in_s)})"
            )
            lines.append(f"  {t.source}: now {fmt_s(t.value_s)}, rate {describe_rate(t)}{worst}")
    return "\n".join(lines)
