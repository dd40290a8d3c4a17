"""One cluster time from three control nodes, end to end, in test hosts (network namespaces).

Three `appliance serve` processes (simulated TCXOs, each locked to its own simulated reference:
truth is the host clock) vote among themselves over NTP. Two real chronyd clients (-x: they never
touch the host clock) use the chrony.conf that `appliance config render clients --format chrony`
writes from the seed's timesync block; the only test-only changes are private paths (pidfile,
command socket, driftfile: the Chrony helper's), dropping `rtcsync` and `driftfile`, and short
polls (`minpoll -2 maxpoll -2` on each server line). An SNTP client that follows one server at a
time, as systemd-timesyncd does (tests/helpers/sntp.py), follows the node that will fail.

1. All three agree and the clients use them.
2. One node is killed: the clients stay within 1 ms; the other two still agree (2 of 3).
3. It comes back. Then another node's fault: its reference is stopped (it goes to holdover and is
   healthy by its own account: only the vote can tell) and its clock is stepped +2 s with
   `appliance sim inject`. It must demote itself within 30 s (leap 3), the chrony clients must
   reject it, the SNTP client must move on when it sees leap 3, and no chrony client's offset may
   exceed 1 ms at any point of the test.
4. It returns by slewing: its served time never steps backward, and it agrees again.
"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from helpers.appliance_proc import ApplianceProc
from helpers.chrony import Chrony
from helpers.netns import TestNet, stop_process
from helpers.requirements import require_root_netns, require_tool
from helpers.wait import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NAMES = ["ctl-0", "ctl-1", "ctl-2"]
MAX_CLIENT_OFFSET_S = 1e-3
SLEW_PER_S = 83_333.333e-6  # ntp.max_slew_ppm's default


def node_config(tmp: Path, i: int, addrs: list[str]) -> Path:
    cfg = {
        "node": {"name": NAMES[i], "state_dir": str(tmp / f"{NAMES[i]}-state")},
        "cluster": {
            "control_nodes": [{"name": n, "address": a} for n, a in zip(NAMES, addrs, strict=False)],
            "crosscheck": {"poll_interval_s": 1.0, "promote_after_s": 4.0},
        },
        "clock": {"source": "sim", "sim": {"oscillator": "tcxo", "seed": 11 + i, "reference": True}},
        "ntp": {"listen": [f"{addrs[i]}:123"], "allow": ["all"], "ratelimit": None},
        "monitoring": {"metrics_listen": None, "control_socket": str(tmp / f"{NAMES[i]}.sock")},
        "timesync": {"enabled": True, "mode": "chrony", "servers": addrs, "threshold": "500ms"},
    }
    path = tmp / f"{NAMES[i]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def appliance(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance", *args], capture_output=True, text=True, cwd=REPO, timeout=30
    )


def client_lines(rendered: str) -> list[str]:
    """The rendered chrony.conf with the test-only changes named in the module docstring."""
    out = []
    for line in rendered.splitlines():
        if line.startswith(("driftfile", "rtcsync")):
            continue
        if line.startswith("server "):
            line += " minpoll -2 maxpoll -2"
        out.append(line)
    return out


class JsonLines:
    """Collects the JSON lines a helper process prints, in a thread."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[dict] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                pass


class Monitor:
    """Samples both chrony clients once a second for the whole test: the worst offset seen."""

    def __init__(self, clients: list[Chrony]):
        self.clients = clients
        self.worst = 0.0
        self.worst_at = None
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(timeout=10)

    def _run(self):
        while not self._stop.wait(1.0):
            for i, c in enumerate(self.clients):
                try:
                    tr = c.tracking()
                    rows = c.sources()
                except Exception as exc:  # a chronyc hiccup is recorded, not fatal
                    self.errors.append(str(exc))
                    continue
                if tr["ref_id"] in ("00000000", "7F7F0101"):
                    continue  # not synchronized yet: no offset to judge
                values = [tr["system_time_s"], tr["last_offset_s"]]
                values += [r["offset_s"] for r in rows if r["state"] in "*+"]
                worst = max(abs(v) for v in values)
                self.samples += 1
                if worst > self.worst:
                    self.worst, self.worst_at = worst, (time.monotonic(), i, tr, rows)


