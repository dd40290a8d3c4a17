"""The control socket: a Unix stream socket (mode 0600) that answers one JSON request per connection.

Request: one line of JSON, {"command": "status", ...}. Reply: one line of JSON, either the
handler's result or {"error": "..."}. Handlers are registered by the service.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import stat
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("appliance.control")

MAX_REQUEST = 64 * 1024


class ControlError(Exception):
    pass


Handler = Callable[[dict], dict]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    handlers: dict[str, Handler]


class _RequestHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            line = self.rfile.readline(MAX_REQUEST)
            request = json.loads(line or b"{}")
            if not isinstance(request, dict):
                raise ValueError("request must be a JSON object")
            command = request.get("command")
            handler = self.server.handlers.get(command)  # type: ignore[attr-defined]
            if handler is None:
                known = ", ".join(sorted(self.server.handlers))  # type: ignore[attr-defined]
                reply = {"error": f"unknown command {command!r}; known: {known}"}
            else:
                reply = handler(request)
        except (ValueError, json.JSONDecodeError) as exc:
            reply = {"error": f"bad request: {exc}"}
        except Exception as exc:  # a handler bug must not kill the socket
            log.exception("control command failed")
            reply = {"error": f"internal error: {exc}"}
        try:
            self.wfile.write(json.dumps(reply, default=str).encode() + b"\n")
        except OSError:
            pass


class ControlServer:
    def __init__(self, path: Path, handlers: dict[str, Handler]):
        self.path = Path(path)
        self.handlers = handlers
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
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
        os.chmod(self.path, 0o600)
        server.handlers = self.handlers
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
