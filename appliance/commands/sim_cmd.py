"""appliance sim inject --control-socket PATH (--step SECONDS | --freq PPM | --stop-reference | --start-reference)"""

from __future__ import annotations

import json
import math
import sys


def _number(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser("sim", help="simulated nodes: fault injection")
    ssub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    ssub.required = True
    i = ssub.add_parser(
        "inject",
        help="inject a fault into a running simulated node",
        description="Inject a fault into a running simulated node through its control socket. "
        "--step steps its simulated PHC (a fault: the appliance does not know it happened; with its "
        "reference running, the discipline sees it too; stop the reference first to leave it to the "
        "cluster's vote). --freq sets an extra oscillator frequency error (0 clears it). "
        "--stop-reference / --start-reference take its simulated reference (GNSS / upstream "
        "grandmaster) away and back.",
    )
    i.add_argument("--control-socket", required=True, metavar="PATH")
    what = i.add_mutually_exclusive_group(required=True)
    what.add_argument("--step", type=_number, metavar="SECONDS", help="step the clock by SECONDS (+ ahead, - back)")
    what.add_argument("--freq", type=_number, metavar="PPM", help="oscillator frequency error in ppm (+ fast)")
    what.add_argument("--stop-reference", action="store_true", help="the simulated reference goes away")
    what.add_argument("--start-reference", action="store_true", help="the simulated reference comes back")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=inject)


def inject(args) -> int:
    from ..control_socket import ControlError, request

    fault: dict = {}
    if args.step is not None:
        fault["step_s"] = args.step
    elif args.freq is not None:
        fault["freq_ppm"] = args.freq
    elif args.stop_reference:
        fault["reference"] = "stop"
    else:
        fault["reference"] = "start"
    try:
        reply = request(args.control_socket, "inject", **fault)
    except ControlError as exc:
        print(f"appliance sim inject: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        print(f"{reply['node']}: " + ", ".join(f"{k} {v}" for k, v in reply["applied"].items()))
    return 0
