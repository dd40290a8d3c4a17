"""systemd's service notification protocol (sd_notify(3)), without libsystemd.

A unit with ``Type=notify`` is started once the service says ``READY=1``; with ``WatchdogSec=`` it
is restarted when ``WATCHDOG=1`` stops arriving. The protocol is one datagram per message on the
AF_UNIX socket named by ``$NOTIFY_SOCKET``: newline-separated ``KEY=VALUE`` assignments. A name
starting with ``@`` is in the abstract namespace (the ``@`` stands for a leading NUL byte).

    notify("READY=1", "STATUS=serving NTP")     # after the NTP socket is open and the first tick ran
    notify("WATCHDOG=1")                        # from the tick, at least every watchdog_interval_s() / 2
    notify("RELOADING=1"); ...; notify("READY=1")
    notify("STOPPING=1")

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op returning False, so the service can
call it unconditionally. A send that fails is logged once per reason and reported as False, never
raised: a lost notification must not stop the clock.

The watchdog: systemd sets ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, the process that must ping);
sd_watchdog_enabled(3) says a ping is due every half of it, which is what
:func:`watchdog_ping_interval_s` returns.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("appliance.sdnotify")

_reported: set[str] = set()


def _address(name: str) -> str | bytes:
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def notify(*lines: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``lines`` (``KEY=VALUE`` each) as one notification; True if systemd got it."""
    env = os.environ if environ is None else environ
    name = env.get("NOTIFY_SOCKET", "")
    if not name:
        return False
    for line in lines:
        if "=" not in line or "\n" in line:
            raise ValueError(f"sd_notify: expected one KEY=VALUE line, got {line!r}")
    if not (name.startswith("/") or name.startswith("@")):
        # vsock addresses (vsock:CID:PORT) are for virtual machines' managers, not a service.
        _report_once(f"NOTIFY_SOCKET {name!r} is neither a path nor an abstract (@) name")
        return False
    payload = "\n".join(lines).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(payload, _address(name))
    except OSError as exc:
        _report_once(f"cannot notify systemd on {name}: {exc.strerror or exc}")
        return False
    return True


def _report_once(message: str) -> None:
    if message not in _reported:
        _reported.add(message)
        log.warning("%s", message)


def watchdog_interval_s(environ: dict[str, str] | None = None, pid: int | None = None) -> float | None:
    """The unit's ``WatchdogSec=`` in seconds if this process must ping it, else None.

    None when no watchdog is set, when ``$WATCHDOG_PID`` names another process (a child inherited
    the environment), or when the variables are malformed (logged).
    """
    env = os.environ if environ is None else environ
    usec_text = env.get("WATCHDOG_USEC", "")
    if not usec_text:
        return None
    pid_text = env.get("WATCHDOG_PID", "")
    if pid_text:
        try:
            if int(pid_text) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            _report_once(f"WATCHDOG_PID {pid_text!r} is not a process id; ignoring the watchdog")
            return None
    try:
        usec = int(usec_text)
    except ValueError:
        _report_once(f"WATCHDOG_USEC {usec_text!r} is not a number of microseconds; ignoring the watchdog")
        return None
    if usec <= 0:
        return None
    return usec / 1e6


def watchdog_ping_interval_s(environ: dict[str, str] | None = None, pid: int | None = None) -> float | None:
    """How often to send ``WATCHDOG=1``: half the watchdog timeout, as sd_watchdog_enabled(3) advises."""
    interval = watchdog_interval_s(environ, pid)
    return None if interval is None else interval / 2
