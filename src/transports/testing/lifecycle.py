"""Checks of an end's life: closing, using it after close, and what a receive holds (:apue:`16.2`, :apue:`16.5`).

Closing twice is harmless, a closed end fails with ``TransportClosed``,
``close()`` from another thread wakes a blocked receive, and a receive takes
memory as the bytes arrive whatever size it asks for. :data:`LIFECYCLE_CHECKS`
lists them for the stream and message lists to include.
"""

from __future__ import annotations

import contextlib
import threading
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar, cast

from transports.errors import (
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
    UnsupportedFlag,
    WouldBlock,
)
from transports.flags import RecvFlags
from transports.protocols import DatagramTransport, StreamTransport, Transport
from transports.testing import _common as kit
from transports.testing.base import PROMPT, TIMEOUT, ContractViolation, MessageCheck, PairFactory

__all__ = [
    "LIFECYCLE_CHECKS",
    "check_close_twice",
    "check_close_wakes_blocked_receive",
    "check_receive_memory_bounded",
    "check_use_after_close",
]

R = TypeVar("R")


@kit.contract_check
def check_close_twice(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """Closing twice is harmless and ``closed`` tells (:apue:`16.2`: close once, never twice).

    ``close()`` a second time, and leaving a ``with`` block after it, raise
    nothing; ``closed`` turns True for that end only; a closed transport
    still satisfies the Transport protocol.
    """
    with kit.opened(factory) as (a, b):
        kit.expect(not a.closed, "a fresh end says closed=True")
        a.close()
        kit.expect(a.closed is True, f"closed is {a.closed!r} after close()")
        a.close()
        with a:
            pass
        kit.expect(a.closed is True, "closed changed after a second close()")
        kit.expect(b.closed is False, "closing one end made the other say closed=True")
        kit.expect(isinstance(a, Transport), "a closed transport no longer satisfies the Transport protocol")


@kit.contract_check
def check_use_after_close(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """Every operation on a closed transport fails at once with a ``TransportError`` (:apue:`16.2`).

    The error is an :class:`OSError` (``TransportClosed`` for ours, EBADF),
    not a timeout: nothing is sent or received. ``fileno()`` gives -1 or
    raises OSError.
    """
    with kit.opened(factory) as (a, b):
        a.close()
        calls: dict[str, Callable[[], object]] = {
            "send": lambda: a.send(b"x"),
            "recv": lambda: a.recv(1),
            "recv_into": lambda: a.recv_into(bytearray(1)),
        }
        if kit.is_stream(a):
            stream = cast(StreamTransport, a)
            calls["send_all"] = lambda: stream.send_all(b"x")
            calls["recv_exactly"] = lambda: stream.recv_exactly(1)
            calls["shutdown"] = lambda: stream.shutdown("write")
        if isinstance(a, DatagramTransport):
            datagram = a
            calls["recv_from"] = lambda: datagram.recv_from(1)
        for name, call in calls.items():
            start = time.monotonic()
            exc = kit.raises(TransportError, call, f"{name} after close()", " (e.g. TransportClosed)")
            elapsed = time.monotonic() - start
            kit.expect(
                not isinstance(exc, TransportTimeout | WouldBlock),
                f"{name} after close() raised {kit.describe(exc)}: it tried to wait instead of failing",
            )
            kit.expect(elapsed < PROMPT, f"{name} after close() took {elapsed:.1f} s to fail")
        try:
            fd = a.fileno()
        except OSError:
            pass
        else:
            kit.expect(fd == -1, f"fileno() of a closed transport returned {fd!r}; expected -1")
        kit.expect(not b.closed, "closing one end closed the other")


def _blocking_receives(end: Transport, size: int) -> dict[str, Callable[[], object]]:
    """Each receive *end* offers that waits for data, asking for *size* bytes, by name."""
    calls: dict[str, Callable[[], object]] = {
        f"recv({size})": lambda: end.recv(size),
        f"recv_into({size}-byte buffer)": lambda: end.recv_into(bytearray(size)),
    }
    if kit.is_stream(end):
        stream = cast(StreamTransport, end)
        calls[f"recv_exactly({size})"] = lambda: stream.recv_exactly(size)
    if isinstance(end, DatagramTransport):
        datagram = end
        calls[f"recv_from({size})"] = lambda: datagram.recv_from(size)
    return calls


def _release(peer: Transport) -> None:
    """Wake a receive that close() left blocked: data from the peer, then the peer's close."""
    with contextlib.suppress(Exception):
        peer.send(b"wake up")
    with contextlib.suppress(Exception):
        peer.close()


def _close_wakes(a: Transport, b: Transport, name: str, timeout: float | None) -> None:
    """One case of :func:`check_close_wakes_blocked_receive`: *name* on *b*, closed from here."""
    b.timeout = timeout
    call = _blocking_receives(b, 64)[name]
    what = f"{name} with timeout={timeout}, blocked in another thread,"
    about_to_call = threading.Event()

    def receive() -> object:
        about_to_call.set()
        return call()

    worker = kit.Worker(receive, name)
    if not about_to_call.wait(TIMEOUT):
        worker.wait(TIMEOUT + 1)
        kit.fail(f"the helper thread for {name} did not start within {TIMEOUT:g} s")
    # The worker may not be inside the call yet; a close that lands first
    # must make the call fail with TransportClosed just the same.
    b.close()
    closed_at_once = b.closed
    if not worker.wait(PROMPT):
        _release(a)
        if not worker.wait(TIMEOUT + 1):
            after = "; sending data to it and closing the peer did not wake it either"
        elif worker.value is not None:
            after = f"; when the peer then sent data the closed end handed it out (it returned {kit.show(worker.value)})"
        else:
            try:
                worker.result(0)
                ending = ""
            except Exception as exc:
                ending = f", with {kit.describe(exc)}"
            after = f"; it ended only once the peer sent data and closed{ending}"
        kit.fail(
            f"{what} was still blocked {PROMPT:g} s after close() returned{after}. "
            "close() must wake every call blocked on the transport, promptly, with TransportClosed"
        )
    try:
        value = worker.result(0)
    except TransportClosed:
        pass
    except Exception as exc:
        raise ContractViolation(
            f"{what} raised {kit.describe(exc)} when close() was called; the contract wants TransportClosed"
        ) from exc
    else:
        kit.fail(
            f"{what} returned {kit.show(value)} when close() was called; the contract wants TransportClosed "
            "(a close is not the peer ending the stream, and what arrives after it is not handed out)"
        )
    kit.expect(closed_at_once is True, f"closed was {closed_at_once!r} right after close() returned")
    with contextlib.suppress(Exception):
        a.send(b"sent after close")  # the peer may be told the end is gone: any outcome is fine
    for later, again in _blocking_receives(b, 64).items():
        outcome = kit.within(PROMPT, again, f"{later} after close()", lambda: kit.close_all(a))
        if outcome.error is None:
            kit.fail(
                f"{later} after close(), with the peer sending data, returned {kit.show(outcome.value)}; "
                "a closed transport never hands out data (it must raise TransportClosed)"
            )
        if not isinstance(outcome.error, TransportError) or isinstance(
            outcome.error, TransportTimeout | WouldBlock
        ):
            raise ContractViolation(
                f"{later} after close(), with the peer sending data, raised {kit.describe(outcome.error)}; "
                "the contract wants TransportClosed"
            ) from outcome.error


@kit.contract_check
def check_close_wakes_blocked_receive(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``close()`` from another thread wakes a blocked receive with ``TransportClosed`` (:apue:`16.2`, :apue:`16.5`).

    For each receive the end offers (``recv``, ``recv_into``, and
    ``recv_exactly`` on a stream, ``recv_from`` on a datagram end), with
    ``timeout=None`` and with a timeout: a helper thread blocks in the call
    on an empty transport; this thread closes that end. The call must end
    within :data:`~transports.testing.PROMPT` seconds (in practice at once) with
    ``TransportClosed`` -- not with data, not with ``b""``, not by waiting
    for the peer. ``closed`` is True as soon as ``close()`` returns. Then the
    peer sends data, and every receive on the closed end still fails: a
    closed transport never hands out what arrived after the close.

    The helper sets an event just before it calls, so the close may come
    before the call has started to wait; the call must then fail with
    ``TransportClosed`` just the same. A call that does not wake is released
    (the peer sends data, then closes) so the check never hangs, and fails.
    """
    with kit.opened(factory) as (a, b):
        names = list(_blocking_receives(b, 64))
    for timeout in (None, TIMEOUT):
        for name in names:
            with kit.opened(factory) as (a, b):
                _close_wakes(a, b, name, timeout)


#: The peak allocation, in bytes, :func:`check_receive_memory_bounded` allows a receive of a few
#: bytes: room for a fixed receive buffer (one system call never returns more than a socket buffer
#: holds, a few MiB), far below every size the check asks for.
_MEMORY_BOUND = 32 * kit.MiB
#: What :func:`check_receive_memory_bounded` asks ``recv_exactly`` and ``recv(WAITALL)`` for.
_ASKED_EXACTLY = 256 * kit.MiB
#: What it asks ``recv`` for.
_ASKED_RECV = 2**40
#: What it asks ``recv_from`` (and ``recv_exactly`` at end of stream) for.
_ASKED_HUGE = 2**62


def _bounded(call: Callable[[], R], what: str, unblock: Callable[[], object]) -> kit.Outcome[R]:
    """Run *call* under :mod:`tracemalloc`; it must not allocate :data:`_MEMORY_BOUND` bytes at its peak.

    Tracing is started and stopped here, or, when something else traces
    already, left running (its peak is reset). A ``MemoryError`` or
    ``OverflowError`` is a violation; other outcomes are the caller's to judge.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    else:
        tracemalloc.reset_peak()
    try:
        base = tracemalloc.get_traced_memory()[0]
        outcome = kit.within(TIMEOUT + PROMPT, call, what, unblock)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    if isinstance(outcome.error, MemoryError | OverflowError):
        raise ContractViolation(
            f"{what} raised {kit.describe(outcome.error)}: it reserved the size it was asked for; memory "
            "must grow with the bytes that arrive"
        ) from outcome.error
    grown = peak - base
    kit.expect(
        grown < _MEMORY_BOUND,
        f"{what} allocated {grown / kit.MiB:.1f} MiB at its peak (the check allows {_MEMORY_BOUND // kit.MiB} MiB): "
        "memory must grow with the bytes that arrive, not with the size asked for",
    )
    return outcome


def _wanted(outcome: kit.Outcome[R], what: str) -> R:
    """The value of a bounded call that had to return one."""
    if outcome.error is not None:
        raise ContractViolation(f"{what} raised {kit.describe(outcome.error)}") from outcome.error
    return cast(R, outcome.value)


def _bounded_stream(factory: PairFactory[Transport]) -> None:
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        sent = b"bytes that arrived"
        with kit.feeding(f"sending {len(sent)} bytes", a, b) as feed:
            feed(lambda: a.send_all(sent))
            what = f"recv({_ASKED_RECV}) with {len(sent)} bytes waiting"
            got: object = _wanted(_bounded(lambda: b.recv(_ASKED_RECV), what, a.close), what)
            if not isinstance(got, bytes) or not got or not sent.startswith(got):
                kit.fail(f"{what} returned {kit.show(got)}, not the start of {sent!r}")
            if len(got) < len(sent):
                kit.receive_whole(b, sent[len(got) :], f"the rest after {what}")
        with kit.feeding("sending 7 bytes, then shutdown('write')", a, b) as feed:
            feed(lambda: a.send_all(b"partial"))
            feed(lambda: a.shutdown("write"))
            what = f"recv_exactly({_ASKED_EXACTLY}) with 7 bytes before the end of stream"
            outcome = _bounded(lambda: b.recv_exactly(_ASKED_EXACTLY), what, a.close)
        if not isinstance(outcome.error, UnexpectedEOF):
            kit.fail(
                f"{what} gave "
                f"{kit.describe(outcome.error) if outcome.error else kit.show(outcome.value)}; "
                "the contract wants UnexpectedEOF"
            )
        kit.expect(
            outcome.error.partial == b"partial",
            f"{what}: UnexpectedEOF.partial is {outcome.error.partial!r}, not b'partial'",
        )
        kit.expect(
            outcome.error.expected == _ASKED_EXACTLY,
            f"{what}: UnexpectedEOF.expected is {outcome.error.expected!r}, not {_ASKED_EXACTLY}",
        )
        what = f"recv({_ASKED_RECV}) at end of stream"
        got = _wanted(_bounded(lambda: b.recv(_ASKED_RECV), what, a.close), what)
        kit.expect(got == b"", f"{what} returned {kit.show(got)}, not b''")
        what = f"recv_exactly({_ASKED_HUGE}) at end of stream"
        outcome = _bounded(lambda: b.recv_exactly(_ASKED_HUGE), what, a.close)
        if not isinstance(outcome.error, UnexpectedEOF | ValueError):
            raise ContractViolation(
                f"{what} gave {kit.describe(outcome.error) if outcome.error else kit.show(outcome.value)}; "
                "the contract wants UnexpectedEOF (or a ValueError saying the size is too large)"
            ) from outcome.error
    with kit.opened(factory) as pair:
        a, b = kit.streams(*pair)
        sent = b"wait for all of it"
        with kit.feeding(f"sending {len(sent)} bytes, then shutdown('write')", a, b) as feed:
            feed(lambda: a.send_all(sent))
            feed(lambda: a.shutdown("write"))
            what = (
                f"recv({_ASKED_EXACTLY}, RecvFlags.WAITALL) with {len(sent)} bytes before the end of stream"
            )
            outcome = _bounded(lambda: b.recv(_ASKED_EXACTLY, RecvFlags.WAITALL), what, a.close)
            if isinstance(outcome.error, UnsupportedFlag):
                kit.receive_whole(b, sent, "the data sent")
                return  # the transport has no WAITALL: nothing to bound
        got = _wanted(outcome, what)
        kit.expect(got == sent, f"{what} returned {kit.show(got)}, not the {len(sent)} bytes sent")


def _bounded_messages(factory: PairFactory[Transport]) -> None:
    with kit.opened(factory) as (a, b):
        kit.message_ends(a, b)
        kit.send_whole(a, b"one message")
        what = f"recv({_ASKED_RECV}) with an 11-byte message waiting"
        got = _wanted(
            _bounded(lambda: b.recv(_ASKED_RECV), what, lambda: kit.send_whole(a, b"wake up")), what
        )
        kit.expect(got == b"one message", f"{what} returned {kit.show(got)}")
        if not isinstance(b, DatagramTransport):
            return
        datagram_end = b
        kit.send_whole(a, b"a datagram")
        what = f"recv_from({_ASKED_HUGE}) with a 10-byte datagram waiting"
        datagram = _wanted(
            _bounded(
                lambda: datagram_end.recv_from(_ASKED_HUGE), what, lambda: kit.send_whole(a, b"wake up")
            ),
            what,
        )
        kit.expect(
            datagram.data == b"a datagram" and datagram.truncated is False,
            f"{what} returned {datagram!r}",
        )


@kit.contract_check
def check_receive_memory_bounded(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A receive's memory grows with the bytes that arrived, never with the size asked for (:apue:`14.7`, :apue:`16.5`).

    The peer sends a few bytes while this end asks for far more, and
    :mod:`tracemalloc` measures the peak allocation of each call (tracing is
    started and stopped by the check, or left running with its peak reset
    if it was on); it must stay under 32 MiB (a fixed receive buffer
    is fine, one the size of the request is not). On a stream: ``recv(2**40)``
    returns the waiting bytes; after the peer's ``shutdown("write")``,
    ``recv_exactly(256 MiB)`` raises ``UnexpectedEOF`` with the 7 bytes that
    came in ``partial``, ``recv(2**40)`` returns ``b""`` and
    ``recv_exactly(2**62)`` raises ``UnexpectedEOF`` (or a ``ValueError``);
    ``recv(256 MiB, RecvFlags.WAITALL)`` returns what came before the end of
    stream (skipped where WAITALL is refused). On a message kind:
    ``recv(2**40)`` returns the message, and ``recv_from(2**62)`` the
    datagram where there is ``recv_from``. ``MemoryError`` and
    ``OverflowError`` are violations everywhere.
    """
    with kit.opened(factory) as (a, _):
        stream = kit.is_stream(a)
    if stream:
        _bounded_stream(factory)
    else:
        _bounded_messages(factory)


#: The checks of an end's life, in the order every pair runs them (near the end of
#: :data:`~transports.testing.STREAM_CHECKS` and
#: :data:`~transports.testing.MESSAGE_CHECKS`).
LIFECYCLE_CHECKS: tuple[MessageCheck, ...] = (
    check_close_twice,
    check_use_after_close,
    check_close_wakes_blocked_receive,
    check_receive_memory_bounded,
)
