"""appliance query HOST[:PORT] [--json]"""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("query", help="query an NTP server once (offset, delay, stratum, leap, refid ...)")
    p.add_argument("target", metavar="HOST[:PORT]")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--ntp-version", type=int, default=4, choices=[1, 2, 3, 4])
    p.set_defaults(func=run)


def run(args) -> int:
    from ..ntp.query import QueryError, query

    try:
        r = query(args.target, timeout_s=args.timeout, version=args.ntp_version)
    except (QueryError, ValueError) as exc:
        print(f"appliance query: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"server           : {r['server']}")
    print(f"offset           : {r['offset_s']:+.9f} s")
    print(f"delay            : {r['delay_s']:.9f} s")
    print(f"stratum          : {r['stratum']}")
    print(f"leap             : {r['leap']} ({r['leap_status']})")
    print(f"refid            : {r['refid']}")
    print(f"root delay       : {r['root_delay_s']:.9f} s")
    print(f"root dispersion  : {r['root_dispersion_s']:.9f} s")
    return 0
