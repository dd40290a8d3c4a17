"""`appliance demo`: three simulated control nodes in this process, on free loopback ports, serving
real NTP and voting among themselves over it, with a live terminal view.

Each node is a full Appliance (simulated TCXO, simulated reference, discipline, NTP server, peer
poller, control socket). Faults go in through the nodes' control sockets, from the keys of the live
view or from another terminal with `appliance sim inject --control-socket PATH ...`.

The role column shows what the grandmaster eligibility hook would make the PTP side choose: the
first eligible node in designated order is "grandmaster", the other eligible ones "follower"; no PTP
runs in the demo (each node keeps its own simulated reference).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from . import config
from .commands.status import _fmt_offset, _fmt_s
from .control_socket import request
from .ntp.server import ListenError
from .runtime.app import Appliance

NODES = ("ctl-0", "ctl-1", "ctl-2")
STEP_FAULT_S = 2.0
FREQ_FAULT_PPM = 50.0

KEYS_HELP = (
    "keys: 1-3 select node | s: step +2 s (reference stopped first, so only the vote can catch it) | "
    "f: +50 ppm frequency fault on/off | r: reference stop/start | c: clear faults | q: quit"
)


def free_udp_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def node_config(
    index: int, ports: list[int], workdir: Path, seed: int, poll_interval_s: float, max_slew_ppm: float = 83_333.333
) -> config.Config:
    data = {
        "node": {"name": NODES[index], "state_dir": str(workdir / NODES[index])},
        "cluster": {
            "control_nodes": [{"name": NODES[i], "address": f"127.0.0.1:{p}"} for i, p in enumerate(ports)],
            "crosscheck": {"poll_interval_s": poll_interval_s, "promote_after_s": 4 * poll_interval_s},
        },
        "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": seed + index, "reference": True}},
        "ntp": {
            "listen": [f"127.0.0.1:{ports[index]}"],
            "allow": ["127.0.0.0/8"],
            "ratelimit": None,
            "max_slew_ppm": max_slew_ppm,
        },
        "monitoring": {"metrics_listen": None, "control_socket": str(workdir / f"{NODES[index]}.sock")},
    }
    return config.parse(data, f"demo:{NODES[index]}")


class Demo:
    def __init__(self, workdir: Path, seed: int = 1, poll_interval_s: float = 1.0, max_slew_ppm: float = 83_333.333):
        self.workdir = Path(workdir)
        self.max_slew_ppm = max_slew_ppm
        self.seed = seed
        self.poll_interval_s = poll_interval_s
        self.apps: list[Appliance] = []
        self.started_s = time.monotonic()
        self.selected = 1
        self.freq_fault = [False] * len(NODES)

    def start(self) -> None:
        last: Exception | None = None
        for _ in range(5):  # another program may take a port between probing and binding
            ports = free_udp_ports(len(NODES))
            apps = [
                Appliance(node_config(i, ports, self.workdir, self.seed, self.poll_interval_s, self.max_slew_ppm))
                for i in range(len(NODES))
            ]
            try:
                for app in apps:
                    app.start()
                    self.apps.append(app)
                self.started_s = time.monotonic()
                return
            except ListenError as exc:
                last = exc
                self.stop()
        raise RuntimeError(f"could not bind three loopback ports: {last}")

    def stop(self) -> None:
        for app in self.apps:
            with contextlib.suppress(Exception):
                app.stop()
        self.apps = []

    def sockets(self) -> list[str]:
        return [str(app.control_path) for app in self.apps]

    def inject(self, index: int, **fault) -> str:
        reply = request(self.apps[index].control_path, "inject", **fault)
        return f"{NODES[index]}: " + ", ".join(f"{k} {v}" for k, v in reply["applied"].items())

    def key(self, ch: str) -> str | None:
        """Handle one key of the live view; returns a line for the view, or 'quit'."""
        i = self.selected
        if ch in "123":
            self.selected = int(ch) - 1
            return f"selected {NODES[self.selected]}"
        if ch == "q":
            return "quit"
        if ch == "s":
            self.inject(i, reference="stop")
            return self.inject(i, step_s=STEP_FAULT_S)
        if ch == "f":
            self.freq_fault[i] = not self.freq_fault[i]
            return self.inject(i, freq_ppm=FREQ_FAULT_PPM if self.freq_fault[i] else 0.0)
        if ch == "r":
            running = self.apps[i].reference is not None and self.apps[i].reference.available
            return self.inject(i, reference="stop" if running else "start")
        if ch == "c":
            self.freq_fault[i] = False
            self.inject(i, freq_ppm=0.0)
            return self.inject(i, reference="start")
        return None

    # -- the view ----------------------------------------------------------------------------------
    def snapshot(self) -> list[dict]:
        rows = []
        now_ns = time.time_ns()
        for app in self.apps:
            st = app.status()
            # The simulation's oracle: truth is the host clock, so served - true is the served error.
            st["served_error_s"] = (app.timemap().to_served_ns(now_ns) - now_ns) * 1e-9
            rows.append(st)
        return rows

    def render(self, rows: list[dict], messages: list[str], keys: bool) -> str:
        elapsed = time.monotonic() - self.started_s
        out = [
            f"appliance demo: three simulated control nodes on 127.0.0.1, voting over NTP   t = {elapsed:5.0f} s",
            "",
        ]
        head = (
            f"{'node':6} {'ntp':16} {'role':11} {'sync':9} {'vote':11} {'str':>3} {'error bound':>11} "
            f"{'served-true':>11} {'temp':>8} {'freq corr':>12} {'temp comp':>13}"
            "   offsets to the others (local - peer)"
        )
        out.append(head)
        gm_taken = False
        for i, st in enumerate(rows):
            cc = st.get("crosscheck", {})
            if cc.get("demoted"):
                role = "DEMOTED"
            elif cc.get("grandmaster_eligible"):
                role = "follower" if gm_taken else "grandmaster"
                gm_taken = True
            else:
                role = "ineligible"
            temp = st["clock"].get("temperature_c")
            peers = "  ".join(
                f"{p['name']} {_fmt_offset(p['offset_s'])}{_vote_mark(p['vote'])}" for p in st.get("peers", [])
            )
            sel = ">" if (keys and i == self.selected) else " "
            out.append(
                f"{sel}{st['node']:5} {st['ntp']['listen'][0]:16} {role:11} {st['sync']['state']:9} "
                f"{cc.get('state', '-'):11} {st['ntp']['stratum']:>3} {_fmt_s(st['served']['error_bound_s']):>11} "
                f"{_fmt_offset(st['served_error_s']):>11} {'-' if temp is None else f'{temp:.2f} C':>8} "
                f"{(st['clock']['freq_ppb'] or 0.0):+10.1f} ppb {_fmt_comp(st.get('tempcomp')):>13}   {peers}"
            )
        out.append("")
        out.append(
            "offset marks: x falseticker, ? unsynchronized (leap 3), - no answer; 'freq corr' is the "
            "discipline's frequency correction; 'temp comp' the learned TCXO model's correction in "
            "holdover (it learns for 6 h locked first)"
        )
        events = []
        for st in rows:
            for e in st.get("crosscheck", {}).get("events", []):
                events.append((e["time"], f"{st['node']}: vote {e['from']} -> {e['to']} ({e['event']})"))
            for e in st["sync"].get("events", []):
                events.append((e["time"], f"{st['node']}: sync {e['from']} -> {e['to']} ({e['event']})"))
        events.sort()
        out.append("recent events:")
        for t, text in events[-6:]:
            out.append(f"  {time.strftime('%H:%M:%S', time.localtime(t))} {text}")
        for m in messages[-3:]:
            out.append(f"  {m}")
        out.append("")
        if keys:
            out.append(KEYS_HELP)
        out.append(
            "from another terminal: appliance sim inject --control-socket PATH "
            "(--step S | --freq PPM | --stop-reference | --start-reference)"
        )
        for name, path in zip(NODES, self.sockets(), strict=False):
            out.append(f"  {name}: {path}")
        return "\n".join(out)


def _fmt_comp(tc: dict | None) -> str:
    """The TCXO model's column: its correction in holdover, or how far its learning has come."""
    if not tc:
        return "-"
    if not tc.get("ready"):
        return f"learning {tc.get('records_buffered', 0)}"
    return f"{tc.get('compensation_ppm', 0.0):+.4f} ppm"


