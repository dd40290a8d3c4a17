"""appliance bootstrap [--config FILE] [--operator-time T --operator-uncertainty D] [--cert GLOB ...]
[--peer HOST[:PORT] ...] [--non-interactive] [--json] [--apply [--apply-system]]

The initial UTC of a control node from all the evidence it can find (the RTC, the system clock and
its boot, the last-known-good, the build floor, the cluster's certificates, the other control
nodes over NTP, the operator), decided by appliance.core.bootstrap: a time with its uncertainty,
or a refusal naming the evidence in conflict. A dry run unless --apply. Exit 0 ok, 2 refused,
1 for anything else (a bad argument, an unreadable config, a clock that cannot be set).
"""

from __future__ import annotations

import json
import sys

DEFAULT_CONFIG = "/etc/appliance/config.yaml"
EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2


def register(sub) -> None:
    p = sub.add_parser(
        "bootstrap",
        help="establish this control node's initial time from the evidence it has "
        "(dry run unless --apply; exit 0 ok, 2 refused, 1 error)",
    )
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE", help=f"default {DEFAULT_CONFIG}")
    p.add_argument("--operator-time", metavar="T", help="the operator's UTC time, ISO 8601: 2026-12-02T06:30:00Z")
    p.add_argument(
        "--operator-uncertainty",
        metavar="D",
        help="how far the operator time may be off, a duration (5s); default bootstrap.operator_uncertainty_s",
    )
    p.add_argument(
        "--cert",
        action="append",
        default=[],
        metavar="GLOB",
        help="more certificates to read (repeatable), besides the rke2/k3s/kubeadm defaults",
    )
    p.add_argument(
        "--peer",
        action="append",
        metavar="HOST[:PORT]",
        help="another control node's appliance to ask (repeatable); default the configured control nodes",
    )
    p.add_argument("--non-interactive", action="store_true", help="never ask: refuse rather than ask the operator")
    p.add_argument(
        "--json",
        action="store_true",
        help="the decision and its evidence as JSON (decision, time_utc, uncertainty_s, reason, evidence)",
    )
    p.add_argument("--apply", action="store_true", help="set the clock the appliance serves from and record it")
    p.add_argument("--apply-system", action="store_true", help="with --apply: also set CLOCK_REALTIME")

    def error(message: str):  # the command's contract: 1 for a bad argument, 2 only for a refusal
        p.print_usage(sys.stderr)
        p.exit(EXIT_ERROR, f"appliance bootstrap: error: {message}\n")

    p.error = error
    p.set_defaults(func=run)


def _fail(msg: str) -> int:
    print(f"appliance bootstrap: {msg}", file=sys.stderr)
    return EXIT_ERROR


def _operator(args, cfg):
    from ..bootstrap.host import monotonic_ns
    from ..core.bootstrap.evidence import parse_iso_ns
    from ..durations import parse_duration_s

    if args.operator_time is None:
        if args.operator_uncertainty is not None:
            raise ValueError("--operator-uncertainty needs --operator-time")
        return None
    mono = monotonic_ns()
    t = parse_iso_ns(args.operator_time)
    u = cfg.bootstrap.operator_uncertainty_s
    if args.operator_uncertainty is not None:
        u = parse_duration_s(args.operator_uncertainty)
        if not u > 0:
            raise ValueError(f"--operator-uncertainty: expected a positive duration, got {args.operator_uncertainty!r}")
    return t, u, mono


def _peers(args):
    from ..addresses import parse_hostport

    if args.peer is None:
        return None
    for text in args.peer:
        parse_hostport(text, default_port=123)
    return [(text, text) for text in args.peer]


