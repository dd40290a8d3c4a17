"""House rule 1: appliance/core imports nothing that does I/O. In a fresh interpreter, every module
under appliance/core is imported (pkgutil.walk_packages); afterwards none of the I/O, process and
concurrency modules may be loaded. (numpy loads ctypes; that is fine.)

When one is, the message names it and the import chain that pulled it in, outermost first, e.g.
``appliance.core.holdover.predictor -> concurrent.futures -> threading``: a meta-path hook in the
child notes, at the first import of each forbidden module, the modules whose top-level code was
running at that moment."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("socket", "subprocess", "select", "selectors", "fcntl", "asyncio", "threading", "pyudev")

CHILD = r"""
import importlib, json, pkgutil, sys
sys.path.insert(0, REPO)
FORBIDDEN = set(FORBIDDEN_LIST)
at_start = sorted(m for m in FORBIDDEN if m in sys.modules)
chains = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in FORBIDDEN and top not in chains and top not in sys.modules:
            stack, f = [], sys._getframe(1)
            while f is not None:
                if f.f_code.co_name == "<module>":
                    mod = f.f_globals.get("__name__", "?")
                    if not stack or stack[-1] != mod:
                        stack.append(mod)
                f = f.f_back
            chains[top] = [m for m in reversed(stack) if m != "__main__"] + [name]
        return None


sys.meta_path.insert(0, Watch())
import appliance.core

modules, errors = [], {}
for info in pkgutil.walk_packages(appliance.core.__path__, "appliance.core.",
                                  onerror=lambda name: errors.setdefault(name, repr(sys.exc_info()[1]))):
    modules.append(info.name)
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        errors[info.name] = repr(exc)
loaded = sorted(m for m in FORBIDDEN if m in sys.modules)
print(json.dumps({"at_start": at_start, "loaded": loaded, "chains": chains, "modules": modules,
                  "errors": errors, "core_file": appliance.core.__file__}))
"""


def run_child() -> dict:
    code = CHILD.replace("REPO", repr(str(REPO))).replace("FORBIDDEN_LIST", repr(list(FORBIDDEN)))
    # -I: no PYTHONPATH, no user site, no cwd on the path: only what the venv and this repo bring
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_every_core_module_imports_and_none_pulls_in_io_processes_or_threads():
    out = run_child()
    assert Path(out["core_file"]).resolve().is_relative_to(REPO / "appliance" / "core")
    assert len(out["modules"]) >= 20, out["modules"]  # the walk found the package's modules
    assert out["errors"] == {}, out["errors"]
    assert out["at_start"] == [], (
        f"loaded before appliance.core was imported (the interpreter's own): {out['at_start']}"
    )
    chains = {m: " -> ".join(out["chains"].get(m, ["?"])) for m in out["loaded"]}
    assert out["loaded"] == [], "appliance/core pulls in " + "; ".join(f"{m}: {c}" for m, c in chains.items())