def _vote_mark(role: str) -> str:
    return {"falseticker": " x", "unsynchronized": " ?", "no_data": " -"}.get(role, "")


@contextlib.contextmanager
def _cbreak(enabled: bool):
    if not enabled:
        yield False
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def _restore(handlers: dict) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def run(
    duration_s: float | None = None,
    seed: int = 1,
    refresh_s: float = 1.0,
    keys: bool | None = None,
    ansi: bool | None = None,
    out=None,
) -> int:
    out = out or sys.stdout
    ansi = out.isatty() if ansi is None else ansi
    keys = (sys.stdin.isatty() and ansi) if keys is None else keys
    # The live view is the output; the nodes' own log lines would tear it.
    logging.getLogger("appliance").setLevel(logging.ERROR)
    stop = {"flag": False}

    def on_term(signum, _frame):
        stop["flag"] = True

    # Ctrl-C sets the same flag as SIGTERM: a KeyboardInterrupt raised at any point of the loop
    # (inside a status call holding a lock, say) could leave the nodes unable to stop.
    old_handlers = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGINT)}
    with tempfile.TemporaryDirectory(prefix="appliance-demo-") as tmp:
        demo = Demo(Path(tmp), seed=seed)
        try:
            demo.start()
        except (RuntimeError, OSError) as exc:
            print(f"appliance demo: {exc}", file=sys.stderr)
            _restore(old_handlers)
            return 2  # FAIL: the nodes could not start
        sockets = "  ".join(f"{n}={p}" for n, p in zip(NODES, demo.sockets(), strict=True))
        print("control sockets: " + sockets, file=out, flush=True)
        messages: list[str] = []
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            with _cbreak(keys) as reading:
                while not stop["flag"] and (deadline is None or time.monotonic() < deadline):
                    frame = demo.render(demo.snapshot(), messages, reading)
                    out.write(("\x1b[H\x1b[2J" + frame) if ansi else (frame + "\n\n"))
                    out.flush()
                    wake = time.monotonic() + refresh_s
                    while not stop["flag"] and time.monotonic() < wake:
                        left = max(0.0, wake - time.monotonic())
                        if deadline is not None:
                            left = min(left, max(0.0, deadline - time.monotonic()))
                        if reading:
                            ready, _, _ = select.select([sys.stdin], [], [], left)
                            if ready:
                                ch = os.read(sys.stdin.fileno(), 1).decode(errors="ignore")
                                try:
                                    msg = demo.key(ch)
                                except Exception as exc:  # a refused injection is shown, not fatal
                                    msg = f"{ch}: {exc}"
                                if msg == "quit":
                                    stop["flag"] = True
                                elif msg:
                                    messages.append(msg)
                                break
                        else:
                            time.sleep(min(left, 0.2))
                        if deadline is not None and time.monotonic() >= deadline:
                            break
        except KeyboardInterrupt:
            pass
        finally:
            demo.stop()
            _restore(old_handlers)
        if ansi:
            out.write("\n")
        print("appliance demo: stopped", file=out, flush=True)
    return 0
