"""One source flooding at full speed beside 50 well-behaved clients: the clients' loss with the
appliance beside chronyd's under the same flood, in the same run.

Each server rate-limits alike (one request per 0.25 s a client, burst 8: the appliance's
``ntp.ratelimit`` and chronyd's ``ratelimit interval -2 burst 8``). The flood comes from one
address (bench/ntpload, as fast as it can send, over 4 source ports); the 50 clients each have
their own address on another test host and ask once every 0.5 s, 1 s to answer
(tests/helpers/load_clients.py). Rounds alternate which server goes first. Prints per round the
flood's achieved rate, the clients' loss for each server, and the median of the per-round
differences. Needs root (test namespaces), chrony, gcc.

    .venv/bin/python bench/ntp_flood.py [--rounds 3] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from ntp_serve import BenchError, build_load_generator, check_environment, machine  # noqa: E402

from helpers.appliance_proc import ApplianceProc  # noqa: E402
from helpers.chrony import Chrony  # noqa: E402
from helpers.netns import TestNet  # noqa: E402

LOAD = str(REPO / "tests" / "helpers" / "load_clients.py")
CLIENTS = 50
INTERVAL_S = 0.25
BURST = 8
FULL_SPEED = 1_000_000  # requests/s asked of ntpload -f: more than it can send here, so it sends flat out


def appliance_config(path: Path, listen: str, workdir: Path) -> Path:
    cfg = yaml.safe_load((REPO / "examples" / "sim-ideal.yaml").read_text())
    cfg["ntp"]["listen"] = [listen]
    cfg["ntp"]["ratelimit"] = {"interval_s": INTERVAL_S, "burst": BURST, "kod": True}
    cfg["node"]["state_dir"] = str(workdir / "appliance-state")
    cfg["monitoring"]["control_socket"] = str(workdir / "appliance.sock")
    path.write_text(yaml.safe_dump(cfg))
    return path


def one_round(net, name: str, addr: str, exe: Path, addrs: list[str], seconds: float) -> dict:
    flood = net["flooder"].popen(
        [str(exe), "-a", addr, "-r", str(FULL_SPEED), "-d", str(seconds), "-s", "4", "-w", "500", "-f"]
    )
    rounds = int(seconds / 0.5)
    r = net["clients"].run(
        [sys.executable, LOAD, "polite", addr, "123", "0.5", str(rounds), *addrs], timeout=seconds + 60
    )
    if r.returncode != 0:
        raise BenchError(f"polite clients against {name} failed: {r.stderr}")
    polite = json.loads(r.stdout)
    out, _ = flood.communicate(timeout=seconds + 30)
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not lines:
        raise BenchError(f"ntpload against {name} printed no result: {out.decode()[-500:]}")
    f = json.loads(lines[-1])
    return {
        "server": name,
        "clients_sent": polite["sent"],
        "clients_answered": polite["answered"],
        "clients_loss": 1 - polite["answered"] / polite["sent"],
        "flood": f,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="flood duration per server and round")
    args = ap.parse_args(argv)
    try:
        check_environment()
        exe = build_load_generator()
    except BenchError as exc:
        print(f"ntp_flood: {exc}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    with (
        tempfile.TemporaryDirectory(prefix="ntp_flood-") as tmp,
        TestNet(["appliance", "chronyd", "flooder", "clients"]) as net,
    ):
        workdir = Path(tmp)
        workdir.chmod(0o755)
        addrs = [net.address(100 + i) for i in range(CLIENTS)]
        for a in addrs:
            net["clients"].run(["ip", "addr", "add", f"{a}/24", "dev", "eth0"], check=True)
        servers = {"appliance": net["appliance"].addr, "chronyd": net["chronyd"].addr}
        cfg = appliance_config(workdir / "appliance.yaml", f"{servers['appliance']}:123", workdir)
        app = ApplianceProc(cfg, host=net["appliance"]).start(wait_state="locked")
        chronyd = Chrony(
            net["chronyd"], workdir / "chronyd-server", ["local stratum 1", "allow", "ratelimit interval -2 burst 8"]
        ).start()
        results = []
        try:
            for i in range(args.rounds):
                order = ("appliance", "chronyd") if i % 2 == 0 else ("chronyd", "appliance")
                rnd = {}
                for name in order:
                    rnd[name] = one_round(net, name, servers[name], exe, addrs, args.seconds)
                    r = rnd[name]
                    print(
                        f"round {i + 1} {name:9s}: flood {r['flood']['send_rate']:,.0f}/s sent, "
                        f"{r['flood'].get('replies', 0):,} replies; {CLIENTS} clients: "
                        f"{r['clients_answered']}/{r['clients_sent']} answered, loss {r['clients_loss'] * 100:.2f} %",
                        flush=True,
                    )
                results.append(rnd)
            counters = app.status()["ntp"]
        finally:
            chronyd.stop()
            app.stop()
    diffs = [(r["appliance"]["clients_loss"] - r["chronyd"]["clients_loss"]) * 100 for r in results]
    app_loss = [r["appliance"]["clients_loss"] * 100 for r in results]
    chr_loss = [r["chronyd"]["clients_loss"] * 100 for r in results]
    print(
        f"good clients' loss under a full-speed flood: appliance median {statistics.median(app_loss):.2f} % "
        f"(rounds {', '.join(f'{x:.2f}' for x in app_loss)}), chronyd median {statistics.median(chr_loss):.2f} % "
        f"(rounds {', '.join(f'{x:.2f}' for x in chr_loss)}); median difference {statistics.median(diffs):+.2f} "
        "points (appliance - chronyd)"
    )
    print(
        f"appliance counters: received {counters['received']:,}, answered {counters['answered']:,}, "
        f"rate-limited {counters['dropped'].get('ratelimited', 0):,}, kod {counters.get('kod_sent', 0):,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
