"""The ctypes bindings against the kernel headers installed on this machine, as gcc sees them:
every structure size, every field offset, every ioctl number and constant.

Fields and constants newer than the installed headers (linux-libc-dev may be older than the kernel
the appliance runs on) are allowed to be missing only if listed in NEWER_THAN_HEADERS, and then the
space they took over in the older layout is checked instead.
"""

from __future__ import annotations

import ctypes

import pytest

from appliance.hw.uapi import ethtool, net_tstamp, ptp_clock, sockios, timex
from appliance.hw.uapi.posix_timers import CLOCKID_TO_FD, FD_TO_CLOCKID
from helpers.cabi import c_values, require_header

# field or constant -> C expression that names the same bytes in headers that predate it
NEWER_THAN_HEADERS = {
    "offsetof:ptp_clock_caps.max_phase_adj": "offsetof(struct ptp_clock_caps, rsv[0])",
    "fieldsize:ptp_clock_caps.max_phase_adj": "sizeof(((struct ptp_clock_caps *)0)->rsv[0])",
    "signed:ptp_clock_caps.max_phase_adj": "(__typeof__(((struct ptp_clock_caps *)0)->rsv[0]))-1 < 0",
    "offsetof:ptp_sys_offset_extended.clockid": "offsetof(struct ptp_sys_offset_extended, rsv[0])",
    "fieldsize:ptp_sys_offset_extended.clockid": "sizeof(((struct ptp_sys_offset_extended *)0)->rsv[0])",
    # clockid is __kernel_clockid_t (int) where rsv[0] was unsigned: only size and place carry over.
    "signed:ptp_sys_offset_extended.clockid": None,
    "const:PTP_EXT_OFFSET": None,
    "const:PTP_EXTTS_EVENT_VALID": None,
    "const:PTP_MASK_CLEAR_ALL": None,
    "const:PTP_MASK_EN_SINGLE": None,
    "const:SOF_TIMESTAMPING_OPT_ID_TCP": None,
    "const:SOF_TIMESTAMPING_OPT_RX_FILTER": None,
}

# When a newer field took over rsv[0], the older header's ``rsv`` starts (and ends) elsewhere.
RESERVED_SHIFT = {
    "offsetof:ptp_clock_caps.max_phase_adj": {
        "offsetof:ptp_clock_caps.rsv": "offsetof(struct ptp_clock_caps, rsv[1])",
        "fieldsize:ptp_clock_caps.rsv": "sizeof(((struct ptp_clock_caps *)0)->rsv) - sizeof(int)",
    },
    "offsetof:ptp_sys_offset_extended.clockid": {
        "offsetof:ptp_sys_offset_extended.rsv": "offsetof(struct ptp_sys_offset_extended, rsv[1])",
        "fieldsize:ptp_sys_offset_extended.rsv": "sizeof(((struct ptp_sys_offset_extended *)0)->rsv) - sizeof(int)",
    },
}


def struct_entries(cls, c_type: str, key_name: str | None = None) -> dict[str, tuple[str, int]]:
    """sizeof and every field offset of a ctypes structure (members of anonymous unions included)."""
    name = key_name or cls.__name__
    out = {f"sizeof:{name}": (f"sizeof({c_type})", ctypes.sizeof(cls))}
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for field, ftype in cls._fields_:
        if field.startswith("_") and field not in anonymous:
            continue
        members = [f for f, _ in ftype._fields_] if field in anonymous else [field]
        for member in members:
            if member.startswith("_"):
                continue
            out[f"offsetof:{name}.{member}"] = (f"offsetof({c_type}, {member})", getattr(cls, member).offset)
            out[f"fieldsize:{name}.{member}"] = (f"sizeof((({c_type} *)0)->{member})", getattr(cls, member).size)
            mtype = dict(ftype._fields_)[member] if field in anonymous else ftype
            if issubclass(mtype, ctypes._SimpleCData) and mtype._type_ in "bBhHiIlLqQ":
                out[f"signed:{name}.{member}"] = (
                    f"(__typeof__((({c_type} *)0)->{member}))-1 < 0",
                    int(mtype(-1).value < 0),
                )
    return out


