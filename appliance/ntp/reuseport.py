"""A group of SO_REUSEPORT sockets on one address, one per serving worker, with the kernel choosing
the socket by the client's source address.

Without a program the kernel spreads datagrams over a group by a hash of the 4-tuple, and chronyd
(like most NTP clients) sends every request from a new source port: consecutive requests of one
client would reach different workers, and a worker's per-client state (the kernel transmit
timestamp an interleaved reply needs, the rate limiter's history) would be in the wrong process.
So a classic BPF program (SO_ATTACH_REUSEPORT_CBPF) returns the socket index from the source
address alone: the IPv4 address, or the XOR of the four words of the IPv6 one, modulo the group's
size. Loads at SKF_NET_OFF read the IP header of the datagram, wherever the program's data starts.

The index is the order in which sockets joined the group. When one closes, the kernel moves the
last socket into its place; an index past the group's end falls back to the kernel's hash, so a
group that lost a worker keeps answering every client (some of them from another worker).
"""

from __future__ import annotations

import ctypes
import socket
import struct

from .server import ListenError, open_socket

SO_ATTACH_REUSEPORT_CBPF = 51  # asm-generic/socket.h
SKF_NET_OFF = -0x100000  # linux/filter.h: loads relative to the network header
# Classic BPF opcodes (linux/bpf_common.h, linux/filter.h)
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_TAX = 0x07 | 0x00  # BPF_MISC | BPF_TAX
BPF_ALU_XOR_X = 0x04 | 0xA0 | 0x08  # BPF_ALU | BPF_XOR | BPF_X
BPF_ALU_MOD_K = 0x04 | 0x90 | 0x00  # BPF_ALU | BPF_MOD | BPF_K
BPF_RET_A = 0x06 | 0x10  # BPF_RET | BPF_A
IPV4_SOURCE_OFFSET = 12  # bytes into the IPv4 header
IPV6_SOURCE_OFFSET = 8  # bytes into the IPv6 header; 16 bytes long


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _net(offset: int) -> int:
    return (SKF_NET_OFF + offset) & 0xFFFFFFFF


def steering_program(family: int, count: int) -> list[tuple[int, int]]:
    """(opcode, k) of the program that picks socket ``source address % count``."""
    if count < 1:
        raise ValueError("a reuseport group needs at least one socket")
    if family == socket.AF_INET:
        load = [(BPF_LD_W_ABS, _net(IPV4_SOURCE_OFFSET))]
    else:
        load = [(BPF_LD_W_ABS, _net(IPV6_SOURCE_OFFSET))]
        for word in range(1, 4):
            load += [(BPF_TAX, 0), (BPF_LD_W_ABS, _net(IPV6_SOURCE_OFFSET + 4 * word)), (BPF_ALU_XOR_X, 0)]
    return [*load, (BPF_ALU_MOD_K, count), (BPF_RET_A, 0)]


def attach_steering(sock: socket.socket, count: int) -> None:
    """Attach the source-address program to the group ``sock`` is in (replacing any other);
    ListenError if the kernel refuses it."""
    program = steering_program(sock.family, count)
    filters = (_SockFilter * len(program))(*[_SockFilter(code, 0, 0, k) for code, k in program])
    fprog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    # setsockopt copies the struct, whose pointer the kernel follows during the call: ``filters``
    # is alive until it returns.
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))
    except OSError as exc:
        host, port = sock.getsockname()[:2]
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(
            f"cannot spread clients over ntp.workers on {where}: SO_ATTACH_REUSEPORT_CBPF: {exc.strerror}"
        ) from None


def source_index(address: str, count: int) -> int:
    """The socket index the program chooses for a client at ``address`` (for status and tests)."""
    if ":" in address:
        words = struct.unpack("!4I", socket.inet_pton(socket.AF_INET6, address))
        value = words[0] ^ words[1] ^ words[2] ^ words[3]
    else:
        value = struct.unpack("!I", socket.inet_aton(address))[0]
    return value % count


def open_group(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to one address (port 0: the first one's port), steered by source
    address. A bind error closes what was opened and raises ListenError (appliance.ntp.server)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = open_socket(host, port, reuse_port=True)
            socks.append(sock)
            port = sock.getsockname()[1]
        attach_steering(socks[0], count)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def join_group(host: str, port: int, count: int) -> socket.socket:
    """One more socket for a group on a bound address (a worker started again), steering kept."""
    sock = open_socket(host, port, reuse_port=True)
    try:
        attach_steering(sock, count)
    except BaseException:
        sock.close()
        raise
    return sock
