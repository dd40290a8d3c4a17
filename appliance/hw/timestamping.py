"""What an interface can timestamp, through SIOCETHTOOL: ETHTOOL_GET_TS_INFO (``ethtool -T``) and
ETHTOOL_GDRVINFO (``ethtool -i``), plus the current hardware timestamping setting (SIOCGHWTSTAMP).

All three are read-only and need no privilege. They act on the network namespace of the calling
process (run inside ``ip netns exec`` to look at another one).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
from dataclasses import dataclass

from ..core.clock.interface import ClockError
from .uapi import ethtool as et
from .uapi import net_tstamp as nt
from .uapi.sockios import IFNAMSIZ, SIOCETHTOOL, SIOCGHWTSTAMP, ifreq

# Receive filters with which ptp4l gets event-message timestamps (it asks for PTP_V2_L2/L4/EVENT and
# drivers that only offer ALL stamp everything, which serves as well).
PTP_EVENT_RX_FILTERS = frozenset({"all", "ptpv2-event", "ptpv2-l2-event", "ptpv2-l4-event"})
HW_TX_TYPES = frozenset({"on", "onestep-sync", "onestep-p2p"})


class InterfaceError(ClockError):
    pass


@dataclass(frozen=True)
class TsInfo:
    ifname: str
    so_timestamping: int
    phc_index: int
    tx_types: int
    rx_filters: int

    @property
    def capabilities(self) -> list[str]:
        return nt.decode_mask(self.so_timestamping, nt.SOF_TIMESTAMPING_NAMES)

    @property
    def tx_type_names(self) -> list[str]:
        return nt.decode_mask(self.tx_types, nt.HWTSTAMP_TX_NAMES, by_bit_number=True)

    @property
    def rx_filter_names(self) -> list[str]:
        return nt.decode_mask(self.rx_filters, nt.HWTSTAMP_FILTER_NAMES, by_bit_number=True)

    @property
    def hw_tx(self) -> bool:
        """Hardware transmit timestamps a PTP daemon can use."""
        return bool(self.so_timestamping & nt.SOF_TIMESTAMPING_TX_HARDWARE) and bool(
            HW_TX_TYPES & set(self.tx_type_names)
        )

    @property
    def hw_rx(self) -> bool:
        """Hardware receive timestamps of PTP event messages."""
        return bool(self.so_timestamping & nt.SOF_TIMESTAMPING_RX_HARDWARE) and bool(
            PTP_EVENT_RX_FILTERS & set(self.rx_filter_names)
        )

    @property
    def hw_raw(self) -> bool:
        return bool(self.so_timestamping & nt.SOF_TIMESTAMPING_RAW_HARDWARE)

    @property
    def sw_tx(self) -> bool:
        return bool(self.so_timestamping & nt.SOF_TIMESTAMPING_TX_SOFTWARE)

    @property
    def sw_rx(self) -> bool:
        return bool(self.so_timestamping & nt.SOF_TIMESTAMPING_RX_SOFTWARE)

    def to_dict(self) -> dict:
        return {
            "phc_index": self.phc_index,
            "so_timestamping": self.so_timestamping,
            "capabilities": self.capabilities,
            "tx_types": self.tx_type_names,
            "rx_filters": self.rx_filter_names,
            "hardware_transmit": self.hw_tx,
            "hardware_receive": self.hw_rx,
            "hardware_raw_clock": self.hw_raw,
        }

    @classmethod
    def from_dict(cls, ifname: str, d: dict) -> TsInfo:
        """From a recording: numeric masks when present, else the names ``ethtool -T`` prints."""

        def mask(key_num, key_names, table, by_bit):
            if key_num in d:
                return int(d[key_num])
            inverse = {v: k for k, v in table.items()}
            out = 0
            for name in d.get(key_names, []):
                out |= (1 << inverse[name]) if by_bit else inverse[name]
            return out

        return cls(
            ifname=ifname,
            so_timestamping=mask("so_timestamping", "capabilities", nt.SOF_TIMESTAMPING_NAMES, False),
            phc_index=int(d.get("phc_index", -1)),
            tx_types=mask("tx_types_mask", "tx_types", nt.HWTSTAMP_TX_NAMES, True),
            rx_filters=mask("rx_filters_mask", "rx_filters", nt.HWTSTAMP_FILTER_NAMES, True),
        )


@dataclass(frozen=True)
class DrvInfo:
    driver: str
    version: str
    fw_version: str
    bus_info: str

    def to_dict(self) -> dict:
        return {
            "driver": self.driver,
            "version": self.version,
            "fw_version": self.fw_version,
            "bus_info": self.bus_info,
        }


def _check_name(ifname: str) -> bytes:
    raw = ifname.encode()
    if not raw or len(raw) >= IFNAMSIZ or b"/" in raw or b"\0" in raw:
        raise InterfaceError(f"not a valid interface name: {ifname!r}")
    return raw


def _siocethtool(ifname: str, buf: ctypes.Structure, what: str) -> None:
    req = ifreq()
    req.ifr_name = _check_name(ifname)
    req.ifru_data = ctypes.addressof(buf)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, req)
        except OSError as exc:
            raise _iface_error(exc, ifname, what) from None


def _iface_error(exc: OSError, ifname: str, what: str) -> InterfaceError:
    if exc.errno == errno.ENODEV:
        return InterfaceError(f"{what} {ifname}: no such interface in this network namespace")
    if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL):
        return InterfaceError(
            f"{what} {ifname}: not supported by its driver or this kernel "
            f"({os.uname().release}): {os.strerror(exc.errno)}"
        )
    if exc.errno in (errno.EPERM, errno.EACCES):
        return InterfaceError(f"{what} {ifname}: permission denied: run as root or with CAP_NET_ADMIN")
    return InterfaceError(f"{what} {ifname}: {os.strerror(exc.errno) if exc.errno else exc}")


def get_ts_info(ifname: str) -> TsInfo:
    info = et.ethtool_ts_info(cmd=et.ETHTOOL_GET_TS_INFO)
    _siocethtool(ifname, info, "ETHTOOL_GET_TS_INFO on")
    return TsInfo(ifname, info.so_timestamping, info.phc_index, info.tx_types, info.rx_filters)


def get_drvinfo(ifname: str) -> DrvInfo:
    info = et.ethtool_drvinfo(cmd=et.ETHTOOL_GDRVINFO)
    _siocethtool(ifname, info, "ETHTOOL_GDRVINFO on")
    dec = lambda b: b.decode(errors="replace")  # noqa: E731
    return DrvInfo(dec(info.driver), dec(info.version), dec(info.fw_version), dec(info.bus_info))


def get_hwtstamp_config(ifname: str) -> dict:
    """The driver's current setting (SIOCGHWTSTAMP): tx_type and rx_filter names, read-only."""
    cfg = nt.hwtstamp_config()
    req = ifreq()
    req.ifr_name = _check_name(ifname)
    req.ifru_data = ctypes.addressof(cfg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCGHWTSTAMP, req)
        except OSError as exc:
            raise _iface_error(exc, ifname, "SIOCGHWTSTAMP on") from None
    return {
        "flags": cfg.flags,
        "tx_type": nt.HWTSTAMP_TX_NAMES.get(cfg.tx_type, str(cfg.tx_type)),
        "rx_filter": nt.HWTSTAMP_FILTER_NAMES.get(cfg.rx_filter, str(cfg.rx_filter)),
    }