def const_entries(module, names) -> dict[str, tuple[str, int]]:
    return {f"const:{n}": (n, getattr(module, n)) for n in names}


def check(includes, entries: dict[str, tuple[str, int]], tmp_path, name: str):
    require_header(*includes)
    values, missing = c_values(includes, {k: e for k, (e, _) in entries.items()}, tmp_path, name)
    unexpected = sorted(missing - set(NEWER_THAN_HEADERS))
    assert not unexpected, f"not in the installed headers and not known to be newer: {unexpected}"
    fallbacks = {k: NEWER_THAN_HEADERS[k] for k in missing if NEWER_THAN_HEADERS[k]}
    for k in missing & set(RESERVED_SHIFT):
        fallbacks.update(RESERVED_SHIFT[k])
    if fallbacks:
        old, still = c_values(includes, fallbacks, tmp_path, name + "_old")
        assert not still
        values.update(old)
    mismatches = {k: (values[k], v) for k, (_, v) in entries.items() if k in values and values[k] != v}
    assert not mismatches, f"C value != ctypes value: {mismatches}"
    return values, missing


PTP_STRUCTS = [
    ptp_clock.ptp_clock_time,
    ptp_clock.ptp_clock_caps,
    ptp_clock.ptp_extts_request,
    ptp_clock.ptp_perout_request,
    ptp_clock.ptp_sys_offset,
    ptp_clock.ptp_sys_offset_extended,
    ptp_clock.ptp_sys_offset_precise,
    ptp_clock.ptp_pin_desc,
    ptp_clock.ptp_extts_event,
]
PTP_CONSTS = list(ptp_clock.IOCTLS) + [
    "PTP_ENABLE_FEATURE",
    "PTP_RISING_EDGE",
    "PTP_FALLING_EDGE",
    "PTP_STRICT_FLAGS",
    "PTP_EXT_OFFSET",
    "PTP_EXTTS_EDGES",
    "PTP_EXTTS_V1_VALID_FLAGS",
    "PTP_EXTTS_EVENT_VALID",
    "PTP_PEROUT_ONE_SHOT",
    "PTP_PEROUT_DUTY_CYCLE",
    "PTP_PEROUT_PHASE",
    "PTP_PEROUT_VALID_FLAGS",
    "PTP_PEROUT_V1_VALID_FLAGS",
    "PTP_MAX_SAMPLES",
    "PTP_PF_NONE",
    "PTP_PF_EXTTS",
    "PTP_PF_PEROUT",
    "PTP_PF_PHYSYNC",
]


def test_ptp_clock_h(tmp_path):
    entries = {}
    for cls in PTP_STRUCTS:
        entries.update(struct_entries(cls, f"struct {cls.__name__}"))
    entries.update(const_entries(ptp_clock, PTP_CONSTS))
    # PTP_EXTTS_VALID_FLAGS grew with PTP_EXT_OFFSET (6.12): compare it separately below.
    entries["const:PTP_EXTTS_VALID_FLAGS"] = ("PTP_EXTTS_VALID_FLAGS", ptp_clock.PTP_EXTTS_VALID_FLAGS)
    values, missing = check(
        ["linux/ptp_clock.h"], {k: v for k, v in entries.items() if k != "const:PTP_EXTTS_VALID_FLAGS"}, tmp_path, "ptp"
    )
    valid, _ = c_values(["linux/ptp_clock.h"], {"v": "PTP_EXTTS_VALID_FLAGS"}, tmp_path, "ptp_valid")
    expected = ptp_clock.PTP_EXTTS_VALID_FLAGS
    if "const:PTP_EXT_OFFSET" in missing:
        expected &= ~ptp_clock.PTP_EXT_OFFSET
    assert valid["v"] == expected
    # every ioctl the issue names is present in the installed headers
    for name in [
        "PTP_CLOCK_GETCAPS",
        "PTP_SYS_OFFSET",
        "PTP_SYS_OFFSET_EXTENDED",
        "PTP_SYS_OFFSET_PRECISE",
        "PTP_PIN_GETFUNC",
        "PTP_PIN_SETFUNC",
        "PTP_EXTTS_REQUEST",
        "PTP_PEROUT_REQUEST",
        "PTP_ENABLE_PPS",
    ]:
        for n in (name, name + "2"):
            assert f"const:{n}" in values, n


