"""Checks every connected pair passes, stream or message (:apue:`16.5`, :apue:`16.8`).

Any buffer goes in and out, ``PEEK`` leaves the data, ``DONTWAIT`` never
waits, a timeout expires with ``TransportTimeout`` (these four are
:data:`PAIR_CHECKS`), and a flag the transport refuses is refused before
anything moves (:func:`check_refused_flags`, which the layer lists run last).
"""

from __future__ import annotations

import array
import contextlib
import functools
from typing import cast

from transports.errors import TransportTimeout, UnsupportedFlag, WouldBlock
from transports.flags import RecvFlags, SendFlags
from transports.protocols import DatagramTransport, StreamTransport, Transport
from transports.testing import _common as kit
from transports.testing.base import PROMPT, SHORT, TIMEOUT, MessageCheck, NotApplicable, PairFactory

__all__ = [
    "PAIR_CHECKS",
    "check_dontwait",
    "check_peek_leaves_data",
    "check_recv_timeout",
    "check_refused_flags",
    "check_send_accepts_buffers",
]


@kit.contract_check
def check_send_accepts_buffers(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``send`` takes any buffer and ``recv_into`` fills any writable one (:apue:`16.5`).

    bytearray, a memoryview slice and an ``array.array`` are sent like
    bytes; ``recv_into`` fills a bytearray, a memoryview and an array.
    """
    ints = array.array("i", [1, 2, 3, 4])
    buffers: list[bytearray | memoryview | array.array[int]] = [
        bytearray(b"from a bytearray"),
        memoryview(b"xxfrom a memoryview")[2:],
        ints,
    ]
    with kit.opened(factory) as (a, b):
        for buffer in buffers:
            what = f"send({type(buffer).__name__})"
            with kit.feeding(what, a, b) as feed:
                feed(functools.partial(_send_counted, a, buffer, what))
                kit.receive_whole(b, bytes(buffer), f"after {what}")
        with kit.feeding("sending 8 bytes", a, b) as feed:
            feed(lambda: kit.send_whole(a, b"12345678"))
            target = array.array("B", bytes(8))
            count = b.recv_into(target)
            if kit.is_stream(b) and count < 8:
                count += b.recv_into(memoryview(target)[count:])
            kit.expect(
                count == 8 and target.tobytes() == b"12345678", f"recv_into(array) gave {target.tobytes()!r}"
            )
        with kit.feeding("sending 8 bytes", a, b) as feed:
            feed(lambda: kit.send_whole(a, b"abcdefgh"))
            view = memoryview(bytearray(12))
            count = b.recv_into(view, 8)
            kit.expect(0 < count <= 8, f"recv_into(memoryview, 8) returned {count!r}")
            kit.expect(
                view[:count].tobytes() == b"abcdefgh"[:count],
                f"recv_into(memoryview) gave {view.tobytes()!r}",
            )
            kit.expect(
                view[8:].tobytes() == bytes(4), "recv_into(buffer, 8) wrote past the 8 bytes it was allowed"
            )
            if kit.is_stream(b) and count < 8:
                kit.receive_whole(b, b"abcdefgh"[count:], "the rest of 8 bytes")


def _send_counted(a: Transport, buffer: bytes | bytearray | memoryview | array.array[int], what: str) -> None:
    """``a.send(buffer)``, its count checked; on a stream the rest (if any) sent after."""
    expected = bytes(buffer)
    sent = a.send(buffer)
    kit.expect(kit.is_int(sent), f"{what} returned {sent!r}, not a count")
    if kit.is_stream(a):
        kit.expect(0 < sent <= len(expected), f"{what} of {len(expected)} bytes returned {sent}")
        if sent < len(expected):
            kit.send_whole(a, expected[sent:])
    else:
        kit.expect(sent == len(expected), f"{what} of a {len(expected)}-byte message returned {sent}")


@kit.contract_check
def check_peek_leaves_data(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``RecvFlags.PEEK`` returns data without consuming it (:apue:`16.5`, Fig. 16.14 recv flags).

    Two peeks see the same bytes (the second one after more data was sent,
    so a peek that consumes cannot hide behind it); the next plain receive
    returns them, then the later data. Not applicable where PEEK is refused.
    """
    first, second = b"peekaboo", b"!and more"
    with kit.opened(factory) as (a, b), kit.feeding("sending two pieces", a, b) as feed:
        feed(lambda: kit.send_whole(a, first))
        seen = kit.flagged(lambda: b.recv(64, RecvFlags.PEEK), RecvFlags.PEEK)
        if kit.is_stream(b):
            kit.expect(
                bool(seen) and first.startswith(seen),
                f"recv(PEEK) returned {seen!r}, not a start of {first!r}",
            )
        else:
            kit.expect(seen == first, f"recv(PEEK) returned {seen!r}, not the waiting message {first!r}")
        feed(lambda: kit.send_whole(a, second))
        again = b.recv(64, RecvFlags.PEEK)
        kit.expect(
            again.startswith(seen) if kit.is_stream(b) else again == first,
            f"a second recv(PEEK) returned {again!r} after the first saw {seen!r}: the peek consumed the data",
        )
        kit.receive_whole(b, first, "the receive after two peeks")
        kit.receive_whole(b, second, "the receive after that")


@kit.contract_check
def check_dontwait(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``RecvFlags.DONTWAIT`` never waits: ``WouldBlock`` (a ``BlockingIOError``) when nothing is there (:apue:`16.8`).

    The call must return within :data:`~transports.testing.PROMPT` seconds although the
    transport's timeout is longer, must not return ``b""`` (which means end
    of stream), and must leave the timeout as it was; with data waiting
    (seen by a PEEK, when the transport honours PEEK) it returns the data.
    Not applicable where DONTWAIT is refused.
    """
    with kit.opened(factory) as (a, b):
        outcome = kit.within(
            PROMPT,
            lambda: b.recv(10, RecvFlags.DONTWAIT),
            "recv(10, RecvFlags.DONTWAIT) on an empty transport",
            lambda: kit.send_whole(a, b"wake up"),
        )
        if isinstance(outcome.error, UnsupportedFlag):
            raise NotApplicable(f"the transport refuses RecvFlags.DONTWAIT: {outcome.error}")
        kit.raised(
            outcome,
            WouldBlock,
            "recv(10, RecvFlags.DONTWAIT) on an empty transport",
            "WouldBlock (a BlockingIOError; b'' would mean end of stream)",
        )
        kit.raises(
            WouldBlock, lambda: b.recv_into(bytearray(10), 0, RecvFlags.DONTWAIT), "recv_into(DONTWAIT)"
        )
        if isinstance(b, DatagramTransport):
            datagram_end = b
            kit.raises(
                WouldBlock, lambda: datagram_end.recv_from(10, RecvFlags.DONTWAIT), "recv_from(DONTWAIT)"
            )
        kit.expect(b.timeout == TIMEOUT, f"a DONTWAIT receive changed the timeout to {b.timeout!r}")
        with kit.feeding("sending 5 bytes", a, b) as feed:
            feed(lambda: kit.send_whole(a, b"ready"))
            try:
                peeked = b.recv(5, RecvFlags.PEEK)
            except UnsupportedFlag:  # without PEEK there is no way to know the data has arrived
                kit.receive_whole(b, b"ready", "the data sent")
                return
            got = b.recv(5, RecvFlags.DONTWAIT)
            kit.expect(
                len(peeked) > 0 and got.startswith(peeked),
                f"recv(DONTWAIT) with {peeked!r} waiting returned {got!r}",
            )
            if kit.is_stream(b) and len(got) < 5:
                kit.receive_whole(b, b"ready"[len(got) :], "the rest of the data")


@kit.contract_check
def check_recv_timeout(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A receive on an empty transport raises ``TransportTimeout`` (a ``TimeoutError``) once its timeout passes (:apue:`16.8`).

    With a timeout of :data:`~transports.testing.SHORT` seconds the call must wait about that
    long, not return at once and not block on (the kit gives it
    :data:`~transports.testing.PROMPT` seconds); ``recv_into`` too. A receive that timed out
    took nothing: the transport keeps working afterwards.
    """
    with kit.opened(factory) as (a, b):
        b.timeout = SHORT
        kit.expect(b.timeout == SHORT, f"timeout reads {b.timeout!r} after being set to {SHORT}")
        for name, call in [
            ("recv(10)", lambda: b.recv(10)),
            ("recv_into(10)", lambda: b.recv_into(bytearray(10))),
        ]:
            what = f"{name} with a {SHORT} s timeout on an empty transport"
            outcome = kit.within(PROMPT, call, what, lambda: kit.send_whole(a, b"wake up"))
            kit.raised(outcome, TransportTimeout, what, "TransportTimeout (a TimeoutError)")
            kit.expect(
                outcome.elapsed >= SHORT / 2,
                f"{what} gave up after {outcome.elapsed:.3f} s, before its timeout",
            )
        b.timeout = TIMEOUT
        kit.through(a, b, b"after the timeout", "a receive after a timed-out one")


def _refused_send(factory: PairFactory[Transport], flag: SendFlags) -> bool:
    """Try *flag* on a fresh pair; if refused, prove nothing moved. Whether it was refused.

    The peer is already receiving when the flag is tried, so that a send that
    waits until its data is received (a clogged pair) is not left waiting; if
    the flag is refused, what that receive gets must be the data sent after.
    """
    with kit.opened(factory) as (a, b):
        probe = kit.Worker(lambda: b.recv(64), "receiving what a probe sent")
        try:
            a.send(b"probe", flag)
        except UnsupportedFlag as exc:
            refusal: UnsupportedFlag | None = exc
        except Exception:
            refusal = None  # accepted, whatever came of it
        else:
            refusal = None
        if refusal is None:
            kit.close_all(b)  # wakes the probe's receive if nothing came
            probe.wait(TIMEOUT)
            return False
        kit.expect(
            bool(int(flag) & int(refusal.flag)) and str(flag.name) in str(refusal),
            f"send(b'probe', {flag!r}) raised UnsupportedFlag that does not name {flag.name}: {refusal}",
        )
        with kit.feeding("sending after a refused send", a, b) as feed:
            feed(lambda: kit.send_whole(a, b"after"))
            first = probe.result()
            kit.expect(
                bool(first) and b"after".startswith(first),
                f"a refused send({flag!r}) moved data: the peer then received {first!r}, not b'after'",
            )
            if len(first) < len(b"after"):
                kit.receive_whole(b, b"after"[len(first) :], f"the first data after a refused send({flag!r})")
        if kit.is_stream(a):
            stream = cast(StreamTransport, a)
            kit.raises(
                UnsupportedFlag,
                lambda: stream.send_all(b"x", flag),
                f"send_all({flag!r}) when send refuses it",
            )
            kit.through(a, b, b"again", f"the first data after a refused send_all({flag!r})")
        return True


def _refused_recv(factory: PairFactory[Transport], flag: RecvFlags) -> bool:
    """Try *flag* on a fresh pair with data waiting; if refused, prove nothing was consumed."""
    with kit.opened(factory) as (a, b), kit.feeding("sending a probe", a, b) as feed:
        feed(lambda: kit.send_whole(a, b"probe"))
        b.timeout = PROMPT
        try:
            got = b.recv(5, flag)
        except UnsupportedFlag as exc:
            kit.expect(
                bool(int(flag) & int(exc.flag)) and str(flag.name) in str(exc),
                f"recv(5, {flag!r}) raised UnsupportedFlag that does not name {flag.name}: {exc}",
            )
        except Exception:
            _take_rest(b, 0)
            return False
        else:
            _take_rest(b, 0 if flag & RecvFlags.PEEK else len(got))
            return False
        kit.raises(UnsupportedFlag, lambda: b.recv_into(bytearray(5), 0, flag), f"recv_into({flag!r})")
        b.timeout = TIMEOUT
        kit.receive_whole(b, b"probe", f"the data after a refused recv({flag!r})")
        return True


def _take_rest(end: Transport, taken: int) -> None:
    """Receive what is left of the probe after *taken* bytes, so that a send waiting for it ends."""
    if taken < len(b"probe"):
        with contextlib.suppress(Exception):  # the flag was accepted: what it did is not checked here
            kit.receive_whole(end, b"probe"[taken:], "the rest of a probe")


@kit.contract_check
def check_refused_flags(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A flag the transport cannot honour raises ``UnsupportedFlag`` naming it, before any data moves (:apue:`16.5`, Figs. 16.13-16.14).

    Each send and receive flag is tried on a fresh pair. For every refused
    one, the error names the flag, and nothing was sent (the peer's next
    data is what was sent after) or consumed (the waiting data is still
    there). Not applicable when the transport accepts every flag. A flag of
    the wrong type (a ``RecvFlags`` to ``send``, a ``SendFlags`` to ``recv``)
    is a ``TypeError`` whatever the transport accepts.
    """
    refused = [flag for flag in SendFlags if flag is not SendFlags.NOSIGNAL and _refused_send(factory, flag)]
    refused_recv = [flag for flag in RecvFlags if _refused_recv(factory, flag)]
    with kit.opened(factory) as (a, b):
        kit.raises(TypeError, lambda: a.send(b"x", RecvFlags.PEEK), "send(b'x', RecvFlags.PEEK)")  # type: ignore[arg-type]  # on purpose
        kit.raises(TypeError, lambda: b.recv(1, SendFlags.DONTWAIT), "recv(1, SendFlags.DONTWAIT)")  # type: ignore[arg-type]  # on purpose
    if not refused and not refused_recv:
        raise NotApplicable("the transport accepts every SendFlags and RecvFlags member")


#: What every pair does with data, stream or message, in the order both
#: :data:`~transports.testing.STREAM_CHECKS` and
#: :data:`~transports.testing.MESSAGE_CHECKS` run it; they run
#: :func:`check_refused_flags` last, after the checks of an end's life.
PAIR_CHECKS: tuple[MessageCheck, ...] = (
    check_send_accepts_buffers,
    check_peek_leaves_data,
    check_dontwait,
    check_recv_timeout,
)
