"""appliance(1), in roff, generated from the parser: every command with its usage, description,
options (help, default, unit) and epilog, then the exit status. ``appliance man`` prints it;
``make man`` writes dist/appliance.1 for the bundle."""

from __future__ import annotations

import argparse
import re

from . import Command, options, positionals, walk


def _esc(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    """Roff for a description or epilog: prose paragraphs filled, indented blocks kept as written."""
    out = []
    for para in re.split(r"\n\s*\n", (text or "").strip("\n")):
        if not para.strip():
            continue
        if para.startswith(" ") or "\n " in para:
            out += [".PP", ".nf", _esc(para), ".fi"]
        else:
            out += [".PP", _esc(" ".join(para.split()))]
    return out


def _option(action: argparse.Action) -> list[str]:
    from ..cli import help_with_default

    names = ", ".join(f"\\fB{_esc(s)}\\fR" for s in action.option_strings)
    if action.nargs != 0:
        meta = action.metavar or (
            ("{" + ",".join(map(str, action.choices)) + "}") if action.choices else action.dest.upper()
        )
        names += f" \\fI{_esc(str(meta))}\\fR"
    text = help_with_default(action)
    try:
        text = text % {**vars(action), "default": action.default, "prog": "appliance"}
    except (KeyError, TypeError, ValueError):
        pass
    if action.choices and "one of" not in text:
        text += f" (one of: {', '.join(map(str, action.choices))})"
    return [".TP", names, _esc(text)]


def _command(cmd: Command) -> list[str]:
    p = cmd.parser
    usage = " ".join(p.format_usage().replace("usage:", "", 1).split())
    lines = [f'.SS "{_esc(cmd.name)}"', ".nf", _esc(usage), ".fi"]
    lines += _paragraphs(p.description or cmd.help)
    pos = positionals(p)
    if pos:
        for a in pos:
            lines += [".TP", f"\\fI{_esc(str(a.metavar or a.dest))}\\fR", _esc(a.help or "")]
    opts = [a for a in options(p) if "--log-level" not in a.option_strings]
    if opts:
        lines += [".PP", "Options:"]
        for a in opts:
            lines += _option(a)
    if p.epilog and not p.epilog.startswith("exit status: 0 OK, 1 WARN"):
        lines += _paragraphs(p.epilog)
    return lines


def render(parser: argparse.ArgumentParser, version: str) -> str:
    from ..cli import EXIT_EPILOG

    commands = walk(parser)
    root = commands[0]
    lines = [
        f'.TH APPLIANCE 1 "" "appliance {_esc(version)}" "User Commands"',
        ".SH NAME",
        "appliance \\- time appliance for air\\-gapped Kubernetes/Harvester clusters "
        "(PTP hardware clock, holdover model, stratum\\-1 NTP)",
        ".SH SYNOPSIS",
        ".B appliance",
        "[\\fB\\-\\-log\\-level\\fR \\fILEVEL\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".SH DESCRIPTION",
        *_paragraphs(root.parser.description or ""),
        ".PP",
        "Every command accepts \\fB\\-h\\fR/\\fB\\-\\-help\\fR and \\fB\\-\\-log\\-level\\fR "
        "(debug, info, warning, error; also after the command).",
        ".SH COMMANDS",
    ]
    for cmd in commands[1:]:
        lines += _command(cmd)
    exit_text, _, durations = EXIT_EPILOG.partition("\n\ndurations")
    lines += [
        '.SH "EXIT STATUS"',
        *_paragraphs(exit_text.split("\n", 1)[1]),
        ".SH DURATIONS",
        *_paragraphs("durations" + durations),
        ".SH FILES",
        ".TP",
        "\\fI/etc/appliance/appliance.yaml\\fR",
        "the configuration (examples/ in the source)",
        ".TP",
        "\\fI/run/appliance/control.sock\\fR",
        "the control socket of a running appliance",
        '.SH "SEE ALSO"',
        "chronyc(1), chronyd(8), ptp4l(8), pmc(8), phc2sys(8), ts2phc(8), timedatectl(1), systemd\\-timesyncd(8)",
    ]
    return "\n".join(lines) + "\n"
