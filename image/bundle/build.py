"""Build the offline bundle: everything a node with no network needs to install the appliance.

    python image/bundle/build.py [--out dist] [--debs linuxptp chrony]

writes ``dist/appliance-bundle-<version>-<arch>.tar.gz`` (and ``.sha256`` beside it) holding:

    install.sh            the installer (see its --help)
    BUNDLE-INFO           version, architecture, the Python the wheels are for, the commit
    requirements.txt      every wheel's exact name==version: what install.sh installs, nothing else
    wheels/               the appliance and every dependency as wheels, plus pip itself
    systemd/              appliance.service, appliance-bootstrap.service, sysusers.d/, tmpfiles.d/, udev/
    examples/             the example configurations
    kubernetes/           the kustomize base and overlays (a site applies them with no network too)
    doc/                  README.md, firmware-notes/, appliance.1 (man page), appliance.bash-completion
    debs/                 with --debs: the named Debian packages and the dependencies a minimal
                          Debian lacks, fetched by apt-get download
    SHA256SUMS            sha256 of every other file; install.sh checks it before anything else

The wheels are for the Python that runs this script (its version, ABI and platform): build with the
Python the nodes have. Building needs the package index (pip wheel resolves and downloads);
installing never does. The archive is deterministic for the same inputs: sorted members, owner
root, one timestamp (SOURCE_DATE_EPOCH, else the last commit's time).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "image"

# What the bundle carries besides the wheels: (source in the repository, destination in the bundle).
TREES = [
    (IMAGE / "systemd", "systemd"),
    (IMAGE / "kubernetes", "kubernetes"),
    (REPO / "examples", "examples"),
    (REPO / "firmware-notes", "doc/firmware-notes"),
]
FILES = [
    (IMAGE / "bundle" / "install.sh", "install.sh"),
    (REPO / "README.md", "doc/README.md"),
]
# Priorities of the packages every Debian system has: --debs leaves them, and what they depend
# on, out of the closure.
BASE_PRIORITIES = {"required", "important"}


class BuildError(Exception):
    pass


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise BuildError(f"{' '.join(argv[:4])} ... failed ({r.returncode}):\n{tail}")
    return r


def version() -> str:
    text = (REPO / "appliance" / "__init__.py").read_text()
    m = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not m:
        raise BuildError("appliance/__init__.py has no __version__")
    return m.group(1)


def source_date_epoch() -> int:
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        return int(env)
    r = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True, text=True)
    return int(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else 0


def commit() -> str:
    r = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def wheel_requirement(filename: str) -> str:
    m = _WHEEL.match(filename)
    if not m:
        raise BuildError(f"not a wheel file name: {filename}")
    return f"{m.group('name').replace('_', '-').lower()}=={m.group('version')}"


def copy_source(dest: Path) -> None:
    """The checkout's files (tracked and new, not ignored) as they are in the work tree."""
    r = run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    for rel in sorted(set(r.stdout.split("\0")) - {""}):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def collect_wheels(dest: Path) -> list[str]:
    """The appliance and its whole dependency closure as wheels, and pip; -> requirement lines."""
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as build_tmp:
        # Built from a copy of the source files: setuptools leaves build/ in the tree it builds
        # in, and a stale build/lib would put deleted modules into the wheel.
        source = Path(build_tmp) / "src"
        copy_source(source)
        # The build date the installed appliance takes as its floor for the time (buildinfo.py):
        # the commit's date, so the same commit builds the same bundle.
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(source_date_epoch()))
        (source / "appliance" / "BUILD_DATE").write_text(stamp + "\n")
        # pip wheel builds the appliance (and any dependency published only as an sdist) into
        # wheels and downloads the rest, resolving for this interpreter.
        run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), str(source)],
            cwd=build_tmp,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    pip_version = run([sys.executable, "-m", "pip", "--version"]).stdout.split()[1]
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(dest),
            f"pip=={pip_version}",
        ]
    )
    wheels = sorted(p.name for p in dest.iterdir())
    others = [w for w in wheels if not w.endswith(".whl")]
    if others:
        raise BuildError(f"not wheels: {', '.join(others)}")
    return sorted(wheel_requirement(w) for w in wheels if not w.startswith("pip-"))


