"""What the lab measures through: a real PHC (PhcLab) or a simulated one (SimLab), and the time
that passes between readings (RealTime, or the simulation's VirtualClock).

Both offer the same few operations to the measuring loop: the Clock interface itself (``clock``),
one reading with a named sys-offset method, the offset to the reference, an out-of-range frequency
attempt, the temperature, and a pin loopback. Only the PHC under test is ever adjusted; a reference
PHC is opened read-only and CLOCK_REALTIME is only read.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from ..core.clock.interface import ClockError, SysOffset

log = logging.getLogger("appliance.lab")
NS_PER_S = 1_000_000_000


class RealTime:
    """Real time: the monotonic clock, and sleeping."""

    simulated = False

    def now_s(self) -> float:
        return time.monotonic()

    def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimTime:
    """A simulation's time: sleeping moves the VirtualClock on, so a long run takes little real time."""

    simulated = True

    def __init__(self, virtual):
        self.virtual = virtual

    def now_s(self) -> float:
        return self.virtual.now_ns / 1e9

    def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            self.virtual.advance(seconds)


@dataclass
class Loopback:
    pin_out: int
    pin_in: int
    period_ns: int = NS_PER_S
    channel_out: int = 0
    channel_in: int = 0


def _pci_dsn(pci_address: str | None) -> str | None:
    """The PCIe Device Serial Number capability (what lspci -vv shows), when config space is readable
    beyond the first 256 bytes (root)."""
    if not pci_address:
        return None
    try:
        with open(f"/sys/bus/pci/devices/{pci_address}/config", "rb") as f:
            cfg = f.read(4096)
    except OSError:
        return None
    off, seen = 0x100, set()
    while 0x100 <= off <= len(cfg) - 12 and off not in seen:
        seen.add(off)
        header = int.from_bytes(cfg[off : off + 4], "little")
        if header in (0, 0xFFFFFFFF):
            return None
        if header & 0xFFFF == 0x0003:
            value = int.from_bytes(cfg[off + 4 : off + 12], "little")
            return "-".join(f"{b:02x}" for b in value.to_bytes(8, "big"))
        off = header >> 20
    return None


