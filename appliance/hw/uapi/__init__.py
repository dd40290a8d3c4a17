"""ctypes bindings of Linux user-space headers, one module per header, under the kernel's own names.

    ioctl.py       asm-generic/ioctl.h   _IOC/_IO/_IOR/_IOW/_IOWR
    ptp_clock.py   linux/ptp_clock.h     PTP character device structures and ioctls
    timex.py       linux/timex.h         struct timex, ADJ_*, STA_*, TIME_* (+ clock ids of linux/time.h)
    posix_timers.py (kernel) posix-timers.h  CLOCKFD, FD_TO_CLOCKID: the dynamic clock id of an open PHC
    ethtool.py     linux/ethtool.h       ETHTOOL_GET_TS_INFO, ETHTOOL_GDRVINFO and their structures
    net_tstamp.py  linux/net_tstamp.h    SOF_TIMESTAMPING_*, HWTSTAMP_TX_*, HWTSTAMP_FILTER_*, hwtstamp_config
    sockios.py     linux/sockios.h + linux/if.h   SIOCETHTOOL, SIOCGHWTSTAMP, struct ifreq

Structure and field names are the header's; layouts are the x86_64/aarch64 ones (LP64, generic ioctl
encoding). tests/unit/test_uapi_abi.py compiles a C program against the installed headers and compares
every size, offset and ioctl number with these modules.
"""
