"""linux/sockios.h request numbers and linux/if.h's struct ifreq (the argument of SIOCETHTOOL and
SIOCGHWTSTAMP: the interface name and, in the union, a pointer to the command's own structure)."""

from __future__ import annotations

import ctypes

SIOCETHTOOL = 0x8946
SIOCGHWTSTAMP = 0x89B1
SIOCSHWTSTAMP = 0x89B0

IFNAMSIZ = 16


class _ifr_ifru(ctypes.Union):
    # The union's largest members are struct sockaddr / struct ifmap (24 bytes on LP64).
    _fields_ = [("ifru_data", ctypes.c_void_p), ("_size", ctypes.c_char * 24)]


class ifreq(ctypes.Structure):
    _anonymous_ = ("ifr_ifru",)
    _fields_ = [("ifr_name", ctypes.c_char * IFNAMSIZ), ("ifr_ifru", _ifr_ifru)]
