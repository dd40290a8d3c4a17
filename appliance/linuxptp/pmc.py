"""Management client over ptp4l's Unix socket (``uds_address``): the appliance's own pmc.

One datagram socket, bound to a private path (ptp4l answers to the sender's address, as it does
for pmc's /var/run/pmc.$pid), kept open for the life of the client: no process per poll. Encoding
and decoding are appliance.core.ptp.mgmt (the messages) and appliance.core.ptp.datasets (the data
sets they carry); this module only moves bytes and matches answers to questions by sequenceId and
managementId.

boundaryHops is 0 (as phc2sys uses), so ptp4l answers itself and forwards nothing to the network.
ptp4l drops management messages whose domainNumber is not its own: the client takes the domain.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from pathlib import Path

from ..core.ptp import datasets as ds
from ..core.ptp import mgmt as m

_instance = itertools.count()


class PmcError(Exception):
    """ptp4l did not answer, answered with an error status, or is not there."""


class PmcClient:
    def __init__(
        self, uds_address: str | Path, domain: int, local_path: str | Path | None = None, timeout_s: float = 0.5
    ):
        self.server = str(uds_address)
        self.domain = domain
        self.timeout_s = timeout_s
        pid = os.getpid()
        self.local_path = str(local_path or Path(self.server).parent / f"pmc.{pid}.{next(_instance)}")
        # ptp4l's UDS answers go back to this port identity; portNumber = pid, as pmc does.
        self.source = ds.PortIdentity(b"\x00" * 8, pid & 0xFFFF)
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    # -- socket ---------------------------------------------------------------------------------
    def _open(self) -> socket.socket:
        if self._sock is None:
            if len(self.local_path.encode()) >= 108:
                raise PmcError(f"socket path {self.local_path} is longer than a Unix socket path may be (107)")
            try:
                os.unlink(self.local_path)
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                s.bind(self.local_path)
            except OSError as exc:
                s.close()
                raise PmcError(f"cannot bind {self.local_path}: {exc.strerror}") from None
            self._sock = s
        return self._sock

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
                try:
                    os.unlink(self.local_path)
                except FileNotFoundError:
                    pass

    def __enter__(self) -> PmcClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------------
    def request(self, action: m.Action, mgmt_id: int, value=None, timeout_s: float | None = None) -> m.Message:
        """Send one request and return ptp4l's answer (RESPONSE or ACKNOWLEDGE)."""
        with self._lock:
            sock = self._open()
            seq = next(self._seq) & 0xFFFF
            if action is m.Action.SET:
                data = m.encode_set(
                    mgmt_id, value, sequence_id=seq, domain=self.domain, source=self.source, boundary_hops=0
                )
            else:
                data = m.encode(
                    action, mgmt_id, sequence_id=seq, domain=self.domain, source=self.source, boundary_hops=0
                )
            try:
                sock.sendto(data, self.server)
            except (FileNotFoundError, ConnectionRefusedError):
                raise PmcError(f"ptp4l is not listening on {self.server}") from None
            except OSError as exc:
                raise PmcError(f"cannot send to {self.server}: {exc.strerror}") from None
            deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PmcError(
                        f"no answer from ptp4l on {self.server} to {action.name} "
                        f"{_name(mgmt_id)} within {self.timeout_s:.1f} s"
                    )
                sock.settimeout(left)
                try:
                    reply = sock.recv(m.MAX_MESSAGE_LEN + 64)
                except TimeoutError:
                    continue
                except OSError as exc:
                    raise PmcError(f"receive from {self.server}: {exc.strerror}") from None
                try:
                    msg = m.decode(reply)
                except ds.PtpMgmtError:
                    continue  # not for us or malformed: ignore, keep waiting
                if msg.sequence_id != seq or msg.mgmt_id != mgmt_id:
                    continue  # a late answer to an earlier request
                if msg.action not in (m.Action.RESPONSE, m.Action.ACKNOWLEDGE):
                    continue
                err = msg.value
                if isinstance(err, m.MgmtErrorStatus):  # msg.is_error
                    raise PmcError(
                        f"ptp4l refused {action.name} {_name(mgmt_id)}: {err.name}"
                        + (f" ({err.display})" if err.display else "")
                    )
                return msg

    def get(self, mgmt_id: int, timeout_s: float | None = None):
        return self.request(m.Action.GET, mgmt_id, timeout_s=timeout_s).value

    def set(self, mgmt_id: int, value, timeout_s: float | None = None):
        return self.request(m.Action.SET, mgmt_id, value, timeout_s=timeout_s).value

    # -- the data sets the appliance uses ----------------------------------------------------
    def default_data_set(self) -> ds.DefaultDataSet:
        return self.get(ds.MgmtId.DEFAULT_DATA_SET)

    def current_data_set(self) -> ds.CurrentDataSet:
        return self.get(ds.MgmtId.CURRENT_DATA_SET)

    def parent_data_set(self) -> ds.ParentDataSet:
        return self.get(ds.MgmtId.PARENT_DATA_SET)

    def port_data_set(self) -> ds.PortDataSet:
        return self.get(ds.MgmtId.PORT_DATA_SET)

    def time_status(self) -> ds.TimeStatusNp:
        return self.get(ds.MgmtId.TIME_STATUS_NP)

    def set_grandmaster_settings(self, settings: ds.GrandmasterSettingsNp) -> ds.GrandmasterSettingsNp:
        return self.set(ds.MgmtId.GRANDMASTER_SETTINGS_NP, settings)

    def set_priority1(self, value: int) -> int:
        return self.set(ds.MgmtId.PRIORITY1, ds.Datum(value)).value

    def set_priority2(self, value: int) -> int:
        return self.set(ds.MgmtId.PRIORITY2, ds.Datum(value)).value

    def set_sync_uncertain(self, uncertain: bool) -> int:
        v = ds.SYNC_UNCERTAIN_TRUE if uncertain else ds.SYNC_UNCERTAIN_FALSE
        return self.set(ds.MgmtId.SYNCHRONIZATION_UNCERTAIN_NP, ds.Datum(v)).value


def _name(mgmt_id: int) -> str:
    try:
        return ds.MgmtId(mgmt_id).name
    except ValueError:
        return f"0x{mgmt_id:04x}"
