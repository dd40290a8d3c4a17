"""Cost of the hardware layer's reads, beside anchors measured in the same run.

posix_clock.clock_gettime_ns (the read PhcClock.gettime_ns does on a PHC's dynamic clock id), and the
ctypes binding of clock_gettime, on CLOCK_REALTIME here  vs  time.clock_gettime_ns (CPython's C call).
ETHTOOL_GET_TS_INFO on lo (one SIOCETHTOOL ioctl)  vs  os.stat("/") (one cheap syscall).
`appliance discover` data collection (pyudev + ioctls) and inventory, once.

  .venv/bin/python bench/hw_reads.py
"""

from __future__ import annotations

import os
import time

from appliance.hw import discovery, nicdb
from appliance.hw.posix_clock import clock_gettime_ns, clock_gettime_ns_ctypes
from appliance.hw.timestamping import get_ts_info

N = 20000


def per_call_ns(fn, n=N) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def main() -> None:
    anchor = per_call_ns(lambda: time.clock_gettime_ns(time.CLOCK_REALTIME))
    for name, fn in (("clock_gettime_ns", clock_gettime_ns), ("clock_gettime (ctypes)", clock_gettime_ns_ctypes)):
        ours = per_call_ns(lambda fn=fn: fn(0))
        print(
            f"{name:<26} {ours:8.0f} ns/call   anchor time.clock_gettime_ns {anchor:8.0f} ns/call"
            f"   ratio {ours / anchor:5.1f}"
        )
    ours = per_call_ns(lambda: get_ts_info("lo"), 5000)
    anchor = per_call_ns(lambda: os.stat("/"), 5000)
    print(
        f"ETHTOOL_GET_TS_INFO (lo)   {ours:8.0f} ns/call   anchor os.stat('/')          {anchor:8.0f} ns/call"
        f"   ratio {ours / anchor:5.1f}"
    )
    fams = nicdb.load()
    t0 = time.perf_counter()
    inv = discovery.build_inventory(discovery.collect_live(), fams)
    t1 = time.perf_counter()
    print(f"discover (live, {len(inv.interfaces)} interfaces, {len(inv.phcs)} PHCs): {(t1 - t0) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
