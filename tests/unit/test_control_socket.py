import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from appliance.control_socket import ControlError, ControlRequestError, ControlServer, decode_request, request


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


# --- the request line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (b"not json\n", "not JSON"),
        (b"\xff\xfe{}\n", "not JSON"),
        (b"[" * 100_000, "at most"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deep|at most"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested too deep"),
        (b"[1, 2]\n", "JSON object, got list"),
        (b'{"x": 1}\n', '"command" must be a string, got None'),
        (b'{"command": 5}\n', '"command" must be a string, got 5'),
    ],
)
def test_a_line_that_is_not_a_request_says_why(line, what):
    with pytest.raises(ControlRequestError, match=what):
        decode_request(line)


def test_a_request_line_decodes():
    assert decode_request(b'{"command": "status", "x": [1]}\n') == {"command": "status", "x": [1]}


def test_a_deeply_nested_request_is_a_bad_request_not_an_internal_error(tmp_path):
    path = tmp_path / "control.sock"
    server = ControlServer(path, {"status": lambda req: {"ok": True}})
    server.start()
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n")
        reply = json.loads(s.makefile("rb").readline())
        s.close()
        assert reply == {"error": "bad request: request nested too deep"}
        assert request(path, "status") == {"ok": True}  # and the socket still serves
    finally:
        server.stop()


def test_write_commands_need_a_handler(tmp_path):
    with pytest.raises(ValueError, match="write commands without a handler: inject"):
        ControlServer(tmp_path / "c.sock", {"status": lambda req: {}}, writers={"inject"})


def test_an_unknown_group_is_named(tmp_path):
    server = ControlServer(tmp_path / "c.sock", {"status": lambda req: {}}, group="no-such-group-xq")
    with pytest.raises(ControlError, match="monitoring.control_group 'no-such-group-xq': no such group"):
        server.start()
    assert not (tmp_path / "c.sock").exists()


# --- who may do what (needs root: the callers are other users) --------------------------------

OPERATORS_GID = 4242  # a gid no account here uses
NOBODY_UID = 65534

_CLIENT = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print(json.dumps({"connect": "EACCES"}))
    sys.exit(0)
s.sendall(json.dumps({"command": sys.argv[2]}).encode() + b"\\n")
print(s.makefile("rb").readline().decode().strip())
"""


SYSTEM_PYTHON = "/usr/bin/python3"  # the callers' interpreter: the test's own may not be theirs to run


def _as_user(path, command, uid, gid):
    out = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", _CLIENT, str(path), command],
        user=uid,
        group=gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the callers run as other users")
@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"no {SYSTEM_PYTHON} for the callers")
def test_group_members_read_and_only_root_or_the_service_writes():
    base = Path(tempfile.mkdtemp(prefix="control-", dir="/tmp"))
    try:
        os.chmod(base, 0o700)
        path = base / "control.sock"
        changed = []
        handlers = {"status": lambda req: {"ok": True}, "inject": lambda req: changed.append(1) or {"applied": True}}
        server = ControlServer(path, handlers, writers={"inject"}, group=OPERATORS_GID)
        server.start()
        try:
            st = os.stat(path)
            assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == OPERATORS_GID
            assert os.stat(base).st_mode & stat.S_IXGRP and os.stat(base).st_gid == OPERATORS_GID
            # a member of the group reads, but may not change the node
            assert _as_user(path, "status", NOBODY_UID, OPERATORS_GID) == {"ok": True}
            refused = _as_user(path, "inject", NOBODY_UID, OPERATORS_GID)
            assert "permission denied: inject changes the node" in refused["error"]
            assert f"the caller is uid {NOBODY_UID}" in refused["error"]
            assert changed == []
            # someone outside the group cannot even connect
            assert _as_user(path, "status", NOBODY_UID, OPERATORS_GID + 1) == {"connect": "EACCES"}
            # root (the service's own user here) may
            assert request(path, "inject") == {"applied": True}
            assert changed == [1]
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the caller runs as another user")
@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"no {SYSTEM_PYTHON} for the callers")
def test_without_a_group_the_socket_is_the_services_own():
    base = Path(tempfile.mkdtemp(prefix="control-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        path = base / "control.sock"
        server = ControlServer(path, {"status": lambda req: {"ok": True}})
        server.start()
        try:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert _as_user(path, "status", NOBODY_UID, NOBODY_UID) == {"connect": "EACCES"}
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
