"""appliance config render clients [--format chrony|timesyncd|harvester] --config FILE [--output PATH]"""

from __future__ import annotations

import os
import sys
import tempfile

from . import load_config
from .common import EXIT_FAIL, CommandError, output_file, write_error

DESCRIPTION = """\
The time configuration of the cluster's other nodes: a chrony.conf (workers with chrony), a \
timesyncd.conf (systemd-timesyncd), or Harvester's ntp-servers Setting. The servers are \
timesync.servers, else the control nodes in designated order (with the port each serves on); \
timesync.threshold becomes the largest root distance a client accepts (chrony's maxdistance, \
timesyncd's RootDistanceMaxSec)."""

EPILOG = """\
exit status: 0 written, 2 the configuration cannot be rendered in this format (timesyncd and
Harvester speak to port 123 only; no servers) or PATH cannot be written, 3 bad usage or a
configuration with problems.

examples:
  appliance config render clients --config /etc/appliance/appliance.yaml
  appliance config render clients --format timesyncd --config site.yaml -o /tmp/timesyncd.conf"""


def register_render(rsub) -> None:
    p = rsub.add_parser(
        "clients",
        help="chrony.conf / timesyncd.conf / Harvester ntp-servers Setting for the cluster's other nodes",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    p.add_argument(
        "--format",
        choices=["chrony", "timesyncd", "harvester"],
        help="what to write: chrony, timesyncd or harvester (default: timesync.mode of the config)",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the appliance's configuration")
    p.add_argument(
        "--output",
        "-o",
        "--out",
        dest="output",
        metavar="FILE",
        help="write here (atomically) instead of standard output; its directory must exist",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..render.clients import RenderError, render_clients

    cfg = load_config(args.config)
    target = output_file("--output", args.output) if args.output else None
    try:
        text = render_clients(cfg, args.format, source=os.path.basename(args.config))
    except RenderError as exc:
        raise CommandError(str(exc), EXIT_FAIL) from None
    if not cfg.timesync.enabled:
        print(f"appliance config render clients: note: timesync.enabled is false in {args.config}", file=sys.stderr)
    if target is None:
        sys.stdout.write(text)
        return 0
    path = os.path.abspath(target)
    try:  # all or nothing: a half-written chrony.conf is worse than none
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".render-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise CommandError(write_error(args.output, exc), EXIT_FAIL) from None
    return 0
