"""What every command shares, checked over the whole parser (so a new command is covered too): help
text with defaults, one duration syntax, --log-level after the command, errors as JSON under --json,
exit 3 for bad usage; and the man page and the bash completion, generated from the same parser."""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance import __version__
from appliance.cli import build_parser, help_with_default, main
from appliance.clidoc import bash, manpage, options, walk

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures"


def cli(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "appliance", *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=60, **kw
    )


def commands():
    return walk(build_parser())


def leaves():
    return [c for c in commands() if not c.children]


def by_name():
    return {c.name: c for c in commands()}


def test_top_level_help_is_a_description_not_a_docstring():
    r = cli("--help")
    assert r.returncode == 0
    assert "Each command lives in" not in r.stdout and "air-gapped Kubernetes / Harvester cluster" in r.stdout
    assert "exit status (every command)" in r.stdout and "3  UNKNOWN" in r.stdout and "500ms" in r.stdout


def test_every_option_has_help_and_says_its_default():
    for cmd in commands():
        assert cmd.parser.description, cmd.name
        for a in options(cmd.parser):
            if isinstance(a, argparse._VersionAction):
                continue
            assert a.help and len(a.help) > 8, (cmd.name, a.option_strings)
            text = help_with_default(a)
            if a.default not in (None, False, [], argparse.SUPPRESS):
                assert "default" in text.lower(), (cmd.name, a.option_strings, text)


def test_every_command_has_an_exit_status_in_its_help():
    for cmd in leaves():
        assert "exit status" in (cmd.parser.epilog or ""), cmd.name


def test_every_duration_option_takes_the_one_syntax():
    found = []
    for cmd in leaves():
        for a in options(cmd.parser):
            if getattr(a.type, "__name__", "") == "duration":
                found.append((cmd.name, a.option_strings[0]))
                assert a.metavar == "DURATION", (cmd.name, a.option_strings)
                with pytest.raises(argparse.ArgumentTypeError, match="has no unit"):
                    a.type("5")
                assert a.type("1500ms") == 1.5
    names = {f"{c} {o}" for c, o in found}
    for expected in (
        "appliance diagnose --threshold",
        "appliance diagnose --timeout",
        "appliance query --timeout",
        "appliance sim inject --step",
        "appliance model simulate --duration",
        "appliance demo --duration",
        "appliance model simulate --interval",
    ):
        assert expected in names, expected


def test_sim_inject_step_is_signed():
    step = next(a for a in options(by_name()["appliance sim inject"].parser) if "--step" in a.option_strings)
    assert step.type("-2s") == -2.0 and step.type("500ms") == 0.5
    p = build_parser()
    assert p.parse_args(["sim", "inject", "--control-socket", "x", "--step=-2s"]).step == -2.0


def test_one_flag_per_meaning():
    cmds = by_name()
    for name in (
        "serve",
        "status",
        "diagnose",
        "config check",
        "config render ptp",
        "config render clients",
        "sim inject",
    ):
        opts = {s for a in options(cmds[f"appliance {name}"].parser) for s in a.option_strings}
        assert "--config" in opts, name
    for name in (
        "query",
        "status",
        "discover",
        "diagnose",
        "config check",
        "model fit",
        "model simulate",
        "lab run",
        "lab report",
        "lab compare",
        "sim inject",
    ):
        opts = {s for a in options(cmds[f"appliance {name}"].parser) for s in a.option_strings}
        assert "--json" in opts, name
    for name in ("model fit", "config render clients", "model predict", "model adev", "man"):
        opts = {s for a in options(cmds[f"appliance {name}"].parser) for s in a.option_strings}
        assert {"--output", "-o"} <= opts, name
    for name in ("config render ptp", "lab run", "lab report"):
        opts = {s for a in options(cmds[f"appliance {name}"].parser) for s in a.option_strings}
        assert "--out-dir" in opts and "--out" in opts, name  # the old spelling stays an alias
    assert build_parser().parse_args(["model", "fit", "--samples", "s", "--out", "m"]).output == "m"


def test_global_options_after_the_subcommand(tmp_path):
    r = cli("diagnose", "--replay", FIX / "diagnose" / "worker-timesyncd", "--log-level", "debug")
    assert r.returncode == 0, r.stderr
    r = cli("config", "check", REPO / "examples" / "sim.yaml", "--log-level", "warning")
    assert r.returncode == 0, r.stderr
    assert build_parser().parse_args(["status", "--log-level", "error"]).log_level == "error"
    assert build_parser().parse_args(["--log-level", "debug", "status"]).log_level == "debug"
    assert build_parser().parse_args(["status"]).log_level == "info"


def test_bad_usage_is_exit_3_with_the_flag_named():
    r = cli("query", "--timeout", "-1", "127.0.0.1")
    assert r.returncode == 3 and "argument --timeout" in r.stderr and "Timeout value out of range" not in r.stderr
    r = cli("query", "127.0.0.1:abc")
    assert r.returncode == 3 and "port 'abc' in '127.0.0.1:abc' is not a number" in r.stderr
    assert "invalid literal" not in r.stderr
    assert cli("nosuchcommand").returncode == 3
    assert main(["diagnose", "--threshold", "soon"]) == 3


def test_errors_are_json_under_json(tmp_path):
    r = cli("status", "--json", "--control-socket", tmp_path / "none.sock")
    err = json.loads(r.stdout)
    assert r.returncode == 2 and err["exit_code"] == 2 and err["command"] == "appliance status"
    assert "no appliance is running" in err["error"] and not r.stderr
    r = cli("diagnose", "--json", "--threshold", "5")
    err = json.loads(r.stdout)
    assert r.returncode == 3 and "has no unit" in err["error"] and "usage" in err
    r = cli("query", "--json", "nonexistent.invalid", "--timeout", "200ms")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: {name: a}\ntimesync: {threshold: 500}\n")
    r = cli("status", "--json", "--config", bad)
    err = json.loads(r.stdout)
    assert r.returncode == 3 and "has no unit" in err["problems"][0]


