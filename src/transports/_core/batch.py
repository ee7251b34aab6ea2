"""Batches of datagrams: the steps both faces share (:apue:`16.5`).

The sans-IO part comes first: checking the sizes of a segmented send,
building its ``UDP_SEGMENT`` control message, and splitting a buffer that
UDP receive offload (GRO) coalesced into one :class:`~transports.Datagram`
per datagram, with the size of each and the sender of all. Then
:class:`BatchMixin`, the sync methods of the datagram transports
(``send_many``, ``recv_many``) and the receive steps that never wait, which
the async face calls after its own wait.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from transports._compat import Buffer, WritableBuffer
from transports._core.message import MessageMixin
from transports._core.sockflags import DONTWAIT, PEEK, TRUNC_IN
from transports._core.transport import AddrT
from transports._core.validate import check_size
from transports.addresses import Address, Datagram, make_datagram
from transports.batch import MAX_SEGMENTS, SOL_UDP, UDP_GRO, UDP_SEGMENT, OffloadUnavailable
from transports.errors import TransportError, WouldBlock
from transports.flags import RecvFlags, SendFlags
from transports.protocols import Destination

if TYPE_CHECKING:
    from transports._core import mmsg

#: Room for one coalesced receive: the largest UDP payload fits in it.
GRO_BUFFER = 1 << 16
#: Room for the ``UDP_GRO`` control message (the segment size as a C int).
GRO_CONTROL = socket.CMSG_SPACE(4) if hasattr(socket, "CMSG_SPACE") else 0
#: What a kernel without UDP_SEGMENT answers to the control message (EIO: a device without checksum offload).
NO_GSO_ERRNOS = frozenset({errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EIO})
_UINT16 = struct.Struct("=H")
#: recvmmsg buffers of one batch stay within this many bytes (64 datagrams of 4 KiB) ...
MMSG_BUDGET = 256 << 10
#: ... and are used only when they hold at least this many datagrams; else one call per datagram.
MMSG_LEAST = 4


# -- sans-IO: sizes, control messages, splitting ---------------------------------------------


def check_count(max_count: int) -> int:
    """Validate the ``max_count`` of ``recv_many``: an int of at least 1."""
    if isinstance(max_count, bool) or not isinstance(max_count, int):
        raise TypeError(f"recv_many: max_count must be an int, got {max_count!r}")
    if max_count < 1:
        raise ValueError(f"recv_many: max_count must be >= 1, got {max_count}")
    return max_count


def check_segments(data: Buffer, segment_size: int, limit: int) -> tuple[int, int]:
    """Check a segmented send before any call; return (bytes, datagrams).

    *limit* is the largest payload of one datagram on the socket, which also
    bounds the whole buffer (the kernel builds one IP packet of it first).
    """
    if isinstance(segment_size, bool) or not isinstance(segment_size, int):
        raise TypeError(f"send_segments: segment_size must be an int, got {segment_size!r}")
    with memoryview(data) as view:
        nbytes = view.nbytes
    if not 1 <= segment_size <= limit:
        raise ValueError(
            f"send_segments: segment_size must be between 1 and {limit} (the largest datagram "
            f"on this socket), got {segment_size}"
        )
    if nbytes == 0:
        raise ValueError("send_segments: data is empty; there is no datagram to send")
    if nbytes > limit:
        raise ValueError(
            f"send_segments: {nbytes} bytes is more than one segmented send can carry ({limit} "
            "bytes in all); split the data over several calls"
        )
    count = -(-nbytes // segment_size)
    if count > MAX_SEGMENTS:
        raise ValueError(
            f"send_segments: {nbytes} bytes in {segment_size}-byte segments makes {count} "
            f"datagrams, more than the {MAX_SEGMENTS} one call may send; use a larger "
            "segment_size or several calls"
        )
    return nbytes, count


def segment_control(segment_size: int) -> list[tuple[int, int, bytes]]:
    """The ancillary data of a segmented ``sendmsg``: ``SOL_UDP``/``UDP_SEGMENT``, a uint16."""
    if UDP_SEGMENT is None:
        raise OffloadUnavailable(
            "send_segments: this platform has no UDP_SEGMENT (UDP segmentation offload is "
            "Linux 4.18+); pass fallback=True to send the datagrams one by one",
            op="send",
        )
    return [(SOL_UDP, UDP_SEGMENT, _UINT16.pack(segment_size))]


def segments(data: Buffer, segment_size: int) -> list[bytes]:
    """The datagrams a segmented send of *data* makes, for the portable loop."""
    with memoryview(data) as whole, whole.cast("B") as view:
        return [bytes(view[at : at + segment_size]) for at in range(0, len(view), segment_size)]


def gro_segment(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The segment size of a coalesced receive, from its ``UDP_GRO`` control message (a C int)."""
    for level, kind, value in ancdata:
        if level == SOL_UDP and kind == UDP_GRO and len(value) >= 2:
            return int.from_bytes(value[:4] if len(value) >= 4 else value[:2], sys.byteorder)
    return None