class PhcLab:
    """A real /dev/ptpN, opened read-write; an optional reference PHC, read-only."""

    kind = "phc"

    def __init__(self, device: str | None = None, interface: str | None = None, reference: str | None = None):
        from ..hw.phc import PhcClock, open_phc

        self.clock = open_phc(interface=interface, device=device)
        self.timebase = RealTime()
        self.reference = None
        if reference:
            try:
                self.reference = PhcClock(reference, readonly=True, find_sensor=False)
            except ClockError:
                self.clock.close()
                raise
            if os.path.realpath(self.reference.path) == os.path.realpath(self.clock.path):
                self.close()
                raise ClockError(f"--reference {reference} is the PHC under test itself")
        self.reference_name = self.reference.path if self.reference else "CLOCK_REALTIME"

    def read_methods(self) -> list[str]:
        from ..hw.phc_sysoffset import METHODS

        return list(METHODS)  # each is tried; what the driver lacks is reported as refused

    def read(self, method: str, samples: int = 1) -> SysOffset:
        return self.clock.measure_with(method, samples)

    def offset_to_reference(self, method: str, samples: int = 5) -> tuple[int, float]:
        """(system time of the reading, ns; clock - reference, ns)."""
        mine = self.clock.measure_with(method, samples)
        if self.reference is None:
            return mine.system_ns, float(mine.offset_ns)
        ref = self.reference.measure_offset_to_system(samples)
        # both against CLOCK_REALTIME a few microseconds apart; the system clock cancels
        return mine.system_ns, float(mine.offset_ns - ref.offset_ns)

    def try_frequency_beyond(self, freq_ppb: float) -> tuple[bool, str]:
        from ..hw.errors import OutOfRangeError

        try:
            self.clock.adjust_frequency_unguarded(freq_ppb)
        except OutOfRangeError as exc:
            return True, f"ERANGE: {exc}"
        except ClockError as exc:
            return True, f"refused otherwise: {exc}"
        return False, "the kernel accepted it"

    def temperature_c(self) -> float | None:
        return self.clock.temperature_c()

    def pins(self) -> list[dict]:
        try:
            return [p.to_dict() for p in self.clock.pins()]
        except ClockError as exc:
            return [{"error": str(exc)}]

    # -- loopback --------------------------------------------------------------------------------------
    def loopback_start(self, lb: Loopback) -> None:
        self._saved_pins = {p.index: p for p in self.clock.pins()}
        self.clock.set_pin_function(lb.pin_out, "perout", lb.channel_out)
        self.clock.set_pin_function(lb.pin_in, "extts", lb.channel_in)
        self.clock.request_extts(lb.channel_in, True)
        self.clock.request_perout(lb.channel_out, lb.period_ns)

    def loopback_events(self, lb: Loopback, timeout_s: float) -> list[int]:
        return [e.time_ns for e in self.clock.read_extts(timeout_s) if e.index == lb.channel_in]

    def loopback_stop(self, lb: Loopback) -> None:
        for what, call in (
            ("periodic output", lambda: self.clock.request_perout(lb.channel_out, 0)),
            ("external timestamps", lambda: self.clock.request_extts(lb.channel_in, False)),
        ):
            try:
                call()
            except ClockError as exc:
                log.warning("switching off the %s: %s", what, exc)
        for p in getattr(self, "_saved_pins", {}).values():
            try:
                self.clock.set_pin_function(p.index, p.function, p.channel)
            except ClockError as exc:
                log.warning("restoring pin %d: %s", p.index, exc)

    # -- identity --------------------------------------------------------------------------------------
    def identity(self) -> tuple[dict, dict | None]:
        """(what was tested, the nics.yaml family it matched)."""
        info = self.clock.info()
        caps = self.clock.caps()
        dev = {
            "name": info.name,
            "kind": "phc",
            "driver": info.details.get("driver"),
            "clock_name": info.details.get("clock_name"),
            "interface": info.details.get("interface"),
            "caps": caps.__dict__.copy(),
            "pins": self.pins(),
            "reference": self.reference_name,
            "temperature_sensor": info.details.get("temperature_sensor"),
            "kernel": os.uname().release,
        }
        family = None
        try:
            family = self._discover(dev)
        except Exception as exc:  # noqa: BLE001 - identity is best effort; the measurement does not need it
            dev["identity_error"] = f"discovery failed: {exc}"
        return dev, family

    def _discover(self, dev: dict) -> dict | None:
        from ..hw import discovery, nicdb

        families = nicdb.load()
        inv = discovery.build_inventory(discovery.collect_live(probe=True), families)
        me = os.path.realpath(self.clock.path)
        phc = next((p for p in inv.phcs if p.devnode and os.path.realpath(p.devnode) == me), None)
        if phc is None:
            return None
        ifaces = [i for i in inv.interfaces if i.phc == phc.name]
        if dev.get("interface"):
            ifaces.sort(key=lambda i: i.name != dev["interface"])
        if ifaces:
            i = ifaces[0]
            dev.update(
                {
                    "interface": dev.get("interface") or i.name,
                    "interfaces": [x.name for x in ifaces],
                    "firmware": i.fw_version,
                    "pci_address": i.pci_address,
                    "pci_id": i.pci_id,
                    "vendor": i.vendor,
                    "model": i.model,
                    "mac": i.mac,
                    "family": i.family,
                }
            )
            dev["serial"] = _pci_dsn(i.pci_address)
        fam = next((f for f in families if f.id == dev.get("family")), None)
        if fam is None:
            return None
        return {
            "id": fam.id,
            "name": fam.name,
            "cross_timestamping": fam.cross_timestamping,
            "max_adj_ppb": fam.max_adj_ppb,
            "firmware_notes": fam.firmware_notes,
        }

    def close(self) -> None:
        self.clock.close()
        if self.reference is not None:
            self.reference.close()


# --- the simulated PHC ----------------------------------------------------------------------------------

# Simulated read noise per method (sd of the offset, window median and spread, ns). Not a measurement of
# any NIC: it gives the simulated report the three methods' shapes (a cross-timestamp has no window; the
# bracketing methods have one, with the occasional long one when "an interrupt" lands inside).
SIM_READ = {
    "precise": {"jitter_ns": 1.0, "window_ns": 0.0, "window_sd": 0.0},
    "extended": {"jitter_ns": 15.0, "window_ns": 1500.0, "window_sd": 0.15},
    "basic": {"jitter_ns": 120.0, "window_ns": 6000.0, "window_sd": 0.25},
}
SIM_LONG_WINDOW_P = 0.01  # share of bracketed readings with a long window (and an offset error inside it)
SIM_READ_COST_S = 10e-6  # virtual time one reading takes
SIM_CABLE_DELAY_NS = 5.0  # a short loopback cable
SIM_PPS_JITTER_NS = 4.0
BENCH_C = 25.0
CHAMBER_C = (15.0, 35.0)
CHAMBER_RATE_C_PER_S = 0.5 / 60.0  # a climate chamber's slow ramp, 0.5 K/min


class ChamberSweep:
    """Triangle between CHAMBER_C at CHAMBER_RATE_C_PER_S, starting in the middle going up."""

    def temp_c(self, t_s):
        lo, hi = CHAMBER_C
        half = (hi - lo) / CHAMBER_RATE_C_PER_S
        phase = (np.asarray(t_s, dtype=float) + half / 2) % (2 * half)
        value = lo + CHAMBER_RATE_C_PER_S * np.where(phase < half, phase, 2 * half - phase)
        return float(value) if np.ndim(value) == 0 else value


