"""asm-generic/ioctl.h: how an ioctl request number is built.

    request = dir << 30 | size << 16 | type << 8 | nr     (8 bits nr, 8 bits type, 14 bits size, 2 bits dir)

This is the encoding of x86, arm, arm64, riscv and most others. alpha, mips, powerpc and sparc use
other direction bits and a 13-bit size field; the appliance does not support them (``check_platform``).
"""

from __future__ import annotations

import ctypes
import platform

_IOC_NRBITS = 8
_IOC_TYPEBITS = 8
_IOC_SIZEBITS = 14
_IOC_DIRBITS = 2

_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS

_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2

_OTHER_ENCODING = ("alpha", "mips", "ppc", "powerpc", "sparc")


def check_platform() -> None:
    """Raise if this machine's ioctl encoding or C long differs from the one encoded here."""
    machine = platform.machine().lower()
    if machine.startswith(_OTHER_ENCODING):
        raise OSError(f"ioctl encoding of {machine} is not supported (only the asm-generic one)")
    if ctypes.sizeof(ctypes.c_long) != 8:
        raise OSError("only 64-bit Linux is supported (struct timex and struct ifreq layouts)")


def _size(t) -> int:
    return t if isinstance(t, int) else ctypes.sizeof(t)


def _IOC(dir_: int, type_: int | str, nr: int, size: int) -> int:
    if isinstance(type_, str):
        type_ = ord(type_)
    if not 0 <= size < (1 << _IOC_SIZEBITS):
        raise ValueError(f"ioctl argument size {size} does not fit {_IOC_SIZEBITS} bits")
    return (dir_ << _IOC_DIRSHIFT) | (type_ << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | (size << _IOC_SIZESHIFT)


def _IO(type_, nr) -> int:
    return _IOC(_IOC_NONE, type_, nr, 0)


def _IOR(type_, nr, t) -> int:
    return _IOC(_IOC_READ, type_, nr, _size(t))


def _IOW(type_, nr, t) -> int:
    return _IOC(_IOC_WRITE, type_, nr, _size(t))


def _IOWR(type_, nr, t) -> int:
    return _IOC(_IOC_READ | _IOC_WRITE, type_, nr, _size(t))
