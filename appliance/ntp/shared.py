"""The served-time state in shared memory under a sequence lock, for serving worker processes.

One writer (the node's tick loop) and any number of readers, with no lock a reader ever waits on:
the writer makes the sequence number odd, writes the record, and makes it even again; a reader
copies the record between two reads of the sequence number and keeps the copy only if both are
the same even number. A reader decodes only when the number changed since its last read, so a
request costs one 8-byte read in the common case."""

from __future__ import annotations

import mmap
import struct

from ..core.clock.timemap import TimeMap
from ..core.ntp.answer import ServerState
from ..core.ntp.published import RECORD_BYTES, decode, encode

_SEQ = struct.Struct("<Q")
_SIZE = _SEQ.size + RECORD_BYTES


class SharedServedState:
    """An anonymous shared mapping: made before the workers fork, inherited by them."""

    def __init__(self, timemap: TimeMap, state: ServerState):
        self._mem = mmap.mmap(-1, _SIZE)
        self._seq = 0
        self._seen = -1
        self._cached: tuple[TimeMap, ServerState] = (timemap, state)
        self.publish(timemap, state)

    def publish(self, timemap: TimeMap, state: ServerState) -> None:
        mem = self._mem
        record = encode(timemap, state)
        self._seq += 1
        _SEQ.pack_into(mem, 0, self._seq)  # odd: being written
        mem[_SEQ.size : _SIZE] = record
        self._seq += 1
        _SEQ.pack_into(mem, 0, self._seq)  # even: complete

    def read(self) -> tuple[TimeMap, ServerState]:
        mem = self._mem
        while True:
            before = _SEQ.unpack_from(mem, 0)[0]
            if before == self._seen:
                return self._cached
            if before & 1:
                continue  # the writer is inside; it holds no lock, so this is brief
            record = mem[_SEQ.size : _SIZE]
            if _SEQ.unpack_from(mem, 0)[0] == before:
                self._cached = decode(record)
                self._seen = before
                return self._cached

    def timemap(self) -> TimeMap:
        return self.read()[0]

    def close(self) -> None:
        self._mem.close()
