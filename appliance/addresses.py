"""Addresses as the configuration writes them: HOST:PORT ('[v6]:PORT'), a server a client is told to
use, a listen address, a network list. Each check raises ValueError saying what was wrong, so that the
schema can name the key and every command that later uses the value can rely on it."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

from .core.ntp.access import parse_networks

__all__ = ["ListenAddress", "Networks", "ServerAddress", "check_host", "format_hostport", "parse_hostport"]

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _port(text: str, whole: str) -> int:
    if not text.isdigit():
        raise ValueError(f"port {text!r} in {whole!r} is not a number: expected ADDRESS:PORT with PORT 1-65535")
    n = int(text)
    if not 0 < n < 65536:
        raise ValueError(f"port {n} in {whole!r} is out of range 1-65535")
    return n


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """'10.0.0.1:123', '[::1]:123', 'host' (with default_port) -> (host, port)."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"expected ADDRESS:PORT, got {text!r}")
    m = re.match(r"^\[([^\]]+)\](?::([^:]*))?$", text)
    if text.startswith("[") and not m:
        raise ValueError(f"expected [IPv6 address]:PORT, got {text!r}")
    if m:
        host, port = m.group(1), m.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif text.count(":") > 1:  # bare IPv6 address
        host, port = text, None
    else:
        host, port = text, None
    if not host:
        raise ValueError(f"expected ADDRESS:PORT, got {text!r} (no address)")
    if port is None:
        if default_port is None:
            raise ValueError(f"expected ADDRESS:PORT, got {text!r} (no port)")
        return host, default_port
    return host, _port(port, text)


def format_hostport(host: str, port: int) -> str:
    """How an address and port are written back: '10.0.0.1:123', '[::1]:123'."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_host(host: str) -> str:
    """An IP address (IPv6 with an optional %zone) or a DNS host name; ValueError otherwise."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if (
        0 < len(name) <= 253
        and all(_HOSTNAME_LABEL.match(label) for label in name.split("."))
        and not name.replace(".", "").isdigit()
    ):
        return host
    raise ValueError(f"{host!r} is neither an IP address nor a host name (letters, digits, '-' and '.')")


def server_address(text: str) -> str:
    """HOST or HOST:PORT ('[v6]:PORT'), as a client would be told to use it; checked here so that every
    command that renders or polls it can rely on it."""
    host, _ = parse_hostport(text, default_port=123)
    check_host(host)
    return text


def listen_address(text: str) -> str:
    host, _ = parse_hostport(text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"expected an IP address in {text!r}, got host {host!r}") from None
    return text


def _networks(text: str) -> str:
    parse_networks(text)
    return text


# Element types, so that a problem names the item: ntp.listen.1, not ntp.listen.
ListenAddress = Annotated[str, AfterValidator(listen_address)]
ServerAddress = Annotated[str, AfterValidator(server_address)]
Networks = Annotated[str, AfterValidator(_networks)]
