"""Message receives that never cut a message silently (datagram and seqpacket, :apue:`16.5`).

Truncation is reported (``MSG_TRUNC``), with the message's real size where
Linux tells it, and a message too large to send is a ``MessageTooLarge``.
"""

from __future__ import annotations

import errno
import select
from collections.abc import Callable
from typing import Any

from transports._compat import Buffer, WritableBuffer
from transports._core.owner import pid_global
from transports._core.sockflags import DONTWAIT, NOSIGNAL, SIZED_RECV, TRUNC_IN, TRUNC_OUT
from transports._core.transport import DGRAM_DIRECT, AddrT, SocketTransport
from transports._core.validate import check_size
from transports.addresses import Address, Datagram, InetAddress, UnixAddress, make_datagram
from transports.errors import MessageTooLarge, MessageTruncated, TransportError
from transports.flags import RecvFlags, SendFlags

#: This process's pid, renewed at fork by transports._core.owner: calls in flight carry it.
_PID = pid_global(globals())
#: A flag-free send without a timeout: never blocks, so close() can wake its wait.
_NOWAIT = NOSIGNAL | DONTWAIT
#: Sender addresses decoded once, by the kernel's form of them (an Internet tuple,
#: a Unix path as str or bytes, None for an unnamed sender): values of both
#: families share it, as their kernel forms never compare equal. At most
#: SENDERS_KEPT entries; the values are immutable, so every transport shares them.
_SENDERS: dict[Any, Address] = {}
SENDERS_KEPT = 4096


