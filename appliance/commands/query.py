"""appliance query HOST[:PORT] [--json] [--timeout DURATION]"""

from __future__ import annotations

import json

from .common import EXIT_FAIL, CommandError, duration

DESCRIPTION = """\
Send one NTP client request to a server and print what it answered: the offset of this host's clock \
to it (local - server), the round-trip delay, stratum, leap indicator, reference ID, root delay and \
root dispersion, with chrony's names for the fields. Sets nothing."""

EPILOG = """\
exit status: 0 the server answered (whatever it said: check stratum and leap), 2 no answer or the
address could not be reached, 3 bad usage (HOST[:PORT], --timeout).

examples:
  appliance query 127.0.0.1:12300
  appliance query [::1]:12300 --json
  appliance query 10.0.0.10 --timeout 500ms"""


def register(sub) -> None:
    p = sub.add_parser(
        "query",
        help="query an NTP server once (offset, delay, stratum, leap, refid ...)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument(
        "target",
        metavar="HOST[:PORT]",
        help="the server: an IP address or host name, the port "
        "after a colon (default 123); IPv6 with a port in brackets: [::1]:12300",
    )
    p.add_argument(
        "--json", action="store_true", help="the answer as JSON (seconds, chrony's field names); errors as JSON too"
    )
    p.add_argument(
        "--timeout", type=duration(), default="2s", metavar="DURATION", help="how long to wait for the answer"
    )
    p.add_argument(
        "--ntp-version", type=int, default=4, choices=[1, 2, 3, 4], metavar="N", help="NTP version in the request: 1-4"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..addresses import parse_hostport
    from ..ntp.query import QueryError, query

    try:
        parse_hostport(args.target, default_port=123)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        r = query(args.target, timeout_s=args.timeout, version=args.ntp_version)
    except QueryError as exc:
        raise CommandError(str(exc), EXIT_FAIL) from None
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"server           : {r['server']}")
    print(f"offset           : {r['offset_s']:+.9f} s (local - server)")
    print(f"delay            : {r['delay_s']:.9f} s")
    print(f"stratum          : {r['stratum']}")
    print(f"leap             : {r['leap']} ({r['leap_status']})")
    print(f"refid            : {r['refid']}")
    print(f"root delay       : {r['root_delay_s']:.9f} s")
    print(f"root dispersion  : {r['root_dispersion_s']:.9f} s")
    return 0
