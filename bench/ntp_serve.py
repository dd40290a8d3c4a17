#!/usr/bin/env python3
"""NTP serving benchmark: the appliance beside chronyd, under the same load, in one run.

    .venv/bin/python bench/ntp_serve.py [--rounds 3] [--workers 0,1,2] [--pin split|none] [--json FILE]
    (make bench)

What it measures (needs root for network namespaces, chronyd/chronyc, gcc), in --rounds rounds,
each first accuracy, then throughput and latency:

* Served accuracy. One chronyd -x client (never touching the host clock) in its own test host
  follows both servers at once (two `server ... minpoll P maxpoll P xleave` lines, so both answer
  in interleaved mode; --basic drops xleave; --poll, default -4:
  16 requests/s to each) with `log measurements`, so that the same process, namespace and moment
  measure both. After --warmup samples, the next --samples valid measurements of each server
  (those passing RFC 5905 tests 1-7, chrony's measurements.log) are used: the figure is the
  standard deviation of their offsets. Shown beside it: a robust SD (1.4826 x the median absolute
  deviation, which ignores the outliers a shared machine produces) and chrony's own estimate of
  the source's SD (`chronyc -c sourcestats`, median of snapshots once its window is full). Server
  and client share the host's CLOCK_REALTIME, so the true offset is zero and the spread is what
  serving adds (timestamping, scheduling, path).

* Throughput and latency. bench/ntpload.c, compiled here with gcc into bench/out/ (gitignored),
  sends 48-byte NTPv4 client requests at a fixed rate from its own test host and counts the valid
  replies, from --sockets sockets spread over --sources addresses of that host (a fleet of clients:
  the appliance's workers take clients by source address). For each server the rate is doubled from
  --start-rate until a step loses >= 0.1% of its requests, then bisected until the bracket is within
  5%; the rate found must then pass a longer confirmation step (--confirm-s, 10 s: a large socket
  buffer cannot hide an overload for that long), else it is lowered by 10% until one passes. That
  rate is the server's "responses/s without loss". A failed step is repeated once (the machine is
  shared; a neighbour's burst should not decide the figure) and the rate passes if the repeat
  passes; the same rules apply to both servers. Response latency p50/p99 (client kernel receive
  timestamp minus the time just before the request's send call) is measured at a fixed offered load
  (--latency-rate, the same for both) and shown at each server's highest lossless rate too (where it
  includes queueing in the server's socket buffer, which an NTP client does not see as delay: the
  server's receive timestamp is the kernel's), and at 80 % of each server's own highest lossless
  rate. Beside the latency at --latency-rate: the CPU time the server's processes (the appliance's
  node and its workers) spent per reply. Rounds alternate which server goes first.

* Worker processes. One appliance per --workers setting (ntp.workers; 0 is the serving thread of
  the node's own process), each in its own test host, all measured in every round beside the one
  chronyd. With --pin split (the default) the servers run on every CPU but the last and the load
  generator and the accuracy client on the last (taskset / sched_setaffinity, inherited by the
  workers): on a 2-CPU machine the servers share CPU 0, so 1 and 2 workers compare the cost of the
  processes, not the scaling; --pin none leaves the scheduler to place everything.

The table shows, per row, each server's median over rounds [min - max] and the median over rounds
of the paired ratio appliance/chronyd.

The servers: `appliance serve` with examples/sim-ideal.yaml (a simulated clock with zero error, so
served time equals the host clock; only listen address and state paths changed; ntp.ratelimit null,
allow all) and chronyd -x with `local stratum 1`, `allow` and no ratelimit directive. Each runs in
its own test host on the same bridge, with addresses from 198.18.0.0/15.

Targets: highest lossless rate >= 1.0 x chronyd's; served-time noise (offset SD) in interleaved
mode <= 1.0 x chronyd's interleaved, basic mode <= 1.2 x chronyd's basic; p99 latency <= 2 x
chronyd's at 10k/s and at 80 % of each server's maximum.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers.appliance_proc import ApplianceProc  # noqa: E402
from helpers.chrony import CHRONYD, Chrony  # noqa: E402
from helpers.netns import TestNet  # noqa: E402

OUT = REPO / "bench" / "out"
LOSS_LIMIT = 0.001  # < 0.1 % loss
BRACKET = 1.05  # bisect until the failing rate is within 5 % of the passing one
CONFIRM_STEP_DOWN = 0.9  # a failed confirmation step is repeated 10 % lower
GENERATOR_SHORTFALL = 0.97  # a step whose achieved send rate is below this fraction is not trusted


class BenchError(Exception):
    pass


# -- setup -------------------------------------------------------------------------------------
def check_environment() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root (it creates network namespaces)")
    for tool in ("ip", "gcc"):
        if shutil.which(tool) is None:
            problems.append(f"needs {tool}")
    if not os.path.exists(CHRONYD) or shutil.which("chronyc") is None:
        problems.append("needs chrony (chronyd, chronyc)")
    if problems:
        raise BenchError("; ".join(problems))


def build_load_generator() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    src = REPO / "bench" / "ntpload.c"
    exe = OUT / "ntpload"
    r = subprocess.run(["gcc", "-O2", "-Wall", "-pthread", "-o", str(exe), str(src)], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"gcc failed on {src}:\n{r.stderr}")
    return exe


def appliance_config(path: Path, listen: str, workdir: Path, workers: str) -> Path:
    """examples/sim-ideal.yaml with only the listen address, ntp.workers and the state paths changed."""
    cfg = yaml.safe_load((REPO / "examples" / "sim-ideal.yaml").read_text())
    cfg["ntp"]["listen"] = [listen]
    cfg["ntp"]["workers"] = int(workers) if workers.isdigit() else workers
    cfg["node"]["state_dir"] = str(workdir / f"{path.stem}-state")
    cfg["monitoring"]["control_socket"] = str(workdir / f"{path.stem}.sock")
    if cfg["ntp"].get("ratelimit") is not None or cfg["ntp"].get("allow") != ["all"]:
        raise BenchError("examples/sim-ideal.yaml must have ntp.ratelimit: null and ntp.allow: [all]")
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- throughput --------------------------------------------------------------------------------
def udp_rcvbuf_errors(host) -> int | None:
    """UDP receive-buffer drops of one test host's namespace (/proc/net/snmp, Udp RcvbufErrors)."""
    r = host.run(["cat", "/proc/net/snmp"], timeout=10)
    lines = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("Udp:")]
    if len(lines) < 2 or "RcvbufErrors" not in lines[0]:
        return None
    return int(lines[1][lines[0].index("RcvbufErrors")])


