"""Run `appliance serve` as a real process (optionally inside a test host) on a generated config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from .netns import Host, stop_process
from .wait import WaitTimeout, wait_for

REPO = Path(__file__).resolve().parents[2]


def write_config(
    path: Path,
    name: str,
    listen: list[str],
    oscillator: str = "ideal",
    seed: int = 1,
    allow: list[str] | None = None,
    ratelimit: dict | None = None,
    extra: dict | None = None,
) -> Path:
    cfg = {
        "node": {"name": name, "state_dir": str(path.parent / f"{name}-state")},
        "clock": {"source": "sim", "sim": {"oscillator": oscillator, "seed": seed, "reference": True}},
        "ntp": {"listen": listen, "allow": allow or ["all"], "ratelimit": ratelimit},
        "monitoring": {"metrics_listen": None, "control_socket": str(path.parent / f"{name}.sock")},
    }
    for key, value in (extra or {}).items():
        cfg.setdefault(key, {}).update(value) if isinstance(value, dict) else cfg.__setitem__(key, value)
    path.write_text(yaml.safe_dump(cfg))
    return path


class StatusError(RuntimeError):
    """`appliance status` failed (nothing listens on the control socket yet, or any more)."""


class ApplianceProc:
    def __init__(self, config: Path, host: Host | None = None, args: list[str] | None = None):
        self.config = Path(config)
        self.host = host
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.sock = Path(yaml.safe_load(self.config.read_text())["monitoring"]["control_socket"])

    def start(self, wait_state: str | None = "locked", timeout_s: float = 30) -> ApplianceProc:
        argv = [sys.executable, "-m", "appliance", "serve", "--config", str(self.config), *self.args]
        if self.host is not None:
            self.proc = self.host.popen(argv, cwd=REPO)
        else:
            self.proc = subprocess.Popen(
                argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
            )

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"appliance exited {self.proc.returncode}: {self.output()}")
            st = self.status()
            return st if wait_state is None or st["sync"]["state"] == wait_state else st["sync"]["state"]

        try:
            wait_for(
                ready,
                timeout_s,
                0.2,
                f"{self.config.name} to reach {wait_state or 'its control socket'}",
                until=lambda v: isinstance(v, dict),
                ignore=(StatusError,),
            )
        except WaitTimeout as exc:
            self.stop()  # not left running behind a failed start (outside a test net nothing else would)
            raise WaitTimeout(f"{exc}; its output: {self.output()[-3000:]}", exc.last) from None
        return self

    def status(self) -> dict:
        argv = [sys.executable, "-m", "appliance", "status", "--json", "--control-socket", str(self.sock)]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=10)
        if r.returncode != 0:
            raise StatusError(r.stderr.strip())
        return json.loads(r.stdout)

    def output(self) -> str:
        if self.proc is None or self.proc.stdout is None or self.proc.poll() is None:
            return ""
        return self.proc.stdout.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
