"""sd_notify without libsystemd: datagrams to a socket the test owns, path and abstract names."""

from __future__ import annotations

import logging
import os
import socket

import pytest

from appliance.runtime import sdnotify


@pytest.fixture
def path_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


@pytest.fixture
def abstract_socket():
    name = f"appliance-test-notify-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    yield "@" + name, sock
    sock.close()


def test_ready_reaches_a_path_socket(path_socket):
    name, sock = path_socket
    assert sdnotify.notify("READY=1", "STATUS=serving NTP", environ={"NOTIFY_SOCKET": name})
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving NTP"


def test_abstract_socket_name(abstract_socket):
    name, sock = abstract_socket
    assert sdnotify.notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": name})
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_each_call_is_one_datagram(path_socket):
    name, sock = path_socket
    env = {"NOTIFY_SOCKET": name}
    for msg in ("RELOADING=1", "READY=1", "STOPPING=1"):
        assert sdnotify.notify(msg, environ=env)
    assert [sock.recv(4096) for _ in range(3)] == [b"RELOADING=1", b"READY=1", b"STOPPING=1"]


def test_reads_the_process_environment(path_socket, monkeypatch):
    name, sock = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    assert sdnotify.notify("READY=1")
    assert sock.recv(4096) == b"READY=1"


def test_no_socket_is_a_quiet_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": ""}) is False


def test_a_vanished_socket_is_reported_not_raised(tmp_path, caplog):
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}
    with caplog.at_level(logging.WARNING, logger="appliance.sdnotify"):
        assert sdnotify.notify("WATCHDOG=1", environ=env) is False
        assert sdnotify.notify("WATCHDOG=1", environ=env) is False
    # once per reason, not once per tick
    assert len([r for r in caplog.records if "gone.sock" in r.getMessage()]) == 1


def test_vsock_address_is_refused_with_a_reason(caplog):
    with caplog.at_level(logging.WARNING, logger="appliance.sdnotify"):
        assert sdnotify.notify("READY=1", environ={"NOTIFY_SOCKET": "vsock:2:1234"}) is False
    assert "neither a path nor an abstract" in caplog.text


@pytest.mark.parametrize("line", ["READY", "READY=1\nWATCHDOG=1"])
def test_malformed_line_is_a_programming_error(path_socket, line):
    name, _ = path_socket
    with pytest.raises(ValueError, match="KEY=VALUE"):
        sdnotify.notify(line, environ={"NOTIFY_SOCKET": name})


def test_watchdog_interval():
    me = 4242
    assert sdnotify.watchdog_interval_s({}, pid=me) is None
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "30000000"}, pid=me) == 30.0
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, pid=me) == 30.0
    assert sdnotify.watchdog_ping_interval_s({"WATCHDOG_USEC": "30000000"}, pid=me) == 15.0
    assert sdnotify.watchdog_ping_interval_s({}, pid=me) is None


def test_watchdog_meant_for_another_process():
    # a child that inherited the environment must not ping on the service's behalf
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=4242) is None


def test_watchdog_defaults_to_this_process(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval_s() == 2.0


@pytest.mark.parametrize(
    "env",
    [
        {"WATCHDOG_USEC": "soon"},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "-5"},
        {"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"},
    ],
)
def test_malformed_watchdog_is_ignored(env):
    assert sdnotify.watchdog_interval_s(env, pid=4242) is None
