"""appliance discover [--json] [--record FILE | --replay FILE] [--expect-ptp]

What timing hardware this machine has and what each interface can do for PTP: its PHC, hardware
TX/RX timestamping, maximum frequency adjustment, pins, nearest temperature sensor and a verdict
(can be grandmaster / can follow / software timestamping only / unusable) with the reason.
Read-only: nothing is adjusted. Without root the PHC capabilities that need an ioctl (cross-timestamping)
are reported as unknown.
"""

from __future__ import annotations

import json
import os

from .common import EXIT_FAIL, EXIT_OK, EXIT_WARN, CommandError, output_file, write_error

DESCRIPTION = """\
What timing hardware this machine has and what each interface can do for PTP: one row per interface \
with its PHC, hardware TX/RX timestamping, maximum frequency adjustment, pins, the nearest \
temperature sensor and a verdict (can be grandmaster / can follow / software timestamping only / \
unusable) with the reason; then the PHCs, temperature sources, RTCs, PPS sources and GNSS receivers. \
Read-only (pyudev, sysfs, ETHTOOL_GET_TS_INFO, PTP_CLOCK_GETCAPS); run as root to see \
cross-timestamping. --record FILE saves what it saw; --replay FILE discovers from such a recording."""

EPILOG = """\
exit status: 0 reported (with --expect-ptp: an interface can be grandmaster), 1 with --expect-ptp:
an interface can only follow, 2 with --expect-ptp: no interface can do hardware PTP (or --record
cannot be written), 3 bad usage or a --replay/--nics file that cannot be read.

examples:
  appliance discover
  appliance discover --expect-ptp --json > /dev/null || echo "this node cannot serve PTP"
  appliance discover --record /tmp/node-a.yaml       (attach to a ticket; replay elsewhere)"""


def register(sub) -> None:
    p = sub.add_parser(
        "discover",
        help="list PHCs, NICs, timestamping, sensors and a verdict per interface",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output; errors as JSON too")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--record", metavar="FILE", help="also write what was found (a recording) to FILE; its directory must exist"
    )
    g.add_argument("--replay", metavar="FILE", help="discover from a recording instead of this machine")
    p.add_argument(
        "--expect-ptp",
        action="store_true",
        help="judge the result for scripts: exit 0 when an interface can be grandmaster, 1 when one "
        "can only follow, 2 when none can do hardware PTP",
    )
    p.add_argument("--nics", metavar="FILE", help="NIC family data (default: hardware/nics.yaml)")
    p.set_defaults(func=run)


def expect_ptp_code(inv) -> int:
    s = inv.summary()
    return EXIT_OK if s["grandmaster"] else EXIT_WARN if s["follow"] else EXIT_FAIL


def run(args) -> int:
    from ..hw import discovery, nicdb

    try:
        families = nicdb.load(args.nics) if args.nics else nicdb.load()
    except nicdb.NicDbError as exc:
        raise CommandError(str(exc)) from None
    record = output_file("--record", args.record) if args.record else None
    try:
        snap = discovery.load_snapshot(args.replay) if args.replay else discovery.collect_live()
    except discovery.DiscoveryError as exc:
        raise CommandError(f"--replay {exc}" if args.replay else str(exc)) from None
    except (OSError, ImportError) as exc:
        raise CommandError(f"cannot read this machine's devices: {exc}", EXIT_FAIL) from None
    try:
        inv = discovery.build_inventory(snap, families)
    except (TypeError, AttributeError, KeyError, ValueError):
        if not args.replay:
            raise
        # a hand-edited recording with a value of the wrong kind: say which file, not where it broke
        raise CommandError(
            f"--replay {args.replay}: not a discovery recording: a record holds a value of the "
            "wrong kind (compare it with a file `appliance discover --record FILE` writes)"
        ) from None
    if args.replay:
        inv.origin = f"the machine recorded in {args.replay}"
    if record is not None:
        try:
            discovery.save_snapshot(snap, record)
        except OSError as exc:
            raise CommandError(write_error(args.record, exc), EXIT_FAIL) from None
    code = expect_ptp_code(inv) if args.expect_ptp else EXIT_OK
    if args.json:
        out = inv.to_dict()
        if args.expect_ptp:
            out["exit_code"] = code
        print(json.dumps(out, indent=2))
    else:
        print(render(inv, replay=args.replay))
    return code


def _adj(ppb) -> str:
    if ppb is None:
        return "-"
    ppm = ppb / 1000.0
    return f"{ppm:.0f} ppm" if ppm >= 100 else f"{ppm:.1f} ppm"


def _temp(t) -> str:
    return "-" if t is None else f"{t:.1f} degC"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]