def run(args) -> int:
    from .. import config, leapfile
    from ..bootstrap.apply import ApplyError, apply
    from ..bootstrap.gather import gather
    from ..core.bootstrap.decide import decide

    if args.apply_system and not args.apply:
        return _fail("--apply-system needs --apply")
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        return _fail(f"{exc.source}: " + "; ".join(exc.problems))
    try:
        op = _operator(args, cfg)
        peers = _peers(args)
    except ValueError as exc:
        return _fail(str(exc))
    leap = leapfile.load(cfg)
    g = gather(cfg, extra_cert_globs=args.cert, peers=peers, operator=op, utc_offset_s=leap.utc_offset_s)
    decision = decide(g.items)
    interactive = op is None and not args.non_interactive and not args.json and sys.stdin.isatty()
    if interactive:
        print(render(decision, g.notes, dry_run=not args.apply))
        asked = ask(decision)
        if asked is not None:
            g = gather(cfg, extra_cert_globs=args.cert, peers=peers, operator=asked, utc_offset_s=leap.utc_offset_s)
            decision = decide(g.items)
        elif not decision.ok:
            return EXIT_REFUSED
    applied = None
    if decision.ok and args.apply:
        try:
            applied = apply(
                cfg, decision, g.mono_ns, leap.utc_offset_s, system=args.apply_system, operator=args.operator_time or ""
            )
        except ApplyError as exc:
            if args.json:
                print(json.dumps({**decision.as_dict(), "applied": None, "error": str(exc)}, indent=2))
            return _fail(str(exc))
    if args.json:
        out = {**decision.as_dict(), "dry_run": not args.apply, "applied": applied, "notes": g.notes}
        print(json.dumps(out, indent=2))
    else:
        print(render(decision, g.notes, dry_run=not args.apply, applied=applied))
    return EXIT_OK if decision.ok else EXIT_REFUSED


def ask(decision):
    """The operator's time, typed in (None: accept the proposal / give up)."""
    from ..bootstrap.host import monotonic_ns
    from ..core.bootstrap.evidence import parse_iso_ns
    from ..durations import parse_duration_s

    prompt = (
        "Accept? Enter to accept, or type the UTC time now (2026-12-02T06:30:00Z): "
        if decision.ok
        else "Refused. Type the UTC time now (2026-12-02T06:30:00Z), or Enter to give up: "
    )
    while True:
        try:
            text = input(prompt).strip()
        except EOFError:
            return None
        if not text:
            return None
        mono = monotonic_ns()
        try:
            t = parse_iso_ns(text)
            u = parse_duration_s(input("How far may it be off (e.g. 5s)? ").strip() or "10s")
            if u <= 0:
                raise ValueError("expected a positive duration")
        except (ValueError, EOFError) as exc:
            print(f"  {exc}")
            continue
        return t, u, mono


def render(decision, notes: list[str], dry_run: bool, applied: dict | None = None) -> str:
    from ..core.bootstrap.evidence import fmt_s, iso

    d = decision
    head = (
        f"appliance bootstrap: OK, {iso(d.time_ns)} +/- {fmt_s(d.uncertainty_s or 0.0)}"
        if d.ok
        else "appliance bootstrap: REFUSED"
    )
    rows = [("source", "kind", "time (UTC)", "+/-", "verdict", "detail")]
    for j in d.evidence:
        e = j.evidence
        u = fmt_s(e.uncertainty_s) if e.available and e.kind.value == "estimate" else ""
        detail = e.detail + (f"; {j.note}" if j.note else "")
        rows.append((e.source, e.kind.value, iso(e.time_ns) or "-", u, j.verdict, detail))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [head, ""]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=False)) + "  " + r[5])
    lines += ["", f"reason: {d.reason}"]
    lines += [f"warning: {w}" for w in d.warnings]
    lines += [f"note: {n}" for n in notes]
    if applied is not None:
        lines.append(
            f"applied: {applied['clock']} set to {applied['time_utc']}"
            + ("; CLOCK_REALTIME set too" if applied.get("system_set") else "")
            + "; recorded in the state directory (bootstrap.json, bootstrap-audit.jsonl)"
        )
    elif dry_run and d.ok:
        lines.append("dry run: nothing was set (--apply sets the clock the appliance serves from)")
    elif not d.ok:
        lines.append(
            "nothing was set; bring better evidence, or give the time with --operator-time T "
            "--operator-uncertainty D (README: Bootstrapping a new site)"
        )
    return "\n".join(lines)
