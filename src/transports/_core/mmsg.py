"""``recvmmsg(2)`` through :mod:`ctypes`: the datagrams already queued, many in one call (:apue:`16.5`).

Python's :mod:`socket` has no ``recvmmsg``; one call per datagram costs
more in the interpreter than in the kernel. A :class:`MessageBatch` holds
the headers, buffers and address slots for up to ``capacity`` datagrams,
made once and reused: a receive copies a pristine image of the headers over
them (the kernel rewrites lengths), makes the call with ``MSG_DONTWAIT``
(it never waits, whatever the socket's timeout), and reads lengths and
flags through an integer view of the headers. Linux only; elsewhere
:data:`AVAILABLE` is False and callers take the one-call-per-datagram loop.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from transports.addresses import Address, Datagram, make_datagram

#: Bytes kept for each sender's address (a ``sockaddr_storage``).
NAME_ROOM = 128
#: The most datagrams one call takes (the kernel's UIO_MAXIOV bounds it far above).
MAX_BATCH = 64


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


def _load() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_RECVMMSG = _load()
#: Whether this platform has ``recvmmsg`` (Linux 2.6.33+ with its C library).
AVAILABLE = _RECVMMSG is not None
_STRIDE = ctypes.sizeof(_Mmsghdr) // 4
_LEN_AT = _Mmsghdr.len.offset // 4
_NAMELEN_AT = _Msghdr.namelen.offset // 4


def python_sockaddr(raw: bytes) -> Any:
    """The address as :mod:`socket` reports it (``recvfrom``), from a raw ``sockaddr``."""
    if len(raw) < 2:
        return None
    family = int.from_bytes(raw[:2], sys.byteorder)
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET6:
        flow = int.from_bytes(raw[4:8], "big")
        scope = int.from_bytes(raw[24:28], sys.byteorder)
        return socket.inet_ntop(socket.AF_INET6, raw[8:24]), int.from_bytes(raw[2:4], "big"), flow, scope
    path = raw[2:]
    if not path:
        return None
    if path[:1] == b"\0":
        return path  # an abstract name: bytes, as the socket module gives it
    return os.fsdecode(path.split(b"\0", 1)[0])


class MessageBatch:
    """Headers and buffers for ``recvmmsg`` of up to *capacity* datagrams of *size* bytes each."""

    __slots__ = (
        "_address",
        "_data",
        "_headers",
        "_ints",
        "_iovecs",
        "_names",
        "_pristine",
        "capacity",
        "size",
    )

    def __init__(self, capacity: int, size: int) -> None:
        self.capacity, self.size = capacity, size
        self._data = bytearray(max(capacity * size, 1))
        self._names = bytearray(capacity * NAME_ROOM)
        data_at = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        names_at = ctypes.addressof(ctypes.c_char.from_buffer(self._names))
        self._iovecs = (_Iovec * capacity)()
        self._headers = (_Mmsghdr * capacity)()
        for index in range(capacity):
            self._iovecs[index].base = data_at + index * size
            self._iovecs[index].len = size
            header = self._headers[index].hdr
            header.name = names_at + index * NAME_ROOM
            header.namelen = NAME_ROOM
            header.iov = ctypes.addressof(self._iovecs[index])
            header.iovlen = 1
        self._pristine = bytes(self._headers)
        self._ints = memoryview(self._headers).cast("B").cast("I")
        self._address = ctypes.addressof(self._headers)

    def receive(self, fd: int, flags: int, count: int) -> int:
        """Take up to *count* queued datagrams in one call; raise OSError as the socket module would."""
        assert _RECVMMSG is not None
        ctypes.memmove(self._address, self._pristine, len(self._pristine))
        got = _RECVMMSG(fd, self._address, min(count, self.capacity), flags, None)
        if got < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return got

    def datagrams(self, got: int, decode: Callable[[Any], Address], out: list[Datagram]) -> None:
        """Append the *got* datagrams just received to *out*, each with its size, cut flag and sender.

        The call was made with ``MSG_TRUNC`` (Linux), so each length is the
        datagram's real size: one longer than the slot was cut.
        """
        ints, size = self._ints, self.size
        # One copy of each area, then slices of bytes: cheaper than a view and a copy per datagram.
        with memoryview(self._data) as data, memoryview(self._names) as names:
            payloads = bytes(data[: got * size])
            senders = bytes(names[: got * NAME_ROOM])
        append, make = out.append, make_datagram
        last_raw, last = b"", None
        for index in range(got):
            base = index * _STRIDE
            length = ints[base + _LEN_AT]
            at = index * NAME_ROOM
            raw = senders[at : at + ints[base + _NAMELEN_AT]]
            if raw != last_raw or last is None:
                last_raw, last = raw, decode(python_sockaddr(raw))
            start = index * size
            if length > size:
                append(make(Datagram, (payloads[start : start + size], last, True, length, None)))
            else:
                append(make(Datagram, (payloads[start : start + length], last, False, length, None)))
