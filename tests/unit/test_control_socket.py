import os
import stat

import pytest

from appliance.control_socket import ControlError, ControlServer, request


def test_round_trip_permissions_and_errors(tmp_path):
    path = tmp_path / "run" / "control.sock"
    server = ControlServer(path, {"status": lambda req: {"ok": True, "echo": req.get("x")}, "boom": lambda req: 1 / 0})
    server.start()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert request(path, "status", x=5) == {"ok": True, "echo": 5}
        with pytest.raises(ControlError, match="unknown command 'nope'; known: boom, status"):
            request(path, "nope")
        with pytest.raises(ControlError, match="internal error"):
            request(path, "boom")
        # a second instance on the same socket is refused
        with pytest.raises(ControlError, match="another appliance is running"):
            ControlServer(path, {}).start()
    finally:
        server.stop()
    assert not path.exists()
    with pytest.raises(ControlError, match="no appliance is running"):
        request(path, "status")


def test_stale_socket_is_replaced(tmp_path):
    import socket

    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # leaves a socket file nobody listens on
    server = ControlServer(path, {"status": lambda req: {"fine": 1}})
    server.start()
    try:
        assert request(path, "status") == {"fine": 1}
    finally:
        server.stop()