def within(line: dict, limit_s: float) -> bool:
    """One SNTP measurement says the server is within limit_s of true time: its offset error is at
    most half its round trip, and a single query by a Python client on a loaded host can wait."""
    return abs(line["offset_s"]) - line["delay_s"] / 2 < limit_s


def states(client: Chrony) -> dict[str, str]:
    return {r["address"]: r["state"] for r in client.sources()}


def test_cluster_vote_demotion_and_clients(tmp_path):
    require_root_netns()
    require_tool("chronyd", "chronyc")
    with TestNet(NAMES + ["client1", "client2"]) as net:
        hosts = [net[n] for n in NAMES]
        addrs = [h.addr for h in hosts]
        configs = [node_config(tmp_path, i, addrs) for i in range(3)]
        nodes = [ApplianceProc(configs[i], host=hosts[i]).start(wait_state="locked") for i in range(3)]

        r = appliance("config", "render", "clients", "--format", "chrony", "--config", str(configs[0]))
        assert r.returncode == 0, r.stderr
        rendered = r.stdout
        assert all(f"server {a} iburst" in rendered for a in addrs)
        assert "minsources 2" in rendered and "maxdistance 0.5" in rendered and "makestep 1.0 3" in rendered
        clients = [Chrony(net[c], tmp_path / c, client_lines(rendered)).start() for c in ("client1", "client2")]
        monitor = Monitor(clients).start()
        # The SNTP client follows ctl-1 first: the node that will fail.
        sntp = JsonLines(
            net["client1"].popen(
                [
                    sys.executable,
                    str(REPO / "tests/helpers/sntp.py"),
                    addrs[1],
                    addrs[0],
                    addrs[2],
                    "--interval",
                    "0.5",
                    "--max-root-distance",
                    "0.5",
                ],
                cwd=REPO,
                stderr=subprocess.DEVNULL,
            )
        )
        probe = None
        try:
            # 1. All agree, and the clients use them.
            def all_agree():
                sts = [n.status() for n in nodes]
                return all(
                    s["crosscheck"]["state"] == "agree"
                    and [p["vote"] for p in s["peers"]] == ["truechimer", "truechimer"]
                    for s in sts
                )

            wait_for(all_agree, 30, 0.5, "all agree, each seeing both others as truechimers")
            for c in clients:

                def used(c=c):
                    s = states(c)
                    return (
                        "*" in s.values()
                        and sum(v in "*+" for v in s.values()) >= 2
                        and len(s) == 3
                        and not any(v in "x?" for v in s.values())
                    )

                wait_for(used, 40, 0.5, f"chronyd uses the cluster ({c.dir.name})")
            st = nodes[0].status()
            assert [p["vote"] for p in st["peers"]] == ["truechimer", "truechimer"]
            assert all(abs(p["offset_s"]) < 500e-6 for p in st["peers"])
            print("all agree; peer offsets from ctl-0:", [f"{p['offset_s'] * 1e6:+.1f} us" for p in st["peers"]])

            # 2. Kill one: the clients stay within 1 ms, the other two still agree.
            nodes[2].stop()
            t_kill = time.monotonic()
            time.sleep(8)
            for n in nodes[:2]:
                assert n.status()["crosscheck"]["state"] == "agree"
            for c in clients:
                assert "*" in states(c).values()
            assert monitor.worst < MAX_CLIENT_OFFSET_S, monitor.worst_at
            print(
                f"killed ctl-2 for {time.monotonic() - t_kill:.0f} s: worst client offset so far "
                f"{monitor.worst * 1e6:.1f} us"
            )

            # 3. It comes back; then ctl-1 fails: reference gone, clock +2 s.
            nodes[2] = ApplianceProc(configs[2], host=hosts[2]).start(wait_state="locked")
            wait_for(lambda: nodes[2].status()["crosscheck"]["state"] == "agree", 30, 0.5, "ctl-2 agrees again")
            for c in clients:
                wait_for(lambda c=c: states(c).get(addrs[2], "?") in "*+-", 30, 0.5, "clients see ctl-2 again")
            wait_for(
                lambda: any(ln["server"] == addrs[1] and ln["ok"] for ln in sntp.lines[-3:]),
                10,
                0.5,
                "the SNTP client follows ctl-1",
            )
            probe = JsonLines(
                net["client2"].popen(
                    [sys.executable, str(REPO / "tests/helpers/sntp.py"), addrs[1], "--probe", "--interval", "0.2"],
                    cwd=REPO,
                    stderr=subprocess.DEVNULL,
                )
            )
            sock = str(nodes[1].sock)
            r = appliance("sim", "inject", "--control-socket", sock, "--stop-reference")
            assert r.returncode == 0, r.stderr
            wait_for(lambda: nodes[1].status()["sync"]["state"] == "holdover", 10, 0.5, "ctl-1 in holdover")
            r = appliance("sim", "inject", "--control-socket", sock, "--step", "2s")
            assert r.returncode == 0, r.stderr
            t_step = time.monotonic()
            st = wait_for(
                lambda: (s := nodes[1].status())["crosscheck"]["demoted"] and s, 30, 0.5, "ctl-1 demotes itself"
            )
            demoted_after = time.monotonic() - t_step
            assert st["sync"]["healthy"] and st["sync"]["state"] == "holdover"  # the vote did it
            assert st["ntp"]["stratum"] == 16 and not st["crosscheck"]["grandmaster_eligible"]
            assert st["crosscheck"]["falsetickers"] == ["ctl-1"]
            print(f"ctl-1 demoted {demoted_after:.1f} s after its +2 s step")

            for c in clients:
                wait_for(lambda c=c: states(c).get(addrs[1]) in ("x", "?"), 20, 0.5, "chronyd rejects ctl-1")
            print("chrony clients' view of ctl-1:", [states(c).get(addrs[1]) for c in clients])

            def moved_on():
                after = [ln for ln in sntp.lines if ln["t"] >= t_step - 1]
                faulty_left = any(
                    ln["server"] == addrs[1] and ln.get("leap") == 3 and ln["switched_to"] for ln in after
                )
                return faulty_left and any(ln["server"] != addrs[1] and ln["ok"] for ln in after)

            wait_for(moved_on, 30, 0.5, "the SNTP client moves on at leap 3")
            moved = [ln for ln in sntp.lines if ln["t"] >= t_step - 1 and ln["server"] != addrs[1] and ln["ok"]]
            assert all(within(ln, MAX_CLIENT_OFFSET_S) for ln in moved[-3:]), moved[-3:]
            saw_wrong = [ln for ln in sntp.lines if ln["server"] == addrs[1] and ln["ok"] and abs(ln["offset_s"]) > 1]
            print(f"SNTP client moved on; it followed ctl-1's wrong time for {len(saw_wrong)} answer(s) first")

            # 4. ctl-1 returns by slewing, its served time never stepping back.
            wait_for(lambda: nodes[1].status()["crosscheck"]["state"] == "agree", 60, 0.5, "ctl-1 agrees again")
            seen = [ln for ln in probe.lines if ln.get("offset_s") is not None and ln["t"] >= t_step]
            assert len(seen) > 50
            assert max(ln["offset_s"] for ln in seen) > 1.9  # the fault was visible ...
            for a, b in zip(seen, seen[1:], strict=False):
                # ... and afterwards served time only ever slewed back: its stamps always advance, and
                # the offset never falls faster than the slew rate (give or take each measurement's
                # error, at most half its round trip), so never a step.
                assert b["t3_s"] > a["t3_s"], (a, b)
                dt = b["t1_s"] - a["t1_s"]
                noise = (a["delay_s"] + b["delay_s"]) / 2 + 200e-6
                assert a["offset_s"] - b["offset_s"] <= SLEW_PER_S * dt + noise, (a, b)
            assert within(seen[-1], MAX_CLIENT_OFFSET_S), seen[-1]
            print(
                f"ctl-1 back in agreement {time.monotonic() - t_step:.0f} s after the step; last probe: offset "
                f"{seen[-1]['offset_s'] * 1e6:+.1f} us, delay {seen[-1]['delay_s'] * 1e6:.1f} us"
            )

            # No chrony client was ever more than 1 ms off.
            monitor.stop()
            assert monitor.samples > 40, (monitor.samples, monitor.errors[-3:])
            assert monitor.worst < MAX_CLIENT_OFFSET_S, monitor.worst_at
            print(f"worst chrony client offset over {monitor.samples} samples: {monitor.worst * 1e6:.1f} us")
        finally:
            monitor.stop()
            for p in (sntp, probe):
                if p is not None:
                    stop_process(p.proc)
            for c in clients:
                c.stop()
            for n in nodes:
                n.stop()