def split_coalesced(
    view: memoryview, stored: int, total: int, segment: int | None, sender: Address
) -> list[Datagram]:
    """One Datagram per datagram of a receive of *total* bytes, *stored* of them in *view*.

    Each datagram is *segment* bytes but the last, which may be shorter;
    without a segment size the receive is one datagram. A datagram whose
    bytes the buffer could not hold is reported truncated, with its size:
    nothing is dropped silently.
    """
    if not segment or segment >= total:
        data = bytes(view[: min(stored, total)])
        return [Datagram(data, sender, truncated=stored < total, size=total)]
    if stored >= total:
        whole = bytes(view[:total])  # one copy, then slices of bytes: cheaper than a view per datagram
        parts = [whole[at : at + segment] for at in range(0, total, segment)]
        found = [make_datagram(Datagram, (part, sender, False, segment, None)) for part in parts]
        last = len(parts[-1])
        if last != segment:
            found[-1] = make_datagram(Datagram, (parts[-1], sender, False, last, None))
        return found
    found = []  # a cut receive: what the buffer could not hold is reported, not dropped
    for at in range(0, total, segment):
        size = min(segment, total - at)
        part = bytes(view[at : min(at + size, stored)]) if at < stored else b""
        found.append(Datagram(part, sender, truncated=len(part) < size, size=size))
    return found


def fit(datagram: Datagram, max_bytes: int) -> Datagram:
    """*datagram* as a receive of *max_bytes* reports it: cut, and marked truncated, if longer."""
    if len(datagram.data) <= max_bytes:
        return datagram
    return Datagram(datagram.data[:max_bytes], datagram.address, truncated=True, size=datagram.size)


def outgoing(item: Buffer | tuple[Buffer, Destination]) -> tuple[Buffer, Destination | None]:
    """One entry of ``send_many``: ``(data, address)``, or data alone for the connected peer."""
    if isinstance(item, tuple):
        if isinstance(item, Datagram):  # not in the signature, but a user may pass one
            raise TypeError(
                "send_many: an entry is data or a (data, address) pair, got a received Datagram; "
                "pass (datagram.data, datagram.address) to send it back to its sender"
            )
        if len(item) != 2:
            raise TypeError(f"send_many: an entry is data or a (data, address) pair, got a {len(item)}-tuple")
        return item[0], item[1]
    return item, None