class SimLab:
    """SimPhc of an oscillator class on a VirtualClock, with simulated read methods and pins."""

    kind = "sim"

    def __init__(self, oscillator: str, seed: int = 1, temperature: str = "bench", adj_response=None):
        from ..sim.oscillator import Oscillator, draw_params
        from ..sim.phc import SimPhc, VirtualClock
        from ..sim.temperature import Constant

        params = draw_params(oscillator, seed)
        profile = ChamberSweep() if temperature == "chamber" else Constant(BENCH_C)
        self.virtual = VirtualClock()
        self.timebase = SimTime(self.virtual)
        self.params = params
        self.seed = seed
        self.temperature = temperature
        self.clock = SimPhc(
            Oscillator(params, seed, profile.temp_c(0.0)),
            profile.temp_c,
            truth_ns=self.virtual,
            name=f"sim-{oscillator}",
            adj_response=adj_response,
        )
        self.reference = None
        self.reference_name = "simulated true time"
        self._rng = np.random.default_rng([seed, 0x1AB])
        self._lb_next: int | None = None  # the next loopback edge, PHC ns, while the loopback runs

    def read_methods(self) -> list[str]:
        return list(SIM_READ)

    def _one(self, method: str) -> tuple[int, int, int]:
        spec = SIM_READ[method]
        self.virtual.advance(SIM_READ_COST_S)
        true = self.clock.measure_offset_to_system()
        window = 0.0
        noise = float(self._rng.normal(0.0, spec["jitter_ns"]))
        if spec["window_ns"]:
            window = spec["window_ns"] * float(np.exp(self._rng.normal(0.0, spec["window_sd"])))
            if self._rng.random() < SIM_LONG_WINDOW_P:
                extra = float(self._rng.uniform(5, 30)) * spec["window_ns"]
                window += extra
                noise += float(self._rng.uniform(-0.5, 0.5)) * extra
        return true.system_ns, int(round(true.offset_ns + noise)), int(round(window))

    def read(self, method: str, samples: int = 1) -> SysOffset:
        if method not in SIM_READ:
            raise ClockError(f"simulated PHC: unknown sys-offset method {method!r}")
        best = min((self._one(method) for _ in range(max(1, samples))), key=lambda r: r[2])
        return SysOffset(offset_ns=best[1], delay_ns=best[2], system_ns=best[0], method=method)

    def offset_to_reference(self, method: str, samples: int = 5) -> tuple[int, float]:
        r = self.read(method, samples)
        return r.system_ns, float(r.offset_ns)

    def try_frequency_beyond(self, freq_ppb: float) -> tuple[bool, str]:
        try:
            self.clock.adjust_frequency(freq_ppb)
        except ClockError as exc:
            return True, str(exc)
        return False, "accepted"

    def temperature_c(self) -> float | None:
        return self.clock.temperature_c()

    def pins(self) -> list[dict]:
        return [
            {"index": i, "name": f"SDP{i}", "function": "none", "channel": 0} for i in range(self.clock.caps().n_pins)
        ]

    def loopback_start(self, lb: Loopback) -> None:
        n_pins = self.clock.caps().n_pins
        for pin in (lb.pin_out, lb.pin_in):
            if not 0 <= pin < n_pins:
                raise ClockError(
                    f"PTP_PIN_SETFUNC on {self.clock.info().name}: pin {pin} does not exist ({n_pins} pins)"
                )
        now = self.clock.gettime_ns()
        self._lb_next = (now // lb.period_ns + 2) * lb.period_ns

    def loopback_events(self, lb: Loopback, timeout_s: float) -> list[int]:
        """The next edge: wait (virtually) until the PHC passes it, then its timestamp on the input pin."""
        edge_ns = self._lb_next
        if edge_ns is None:
            raise ClockError("simulated PHC: loopback_events before loopback_start")
        wait_ns = edge_ns - self.clock.gettime_ns()
        if wait_ns > timeout_s * 1e9:
            self.timebase.sleep_s(timeout_s)
            return []
        self.timebase.sleep_s(max(wait_ns, 0) / 1e9 + 1e-4)
        stamp = int(edge_ns) + int(round(SIM_CABLE_DELAY_NS + float(self._rng.normal(0.0, SIM_PPS_JITTER_NS))))
        self._lb_next = edge_ns + lb.period_ns
        return [stamp]

    def loopback_stop(self, lb: Loopback) -> None:
        self._lb_next = None

    def identity(self) -> tuple[dict, dict | None]:
        caps = self.clock.caps()
        p = self.params
        dev = {
            "name": self.clock.info().name,
            "kind": "sim",
            "driver": "simulated",
            "firmware": "simulated",
            "model": f"simulated {p.name.upper()}",
            "serial": f"sim-{p.name}-seed{self.seed}",
            "clock_name": "SimPhc",
            "caps": caps.__dict__.copy(),
            "pins": self.pins(),
            "reference": self.reference_name,
            "temperature_profile": self.temperature,
            "simulated_oscillator": {
                "class": p.name,
                "seed": self.seed,
                "initial_offset_ppm": p.initial_offset_ppm,
                "white_ppb": p.white_ppb,
                "rw_ppb_per_sqrt_s": p.rw_ppb_per_sqrt_s,
                "aging_ppm_per_day": p.aging_ppm_per_day,
                "lag_s": p.lag_s,
            },
        }
        return dev, None

    def close(self) -> None:
        self.clock.close()
