"""linux/net_tstamp.h: SO_TIMESTAMPING flags, hardware time stamping TX types and RX filters.

The names that ``name`` tables give are the kernel's own strings (net/ethtool/common.c:
sof_timestamping_names, ts_tx_type_names, ts_rx_filter_names), which ``ethtool -T`` prints.
"""

from __future__ import annotations

import ctypes

# SO_TIMESTAMPING flags
SOF_TIMESTAMPING_TX_HARDWARE = 1 << 0
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_SYS_HARDWARE = 1 << 5
SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_TX_SCHED = 1 << 8
SOF_TIMESTAMPING_TX_ACK = 1 << 9
SOF_TIMESTAMPING_OPT_CMSG = 1 << 10
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SOF_TIMESTAMPING_OPT_STATS = 1 << 12
SOF_TIMESTAMPING_OPT_PKTINFO = 1 << 13
SOF_TIMESTAMPING_OPT_TX_SWHW = 1 << 14
SOF_TIMESTAMPING_BIND_PHC = 1 << 15
SOF_TIMESTAMPING_OPT_ID_TCP = 1 << 16
SOF_TIMESTAMPING_OPT_RX_FILTER = 1 << 17

SOF_TIMESTAMPING_NAMES = {
    SOF_TIMESTAMPING_TX_HARDWARE: "hardware-transmit",
    SOF_TIMESTAMPING_TX_SOFTWARE: "software-transmit",
    SOF_TIMESTAMPING_RX_HARDWARE: "hardware-receive",
    SOF_TIMESTAMPING_RX_SOFTWARE: "software-receive",
    SOF_TIMESTAMPING_SOFTWARE: "software-system-clock",
    SOF_TIMESTAMPING_SYS_HARDWARE: "hardware-legacy-clock",
    SOF_TIMESTAMPING_RAW_HARDWARE: "hardware-raw-clock",
    SOF_TIMESTAMPING_OPT_ID: "option-id",
    SOF_TIMESTAMPING_TX_SCHED: "sched-transmit",
    SOF_TIMESTAMPING_TX_ACK: "ack-transmit",
    SOF_TIMESTAMPING_OPT_CMSG: "option-cmsg",
    SOF_TIMESTAMPING_OPT_TSONLY: "option-tsonly",
    SOF_TIMESTAMPING_OPT_STATS: "option-stats",
    SOF_TIMESTAMPING_OPT_PKTINFO: "option-pktinfo",
    SOF_TIMESTAMPING_OPT_TX_SWHW: "option-tx-swhw",
    SOF_TIMESTAMPING_BIND_PHC: "bind-phc",
    SOF_TIMESTAMPING_OPT_ID_TCP: "option-id-tcp",
    SOF_TIMESTAMPING_OPT_RX_FILTER: "option-rx-filter",
}

# enum hwtstamp_tx_types
HWTSTAMP_TX_OFF = 0
HWTSTAMP_TX_ON = 1
HWTSTAMP_TX_ONESTEP_SYNC = 2
HWTSTAMP_TX_ONESTEP_P2P = 3
HWTSTAMP_TX_NAMES = {
    HWTSTAMP_TX_OFF: "off",
    HWTSTAMP_TX_ON: "on",
    HWTSTAMP_TX_ONESTEP_SYNC: "onestep-sync",
    HWTSTAMP_TX_ONESTEP_P2P: "onestep-p2p",
}

# enum hwtstamp_rx_filters
HWTSTAMP_FILTER_NONE = 0
HWTSTAMP_FILTER_ALL = 1
HWTSTAMP_FILTER_SOME = 2
HWTSTAMP_FILTER_PTP_V1_L4_EVENT = 3
HWTSTAMP_FILTER_PTP_V1_L4_SYNC = 4
HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ = 5
HWTSTAMP_FILTER_PTP_V2_L4_EVENT = 6
HWTSTAMP_FILTER_PTP_V2_L4_SYNC = 7
HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ = 8
HWTSTAMP_FILTER_PTP_V2_L2_EVENT = 9
HWTSTAMP_FILTER_PTP_V2_L2_SYNC = 10
HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ = 11
HWTSTAMP_FILTER_PTP_V2_EVENT = 12
HWTSTAMP_FILTER_PTP_V2_SYNC = 13
HWTSTAMP_FILTER_PTP_V2_DELAY_REQ = 14
HWTSTAMP_FILTER_NTP_ALL = 15
HWTSTAMP_FILTER_NAMES = {
    HWTSTAMP_FILTER_NONE: "none",
    HWTSTAMP_FILTER_ALL: "all",
    HWTSTAMP_FILTER_SOME: "some",
    HWTSTAMP_FILTER_PTP_V1_L4_EVENT: "ptpv1-l4-event",
    HWTSTAMP_FILTER_PTP_V1_L4_SYNC: "ptpv1-l4-sync",
    HWTSTAMP_FILTER_PTP_V1_L4_DELAY_REQ: "ptpv1-l4-delay-req",
    HWTSTAMP_FILTER_PTP_V2_L4_EVENT: "ptpv2-l4-event",
    HWTSTAMP_FILTER_PTP_V2_L4_SYNC: "ptpv2-l4-sync",
    HWTSTAMP_FILTER_PTP_V2_L4_DELAY_REQ: "ptpv2-l4-delay-req",
    HWTSTAMP_FILTER_PTP_V2_L2_EVENT: "ptpv2-l2-event",
    HWTSTAMP_FILTER_PTP_V2_L2_SYNC: "ptpv2-l2-sync",
    HWTSTAMP_FILTER_PTP_V2_L2_DELAY_REQ: "ptpv2-l2-delay-req",
    HWTSTAMP_FILTER_PTP_V2_EVENT: "ptpv2-event",
    HWTSTAMP_FILTER_PTP_V2_SYNC: "ptpv2-sync",
    HWTSTAMP_FILTER_PTP_V2_DELAY_REQ: "ptpv2-delay-req",
    HWTSTAMP_FILTER_NTP_ALL: "ntp-all",
}

# enum hwtstamp_flags
HWTSTAMP_FLAG_BONDED_PHC_INDEX = 1 << 0


class hwtstamp_config(ctypes.Structure):
    """SIOCGHWTSTAMP / SIOCSHWTSTAMP argument (through ifreq.ifr_data)."""

    _fields_ = [("flags", ctypes.c_int), ("tx_type", ctypes.c_int), ("rx_filter", ctypes.c_int)]


def decode_mask(mask: int, names: dict[int, str], by_bit_number: bool = False) -> list[str]:
    """Names of the bits set in ``mask``. ``names`` is keyed by bit value, or by bit number when
    ``by_bit_number`` (tx_types and rx_filters are masks of 1 << enum value). Unknown bits come out
    as ``bitN`` so that nothing a newer kernel reports is silently dropped."""
    out = []
    bit = 0
    while mask >> bit:
        if mask & (1 << bit):
            key = bit if by_bit_number else (1 << bit)
            out.append(names.get(key, f"bit{bit}"))
        bit += 1
    return out
