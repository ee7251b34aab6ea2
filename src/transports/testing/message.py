"""The message contract: :data:`MESSAGE_CHECKS` and :func:`~transports.testing.run_message_checks` (:apue:`16.5`).

The checks only datagram and seqpacket pairs pass (boundaries kept, empty
messages, order, truncation reported, ``max_message_size``, end of a
connection), then the list of every check a message pair runs -- these and
the ones of :mod:`transports.testing.pair` and
:mod:`transports.testing.lifecycle` -- and the function that runs it.
"""

from __future__ import annotations

from transports.errors import MessageTooLarge, MessageTruncated
from transports.kinds import Kind
from transports.protocols import DatagramTransport, Transport
from transports.testing import _common as kit
from transports.testing.base import MessageCheck, NotApplicable, PairFactory
from transports.testing.lifecycle import LIFECYCLE_CHECKS
from transports.testing.pair import PAIR_CHECKS, check_refused_flags

__all__ = [
    "MESSAGE_CHECKS",
    "check_empty_message",
    "check_max_message_size",
    "check_message_boundaries",
    "check_message_end_of_connection",
    "check_message_identity",
    "check_message_order",
    "check_message_truncation",
    "run_message_checks",
]


@kit.contract_check
def check_message_identity(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """Both ends keep message boundaries: kind DATAGRAM or SEQPACKET, and the ``Transport`` protocol (:apue:`16.2`).

    A DATAGRAM end that has ``recv_from`` satisfies ``DatagramTransport``;
    ``max_message_size``, where present, is a positive int. Plus what
    :func:`~transports.testing.stream.check_stream_identity` checks of any end.
    """
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        for end in (a, b):
            kit.message_limit(end)
            if end.kind is Kind.DATAGRAM and hasattr(end, "recv_from"):
                kit.expect(
                    isinstance(end, DatagramTransport),
                    f"{end!r} has recv_from but does not satisfy DatagramTransport",
                )
        kit.assert_basics(a, b)


@kit.contract_check
def check_message_boundaries(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """One send is one receive: messages are neither merged nor split (:apue:`16.5`).

    Four messages of different sizes are sent before any is received; four
    receives return them one each (in order when *reliable*, else in any
    order).
    """
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        big = min(3000, kit.message_limit(a) or 3000)
        messages = [b"first", b"second message", b"x" * big, b"last"]
        for message in messages:
            kit.send_whole(a, message)
        waiting = list(messages)
        for n in range(len(messages)):
            got = b.recv(4096)
            expected = waiting[0] if reliable else got
            kit.expect(
                got == expected and got in waiting,
                f"receive {n + 1} of {len(messages)} returned {kit.show(got)}; expected "
                f"{kit.show(waiting[0]) if reliable else 'one of ' + ', '.join(map(kit.show, waiting))}",
            )
            waiting.remove(got)


@kit.contract_check
def check_empty_message(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """An empty message is a message: ``send(b"")`` returns 0 and the peer receives ``b""`` (:apue:`16.5`)."""
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        sent = a.send(b"")
        kit.expect(sent == 0, f"send(b'') returned {sent!r}")
        kit.send_whole(a, b"after")
        got = [b.recv(100), b.recv(100)]
        expected = [b"", b"after"]
        kit.expect(
            got == expected if reliable else sorted(got) == expected,
            f"after sending b'' and b'after' the peer received {got!r}",
        )


@kit.contract_check
def check_message_order(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A reliable message kind delivers in order: 100 numbered messages arrive 0..99 (:apue:`16.5`).

    The sender is a helper thread, so a short queue just makes it wait. Not
    applicable when ``reliable=False``.
    """
    if not reliable:
        raise NotApplicable("reliable=False: the transport may reorder messages")
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        messages = [f"message {n:03d}".encode() for n in range(100)]

        def send() -> None:
            for message in messages:
                kit.send_whole(a, message)

        with kit.background(send, "sending 100 messages", a, b) as sender:
            got = [b.recv(100) for _ in messages]
            sender.result()
        for n, (sent, received) in enumerate(zip(messages, got, strict=True)):
            kit.expect(sent == received, f"message {n} was {received!r}, expected {sent!r}")


@kit.contract_check
def check_message_truncation(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A message longer than the buffer is never cut silently (:apue:`16.5`, MSG_TRUNC).

    ``recv`` and ``recv_into`` (with and without ``nbytes``) raise ``MessageTruncated`` with the part that
    fitted in ``data`` (and the real ``size`` or None); ``recv_from``, where
    there is one, returns a ``Datagram`` with ``truncated=True``. The rest of
    the cut message is gone and the next message arrives whole.
    """
    message = bytes(range(100))
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        kit.send_whole(a, message)
        what = "recv(10) of a 100-byte message"
        exc = kit.raises(MessageTruncated, lambda: b.recv(10), what, " (a silent cut loses data)")
        kit.expect(
            exc.data == message[:10], f"{what}: MessageTruncated.data is {exc.data!r}, not the first 10 bytes"
        )
        kit.expect(exc.size in (100, None), f"{what}: MessageTruncated.size is {exc.size!r}, not 100 or None")
        kit.send_whole(a, b"next")
        kit.receive_whole(b, b"next", "the message after a truncated one")
        kit.send_whole(a, message)
        buffer = bytearray(16)
        what = "recv_into(16-byte buffer) of a 100-byte message"
        exc = kit.raises(MessageTruncated, lambda: b.recv_into(buffer), what, " (a silent cut loses data)")
        kit.expect(exc.data == message[:16], f"{what}: MessageTruncated.data is {exc.data!r}")
        kit.expect(
            buffer == message[:16], f"{what}: the buffer holds {bytes(buffer)!r}, not the part that fitted"
        )
        kit.send_whole(a, message)
        what = "recv_into(16-byte buffer, 4) of a 100-byte message"
        exc = kit.raises(MessageTruncated, lambda: b.recv_into(buffer, 4), what, " (a silent cut loses data)")
        kit.expect(
            exc.data == message[:4], f"{what}: MessageTruncated.data is {exc.data!r}, not the first 4 bytes"
        )
        if isinstance(b, DatagramTransport):
            kit.send_whole(a, message)
            datagram = b.recv_from(8)
            kit.expect(
                datagram.truncated is True and datagram.data == message[:8],
                f"recv_from(8) of a 100-byte message returned {datagram!r}; it must say truncated=True",
            )
            kit.expect(
                datagram.size in (100, None), f"recv_from(8): size is {datagram.size!r}, not 100 or None"
            )
            kit.send_whole(a, b"fits")
            datagram = b.recv_from(100)
            kit.expect(
                datagram.truncated is False and datagram.data == b"fits",
                f"recv_from(100) of a 4-byte message returned {datagram!r}",
            )


@kit.contract_check
def check_max_message_size(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A message of exactly ``max_message_size`` goes through; one byte more raises ``MessageTooLarge`` (:apue:`16.5`, EMSGSIZE).

    The error carries ``limit`` (the same number) and nothing of the refused
    message is sent. Not applicable to a transport without
    ``max_message_size``.
    """
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        limit = kit.message_limit(a)
        if limit is None:
            raise NotApplicable("the transport has no max_message_size")
        data = kit.random_payload(limit, 3)
        kit.send_whole(a, data, f"send of exactly max_message_size ({limit}) bytes")
        got = b.recv(limit)
        kit.expect(got == data, f"the {limit}-byte message arrived as {kit.show(got)}")
        exc = kit.raises(
            MessageTooLarge,
            lambda: a.send(bytes(limit + 1)),
            f"send of max_message_size + 1 ({limit + 1}) bytes",
        )
        kit.expect(
            exc.limit == limit, f"MessageTooLarge.limit is {exc.limit!r}, but max_message_size is {limit}"
        )
        kit.expect(exc.size == limit + 1, f"MessageTooLarge.size is {exc.size!r}, not {limit + 1}")
        kit.expect(
            exc.bytes_sent == 0, f"MessageTooLarge.bytes_sent is {exc.bytes_sent!r}: nothing may be sent"
        )
        kit.send_whole(a, b"after")
        kit.receive_whole(b, b"after", "the message after a refused oversize one")


@kit.contract_check
def check_message_end_of_connection(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """On a connection (seqpacket), the peer's close ends it: queued messages, then ``b""`` (:apue:`16.2`, :apue:`16.5`).

    Where the end has ``shutdown``, ``shutdown("write")`` is a half-close as
    on a stream. Not applicable to connectionless kinds (DATAGRAM).
    """
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        if not a.kind.connection_oriented:
            raise NotApplicable(f"{a.kind.value} transports have no connection to end")
        kit.send_whole(a, b"last")
        a.close()
        kit.receive_whole(b, b"last", "the message sent before close")
        for attempt in ("first", "second"):
            got = b.recv(100)
            kit.expect(got == b"", f"the {attempt} recv after the peer closed returned {got!r}, not b''")
    with kit.opened(factory) as (a, b):
        shutdown = getattr(a, "shutdown", None)
        if shutdown is None:
            return
        shutdown("write")
        got = b.recv(100)
        kit.expect(got == b"", f"recv after the peer's shutdown('write') returned {got!r}, not b''")
        kit.send_whole(b, b"answer")
        kit.receive_whole(a, b"answer", "the answer to a half-closed end")


#: Every check for a factory of connected message pairs (datagram or seqpacket).
MESSAGE_CHECKS: tuple[MessageCheck, ...] = (
    check_message_identity,
    check_message_boundaries,
    check_empty_message,
    check_message_order,
    check_message_truncation,
    check_max_message_size,
    *PAIR_CHECKS,
    check_message_end_of_connection,
    *LIFECYCLE_CHECKS,
    check_refused_flags,
)


def run_message_checks(factory: PairFactory[Transport], *, reliable: bool = True) -> dict[str, str]:
    """Run every message check on *factory* (:apue:`16.5`).

    *reliable* says the transport neither drops nor reorders (true of every
    local kind and of UDP on loopback); with False, order is not checked.
    Returns like :func:`~transports.testing.run_stream_checks`.
    """
    return kit.run_checks(MESSAGE_CHECKS, factory, reliable=reliable)