def test_linux_timex_h(tmp_path):
    entries = struct_entries(timex.timex, "struct timex")
    entries.update(struct_entries(timex.timeval, "struct timeval"))
    names = [n for n in dir(timex) if n.startswith(("ADJ_", "STA_", "TIME_")) and n != "TIME_BAD"] + ["NTP_API"]
    entries.update(const_entries(timex, names))
    check(["linux/timex.h"], entries, tmp_path, "ltimex")


def test_glibc_timex_and_time(tmp_path):
    """clock_adjtime(3) takes glibc's struct timex: it must have the same layout on this platform."""
    entries = struct_entries(timex.timex, "struct timex")
    entries.update(struct_entries(timex.timespec, "struct timespec"))
    entries.update(const_entries(timex, [n for n in dir(timex) if n.startswith("CLOCK_")]))
    check(["sys/timex.h", "time.h"], entries, tmp_path, "gtimex")


def test_ethtool_net_tstamp_sockios(tmp_path):
    entries = struct_entries(ethtool.ethtool_ts_info, "struct ethtool_ts_info")
    entries.update(struct_entries(ethtool.ethtool_drvinfo, "struct ethtool_drvinfo"))
    entries.update(struct_entries(net_tstamp.hwtstamp_config, "struct hwtstamp_config"))
    entries.update(
        const_entries(
            ethtool,
            [
                "ETHTOOL_GDRVINFO",
                "ETHTOOL_GET_TS_INFO",
                "ETHTOOL_FWVERS_LEN",
                "ETHTOOL_BUSINFO_LEN",
                "ETHTOOL_EROMVERS_LEN",
            ],
        )
    )
    entries.update(
        const_entries(
            net_tstamp,
            [
                n
                for n in dir(net_tstamp)
                if n.startswith(("SOF_TIMESTAMPING_", "HWTSTAMP_")) and not n.endswith("NAMES")
            ],
        )
    )
    entries.update(const_entries(sockios, ["SIOCETHTOOL", "SIOCGHWTSTAMP", "SIOCSHWTSTAMP"]))
    check(["linux/ethtool.h", "linux/net_tstamp.h", "linux/sockios.h"], entries, tmp_path, "ethtool")


def test_ifreq(tmp_path):
    entries = {
        "sizeof:ifreq": ("sizeof(struct ifreq)", ctypes.sizeof(sockios.ifreq)),
        "offsetof:ifreq.ifr_name": ("offsetof(struct ifreq, ifr_name)", sockios.ifreq.ifr_name.offset),
        "offsetof:ifreq.ifr_data": ("offsetof(struct ifreq, ifr_data)", sockios.ifreq.ifru_data.offset),
        "const:IFNAMSIZ": ("IFNAMSIZ", sockios.IFNAMSIZ),
    }
    check(["net/if.h"], entries, tmp_path, "ifreq")


def test_fd_to_clockid_matches_linuxptp_formulation(tmp_path):
    """The kernel writes FD_TO_CLOCKID as (~(clockid_t)fd << 3) | CLOCKFD; linuxptp's missing.h as
    (clockid_t)((((unsigned int) ~fd) << 3) | CLOCKFD). Both, in C, against ours."""
    fds = [0, 1, 3, 17, 1023, 65535, 1 << 20]
    exprs = {}
    for fd in fds:
        exprs[f"linuxptp:{fd}"] = f"(clockid_t)((((unsigned int) ~{fd}) << 3) | 3)"
        exprs[f"back:{fd}"] = f"(int)((unsigned int) ~((clockid_t)((((unsigned int) ~{fd}) << 3) | 3) >> 3))"
    values, missing = c_values(["time.h"], exprs, tmp_path, "clockid")
    assert not missing
    for fd in fds:
        assert FD_TO_CLOCKID(fd) == values[f"linuxptp:{fd}"]
        assert CLOCKID_TO_FD(FD_TO_CLOCKID(fd)) == fd == values[f"back:{fd}"]
    with pytest.raises(ValueError):
        FD_TO_CLOCKID(-1)