def cpu_s(pids: list[int]) -> float:
    """User + system CPU time of these processes, all their threads (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


class Loader:
    """Runs ntpload steps from the load host against one server."""

    def __init__(self, exe: Path, host, args, sources: list[str], cpus: str | None):
        self.exe, self.host, self.args, self.sources, self.cpus = exe, host, args, sources, cpus

    def step(self, server, addr: str, rate: float, duration_s: float) -> dict:
        argv = [
            *(["taskset", "-c", self.cpus] if self.cpus else []),
            str(self.exe),
            "-a",
            addr,
            "-p",
            "123",
            "-r",
            str(int(rate)),
            "-d",
            str(duration_s),
            "-s",
            str(self.args.sockets),
            "-w",
            "300",
            *(a for src in self.sources for a in ("-b", src)),
        ]
        before = udp_rcvbuf_errors(server)
        r = self.host.run(argv, timeout=duration_s + 30)
        after = udp_rcvbuf_errors(server)
        if r.returncode != 0:
            raise BenchError(f"ntpload failed: {r.stderr.strip()}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["server_rcvbuf_errors"] = after - before if before is not None and after is not None else None
        res["generator_limited"] = res["send_rate"] < GENERATOR_SHORTFALL * rate
        res["pass"] = res["loss"] < LOSS_LIMIT and not res["generator_limited"]
        time.sleep(0.2)
        return res

    def attempt(self, server, addr: str, rate: float, duration_s: float, log) -> dict:
        res = self.step(server, addr, rate, duration_s)
        log(res)
        for _ in range(self.args.retries):
            if res["pass"] or res["generator_limited"]:
                break
            res = self.step(server, addr, rate, duration_s)
            res["retry"] = True
            log(res)
        return res

    def max_rate(self, name: str, server, addr: str) -> dict:
        """Highest rate with < 0.1 % loss: doubling, bisection to within 5 %, then a longer
        confirmation step (--confirm-s), stepping down by 10 % until one passes. A step the
        generator could not send at its rate counts as failed."""
        steps = []

        def log(res):
            steps.append(res)
            flag = "ok  " if res["pass"] else ("GEN " if res["generator_limited"] else "LOSS")
            srv = res["server_rcvbuf_errors"]
            print(
                f"    {name:9s} {res['rate']:>9,.0f}/s {res['duration_s']:4.1f} s  {flag} loss "
                f"{res['loss'] * 100:6.3f}% (server drops {'?' if srv is None else srv})  "
                f"p50 {res['p50_us']:9.1f} us  p99 {res['p99_us']:9.1f} us"
                f"{'  (retry)' if res.get('retry') else ''}",
                flush=True,
            )

        step_s = self.args.step_s
        good, bad, gen_limit = None, None, None
        rate = float(self.args.start_rate)
        while rate <= self.args.max_rate:
            res = self.attempt(server, addr, rate, step_s, log)
            if res["pass"]:
                good = rate
                rate *= 2
            else:
                bad = rate
                if res["generator_limited"]:
                    gen_limit = rate
                break
        if good is not None and bad is not None:
            while bad / good > BRACKET:
                mid = round((good * bad) ** 0.5, -2)
                res = self.attempt(server, addr, mid, step_s, log)
                if res["pass"]:
                    good = mid
                else:
                    bad = mid
                    if res["generator_limited"]:
                        gen_limit = mid
        confirmed, at_max = 0.0, None
        rate = good
        for _ in range(self.args.confirm_tries if good else 0):
            res = self.attempt(server, addr, rate, self.args.confirm_s, log)
            if res["pass"]:
                confirmed, at_max = rate, res
                break
            if res["generator_limited"]:
                gen_limit = rate
            rate = round(rate * CONFIRM_STEP_DOWN, -2)
        # The figure is a lower bound only when the generator, not the server, stopped the search.
        limited = bad is None or (gen_limit is not None and confirmed and gen_limit <= confirmed * BRACKET**2)
        return {
            "max_rate": confirmed,
            "search_max_rate": good or 0.0,
            "first_failing_rate": bad,
            "at_max": at_max,
            "generator_limited": bool(limited),
            "steps": steps,
        }


# -- accuracy ----------------------------------------------------------------------------------
def read_measurements(path: Path, server: str) -> list[dict]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) < 20 or f[2] != server or not f[0][:1].isdigit():
            continue
        rows.append(
            {
                "offset_s": float(f[11]),
                "delay_s": float(f[12]),
                "tests": "".join(f[5:8]),
                "tx_src": f[18],
                "rx_src": f[19],
            }
        )
    return rows


def measure_accuracy(net, servers: dict, args, workdir: Path, tag: str = "") -> dict:
    """One chronyd -x client follows both servers at once (two `server` lines): the same process,
    namespace and moment measure both, so that nothing on the client side differs."""
    d = workdir / f"chrony-client{tag}"
    client = Chrony(
        net["client"],
        d,
        [
            *(
                f"server {addr} minpoll {args.poll} maxpoll {args.poll} iburst{'' if args.basic else ' xleave'}"
                for addr in servers.values()
            ),
            f"logdir {d}",
            "log measurements",
            "logbanner 0",
            "port 0",  # a client only
        ],
    ).start()
    clients = {name: client for name in servers}
    need = args.warmup + args.samples
    interval_s = 2.0**args.poll
    deadline = time.monotonic() + need * interval_s * 3 + 30
    stats: dict[str, list[dict]] = {n: [] for n in servers}
    try:
        while time.monotonic() < deadline:
            counts = {n: len(read_measurements(d / "measurements.log", servers[n])) for n in servers}
            if min(counts.values()) >= need:
                break
            if min(counts.values()) >= args.warmup + 64:  # chrony's window is full of measured samples
                for row in sourcestats(client):
                    for n, addr in servers.items():
                        if row["address"] == addr:
                            stats[n].append(row)
            time.sleep(1)
    finally:
        client.stop()
    if args.keep_logs:
        Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
        shutil.copy(d / "measurements.log", Path(args.keep_logs) / f"measurements{tag}.log")
    result = {}
    for name, c in clients.items():
        rows = read_measurements(c.dir / "measurements.log", servers[name])
        use = rows[args.warmup : need]
        if len(use) < 10:
            raise BenchError(f"the chronyd client of {name} logged only {len(rows)} measurements")
        # chrony's theta is server - client; report offset = local - reference (the house sign).
        offsets = [-r["offset_s"] for r in use]
        delays = [r["delay_s"] for r in use]
        result[name] = {
            "samples": len(use),
            "offset_sd_us": statistics.stdev(offsets) * 1e6,
            "offset_mean_us": statistics.fmean(offsets) * 1e6,
            "offset_robust_sd_us": robust_sd(offsets) * 1e6,
            "delay_median_us": statistics.median(delays) * 1e6,
            "timestamps": f"tx {use[0]['tx_src']} rx {use[0]['rx_src']}",
            "chrony_sd_us": statistics.median(r["sd_s"] for r in stats[name]) * 1e6 if stats[name] else float("nan"),
            "chrony_sd_snapshots": len(stats[name]),
        }
    return result


def sourcestats(client) -> list[dict]:
    """chronyc -c sourcestats: per source, the number of samples in chrony's regression window and
    chrony's estimate of their standard deviation (weighted, so high-delay samples count less)."""
    rows = []
    for line in client.chronyc("-c", "sourcestats").splitlines():
        f = line.split(",")
        if len(f) >= 8:
            rows.append({"address": f[0], "samples": int(f[1]), "sd_s": float(f[7])})
    return rows