class GroQueue:
    """The receive buffer of a socket with ``UDP_GRO`` on, and the datagrams split from it not yet handed out.

    The buffer is kept in a list of spares that a receive pops (atomic under
    the GIL): a second thread receiving at the same time gets a buffer of its
    own instead of writing into the first one's. The queue is changed under
    a lock (held for a few list operations, never across a system call), so
    threads sharing the transport each get every datagram once.
    """

    __slots__ = ("lock", "longest", "pending", "spares")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: The longest datagram queued so far (an upper bound until the queue empties).
        self.longest = 0
        self.spares = [bytearray(GRO_BUFFER)]
        self.pending: deque[Datagram] = deque()

    def queue(self, found: list[Datagram]) -> None:
        """Keep *found*, the datagrams of one receive, for the calls that hand them out."""
        with self.lock:
            self.longest = max(self.longest, len(found[0].data))
            self.pending.extend(found)

    def next(self, peek: bool) -> Datagram | None:
        """The first queued datagram (taken, or left with *peek*), or None when none is queued."""
        with self.lock:
            if not self.pending:
                return None
            return self.pending[0] if peek else self.pending.popleft()

    def take(self, out: list[Datagram], max_count: int, max_bytes: int) -> None:
        """Move queued datagrams to *out* until it holds *max_count*."""
        pending = self.pending
        with self.lock:
            if self.longest <= max_bytes and len(pending) <= max_count - len(out):
                out.extend(pending)  # the common case: the whole rest fits, nothing to cut
                pending.clear()
                self.longest = 0
                return
            while pending and len(out) < max_count:
                datagram = pending.popleft()
                out.append(datagram if len(datagram.data) <= max_bytes else fit(datagram, max_bytes))


# -- the sync methods ------------------------------------------------------------------------


