"""appliance sim inject --control-socket PATH (--step DURATION | --freq PPM | --stop-reference | --start-reference)"""

from __future__ import annotations

import json

from .common import EXIT_FAIL, CommandError, duration, number

DESCRIPTION = """\
Inject a fault into a running simulated node through its control socket. --step steps its simulated \
PHC (a fault: the appliance does not know it happened; with its reference running, the discipline \
sees it too; stop the reference first to leave it to the cluster's vote). --freq sets an extra \
oscillator frequency error (0 clears it). --stop-reference / --start-reference take its simulated \
reference (GNSS / upstream grandmaster) away and back."""

EPILOG = """\
exit status: 0 applied, 2 no appliance answers on the socket or it refused (not a simulated node),
3 bad usage.

examples:
  appliance sim inject --control-socket .state/sim-0/control.sock --stop-reference
  appliance sim inject --control-socket .state/sim-0/control.sock --step=-2s     (a negative value needs '=')
  appliance sim inject --config examples/sim.yaml --freq 50"""


def register(sub) -> None:
    p = sub.add_parser(
        "sim", help="simulated nodes: fault injection", description="Simulated nodes: inject faults into a running one."
    )
    ssub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    ssub.required = True
    i = ssub.add_parser(
        "inject", help="inject a fault into a running simulated node", description=DESCRIPTION, epilog=EPILOG
    )
    where = i.add_mutually_exclusive_group(required=True)
    where.add_argument("--control-socket", metavar="PATH", help="the node's control socket")
    where.add_argument("--config", metavar="FILE", help="take the control socket from this configuration")
    what = i.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--step",
        type=duration(positive=False, signed=True),
        metavar="DURATION",
        help="step the clock by DURATION: 2s ahead, --step=-500ms back",
    )
    what.add_argument(
        "--freq",
        type=number(unit="ppm"),
        metavar="PPM",
        help="extra oscillator frequency error in ppm (positive = runs fast; 0 clears it)",
    )
    what.add_argument("--stop-reference", action="store_true", help="the simulated reference goes away")
    what.add_argument("--start-reference", action="store_true", help="the simulated reference comes back")
    i.add_argument("--json", action="store_true", help="the node's reply as JSON; errors as JSON too")
    i.set_defaults(func=inject)


def inject(args) -> int:
    from ..control_socket import ControlError, request

    path = args.control_socket
    if path is None:
        from . import load_config

        path = str(load_config(args.config).monitoring.control_socket)
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
        reply = request(path, "inject", **fault)
    except ControlError as exc:
        raise CommandError(str(exc), EXIT_FAIL) from None
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        print(f"{reply['node']}: " + ", ".join(f"{k} {v}" for k, v in reply["applied"].items()))
    return 0