def robust_sd(values: list[float]) -> float:
    """1.4826 x the median absolute deviation: the SD of a normal distribution, ignoring outliers."""
    med = statistics.median(values)
    return 1.4826 * statistics.median(abs(v - med) for v in values)


# -- report ------------------------------------------------------------------------------------
def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0]
    chrony_v = subprocess.run([CHRONYD, "--version"], capture_output=True, text=True).stdout.split("(+")[0].strip()
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}, "
        f"{chrony_v}, load average {load:.1f} at start"
    )


def print_table(results: dict, args) -> dict:
    """The table: per row, each server's median over rounds [min-max], and for each appliance
    setting the median over rounds of the paired ratio appliance/chronyd (both measured in the
    same round)."""
    rounds, names = results["rounds"], results["servers"]
    apps = [n for n in names if n != "chronyd"]
    rows: list[tuple[str, dict[str, str], dict[str, float | None]]] = []
    per_round_ratio: dict[tuple[str, str], list[float]] = {}

    def row(label: str, getter, fmt: str, mark=None, ratio: bool = True) -> None:
        vals = {}
        for s in names:
            try:
                vals[s] = [getter(r, s) for r in rounds]
            except KeyError:
                vals[s] = []
        cells = {}
        for s in names:
            v = [x for x in vals[s] if x is not None and x == x]
            if not v:
                cells[s] = "n/a"
                continue
            med, lo, hi = spread(v)
            plus = "+" if mark and mark(s) else ""
            cells[s] = f"{med:{fmt}}{plus}" if len(v) == 1 else f"{med:{fmt}}{plus} [{lo:{fmt}} - {hi:{fmt}}]"
        ratios: dict[str, float | None] = {}
        for a in apps:
            pairs = [x / c for x, c in zip(vals[a], vals["chronyd"], strict=False) if x is not None and c and x == x]
            per_round_ratio[(label, a)] = pairs
            ratios[a] = statistics.median(pairs) if pairs and ratio else None
        rows.append((label, cells, ratios))

    have_rate = rounds and "chronyd" in rounds[0]
    if have_rate:
        row(
            "responses/s with < 0.1% loss",
            lambda r, s: r[s]["max_rate"],
            ",.0f",
            mark=lambda s: any(r[s]["generator_limited"] for r in rounds),
        )
        row(f"latency p50 at {args.latency_rate:,}/s (us)", lambda r, s: r[s]["latency"]["p50_us"], ",.1f")
        row(f"latency p99 at {args.latency_rate:,}/s (us)", lambda r, s: r[s]["latency"]["p99_us"], ",.1f")
        row(
            f"CPU per reply at {args.latency_rate:,}/s (us)",
            lambda r, s: r[s]["latency"].get("cpu_us_per_reply"),
            ",.1f",
        )
        row("latency p50 at 80% of max (us)", lambda r, s: (r[s]["latency_80"] or {}).get("p50_us"), ",.1f")
        row("latency p99 at 80% of max (us)", lambda r, s: (r[s]["latency_80"] or {}).get("p99_us"), ",.1f")
        row("latency p99 at max rate (us)", lambda r, s: r[s]["at_max"]["p99_us"] if r[s]["at_max"] else None, ",.1f")
    if rounds and rounds[0].get("accuracy"):
        n = rounds[0]["accuracy"]["chronyd"]["samples"]
        row(f"offset SD, {n} samples (us)", lambda r, s: r["accuracy"][s]["offset_sd_us"], ".2f")
        row("offset SD robust, 1.4826 MAD (us)", lambda r, s: r["accuracy"][s]["offset_robust_sd_us"], ".2f")
        row("chrony's SD estimate (us)", lambda r, s: r["accuracy"][s]["chrony_sd_us"], ".2f")
        row("offset mean (us)", lambda r, s: r["accuracy"][s]["offset_mean_us"], "+.2f", ratio=False)
        row("delay median (us)", lambda r, s: r["accuracy"][s]["delay_median_us"], ".1f")

    w0 = max(len(r[0]) for r in rows)
    width = {s: max([len(s), *(len(r[1][s]) for r in rows)]) for s in names}
    print()
    print(f"NTP serving benchmark, {results['date']}")
    print(f"  machine: {results['machine']}")
    print(f"  pinning: {results['pinning']}; load from {args.sources} source addresses, {args.sockets} sockets")
    parts = []
    if not args.skip_accuracy:
        parts.append(f"accuracy ({args.samples} samples, poll {args.poll}, {'basic' if args.basic else 'xleave'})")
    if not args.accuracy_only:
        parts.append(
            f"the highest lossless rate ({args.step_s:g} s search steps, {args.confirm_s:g} s confirmation) and latency"
        )
    print(f"  {len(rounds)} round{'s' if len(rounds) > 1 else ''}; each: {', then '.join(parts)}")
    print(
        "  cells: median over rounds [min - max]; ratio: median over rounds of appliance/chronyd; "
        "'+': generator-limited"
    )
    print()
    head = "  ".join(f"{s:>{width[s]}}" for s in names)
    print(f"  {'':{w0}}  {head}  " + "  ".join(f"ratio {a.split()[-1]}" for a in apps))
    for label, cells, ratios in rows:
        line = "  ".join(f"{cells[s]:>{width[s]}}" for s in names)
        rs = "  ".join(
            f"{'' if ratios[a] is None else f'{ratios[a]:.2f}':>{len('ratio ' + a.split()[-1])}}" for a in apps
        )
        print(f"  {label:{w0}}  {line}  {rs}")
    print()
    verdict: dict = {}

    def target(key: str, label: str, a: str, ok, text: str) -> None:
        ratios = per_round_ratio.get((label, a)) or []
        if not ratios:
            return
        med = statistics.median(ratios)
        verdict.setdefault(a, {})[key] = {"ratio": med, "per_round": ratios, "pass": bool(ok(med))}
        print(
            f"  target ({a}): {text}: {'PASS' if ok(med) else 'FAIL'} (median {med:.2f}x; "
            f"per round {', '.join(f'{x:.2f}' for x in ratios)})"
        )

    sd_limit = 1.2 if args.basic else 1.0
    for a in apps:
        if have_rate:
            target("rate", "responses/s with < 0.1% loss", a, lambda m: m >= 1.0, ">= 1.0x chronyd's lossless rate")
            target("p99", f"latency p99 at {args.latency_rate:,}/s (us)", a, lambda m: m <= 2.0, "p99 <= 2x at 10k/s")
            target("p99_80", "latency p99 at 80% of max (us)", a, lambda m: m <= 2.0, "p99 <= 2x at 80% of max")
        if rounds and rounds[0].get("accuracy"):
            label = next(r[0] for r in rows if r[0].startswith("offset SD,"))
            target("sd", label, a, lambda m: m <= sd_limit, f"offset SD <= {sd_limit}x chronyd's")
    return verdict


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each accuracy then throughput (default 3)")
    ap.add_argument("--step-s", type=float, default=3.0, help="duration of one search step (default 3 s)")
    ap.add_argument("--start-rate", type=int, default=10_000, help="first offered rate, requests/s (default 10000)")
    ap.add_argument("--max-rate", type=int, default=1_280_000, help="stop doubling above this rate")
    ap.add_argument("--confirm-s", type=float, default=10.0, help="duration of the confirmation step (default 10 s)")
    ap.add_argument("--confirm-tries", type=int, default=4, help="confirmation attempts, 10 %% lower each (default 4)")
    ap.add_argument("--retries", type=int, default=1, help="repeat a failing step this often (default 1)")
    ap.add_argument("--sockets", type=int, default=64, help="client sockets (source ports) of the generator")
    ap.add_argument("--sources", type=int, default=16, help="source addresses the generator's sockets use")
    ap.add_argument("--workers", default="0,1,2", help="ntp.workers settings to measure (default 0,1,2)")
    ap.add_argument(
        "--pin",
        choices=["split", "none"],
        default="split",
        help="split (default): servers on all CPUs but the last, load and accuracy client on the last; none",
    )
    ap.add_argument("--latency-rate", type=int, default=10_000, help="offered load for the latency rows")
    ap.add_argument("--latency-s", type=float, default=5.0, help="duration of the latency step (default 5 s)")
    ap.add_argument("--poll", type=int, default=-4, help="accuracy client's poll exponent (default -4)")
    ap.add_argument("--warmup", type=int, default=16, help="accuracy samples discarded first")
    ap.add_argument("--samples", type=int, default=500, help="accuracy samples per round and server (default 500)")
    ap.add_argument("--basic", action="store_true", help="accuracy client in basic mode (default: xleave)")
    ap.add_argument("--skip-accuracy", action="store_true", help="only the throughput and latency rounds")
    ap.add_argument("--accuracy-only", action="store_true", help="only the accuracy measurements")
    ap.add_argument(
        "--json",
        metavar="FILE",
        default=str(OUT / "ntp_serve.json"),
        help="where to write every figure and step as JSON (default bench/out/ntp_serve.json)",
    )
    ap.add_argument("--keep-logs", metavar="DIR", help="copy the accuracy client's measurements.log files here")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.samples < 10 or args.step_s <= 0 or args.confirm_s <= 0:
        ap.error("--rounds must be >= 1, --samples >= 10, durations > 0")
    if args.skip_accuracy and args.accuracy_only:
        ap.error("--skip-accuracy and --accuracy-only exclude each other")
    try:
        check_environment()
        exe = build_load_generator()
        return run(args, exe)
    except BenchError as exc:
        print(f"ntp_serve: {exc}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def pinned(cpus: str | None):
    """Processes started inside inherit these CPUs (taskset's list syntax), or nothing changes."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    chosen = {c for part in cpus.split(",") for c in range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1)}
    os.sched_setaffinity(0, chosen)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pinning(args) -> tuple[str | None, str | None, str]:
    """(server CPUs, load CPUs, description): "split" puts the load generator and the accuracy
    client on the last CPU and the servers on the others."""
    n = os.cpu_count() or 1
    if args.pin == "none" or n < 2:
        return None, None, "none (the scheduler's choice)"
    servers = "0" if n == 2 else f"0-{n - 2}"
    return servers, str(n - 1), f"servers on CPU {servers}, load generator and accuracy client on CPU {n - 1}"


def run(args, exe: Path) -> int:
    settings = [w.strip() for w in args.workers.split(",") if w.strip()]
    server_cpus, load_cpus, pin_text = pinning(args)
    names = [f"appliance {w}w" for w in settings] + ["chronyd"]
    hosts = {name: f"app{i}" for i, name in enumerate(names[:-1])} | {"chronyd": "chronyd"}
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "pinning": pin_text,
        "servers": names,
        "rounds": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="ntp_serve-") as tmp,
        TestNet([*hosts.values(), "load", "client"]) as net,
    ):
        workdir = Path(tmp)
        workdir.chmod(0o755)
        sources = [net.address(200 + i) for i in range(args.sources)]
        for a in sources:
            net["load"].ip("addr", "add", f"{a}/24", "dev", "eth0")
        addr = {name: net[h].addr for name, h in hosts.items()}
        apps = {}
        with pinned(server_cpus):
            for name, w in zip(names, settings, strict=False):
                cfg = appliance_config(workdir / f"{hosts[name]}.yaml", f"{addr[name]}:123", workdir, w)
                apps[name] = ApplianceProc(cfg, host=net[hosts[name]]).start(wait_state="locked")
            chronyd = Chrony(net["chronyd"], workdir / "chronyd-server", ["local stratum 1", "allow"]).start()
        # every process of each server, for its CPU time (the appliance: the node and its workers)
        pids = {n: [a.proc.pid, *(a.status()["ntp"].get("workers") or {}).get("pids", [])] for n, a in apps.items()}
        pids["chronyd"] = [chronyd.proc.pid]
        print(
            ", ".join(f"{n} {addr[n]}:123" for n in names)
            + f" (examples/sim-ideal.yaml; chronyd: local stratum 1, allow); load from {len(sources)} addresses "
            f"on {net['load'].addr}'s host, accuracy client {net['client'].addr}; pinning: {pin_text}",
            flush=True,
        )
        loader = Loader(exe, net["load"], args, sources, load_cpus)
        try:
            for i in range(args.rounds):
                rnd: dict = {}
                print(f"round {i + 1}/{args.rounds}:", flush=True)
                if not args.skip_accuracy:
                    with pinned(load_cpus):
                        acc = measure_accuracy(net, addr, args, workdir, tag=f"-{i + 1}")
                    rnd["accuracy"] = acc
                    for name in names:
                        a = acc[name]
                        print(
                            f"    {name:13s} accuracy: offset SD {a['offset_sd_us']:.2f} us (robust "
                            f"{a['offset_robust_sd_us']:.2f}, chrony's {a['chrony_sd_us']:.2f}), mean "
                            f"{a['offset_mean_us']:+.2f} us, delay {a['delay_median_us']:.1f} us",
                            flush=True,
                        )
                if not args.accuracy_only:
                    for name in names if i % 2 == 0 else names[::-1]:
                        host = net[hosts[name]]
                        found = loader.max_rate(name, host, addr[name])
                        cpu_before = cpu_s(pids[name])
                        lat = loader.step(host, addr[name], args.latency_rate, args.latency_s)
                        cpu = cpu_s(pids[name]) - cpu_before
                        lat["cpu_us_per_reply"] = cpu * 1e6 / lat["replies"] if lat["replies"] else None
                        at80 = None
                        if found["max_rate"]:
                            at80 = loader.step(host, addr[name], 0.8 * found["max_rate"], args.latency_s)
                        print(
                            f"    {name:13s} highest lossless rate {found['max_rate']:,.0f}/s; at "
                            f"{args.latency_rate:,}/s: loss {lat['loss'] * 100:.3f}% p50 {lat['p50_us']:.1f} us "
                            f"p99 {lat['p99_us']:.1f} us, CPU {lat['cpu_us_per_reply'] or 0:.1f} us a reply"
                            + (f"; at 80%: p50 {at80['p50_us']:.1f} us p99 {at80['p99_us']:.1f} us" if at80 else ""),
                            flush=True,
                        )
                        found["latency"], found["latency_80"] = lat, at80
                        rnd[name] = found
                results["rounds"].append(rnd)
            results["appliance_counters"] = {name: app.status()["ntp"] for name, app in apps.items()}
        finally:
            chronyd.stop()
            for app in apps.values():
                app.stop()
    results["verdict"] = print_table(results, args)
    results["counters_consistent"] = all(check_counters(results, name) for name in apps)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        print(f"  every step: {args.json}")
    return 0


def check_counters(results: dict, name: str) -> bool:
    """The appliance's own counters against the replies the generator counted."""
    c = results["appliance_counters"][name]
    rounds = [rnd[name] for rnd in results["rounds"] if name in rnd]
    seen = sum(st["replies"] for r in rounds for st in r["steps"])
    seen += sum(r["latency"]["replies"] + (r["latency_80"] or {}).get("replies", 0) for r in rounds)
    consistent = c["answered"] >= seen and c["received"] == c["answered"] + sum(c["dropped"].values())
    workers = c.get("workers")
    print(
        f"  {name} counters after the run: received {c['received']:,}, answered {c['answered']:,}, "
        f"dropped {sum(c['dropped'].values()):,} (late {c['dropped'].get('late', 0):,}), send errors "
        f"{c.get('send_errors', 0)}, internal errors {c.get('internal_errors', 0)}"
        + (f", per worker received {workers['received']}" if workers else "")
        + f"; the generator counted {seen:,} replies: {'consistent' if consistent else 'INCONSISTENT'}"
    )
    return consistent


if __name__ == "__main__":
    sys.exit(main())