class BatchMixin(MessageMixin[AddrT]):
    """``send_many`` and ``recv_many`` of the datagram transports, and their GRO receive (:apue:`16.5`)."""

    __slots__ = ("_detour", "_gro", "_held", "_mmsg")

    _gro: GroQueue | None
    #: An error met after some datagrams of a batch were taken: raised by the next recv_many.
    _held: TransportError | None
    #: The recvmmsg headers and buffers of the last batch, reused while the sizes fit; a
    #: receive pops it (atomic), so two threads never share one.
    _mmsg: list[mmsg.MessageBatch]

    def __init__(self, sock: socket.socket) -> None:
        """Take ownership of *sock*; receive offload stays off until ``bind(..., gro=True)`` says otherwise."""
        super().__init__(sock)
        self._detour = False
        self._gro = None
        self._held = None
        self._mmsg = []

    def send_to(self, data: Buffer, address: Destination, flags: SendFlags = SendFlags.NONE) -> int:
        """Send one message to *address* (each kind defines it)."""
        raise NotImplementedError

    def send_many(self, datagrams: Iterable[Buffer | tuple[Buffer, Destination]]) -> int:
        """Send each entry as one datagram; return how many were sent (:apue:`16.5`).

        An entry is ``(data, address)``, sent as ``send_to`` would, or *data*
        alone, sent to the connected peer as ``send`` would. Each send waits
        as that call waits (the transport's timeout applies to each). When a
        send fails after some were sent, the batch stops there and the count
        says which were sent (``datagrams[count]`` is the first that was not;
        sending it again raises the error); when the first fails, its error
        is raised. Mistakes (a bad address) raise at once.
        """
        sent = 0
        for item in datagrams:
            data, address = outgoing(item)
            try:
                if address is None:
                    self.send(data)
                else:
                    self.send_to(data, address)
            except OSError:
                if sent:
                    return sent
                raise
            sent += 1
        return sent

    #: One function for both kinds, its hot path in the core; offload is taken in the checked path.
    recv_from = MessageMixin._recv_datagram

    def _recv_datagram_checked(self, max_bytes: int, flags: RecvFlags) -> Datagram:
        if self._gro is not None:
            return self._gro_recv_from(max_bytes, flags)
        return super()._recv_datagram_checked(max_bytes, flags)

    def _recv_checked(self, max_bytes: int, flags: RecvFlags) -> bytes:
        if self._gro is not None:
            return self._gro_recv(max_bytes, flags, "recv").data
        return super()._recv_checked(max_bytes, flags)

    def _recv_into_checked(self, buffer: WritableBuffer, nbytes: int, flags: RecvFlags) -> int:
        if self._gro is None:
            return super()._recv_into_checked(buffer, nbytes, flags)
        with memoryview(buffer) as whole, whole.cast("B") as view:
            data = self._gro_recv(nbytes or len(view), flags, "recv_into").data
            view[: len(data)] = data
        return len(data)

    def recv_many(self, max_count: int, max_bytes: int) -> list[Datagram]:
        """Receive up to *max_count* datagrams of at most *max_bytes* each (:apue:`16.5`).

        Takes what is queued without waiting; only when nothing is there does
        it wait for the first, as ``recv_from`` does (within the timeout), and
        then take the rest without waiting. The list holds at least one. Each
        result carries its own ``address``, ``truncated`` and ``size``. With
        receive offload on (``bind(..., gro=True)``), a coalesced buffer is
        split back into its datagrams; those beyond *max_count* are kept for
        the next call. An error met after some datagrams were taken ends the
        batch and is raised by the next ``recv_many``.
        """
        check_count(max_count)
        check_size("max_bytes", max_bytes)
        self._raise_held()
        out: list[Datagram] = []
        self._take_ready(out, max_count, max_bytes)
        if not out:
            self._raise_held()
            out.append(self.recv_from(max_bytes))
            if max_count > 1:
                self._take_ready(out, max_count, max_bytes)
        return out

    def _raise_held(self) -> None:
        """Raise the error that ended the previous batch, if there was one (both faces)."""
        held, self._held = self._held, None
        if held is not None:
            raise held

    def _take_ready(self, out: list[Datagram], max_count: int, max_bytes: int) -> None:
        """Add to *out*, never waiting, the datagrams already there, up to *max_count* (both faces)."""
        gro = self._gro
        if gro is not None:
            gro.take(out, max_count, max_bytes)
            while len(out) < max_count:
                try:
                    self._gro_fill(DONTWAIT, "recv_from")
                except WouldBlock:
                    return
                except TransportError as exc:
                    self._held = exc
                    return
                gro.take(out, max_count, max_bytes)
            return
        from transports._core import mmsg  # ctypes costs milliseconds to import: only a batch pays it

        capacity = min(max_count - len(out), mmsg.MAX_BATCH, MMSG_BUDGET // max(max_bytes, 1))
        if mmsg.AVAILABLE and capacity >= MMSG_LEAST:
            self._drain_mmsg(out, max_count, max_bytes, capacity)
            return
        # Under a timeout Python polls before each call: the flagged path asks without waiting.
        while len(out) < max_count:
            try:
                out.append(self.recv_from(max_bytes, RecvFlags.DONTWAIT))
            except WouldBlock:
                return
            except TransportError as exc:
                self._held = exc
                return

    def _drain_mmsg(self, out: list[Datagram], max_count: int, max_bytes: int, capacity: int) -> None:
        """The non-waiting loop over ``recvmmsg``: many datagrams a call, whatever the timeout (Linux)."""
        try:
            batch = self._mmsg.pop()
        except IndexError:
            batch = None
        from transports._core import mmsg  # imported by the caller already

        if batch is None or batch.size != max_bytes or batch.capacity < capacity:
            # Made for the largest batch the budget allows, then reused call after call.
            batch = mmsg.MessageBatch(min(mmsg.MAX_BATCH, MMSG_BUDGET // max(max_bytes, 1)), max_bytes)
        self._enter()
        try:
            while len(out) < max_count:
                want = min(max_count - len(out), batch.capacity)
                got = batch.receive(self._sock.fileno(), DONTWAIT | TRUNC_IN, want)
                batch.datagrams(got, self._address, out)
                if got < want:
                    break  # the queue is empty now: one more call would only say EAGAIN
        except BlockingIOError:
            pass
        except OSError as exc:
            # The datagrams taken are handed out; the error (an ICMP report the kernel gives
            # once, say) is kept for the next recv_many rather than lost.
            self._held = self._error(exc, "recv_from")
        finally:
            self._leave()
            if not self._mmsg:
                self._mmsg.append(batch)
        if self._closed:
            raise self._closed_error("recv_from")

    # -- receive offload (GRO) -------------------------------------------------------------

    def _gro_receive(self, gro: GroQueue, bits: int, op: str) -> list[Datagram]:
        """One ``recvmsg`` into a GRO buffer, split into datagrams (WouldBlock with DONTWAIT and nothing there)."""
        try:
            buffer = gro.spares.pop()
        except IndexError:
            buffer = bytearray(GRO_BUFFER)  # another thread is receiving into the kept one
        try:
            count, ancdata, msg_flags, sender = self._receive(
                op, bits, self._sock.recvmsg_into, [buffer], GRO_CONTROL, bits | TRUNC_IN
            )
            stored = min(count, GRO_BUFFER)
            if not TRUNC_IN and msg_flags & socket.MSG_TRUNC:
                count = stored + 1  # cut, real size unknown: the last datagram is reported truncated
            with memoryview(buffer) as view:
                return split_coalesced(view, stored, count, gro_segment(ancdata), self._address(sender))
        finally:
            if not gro.spares:
                gro.spares.append(buffer)

    def _gro_fill(self, bits: int, op: str) -> None:
        """One GRO receive, its datagrams queued (WouldBlock with DONTWAIT and nothing there)."""
        gro = self._gro
        assert gro is not None  # only called with offload on
        gro.queue(self._gro_receive(gro, bits, op))

    def _gro_recv_from(self, max_bytes: int, flags: RecvFlags) -> Datagram:
        """``recv_from`` with offload on: one datagram, the rest of a coalesced buffer kept for later calls."""
        check_size("max_bytes", max_bytes)
        bits = self._recv_bits(flags) if flags else 0
        gro = self._gro
        assert gro is not None  # only called with offload on
        peek = bool(bits & PEEK)
        while True:
            datagram = gro.next(peek)
            if datagram is not None:
                return fit(datagram, max_bytes)
            if peek:
                # A peek leaves the buffer in the kernel: split it here and queue nothing.
                return fit(self._gro_receive(gro, bits, "recv_from")[0], max_bytes)
            self._gro_fill(bits, "recv_from")  # another thread may take them first: then again

    def _gro_recv(self, max_bytes: int, flags: RecvFlags, op: str) -> Datagram:
        """``recv``/``recv_into`` with offload on: one datagram, a cut one raising MessageTruncated."""
        datagram = self._gro_recv_from(max_bytes, flags)
        if datagram.truncated:
            raise self._truncated(op, datagram.data, datagram.size, max_bytes)
        return datagram

    def _enable_gro(self) -> None:
        """Switch ``UDP_GRO`` on and receive through the GRO buffer from now on."""
        why = "this platform has no UDP_GRO"
        if UDP_GRO is not None:
            try:
                self._sock.setsockopt(SOL_UDP, UDP_GRO, 1)
            except OSError as exc:
                why = f"the kernel refused UDP_GRO ({exc.strerror})"
            else:
                self._gro = GroQueue()
                self._detour = True
                return
        where = self._where()
        raise OffloadUnavailable(
            f"bind {where}: {why}; UDP receive offload needs Linux 5.0+; bind without gro=True",
            op="bind",
            address=where,
        )

    def _adopt_gro(self) -> None:
        """Receive through the GRO buffer if the adopted socket already has ``UDP_GRO`` on."""
        if UDP_GRO is None:
            return
        try:
            on = self._sock.getsockopt(SOL_UDP, UDP_GRO)
        except OSError:
            return
        if on:
            self._gro = GroQueue()
            self._detour = True
