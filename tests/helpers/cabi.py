"""Ask the C compiler what the installed headers say: sizes, offsets and constants.

    values, missing = c_values(["linux/ptp_clock.h"], {"sizeof:caps": "sizeof(struct ptp_clock_caps)"}, tmp)

Each entry becomes one printf line of a generated program. Entries the headers do not know (a field or
constant newer than the installed linux-libc-dev) fail to compile; their lines are found from gcc's
diagnostics, dropped, and reported in ``missing`` so that the caller decides whether that is allowed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .requirements import missing as _missing

GCC = "gcc"


def require_gcc() -> None:
    if shutil.which(GCC) is None:
        _missing("needs gcc to compare the ctypes bindings with the kernel headers (apt-get install gcc)")


def require_header(*headers: str) -> None:
    require_gcc()
    for header in headers:
        r = subprocess.run(
            [GCC, "-E", "-x", "c", "-"], input=f"#include <{header}>\n", capture_output=True, text=True, timeout=60
        )
        if r.returncode != 0:
            _missing(f"needs <{header}> (apt-get install linux-libc-dev libc6-dev): {r.stderr.strip()[:200]}")


def _program(includes: list[str], entries: list[tuple[str, str]]) -> tuple[str, dict[int, str]]:
    lines = ["#include <stdio.h>", "#include <stddef.h>"] + [f"#include <{h}>" for h in includes]
    lines += ["int main(void) {"]
    line_of = {}
    for key, expr in entries:
        lines.append(f'    printf("%s %lld\\n", "{key}", (long long)({expr}));')
        line_of[len(lines)] = key
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines), line_of


def c_values(
    includes: list[str], exprs: dict[str, str], workdir: Path, name: str = "abi"
) -> tuple[dict[str, int], set[str]]:
    entries = list(exprs.items())
    missing: set[str] = set()
    src, exe = Path(workdir) / f"{name}.c", Path(workdir) / name
    for _ in range(len(entries) + 1):
        text, line_of = _program(includes, entries)
        src.write_text(text)
        r = subprocess.run(
            [GCC, "-std=gnu11", "-O0", "-o", str(exe), str(src)], capture_output=True, text=True, timeout=120
        )
        if r.returncode == 0:
            break
        bad = {
            line_of[int(m)]
            for m in re.findall(rf"{re.escape(str(src))}:(\d+):\d+: error", r.stderr)
            if int(m) in line_of
        }
        if not bad:
            raise RuntimeError(f"C program does not compile:\n{r.stderr}")
        missing |= bad
        entries = [(k, e) for k, e in entries if k not in bad]
    else:
        raise RuntimeError("C program never compiled")
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True).stdout
    values = {}
    for line in out.splitlines():
        key, value = line.rsplit(" ", 1)
        values[key] = int(value)
    return values, missing
