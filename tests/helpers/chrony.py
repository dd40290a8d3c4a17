"""A real chronyd as an NTP client inside a test host. Always started with -x: it never touches
the host's clock. Its command socket and files live in a private directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .netns import Host, stop_process
from .wait import wait_for

CHRONYD = "/usr/sbin/chronyd"
CHRONYC = "/usr/bin/chronyc"


class Chrony:
    def __init__(self, host: Host, workdir: Path, conf_lines: list[str]):
        self.host = host
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)  # chronyd refuses a command socket in a world-accessible directory
        self.sock = self.dir / "chronyd.sock"
        self.conf = self.dir / "chrony.conf"
        base = [
            f"pidfile {self.dir / 'chronyd.pid'}",
            f"bindcmdaddress {self.sock}",
            "cmdport 0",
            f"driftfile {self.dir / 'drift'}",
        ]
        self.conf.write_text("\n".join(base + conf_lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Chrony:
        # -x: never adjust the system clock; -d: foreground, log to stderr; -u root: no privilege drop
        # (the private socket directory belongs to root).
        self.proc = self.host.popen([CHRONYD, "-x", "-d", "-u", "root", "-f", str(self.conf)])

        def socket_ready():
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"chronyd exited: {out}")
            return self.sock.exists()

        wait_for(socket_ready, 10, 0.05, f"chronyd to create its command socket {self.sock}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def chronyc(self, *args: str) -> str:
        r = self.host.run([CHRONYC, "-h", str(self.sock), "-n", *args], timeout=10)
        if r.returncode != 0:
            raise RuntimeError(f"chronyc {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def sources(self) -> list[dict]:
        """chronyc -c sources as dicts: mode/state characters, address, stratum, offsets in s."""
        rows = []
        for line in self.chronyc("-c", "sources").splitlines():
            f = line.split(",")
            if len(f) < 10:
                continue
            rows.append(
                {
                    "mode": f[0],
                    "state": f[1],
                    "address": f[2],
                    "stratum": int(f[3]),
                    "poll": int(f[4]),
                    "reach": int(f[5], 8),
                    "last_rx_s": float(f[6]) if f[6] else None,
                    "offset_s": float(f[7]),
                    "measured_offset_s": float(f[8]),
                    "error_s": float(f[9]),
                }
            )
        return rows

    def tracking(self) -> dict:
        f = self.chronyc("-c", "tracking").strip().split(",")
        return {
            "ref_id": f[0],
            "address": f[1],
            "stratum": int(f[2]),
            "ref_time": float(f[3]),
            "system_time_s": float(f[4]),
            "last_offset_s": float(f[5]),
            "rms_offset_s": float(f[6]),
            "frequency_ppm": float(f[7]),
            "root_delay_s": float(f[10]),
            "root_dispersion_s": float(f[11]),
            "leap_status": f[13] if len(f) > 13 else "",
        }

    def wait_selected(self, address: str, timeout_s: float = 60.0) -> dict:
        rows = wait_for(
            self.sources,
            timeout_s,
            0.5,
            f"chronyd to select {address}",
            until=lambda rows: any(r["address"] == address and r["state"] == "*" for r in rows),
        )
        return next(r for r in rows if r["address"] == address and r["state"] == "*")
