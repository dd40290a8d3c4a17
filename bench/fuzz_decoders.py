"""The long run of the decoder fuzzing: every target of tests/helpers/fuzz_targets.py under atheris
(libFuzzer, coverage-guided over the appliance's own code), started from the same valid seeds as
the suite's hypothesis run. Prints, per target, the inputs run, the time, the coverage reached and
whether anything escaped; exits 1 if a target crashed (the input is kept in --out).

    .venv/bin/python bench/fuzz_decoders.py                  # 10^6 inputs per target
    .venv/bin/python bench/fuzz_decoders.py --runs 20000 --target ntp_answer

Needs atheris (pip install atheris). No root, no network.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

DONE = re.compile(r"Done (\d+) (?:runs )?in (\d+) second")
COVERAGE = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)")


def child(name: str, libfuzzer_args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["appliance"]):
        from helpers import fuzz_targets
    target = fuzz_targets.TARGETS[name]
    atheris.Setup([sys.argv[0], *libfuzzer_args], target)
    atheris.Fuzz()


def run_target(name: str, runs: int, out: Path, max_len: int, timeout_s: float) -> dict:
    from helpers import fuzz_targets

    corpus = out / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(fuzz_targets.SEEDS[name]):
        (corpus / f"seed-{i}").write_bytes(seed)
    args = [
        f"-atheris_runs={runs}",
        f"-max_len={max_len}",
        f"-artifact_prefix={out}/{name}-",
        "-print_final_stats=1",
        str(corpus),
    ]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    elapsed = time.monotonic() - started
    log = proc.stderr + proc.stdout
    (out / f"{name}.log").write_text(log)
    done = DONE.findall(log)
    cov = COVERAGE.findall(log)
    crash = [line for line in log.splitlines() if "Uncaught Python exception" in line or "==ERROR" in line]
    return {
        "target": name,
        "inputs": int(done[-1][0]) if done else (int(cov[-1][0]) if cov else 0),
        "seconds": round(elapsed, 1),
        "coverage_edges": int(cov[-1][1]) if cov else None,
        "features": int(cov[-1][2]) if cov else None,
        "exit": proc.returncode,
        "crashed": proc.returncode != 0,
        "first_error": crash[0] if crash else None,
    }


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        rest = sys.argv[3:]
        child(sys.argv[2], rest[1:] if rest[:1] == ["--"] else rest)
        return 0
    from helpers import fuzz_targets

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1_000_000, help="inputs per target (default 10^6)")
    ap.add_argument("--target", action="append", choices=sorted(fuzz_targets.TARGETS), help="only these (repeatable)")
    ap.add_argument("--max-len", type=int, default=1024, help="longest input in bytes")
    ap.add_argument("--out", type=Path, help="where logs, corpora and crashing inputs go (default: a temporary dir)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per target at most")
    ap.add_argument("--json", action="store_true", help="one JSON object per target instead of the table")
    args = ap.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("bench/fuzz_decoders.py needs atheris: .venv/bin/pip install atheris", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="fuzz-decoders-"))
    out.mkdir(parents=True, exist_ok=True)
    names = args.target or sorted(fuzz_targets.TARGETS)
    results = []
    if not args.json:
        print(f"{'target':22} {'inputs':>10} {'seconds':>8} {'inputs/s':>9} {'edges':>6} {'crash':>6}")
    for name in names:
        r = run_target(name, args.runs, out, args.max_len, args.timeout)
        results.append(r)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            rate = r["inputs"] / r["seconds"] if r["seconds"] else 0.0
            print(
                f"{name:22} {r['inputs']:>10} {r['seconds']:>8.1f} {rate:>9.0f} {r['coverage_edges'] or '-':>6} "
                f"{'YES' if r['crashed'] else 'no':>6}",
                flush=True,
            )
            if r["first_error"]:
                print(f"  {r['first_error']} (log: {out / (name + '.log')})")
    total = sum(r["inputs"] for r in results)
    crashed = [r["target"] for r in results if r["crashed"]]
    if not args.json:
        print(f"total: {total} inputs over {len(results)} targets; crashes: {', '.join(crashed) or 'none'}; out: {out}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