class MessageMixin(SocketTransport[AddrT]):
    """Receives that never cut a message silently (datagram and seqpacket, :apue:`16.5`)."""

    __slots__ = ()

    #: True when every receive must take the checked path (``_recv_checked``, ``_recv_into_checked`` and
    #: ``_recv_datagram_checked``), which a kind extends: receive offload, credentials.
    #: A slot of the datagram kinds; False for the others.
    _detour: bool = False

    @property
    def max_message_size(self) -> int:
        """The largest payload one send can carry on this transport."""
        raise NotImplementedError

    def _send_error(self, exc: OSError, op: str, data: Buffer) -> TransportError:
        if exc.errno == errno.EMSGSIZE or (exc.errno == errno.ENOBUFS and self.network.startswith("unix")):
            with memoryview(data) as view:
                size = view.nbytes
            try:
                limit: int | None = self.max_message_size
            except OSError:
                limit = None
            return MessageTooLarge(
                f"{op} {self._where()}: a {size}-byte message is larger than this "
                f"{self.network} transport can send in one piece (limit {limit} bytes); "
                "nothing was sent; split the data or use a stream transport",
                size=size,
                limit=limit,
                op=op,
                address=self._where(),
            )
        return self._error(exc, op, bytes_sent=0)

    def _send_to(
        self,
        data: Buffer,
        address: Any,
        flags: SendFlags,
        sockaddr: Callable[[Any], str | bytes | tuple[Any, ...]],
    ) -> int:
        """``send_to`` of a datagram kind, whose *sockaddr* turns *address* into the kernel's form.

        With flags the send goes through :meth:`_call` (``DONTWAIT`` never
        waits); without, through :meth:`_send_waking`. The address value of
        the transport's own family (checked when it was made) is read
        directly: an ``InetAddress`` to UDP, a named ``UnixAddress`` path to
        a Unix datagram socket.
        """
        if not flags:
            kind = address.__class__
            if kind is InetAddress and self._inet:
                return self._send_waking(data, "send_to", (address.host, address.port))
            if kind is UnixAddress and not self._inet and address.path and not address.abstract:
                return self._send_waking(data, "send_to", address.path)
            return self._send_waking(data, "send_to", sockaddr(address))
        bits = self._send_bits(flags)
        target = sockaddr(address)
        try:
            return self._call(bits, self._sock.sendto, data, bits, target)
        except OSError as exc:
            raise self._send_error(exc, "send_to", data) from exc

    def _send_waking(self, data: Buffer, op: str, target: Any) -> int:
        """A flag-free send of one message that a close() from another thread can wake (:apue:`16.2`, :apue:`14.4`).

        A Unix datagram sender blocked on a full receiver sleeps on the
        *receiver's* queue, where shutting down its own socket does not reach
        it. So without a timeout the send is tried with ``MSG_DONTWAIT`` and,
        when the message does not fit, waits in ``poll(2)`` for room or a
        hang-up, which close() causes; with a timeout Python already polls.
        A UDP sender waits the same way for room in its own send buffer.
        *target* is the sockaddr of ``send_to``, or None for ``send``.
        The first try is the hot path: one system call, no frame of ours.
        """
        sock = self._sock
        calls = self._calls
        calls.append(_PID)
        try:
            sent = sock.send(data, _NOWAIT) if target is None else sock.sendto(data, _NOWAIT, target)
        except BaseException as exc:
            return self._send_failed(exc, data, op, target)
        del calls[-1]
        if self._closed:
            self._settle()
        return sent

    def _send_failed(self, exc: BaseException, data: Buffer, op: str, target: Any) -> int:
        """The first try of a flag-free send (still in flight) raised *exc*: wait for room, or fail.

        The first try always says ``MSG_DONTWAIT``: with a timeout Python
        meets EAGAIN by polling within it, and without one the send that did
        not fit waits here, in :meth:`_send_polling` (kept in flight). A
        non-blocking transport (timeout 0) raises WouldBlock, as does any
        other failure after leaving the call.
        """
        if isinstance(exc, BlockingIOError) and not self._closed and self._sock.gettimeout() is None:
            return self._send_polling(data, op, target, _NOWAIT)
        self._leave()
        if isinstance(exc, OSError):
            raise self._send_error(exc, op, data) from exc
        raise exc

    def _send_polling(self, data: Buffer, op: str, target: Any, bits: int) -> int:
        """The rest of :meth:`_send_waking` once the message did not fit: wait in ``poll(2)``, try again."""
        sock = self._sock
        try:
            while True:
                poller = select.poll()
                poller.register(sock, select.POLLOUT)
                poller.poll()
                try:
                    if target is None:
                        return sock.send(data, bits)
                    return sock.sendto(data, bits, target)
                except BlockingIOError:
                    if self._closed:
                        raise
        except OSError as exc:
            raise self._send_error(exc, op, data) from exc
        finally:
            self._leave()

    def _recv_message(
        self, buffer: Buffer, nbytes: int, flags: RecvFlags, op: str
    ) -> tuple[int, bool, int | None, Any]:
        """Receive one message into *buffer*.

        Returns (bytes stored, whether it was cut, its real size if known, sender).
        """
        bits = self._recv_bits(flags) if flags else 0
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if nbytes > len(view):
                raise ValueError(
                    f"{op}: nbytes {nbytes} is larger than the {len(view)}-byte buffer; "
                    "pass nbytes=0 to use the whole buffer"
                )
            target = view[:nbytes] if nbytes else view
            room = len(target)
            count, _, msg_flags, sender = self._receive(
                op, bits, self._sock.recvmsg_into, [target], 0, bits | TRUNC_IN
            )
        if count > room or msg_flags & TRUNC_OUT:
            # With MSG_TRUNC on input (Linux) the count is the real size.
            return min(count, room), True, (count if TRUNC_IN else None), sender
        return count, False, count, sender

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        """Receive one message of at most *max_bytes* (:apue:`16.5`).

        A longer message raises :class:`~transports.MessageTruncated`
        with the part that fitted; use ``recv_from`` to get it as a result.
        """
        if flags or max_bytes.__class__ is not int or not 0 < max_bytes <= DGRAM_DIRECT or self._detour:
            return self._recv_checked(max_bytes, flags)
        if not SIZED_RECV:
            return self._recv_checked(max_bytes, flags)
        # The hot path (Linux): with MSG_TRUNC the result is as long as the message
        # (see SIZED_RECV), so a result beyond max_bytes is the truncation report.
        calls = self._calls
        calls.append(_PID)
        try:
            data = self._sock.recv(max_bytes, TRUNC_IN)
        except BaseException as exc:
            raise self._recv_failed(exc, "recv") from exc
        del calls[-1]
        if self._closed:
            self._settle()
            raise self._closed_error("recv")
        if len(data) > max_bytes:
            raise self._truncated("recv", data[:max_bytes], len(data), max_bytes)
        return data

    def _recv_checked(self, max_bytes: int, flags: RecvFlags) -> bytes:
        """``recv`` with flags, an unusual size, or on a platform without sized receives: every check."""
        check_size("max_bytes", max_bytes)
        buffer = bytearray(self._room(max_bytes, flags, "recv"))
        count, cut, size, _ = self._recv_message(buffer, 0, flags, "recv")
        with memoryview(buffer) as view:
            data = bytes(view[:count])
        if cut:
            raise self._truncated("recv", data, size, max_bytes)
        return data

    def _recv_failed(self, exc: BaseException, op: str) -> TransportError:
        """The error a hot receive (still in flight) that raised *exc* raises, after leaving the call.

        Anything but an :class:`OSError` (``KeyboardInterrupt`` ...) is raised again unchanged.
        """
        self._leave()
        if isinstance(exc, OSError):
            return self._error(exc, op)
        raise exc

    def recv_into(self, buffer: WritableBuffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        """Receive one message into *buffer*; a message that does not fit raises MessageTruncated."""
        if self._detour:
            return self._recv_into_checked(buffer, nbytes, flags)
        return self._recv_into_plain(buffer, nbytes, flags)

    def _recv_into_checked(self, buffer: WritableBuffer, nbytes: int, flags: RecvFlags) -> int:
        """``recv_into`` on a socket whose receives take the checked path; a kind that detours extends it."""
        return self._recv_into_plain(buffer, nbytes, flags)

    def _recv_into_plain(self, buffer: WritableBuffer, nbytes: int, flags: RecvFlags) -> int:
        check_size("nbytes", nbytes)
        count, cut, size, _ = self._recv_message(buffer, nbytes, flags, "recv_into")
        if cut:
            with memoryview(buffer) as view, view.cast("B") as raw:
                data = bytes(raw[:count])
            raise self._truncated("recv_into", data, size, count)
        return count

    def _recv_datagram(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        """Receive one message and its sender; ``truncated`` says whether it was cut (:apue:`16.5`).

        An unnamed Unix sender is ``UnixAddress("")``. With receive offload
        on (``bind(..., gro=True)``), one datagram of a coalesced buffer.
        """
        if flags or max_bytes.__class__ is not int or not 0 < max_bytes <= DGRAM_DIRECT or self._detour:
            return self._recv_datagram_checked(max_bytes, flags)
        if not SIZED_RECV:
            return self._recv_datagram_checked(max_bytes, flags)
        # The flag-free call is the hot path: one system call, the sender decoded once
        # per sender, the result a tuple built in C. With MSG_TRUNC the result is as
        # long as the message (see SIZED_RECV): longer than max_bytes is a cut.
        calls = self._calls
        calls.append(_PID)
        try:
            data, sender = self._sock.recvfrom(max_bytes, TRUNC_IN)
        except BaseException as exc:
            raise self._recv_failed(exc, "recv_from") from exc
        del calls[-1]
        if self._closed:
            self._settle()
            raise self._closed_error("recv_from")
        address = _SENDERS.get(sender)
        if address is None:
            address = self._sender(sender)
        size = len(data)
        if size > max_bytes:
            return make_datagram(Datagram, (data[:max_bytes], address, True, size, None))
        return make_datagram(Datagram, (data, address, False, size, None))

    def _recv_datagram_checked(self, max_bytes: int, flags: RecvFlags) -> Datagram:
        """``recv_from`` with flags, an unusual size, or on a platform without sized receives: every check."""
        check_size("max_bytes", max_bytes)
        buffer = bytearray(self._room(max_bytes, flags, "recv_from"))
        count, cut, real, sender = self._recv_message(buffer, 0, flags, "recv_from")
        with memoryview(buffer) as view:
            data = bytes(view[:count])
        address = self._address(sender) if sender is not None else UnixAddress("")
        return Datagram(data, address, truncated=cut, size=real)

    def _sender(self, sender: Any) -> Address:
        """Decode a sender the kernel reported, once: later messages from it find it in ``_SENDERS``."""
        address: Address = self._address(sender) if sender is not None else UnixAddress("")
        if len(_SENDERS) >= SENDERS_KEPT:
            _SENDERS.clear()  # a server with many peers decodes again, no more
        _SENDERS[sender] = address
        return address

    def _truncated(self, op: str, data: bytes, size: int | None, room: int) -> MessageTruncated:
        real = f"{size}-byte" if size is not None else "longer"
        return MessageTruncated(
            f"{op} {self._where()}: a {real} message did not fit the {room}-byte buffer; "
            "the first part is in .data and the rest was discarded by the kernel; "
            "receive with a larger buffer (see max_message_size)",
            data=data,
            size=size,
            op=op,
            address=self._where(),
        )