def _closure(packages: list[str]) -> set[str]:
    """Every package the named ones depend on, recursively (alternatives included), and themselves."""
    out = run(
        [
            "apt-cache",
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            *packages,
        ]
    ).stdout
    return {line.strip() for line in out.splitlines() if line and not line.startswith((" ", "<"))}


def _base_system() -> list[str]:
    """The packages of a minimal Debian: Essential or of priority required/important."""
    out = run(["dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\n"]).stdout
    return sorted(
        name
        for name, essential, prio in (line.split() for line in out.splitlines() if line.count(" ") == 2)
        if essential == "yes" or prio in BASE_PRIORITIES
    )


def collect_debs(dest: Path, packages: list[str]) -> list[str]:
    """apt-get download the packages and the part of their dependency closure a minimal Debian lacks."""
    if shutil.which("apt-get") is None:
        raise BuildError("--debs needs apt-get (a Debian build machine of the nodes' release)")
    dest.mkdir(parents=True)
    wanted = sorted((_closure(packages) - _closure(_base_system())) | set(packages))
    run(["apt-get", "download", *wanted], cwd=dest)
    return wanted


def copy_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_sums(root: Path) -> None:
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel != "SHA256SUMS":
            lines.append(f"{sha256(path)}  {rel}\n")
    (root / "SHA256SUMS").write_text("".join(lines))


def write_tar(root: Path, out: Path, mtime: int) -> None:
    def norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = mtime
        executable = info.isdir() or info.name.endswith(".sh") or (info.mode & 0o100)
        info.mode = 0o755 if executable else 0o644
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        members = [root, *sorted(root.rglob("*"))]
        for path in members:
            tar.add(path, arcname=str(Path(root.name) / path.relative_to(root)), recursive=False, filter=norm)
    with open(out, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=mtime, compresslevel=6) as gz:
        gz.write(buf.getvalue())


def build(out_dir: Path, debs: list[str]) -> Path:
    ver, arch = version(), platform.machine()
    name = f"appliance-bundle-{ver}-{arch}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="appliance-bundle-") as tmp:
        root = Path(tmp) / name
        root.mkdir()
        reqs = collect_wheels(root / "wheels")
        if not any(r.startswith(f"appliance=={ver}") for r in reqs):
            raise BuildError(f"the wheels do not include appliance=={ver}: {reqs}")
        (root / "requirements.txt").write_text("".join(f"{r}\n" for r in reqs))
        deb_names = collect_debs(root / "debs", debs) if debs else []
        for src, dst in TREES:
            copy_tree(src, root / dst)
        for src, dst in FILES:
            (root / dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / dst)
        # The man page and the bash completion, generated from this version's parser.
        run([sys.executable, "-m", "appliance", "man", "--output", str(root / "doc" / "appliance.1")], cwd=REPO)
        run(
            [
                sys.executable,
                "-m",
                "appliance",
                "completion",
                "bash",
                "--output",
                str(root / "doc" / "appliance.bash-completion"),
            ],
            cwd=REPO,
        )
        py = sys.version_info
        info = {
            "version": ver,
            "arch": arch,
            "python": f"{py.major}.{py.minor}",
            "python_abi": sysconfig.get_config_var("SOABI") or "",
            "commit": commit(),
            "debs": " ".join(deb_names),
        }
        (root / "BUNDLE-INFO").write_text("".join(f"{k}={v}\n" for k, v in info.items()))
        write_sums(root)
        out = out_dir / f"{name}.tar.gz"
        write_tar(root, out, source_date_epoch())
    (out_dir / f"{out.name}.sha256").write_text(f"{sha256(out)}  {out.name}\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output directory (default dist/)")
    parser.add_argument(
        "--debs",
        nargs="*",
        default=[],
        metavar="PACKAGE",
        help="also carry these Debian packages and their missing dependencies (e.g. linuxptp chrony)",
    )
    args = parser.parse_args(argv)
    try:
        out = build(args.out, args.debs)
    except BuildError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
