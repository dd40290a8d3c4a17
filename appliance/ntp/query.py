"""One NTP query with ntplib, reported with chrony's names for the fields."""

from __future__ import annotations

import socket

import ntplib

from ..addresses import format_hostport, parse_hostport

LEAP_NAMES = {0: "normal", 1: "insert second", 2: "delete second", 3: "unsynchronized"}


class QueryError(Exception):
    pass


def format_refid(stratum: int, ref_id: int) -> str:
    raw = ref_id.to_bytes(4, "big")
    if stratum <= 1:
        return raw.rstrip(b"\x00").decode("ascii", "replace")
    return socket.inet_ntoa(raw)


def query(target: str, timeout_s: float = 2.0, version: int = 4) -> dict:
    host, port = parse_hostport(target, default_port=123)
    where = format_hostport(host, port)
    try:
        r = ntplib.NTPClient().request(host, version=version, port=port, timeout=timeout_s)
    except ntplib.NTPException:
        raise QueryError(f"no answer from {where} within {timeout_s:g} s") from None
    except socket.gaierror as exc:
        raise QueryError(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    except OSError as exc:
        raise QueryError(f"cannot query {where}: {exc.strerror or exc}") from None
    return {
        "server": where,
        "offset_s": r.offset,
        "delay_s": r.delay,
        "stratum": r.stratum,
        "leap": r.leap,
        "leap_status": LEAP_NAMES[r.leap],
        "refid": format_refid(r.stratum, r.ref_id),
        "root_delay_s": r.root_delay,
        "root_dispersion_s": r.root_dispersion,
        "version": r.version,
        "precision_log2": r.precision,
    }
