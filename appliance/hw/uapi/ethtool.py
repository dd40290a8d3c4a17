"""linux/ethtool.h: the legacy SIOCETHTOOL commands the appliance uses.

ETHTOOL_GET_TS_INFO fills ``struct ethtool_ts_info`` (what ``ethtool -T`` shows); ETHTOOL_GDRVINFO
fills ``struct ethtool_drvinfo`` (``ethtool -i``: driver, firmware version, bus address).
"""

from __future__ import annotations

import ctypes

ETHTOOL_GDRVINFO = 0x00000003
ETHTOOL_GET_TS_INFO = 0x00000041

ETHTOOL_FWVERS_LEN = 32
ETHTOOL_BUSINFO_LEN = 32
ETHTOOL_EROMVERS_LEN = 32


class ethtool_ts_info(ctypes.Structure):
    _fields_ = [
        ("cmd", ctypes.c_uint32),
        ("so_timestamping", ctypes.c_uint32),
        ("phc_index", ctypes.c_int32),
        ("tx_types", ctypes.c_uint32),
        ("tx_reserved", ctypes.c_uint32 * 3),
        ("rx_filters", ctypes.c_uint32),
        ("rx_reserved", ctypes.c_uint32 * 3),
    ]


class ethtool_drvinfo(ctypes.Structure):
    _fields_ = [
        ("cmd", ctypes.c_uint32),
        ("driver", ctypes.c_char * 32),
        ("version", ctypes.c_char * 32),
        ("fw_version", ctypes.c_char * ETHTOOL_FWVERS_LEN),
        ("bus_info", ctypes.c_char * ETHTOOL_BUSINFO_LEN),
        ("erom_version", ctypes.c_char * ETHTOOL_EROMVERS_LEN),
        ("reserved2", ctypes.c_char * 12),
        ("n_priv_flags", ctypes.c_uint32),
        ("n_stats", ctypes.c_uint32),
        ("testinfo_len", ctypes.c_uint32),
        ("eedump_len", ctypes.c_uint32),
        ("regdump_len", ctypes.c_uint32),
    ]