def render(inv, replay: str | None = None) -> str:
    src = inv.source or {}
    where = (
        f"recording {src.get('description') or src.get('kind', '')}".strip()
        if src.get("kind") != "live"
        else f"{src.get('host', '?')} (kernel {src.get('kernel', '?')})"
    )
    if replay:
        where = f"{where}, as recorded in {replay}"
    lines = [f"Timing hardware of {where}", ""]
    phcs = {p.name: p for p in inv.phcs}
    rows = [["INTERFACE", "DRIVER", "PHC", "HW-TX", "HW-RX", "MAX-ADJ", "PINS", "TEMPERATURE", "VERDICT"]]
    for i in inv.interfaces:
        ts = i.timestamping or {}
        p = phcs.get(i.phc) if i.phc else None
        sensor = "-"
        if i.sensor:
            sensor = f"{i.sensor_name} ({i.sensor_distance}) {_temp(i.temp_c)}"
        rows.append(
            [
                i.name,
                i.driver or "-",
                i.phc or "-",
                "yes" if ts.get("hardware_transmit") else "no",
                "yes" if ts.get("hardware_receive") else "no",
                _adj(p.max_adj_ppb) if p else "-",
                str(p.n_pins) if p else "-",
                sensor,
                i.verdict,
            ]
        )
    lines += _table(rows)
    lines += ["", "Why:"]
    width = max((len(i.name) for i in inv.interfaces), default=4)
    for i in inv.interfaces:
        lines.append(f"  {i.name.ljust(width)}  {'; '.join(i.reasons)}")
        for n in i.notes:
            lines.append(f"  {''.ljust(width)}    - {n}")
    lines.append("")
    if inv.phcs:
        lines.append("PTP hardware clocks:")
        for p in inv.phcs:
            cross = {True: "yes", False: "no", None: "unknown"}[p.cross_timestamping]
            pins = ", ".join(x.get("name", "?") for x in p.pins) or "none"
            lines.append(
                f"  {p.name} {p.devnode}  driver {p.driver or '?'}  clock_name {p.clock_name or '?'}  "
                f"max_adj {_adj(p.max_adj_ppb)}  cross-timestamping {cross}  pps {'yes' if p.pps else 'no'}"
            )
            lines.append(
                f"      pins: {pins}; interfaces: {', '.join(p.interfaces) or 'none'}"
                + (f"; PCI {p.pci_address}" if p.pci_address else "; no PCI parent")
            )
    else:
        lines.append("PTP hardware clocks: none (no /dev/ptp*)")
    if inv.temperature_sources:
        lines.append("Temperature sources:")
        for t in inv.temperature_sources:
            where_t = f"PCI {t.pci_address}" if t.pci_address else t.kind
            lines.append(
                f"  {t.id:<18} {t.name:<14} {_temp(t.temp_c):>11}  {where_t}" + (f" [{t.label}]" if t.label else "")
            )
    else:
        lines.append("Temperature sources: none")
    lines.append(
        "RTCs: "
        + (
            ", ".join(
                f"{r['name']} ({r['driver_name'] or '?'}"
                + (", sets the system time at boot" if r["hctosys"] else "")
                + ")"
                for r in inv.rtcs
            )
            or "none"
        )
    )
    lines.append(
        "PPS sources: "
        + (
            ", ".join(f"{p['devnode'] or p['name']} from {p['source'] or '?'} ({p['origin']})" for p in inv.pps)
            or "none"
        )
    )
    gnss = [g for g in inv.gnss if g["identified"]]
    other = [g for g in inv.gnss if not g["identified"]]
    lines.append(
        "GNSS receivers: "
        + (", ".join(f"{g['devnode']} ({g.get('vendor') or g.get('type') or g['kind']})" for g in gnss) or "none")
    )
    if gnss:  # a connected site's reference: the receiver's NMEA port, its PPS on a PHC pin
        lines.append(
            f"  use it: reference.gnss {{source: nmea, nmea_serialport: {gnss[0]['devnode']}, pin_index: N}} "
            "(its PPS wired to pin N of clock.interface's PHC; ts2phc runs under the appliance)"
        )
    if other:
        lines.append(
            "  unidentified USB serial devices (could be receivers): "
            + ", ".join(f"{g['devnode']} {g['usb_id']}" for g in other)
        )
    if inv.problems:
        lines.append("Problems:")
        lines += [f"  {p}" for p in inv.problems]
    if not replay and inv.phcs and os.geteuid() != 0 and any(p.caps_error for p in inv.phcs):
        lines.append("  (run as root to read PHC capabilities such as cross-timestamping)")
    lines += ["", "Summary: " + inv.summary()["text"]]
    return "\n".join(lines)
