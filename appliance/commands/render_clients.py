"""appliance config render clients [--format chrony|timesyncd|harvester] --config FILE [--output PATH]"""

from __future__ import annotations

import os
import sys
import tempfile

from . import load_config


def register_render(rsub) -> None:
    p = rsub.add_parser(
        "clients",
        help="chrony.conf / timesyncd.conf / Harvester ntp-servers Setting for the cluster's other nodes",
    )
    p.add_argument("--format", choices=["chrony", "timesyncd", "harvester"],
                   help="what to write (default: timesync.mode of the config)")
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--output", "-o", metavar="PATH", help="write here instead of standard output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..render.clients import RenderError, render_clients

    cfg = load_config(args.config)
    if cfg is None:
        return 2
    try:
        text = render_clients(cfg, args.format, source=os.path.basename(args.config))
    except RenderError as exc:
        print(f"appliance config render clients: {exc}", file=sys.stderr)
        return 2
    if not cfg.timesync.enabled:
        print(f"appliance config render clients: note: timesync.enabled is false in {args.config}", file=sys.stderr)
    if not args.output:
        sys.stdout.write(text)
        return 0
    target = os.path.abspath(args.output)
    try:  # all or nothing: a half-written chrony.conf is worse than none
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".render-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        print(f"appliance config render clients: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0
