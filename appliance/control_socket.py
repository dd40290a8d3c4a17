"""The control socket: a Unix stream socket that answers one JSON request per connection.

Request: one line of JSON, {"command": "status", ...}. Reply: one line of JSON, either the
handler's result or {"error": "..."}. Handlers are registered by the service.

Who may do what: the socket is 0600, the service's own, unless ``group`` is given
(monitoring.control_group): then it is 0660 and that group's members can connect. Connecting is
enough for reading (status, history). A command that changes the node (``writers``, e.g. inject)
is also checked against the caller's kernel credentials (SO_PEERCRED, which the caller cannot
forge): only root and the service's own user may run it, never a member of the group alone.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import socket
import socketserver
import stat
import struct
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("appliance.control")

MAX_REQUEST = 64 * 1024


class ControlError(Exception):
    pass


class ControlRequestError(ValueError):
    """A request line that is not a request: says what is wrong with it."""


Handler = Callable[[dict[str, Any]], dict[str, Any]]

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Credentials:
    pid: int
    uid: int
    gid: int


def decode_request(line: bytes) -> dict[str, Any]:
    """One request line -> the request object, whose "command" is a string; ControlRequestError
    for anything else (not UTF-8, not JSON, nested too deep, not an object, no command)."""
    if len(line) > MAX_REQUEST:
        raise ControlRequestError(f"request of {len(line)} bytes, at most {MAX_REQUEST}")
    try:
        request = json.loads(line or b"{}")
    except RecursionError:
        raise ControlRequestError("request nested too deep") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ControlRequestError(f"not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ControlRequestError(f"request must be a JSON object, got {type(request).__name__}")
    command = request.get("command")
    if not isinstance(command, str):
        raise ControlRequestError(f'"command" must be a string, got {command!r}')
    return request


def peer_credentials(sock: socket.socket) -> Credentials:
    """The connected peer's pid, uid and gid as the kernel recorded them at connect()."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return Credentials(*_UCRED.unpack(raw))


def may_change_node(cred: Credentials, own_uid: int) -> bool:
    return cred.uid in (0, own_uid)


def resolve_group(group: str | int) -> int:
    """A group name or number -> its gid; ControlError naming it if this host has no such group."""
    if isinstance(group, int) or group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ControlError(f"monitoring.control_group {group!r}: no such group on this host") from None


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    handlers: dict[str, Handler]
    writers: frozenset[str]
    own_uid: int


class _RequestHandler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            reply = self._reply(self.rfile.readline(MAX_REQUEST + 1))
        except Exception as exc:  # a handler bug must not kill the socket
            log.exception("control command failed")
            reply = {"error": f"internal error: {exc}"}
        try:
            self.wfile.write(json.dumps(reply, default=str).encode() + b"\n")
        except OSError:
            pass

    def _reply(self, line: bytes) -> dict[str, Any]:
        try:
            request = decode_request(line)
        except ControlRequestError as exc:
            return {"error": f"bad request: {exc}"}
        command = request["command"]
        handler = self.server.handlers.get(command)
        if handler is None:
            known = ", ".join(sorted(self.server.handlers))
            return {"error": f"unknown command {command!r}; known: {known}"}
        if command in self.server.writers:
            cred = peer_credentials(self.request)
            if not may_change_node(cred, self.server.own_uid):
                log.warning("control: %s refused to uid %d (pid %d)", command, cred.uid, cred.pid)
                return {
                    "error": f"permission denied: {command} changes the node and needs root or the "
                    f"appliance's own user (uid {self.server.own_uid}); the caller is uid {cred.uid}"
                }
        try:
            return handler(request)
        except ValueError as exc:
            return {"error": f"bad request: {exc}"}


class ControlServer:
    def __init__(
        self,
        path: Path,
        handlers: dict[str, Handler],
        *,
        writers: Collection[str] = (),
        group: str | int | None = None,
    ):
        self.path = Path(path)
        self.handlers = handlers
        self.writers = frozenset(writers)
        unknown = self.writers - set(handlers)
        if unknown:
            raise ValueError(f"write commands without a handler: {', '.join(sorted(unknown))}")
        self.group = group
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        gid = None if self.group is None else resolve_group(self.group)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if _alive(self.path):
                raise ControlError(f"another appliance is running on {self.path}")
            self.path.unlink()
        old = os.umask(0o177)
        try:
            server = _Server(str(self.path), _RequestHandler)
        except OSError as exc:
            raise ControlError(f"cannot create control socket {self.path}: {exc.strerror}") from None
        finally:
            os.umask(old)
        try:
            if gid is not None:
                _share_with_group(self.path, gid, self.group)
            else:
                os.chmod(self.path, 0o600)
        except ControlError:
            server.server_close()
            self.path.unlink(missing_ok=True)
            raise
        server.handlers = self.handlers
        server.writers = self.writers
        server.own_uid = os.geteuid()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


def _share_with_group(path: Path, gid: int, name: str | int | None) -> None:
    """The socket 0660 for group ``gid``; its directory passable (g+x) by that group when the
    appliance owns the directory (systemd's RuntimeDirectory is the service's own)."""
    try:
        os.chown(path, -1, gid)
    except PermissionError:
        raise ControlError(
            f"cannot give the control socket to group {name!r}: the appliance's user is not a member "
            f"(add it, e.g. SupplementaryGroups={name} in the unit)"
        ) from None
    os.chmod(path, 0o660)
    parent = path.parent
    st = parent.stat()
    if st.st_gid == gid and st.st_mode & stat.S_IXGRP:
        return
    if st.st_uid == os.geteuid():
        os.chown(parent, -1, gid)
        os.chmod(parent, stat.S_IMODE(st.st_mode) | stat.S_IXGRP)
    elif not st.st_mode & stat.S_IXOTH:
        log.warning("control socket: members of group %s cannot pass %s (not theirs, not o+x)", name, parent)


def _alive(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def request(path: str | Path, command: str, timeout_s: float = 5.0, **args) -> dict:
    """Send one command to a running appliance; ControlError says what went wrong."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # connect() below says what is wrong
    if mode is not None and not stat.S_ISSOCK(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a regular file" if stat.S_ISREG(mode) else "a device or pipe"
        raise ControlError(
            f"{path} is not a socket ({kind}): expected the control socket of a running appliance "
            "(monitoring.control_socket, e.g. /run/appliance/control.sock)"
        )
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
        s.sendall(json.dumps({"command": command, **args}).encode() + b"\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except FileNotFoundError:
        raise ControlError(f"no appliance is running: {path} does not exist") from None
    except ConnectionRefusedError:
        raise ControlError(f"no appliance is running on {path} (connection refused)") from None
    except PermissionError:
        raise ControlError(f"permission denied on {path}: run as the appliance's user or root") from None
    except TimeoutError:
        raise ControlError(f"the appliance on {path} did not answer within {timeout_s:g} s") from None
    except OSError as exc:
        raise ControlError(f"cannot talk to {path}: {exc.strerror or exc}") from None
    finally:
        s.close()
    try:
        reply = json.loads(b"".join(chunks))
    except json.JSONDecodeError:
        raise ControlError(f"unreadable reply from {path}") from None
    if "error" in reply:
        raise ControlError(reply["error"])
    return reply