def test_query_prints_ipv6_with_brackets():
    r = cli("query", "[::1]:9", "--timeout", "200ms")
    assert r.returncode == 2 and "[::1]:9" in r.stderr and "::1:9" not in r.stderr.replace("[::1]:9", "")


# --- the man page and the completion ---------------------------------------------------------


def test_man_page_is_generated_from_the_parser():
    parser = build_parser()
    page = manpage.render(parser, __version__)
    assert page.startswith(".TH APPLIANCE 1")
    for cmd in walk(parser)[1:]:
        assert f'.SS "{manpage._esc(cmd.name)}"' in page, cmd.name
        for a in options(cmd.parser):
            if "--log-level" not in a.option_strings:
                assert manpage._esc(a.option_strings[-1]) in page, (cmd.name, a.option_strings)
    assert '.SH "EXIT STATUS"' in page and "UNKNOWN" in page
    # a command added to the parser appears without anyone writing it into the page
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    extra = sub.add_parser("frobnicate", help="a command that does not exist", description="Frobnicate.")
    extra.add_argument("--widget-count", type=int, default=3, help="how many widgets")
    page = manpage.render(parser, __version__)
    assert '.SS "appliance frobnicate"' in page and "\\-\\-widget\\-count" in page and "(default: 3)" in page


def test_man_command_and_its_output_file(tmp_path):
    r = cli("man")
    assert r.returncode == 0 and r.stdout.startswith(".TH APPLIANCE 1")
    r = cli("man", "-o", tmp_path / "appliance.1")
    assert r.returncode == 0 and (tmp_path / "appliance.1").read_text().startswith(".TH")
    r = cli("man", "-o", tmp_path / "no" / "appliance.1")
    assert r.returncode == 3 and not (tmp_path / "no").exists()


@pytest.mark.skipif(not shutil.which("groff"), reason="groff not installed")
def test_man_page_is_valid_roff():
    r = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z"], input=cli("man").stdout, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def complete(script: str, words: list[str]) -> list[str]:
    """COMPREPLY for `appliance WORDS...` (the last word is being completed)."""
    line = " ".join(["appliance", *words])
    prog = (
        f"{script}\nCOMP_WORDS=(appliance {' '.join(repr(w) if w else repr('') for w in words)})\n"
        f"COMP_CWORD={len(words)}\nCOMP_LINE={line!r}\n_appliance\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    )
    r = subprocess.run(
        ["bash", "--norc", "--noprofile"], input=prog, capture_output=True, text=True, timeout=30, cwd=REPO
    )
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


@pytest.mark.skipif(not shutil.which("bash"), reason="bash not installed")
def test_bash_completion_is_generated_from_the_parser():
    parser = build_parser()
    script = bash.render(parser)
    assert set(complete(script, [""])) == {c.path[0] for c in walk(parser)[1:] if len(c.path) == 1}
    assert complete(script, ["diag"]) == ["diagnose"]
    assert "--threshold" in complete(script, ["diagnose", "--thr"])
    assert set(complete(script, ["diagnose", "--expect", ""])) == {
        "chrony",
        "timedatectl",
        "rtc",
        "adjtimex",
        "ptp",
        "appliance",
        "leap-seconds",
    }
    assert complete(script, ["config", "render", ""]) == ["ptp", "clients"]
    assert complete(script, ["config", "render", "clients", "--format", "t"]) == ["timesyncd"]
    assert complete(script, ["serve", "--config", "exa"]) == ["examples"]  # a file option completes paths
    assert complete(script, ["serve", "--config", "examples/sim."]) == ["examples/sim.yaml"]
    assert complete(script, ["--log-level", "de"]) == ["debug"]
    # a new command is completed without anyone adding it
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.add_parser("frobnicate", help="x").add_argument("--widget-count", help="how many")
    script = bash.render(parser)
    assert complete(script, ["frob"]) == ["frobnicate"] and complete(script, ["frobnicate", "--w"]) == [
        "--widget-count"
    ]


def test_completion_command():
    r = cli("completion", "bash")
    assert r.returncode == 0 and "complete -F _appliance appliance" in r.stdout
    assert cli("completion", "fish").returncode == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["discover", "--nics", "/bin/ls"], "not a text file"),
        (["discover", "--nics", "{tmp}/none.yaml"], "does not exist"),
        (["lab", "compare", "/bin/ls"], "not a text file"),
        (["model", "fit", "--samples", "/bin/ls", "-o", "{tmp}/m.json"], "not a text file"),
        (["model", "predict", "--model", "/bin/ls", "--temps", "/bin/ls"], "not a text file"),
        (["config", "check", "/bin/ls"], "not a text file"),
        (["query", "[::1"], "expected [IPv6 address]:PORT"),
        (["diagnose", "--replay", "/bin/ls"], "is a file, not a directory"),
        (["sim", "inject", "--config", "{tmp}/none.yaml", "--freq", "1"], "cannot read: the file does not exist"),
    ],
)
def test_no_message_leaks_python(tmp_path, args, message):
    r = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    said = r.stderr + r.stdout  # config check reports on stdout
    assert r.returncode == 3 and message in said, said
    for leak in ("Traceback", "Errno", "codec can't decode", "NoneType", "invalid literal", "Expecting value"):
        assert leak not in said, (leak, said)
