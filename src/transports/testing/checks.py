"""The transport contract as plain functions any implementation runs (APUE 16.5 Data Transfer, 14.7 readn and writen).

A *pair check* takes a factory: a callable with no arguments that returns a
fresh connected pair ``(a, b)`` each time it is called, so that what ``a``
sends ``b`` receives and back. A check may call it several times; it gives
both ends a timeout, closes both when it is done, moves large payloads with
a helper thread, and never sleeps to wait for the peer. A *listener check*
takes ``make_listener`` (returns a new listening :class:`Listener`) and
``connect_to`` (connects a new transport to that listener).

A check that finds the contract broken raises :class:`ContractViolation`,
an :class:`AssertionError` whose message starts with the check's name and
says what was wrong. A check that exercises something the transport does not
offer (a flag it refuses, a size limit it does not have) raises
:class:`NotApplicable`; :func:`run_stream_checks` and friends record that, and
the pytest plugin reports it as a skip.

Errors: where the contract names an error (``WouldBlock``,
``TransportTimeout``, ``UnexpectedEOF``, ``MessageTruncated``,
``MessageTooLarge``, ``UnsupportedFlag``) the check wants exactly that class,
so ``except BlockingIOError`` or ``except TimeoutError`` work for users.
Where it only says "fails" (using a closed transport, sending after
``shutdown("write")``) it wants a :class:`~transports.errors.TransportError`,
which is an :class:`OSError`: ``except OSError`` must catch it, and a plain
``ValueError`` or a library's own exception is a violation. Third-party
transports raise :class:`~transports.errors.TransportClosed` there.
"""

from __future__ import annotations

import array
import contextlib
import functools
import hashlib
import queue
import random
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, NoReturn, Protocol, TypeAlias, TypeVar, cast

from transports.addresses import InetAddress, NamedAddress, UnixAddress
from transports.errors import (
    MessageTooLarge,
    MessageTruncated,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnexpectedEOF,
    UnsupportedFlag,
    WouldBlock,
)
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.protocols import DatagramTransport, Listener, StreamTransport, Transport

__all__ = [
    "LISTENER_CHECKS",
    "MESSAGE_CHECKS",
    "PROMPT",
    "SHORT",
    "STREAM_CHECKS",
    "TIMEOUT",
    "ContractViolation",
    "ListenerCheck",
    "MessageCheck",
    "NotApplicable",
    "PairFactory",
    "StreamCheck",
    "check_close_twice",
    "check_close_wakes_blocked_receive",
    "check_dontwait",
    "check_empty_message",
    "check_half_close",
    "check_listener_accept",
    "check_listener_accept_timeout",
    "check_listener_close",
    "check_listener_iteration_stops_on_close",
    "check_max_message_size",
    "check_message_boundaries",
    "check_message_end_of_connection",
    "check_message_identity",
    "check_message_order",
    "check_message_truncation",
    "check_peek_leaves_data",
    "check_receive_memory_bounded",
    "check_recv_exactly_eof",
    "check_recv_exactly_timeout_keeps_partial",
    "check_recv_timeout",
    "check_refused_flags",
    "check_send_accepts_buffers",
    "check_stream_eof_after_close",
    "check_stream_identity",
    "check_stream_round_trip",
    "check_stream_send_returns_count",
    "check_use_after_close",
    "check_waitall",
    "run_listener_checks",
    "run_message_checks",
    "run_stream_checks",
]

#: Seconds any blocking call of a check may wait for something that should happen.
TIMEOUT = 5.0
#: The timeout a check sets when a timeout is the point: it should expire.
SHORT = 0.05
#: Seconds within which a call that must not wait (DONTWAIT, an expired timeout) has to return.
PROMPT = 2.0

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)
L = TypeVar("L", bound="Listener[Transport]")
_F = TypeVar("_F", bound=Callable[..., None])

#: A callable returning a fresh connected pair ``(a, b)`` on every call.
PairFactory: TypeAlias = Callable[[], tuple[T, T]]
#: A check of :data:`STREAM_CHECKS`: ``check(factory)``.
StreamCheck: TypeAlias = Callable[[PairFactory[Transport]], None]

_MiB = 1 << 20
_TRAILER = b"\x00end-of-payload\xff"
_ADDRESS_TYPES = (InetAddress, UnixAddress, NamedAddress)


class MessageCheck(Protocol):
    """A check of :data:`MESSAGE_CHECKS`: ``check(factory, reliable=True)`` (APUE 16.5 Data Transfer)."""

    def __call__(self, factory: PairFactory[Transport], *, reliable: bool = True) -> None: ...


class ListenerCheck(Protocol):
    """A check of :data:`LISTENER_CHECKS`: ``check(make_listener, connect_to)`` (APUE 16.4 Connection Establishment)."""

    def __call__(self, make_listener: Callable[[], L], connect_to: Callable[[L], Transport]) -> None: ...


class ContractViolation(AssertionError):
    """A transport broke the contract a check proves (APUE 16.5 Data Transfer).

    ``check`` names the check; ``problem`` says what was wrong. The message
    is ``"<check>: <problem>"``. An exception the transport raised where
    none was expected is chained as ``__cause__``.
    """

    check: str
    problem: str

    def __init__(self, problem: str, *, check: str = "") -> None:
        self.problem = problem
        self.check = check
        super().__init__(f"{check}: {problem}" if check else problem)

    def _named(self, check: str) -> None:
        self.check = check
        self.args = (f"{check}: {self.problem}",)


class NotApplicable(Exception):
    """The transport does not offer what a check exercises, so the check proves nothing (APUE 16.5).

    For example :func:`check_waitall` on a transport that refuses
    ``RecvFlags.WAITALL`` with :class:`~transports.errors.UnsupportedFlag`.
    """


# -- reporting ------------------------------------------------------------------------


def _check(func: _F) -> _F:
    """Make *func* a check: its violations, and any exception it did not expect, name it."""
    name = func.__name__

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except ContractViolation as exc:
            if not exc.check:
                exc._named(name)
            raise
        except NotApplicable:
            raise
        except Exception as exc:
            raise ContractViolation(f"unexpected {_describe(exc)}", check=name) from exc

    return cast(_F, run)


def _fail(problem: str) -> NoReturn:
    raise ContractViolation(problem)


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        _fail(problem)


def _describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _show(value: object) -> str:
    """A short repr: long byte strings by size and start."""
    if isinstance(value, bytes | bytearray) and len(value) > 40:
        return f"{len(value)} bytes starting {bytes(value[:16])!r}"
    return repr(value)


def _raises(expected: type[E], call: Callable[[], object], what: str, hint: str = "") -> E:
    """Call *call*; it must raise *expected*. Returns the exception."""
    try:
        result = call()
    except expected as exc:
        return exc
    except Exception as exc:
        raise ContractViolation(
            f"{what} raised {_describe(exc)}; the contract wants {expected.__name__}{hint}"
        ) from exc
    _fail(f"{what} returned {_show(result)}; the contract wants it to raise {expected.__name__}{hint}")


def _flagged(call: Callable[[], R], flag: SendFlags | RecvFlags) -> R:
    """Call *call*, which passes *flag*; a refusal of the flag makes the check not applicable."""
    try:
        return call()
    except UnsupportedFlag as exc:
        raise NotApplicable(f"the transport refuses {flag!r}: {exc}") from exc


# -- threads ----------------------------------------------------------------------------


class _Worker(Generic[R]):
    """A function running in a daemon thread, its result or exception kept for the caller."""

    def __init__(self, func: Callable[[], R], name: str) -> None:
        self.name = name
        self._func = func
        self._value: R | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"transports-check-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._func()
        except BaseException as exc:  # handed to the checking thread by result()
            self._error = exc

    def wait(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds; whether the function has returned."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def value(self) -> R | None:
        """The result, if it returned one (no exception)."""
        return self._value

    def result(self, timeout: float = TIMEOUT) -> R:
        """Wait for the function and return what it returned, or raise what it raised."""
        if not self.wait(timeout):
            _fail(f"{self.name} in a helper thread was still blocked after {timeout:g} s")
        if self._error is not None:
            raise self._error
        return cast(R, self._value)


def _close_all(*ends: Transport | Listener[Transport] | None) -> None:
    for end in ends:
        if end is not None:
            with contextlib.suppress(Exception):
                end.close()


@contextlib.contextmanager
def _background(func: Callable[[], R], name: str, *ends: Transport) -> Iterator[_Worker[R]]:
    """Run *func* in a helper thread for the ``with`` block; it must have ended by the block's end.

    If the block fails, *ends* are closed first so that a helper blocked on
    them (a sender whose receiver stopped reading) wakes up; every transport
    the checks make has a timeout, which bounds the wait in any case.
    """
    worker = _Worker(func, name)
    try:
        yield worker
    except BaseException:
        _close_all(*ends)
        worker.wait(TIMEOUT + 1)
        raise
    if not worker.wait(TIMEOUT):
        _close_all(*ends)
        worker.wait(TIMEOUT + 1)
        _fail(f"{name} in a helper thread was still blocked after {TIMEOUT:g} s")


class _Outcome(Generic[R]):
    """What a bounded call did: its value or exception, and how long it took."""

    __slots__ = ("elapsed", "error", "value")

    def __init__(self, value: R | None, error: BaseException | None, elapsed: float) -> None:
        self.value = value
        self.error = error
        self.elapsed = elapsed


def _within(limit: float, call: Callable[[], R], what: str, unblock: Callable[[], object]) -> _Outcome[R]:
    """Run *call*, which must return or raise within *limit* seconds.

    It runs in a helper thread; if it is still blocked at the limit,
    *unblock* (sending something to it, say) releases it and the check fails.
    """
    start = time.monotonic()
    worker = _Worker(call, what)
    if worker.wait(limit):
        elapsed = time.monotonic() - start
        try:
            return _Outcome(worker.result(0), None, elapsed)
        except Exception as exc:
            return _Outcome(None, exc, elapsed)
    try:
        unblock()
    finally:
        released = worker.wait(TIMEOUT + 1)
    late = "; it returned only once it was given data" if released else ""
    _fail(f"{what} was still blocked after {limit:g} s{late}")


# -- pairs and how to move data over them ------------------------------------------------


@contextlib.contextmanager
def _opened(factory: PairFactory[Transport]) -> Iterator[tuple[Transport, Transport]]:
    """A fresh pair from *factory*, both ends with a timeout, both closed at the end."""
    try:
        a, b = factory()
    except Exception as exc:
        raise ContractViolation(f"the pair factory raised {_describe(exc)}") from exc
    try:
        _expect(a is not b, "the pair factory returned the same object twice")
        a.timeout = TIMEOUT
        b.timeout = TIMEOUT
        yield a, b
    finally:
        try:
            a.close()
        finally:
            b.close()


def _streams(a: Transport, b: Transport) -> tuple[StreamTransport, StreamTransport]:
    for end in (a, b):
        _expect(
            isinstance(end, StreamTransport),
            f"{end!r} is not a StreamTransport (send_all, recv_exactly and shutdown are missing)",
        )
        _expect(end.kind is Kind.STREAM, f"{end!r} has kind {end.kind!r}; a stream check needs Kind.STREAM")
    return cast(StreamTransport, a), cast(StreamTransport, b)


def _is_stream(end: Transport) -> bool:
    return end.kind is Kind.STREAM and isinstance(end, StreamTransport)


def _send_whole(end: Transport, data: bytes, what: str = "send") -> None:
    """Send *data* as one message, or all of it on a stream."""
    if _is_stream(end):
        cast(StreamTransport, end).send_all(data)
        return
    sent = end.send(data)
    _expect(
        sent == len(data),
        f"{what}: send of a {len(data)}-byte message returned {sent!r}; a message goes whole or not at all",
    )


def _receive_whole(end: Transport, expected: bytes, what: str) -> None:
    """Receive *expected*: exactly that many bytes on a stream, one message otherwise."""
    if _is_stream(end):
        got = cast(StreamTransport, end).recv_exactly(len(expected))
    else:
        got = end.recv(len(expected) + 64)
    _expect(got == expected, f"{what}: received {_show(got)}, expected {_show(expected)}")


def _is_int(value: object) -> bool:
    """Whether *value* is a real int (the checks do not trust annotations of the code they test)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _read_to_eof(end: Transport, limit: int) -> bytes:
    """Everything up to end of stream (or a little past *limit* bytes, for a stream that never ends)."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = end.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _max_message_size(end: Transport) -> int | None:
    limit = getattr(end, "max_message_size", None)
    if limit is None:
        return None
    _expect(
        _is_int(limit) and limit > 0,
        f"max_message_size is {limit!r}; it must be a positive int",
    )
    return cast(int, limit)


def _check_basics(a: Transport, b: Transport) -> None:
    """What every end of every kind shows: the Transport protocol, state, timeout, addresses."""
    for end in (a, b):
        _expect(isinstance(end, Transport), f"{end!r} does not satisfy the transports.Transport protocol")
        _expect(isinstance(end.kind, Kind), f"kind is {end.kind!r}, not a transports.Kind")
        _expect(end.closed is False, f"a fresh end says closed={end.closed!r}")
        _expect(end.timeout == TIMEOUT, f"timeout reads {end.timeout!r} after being set to {TIMEOUT}")
        end.timeout = None
        _expect(end.timeout is None, f"timeout reads {end.timeout!r} after being set to None")
        end.timeout = 0
        _expect(end.timeout == 0, f"timeout reads {end.timeout!r} after being set to 0")
        end.timeout = TIMEOUT
        local = end.local_address
        _expect(isinstance(local, _ADDRESS_TYPES), f"local_address is {local!r}, not a transports.Address")
        remote = end.remote_address
        _expect(
            remote is None or isinstance(remote, _ADDRESS_TYPES),
            f"remote_address is {remote!r}, neither None nor a transports.Address",
        )
        try:
            fd = end.fileno()
        except OSError:
            pass  # not every transport is a descriptor (io.UnsupportedOperation is an OSError)
        else:
            _expect(_is_int(fd) and fd >= 0, f"fileno() of an open end returned {fd!r}")
    with a as entered:
        _expect(entered is a, "__enter__ did not return the transport itself")
    _expect(a.closed, "leaving a `with` block did not close the transport")


# -- checks for every kind -----------------------------------------------------------------


@_check
def check_send_accepts_buffers(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``send`` takes any buffer and ``recv_into`` fills any writable one (APUE 16.5 Data Transfer).

    bytearray, a memoryview slice and an ``array.array`` are sent like
    bytes; ``recv_into`` fills a bytearray, a memoryview and an array.
    """
    ints = array.array("i", [1, 2, 3, 4])
    buffers: list[bytearray | memoryview | array.array[int]] = [
        bytearray(b"from a bytearray"),
        memoryview(b"xxfrom a memoryview")[2:],
        ints,
    ]
    with _opened(factory) as (a, b):
        for buffer in buffers:
            expected = bytes(buffer)
            sent = a.send(buffer)
            what = f"send({type(buffer).__name__})"
            _expect(_is_int(sent), f"{what} returned {sent!r}, not a count")
            if _is_stream(a):
                _expect(0 < sent <= len(expected), f"{what} of {len(expected)} bytes returned {sent}")
                if sent < len(expected):
                    _send_whole(a, expected[sent:])
            else:
                _expect(sent == len(expected), f"{what} of a {len(expected)}-byte message returned {sent}")
            _receive_whole(b, expected, f"after {what}")
        _send_whole(a, b"12345678")
        target = array.array("B", bytes(8))
        count = b.recv_into(target)
        if _is_stream(b) and count < 8:
            count += b.recv_into(memoryview(target)[count:])
        _expect(count == 8 and target.tobytes() == b"12345678", f"recv_into(array) gave {target.tobytes()!r}")
        _send_whole(a, b"abcdefgh")
        view = memoryview(bytearray(12))
        count = b.recv_into(view, 8)
        _expect(0 < count <= 8, f"recv_into(memoryview, 8) returned {count!r}")
        _expect(
            view[:count].tobytes() == b"abcdefgh"[:count], f"recv_into(memoryview) gave {view.tobytes()!r}"
        )
        _expect(view[8:].tobytes() == bytes(4), "recv_into(buffer, 8) wrote past the 8 bytes it was allowed")


@_check
def check_peek_leaves_data(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``RecvFlags.PEEK`` returns data without consuming it (APUE 16.5 Data Transfer, Fig. 16.14 recv flags).

    Two peeks see the same bytes (the second one after more data was sent,
    so a peek that consumes cannot hide behind it); the next plain receive
    returns them, then the later data. Not applicable where PEEK is refused.
    """
    first, second = b"peekaboo", b"!and more"
    with _opened(factory) as (a, b):
        _send_whole(a, first)
        seen = _flagged(lambda: b.recv(64, RecvFlags.PEEK), RecvFlags.PEEK)
        if _is_stream(b):
            _expect(
                bool(seen) and first.startswith(seen),
                f"recv(PEEK) returned {seen!r}, not a start of {first!r}",
            )
        else:
            _expect(seen == first, f"recv(PEEK) returned {seen!r}, not the waiting message {first!r}")
        _send_whole(a, second)
        again = b.recv(64, RecvFlags.PEEK)
        _expect(
            again.startswith(seen) if _is_stream(b) else again == first,
            f"a second recv(PEEK) returned {again!r} after the first saw {seen!r}: the peek consumed the data",
        )
        _receive_whole(b, first, "the receive after two peeks")
        _receive_whole(b, second, "the receive after that")


@_check
def check_dontwait(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``RecvFlags.DONTWAIT`` never waits: ``WouldBlock`` (a ``BlockingIOError``) when nothing is there (APUE 16.8 Nonblocking and Asynchronous I/O).

    The call must return within :data:`PROMPT` seconds although the
    transport's timeout is longer, must not return ``b""`` (which means end
    of stream), and must leave the timeout as it was; with data waiting
    (seen by a PEEK, when the transport honours PEEK) it returns the data.
    Not applicable where DONTWAIT is refused.
    """
    with _opened(factory) as (a, b):
        outcome = _within(
            PROMPT,
            lambda: b.recv(10, RecvFlags.DONTWAIT),
            "recv(10, RecvFlags.DONTWAIT) on an empty transport",
            lambda: _send_whole(a, b"wake up"),
        )
        if isinstance(outcome.error, UnsupportedFlag):
            raise NotApplicable(f"the transport refuses RecvFlags.DONTWAIT: {outcome.error}")
        if outcome.error is None:
            _fail(
                f"recv(10, RecvFlags.DONTWAIT) on an empty transport returned {outcome.value!r}; "
                "it must raise WouldBlock (b'' would mean end of stream)"
            )
        if not isinstance(outcome.error, WouldBlock):
            raise ContractViolation(
                f"recv(10, RecvFlags.DONTWAIT) on an empty transport raised {_describe(outcome.error)}; "
                "the contract wants WouldBlock (a BlockingIOError)"
            ) from outcome.error
        _raises(WouldBlock, lambda: b.recv_into(bytearray(10), 0, RecvFlags.DONTWAIT), "recv_into(DONTWAIT)")
        _expect(b.timeout == TIMEOUT, f"a DONTWAIT receive changed the timeout to {b.timeout!r}")
        _send_whole(a, b"ready")
        try:
            peeked = b.recv(5, RecvFlags.PEEK)
        except UnsupportedFlag:
            return  # without PEEK there is no way to know the data has arrived
        got = b.recv(5, RecvFlags.DONTWAIT)
        _expect(
            len(peeked) > 0 and got.startswith(peeked),
            f"recv(DONTWAIT) with {peeked!r} waiting returned {got!r}",
        )


@_check
def check_recv_timeout(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A receive on an empty transport raises ``TransportTimeout`` (a ``TimeoutError``) once its timeout passes (APUE 16.8).

    With a timeout of :data:`SHORT` seconds the call must wait about that
    long, not return at once and not block on (the kit gives it
    :data:`PROMPT` seconds); ``recv_into`` too. A receive that timed out
    took nothing: the transport keeps working afterwards.
    """
    with _opened(factory) as (a, b):
        b.timeout = SHORT
        _expect(b.timeout == SHORT, f"timeout reads {b.timeout!r} after being set to {SHORT}")
        for name, call in [
            ("recv(10)", lambda: b.recv(10)),
            ("recv_into(10)", lambda: b.recv_into(bytearray(10))),
        ]:
            what = f"{name} with a {SHORT} s timeout on an empty transport"
            outcome = _within(PROMPT, call, what, lambda: _send_whole(a, b"wake up"))
            if outcome.error is None:
                _fail(f"{what} returned {outcome.value!r}; the contract wants TransportTimeout")
            if not isinstance(outcome.error, TransportTimeout):
                raise ContractViolation(
                    f"{what} raised {_describe(outcome.error)}; the contract wants TransportTimeout "
                    "(a TimeoutError)"
                ) from outcome.error
            _expect(
                outcome.elapsed >= SHORT / 2,
                f"{what} gave up after {outcome.elapsed:.3f} s, before its timeout",
            )
        b.timeout = TIMEOUT
        _send_whole(a, b"after the timeout")
        _receive_whole(b, b"after the timeout", "a receive after a timed-out one")


@_check
def check_close_twice(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """Closing twice is harmless and ``closed`` tells (APUE 16.2 Socket Descriptors: close once, never twice).

    ``close()`` a second time, and leaving a ``with`` block after it, raise
    nothing; ``closed`` turns True for that end only; a closed transport
    still satisfies the Transport protocol.
    """
    with _opened(factory) as (a, b):
        _expect(not a.closed, "a fresh end says closed=True")
        a.close()
        _expect(a.closed is True, f"closed is {a.closed!r} after close()")
        a.close()
        with a:
            pass
        _expect(a.closed is True, "closed changed after a second close()")
        _expect(b.closed is False, "closing one end made the other say closed=True")
        _expect(isinstance(a, Transport), "a closed transport no longer satisfies the Transport protocol")


@_check
def check_use_after_close(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """Every operation on a closed transport fails at once with a ``TransportError`` (APUE 16.2 Socket Descriptors).

    The error is an :class:`OSError` (``TransportClosed`` for ours, EBADF),
    not a timeout: nothing is sent or received. ``fileno()`` gives -1 or
    raises OSError.
    """
    with _opened(factory) as (a, b):
        a.close()
        calls: dict[str, Callable[[], object]] = {
            "send": lambda: a.send(b"x"),
            "recv": lambda: a.recv(1),
            "recv_into": lambda: a.recv_into(bytearray(1)),
        }
        if _is_stream(a):
            stream = cast(StreamTransport, a)
            calls["send_all"] = lambda: stream.send_all(b"x")
            calls["recv_exactly"] = lambda: stream.recv_exactly(1)
            calls["shutdown"] = lambda: stream.shutdown("write")
        if isinstance(a, DatagramTransport):
            datagram = a
            calls["recv_from"] = lambda: datagram.recv_from(1)
        for name, call in calls.items():
            start = time.monotonic()
            exc = _raises(TransportError, call, f"{name} after close()", " (e.g. TransportClosed)")
            elapsed = time.monotonic() - start
            _expect(
                not isinstance(exc, TransportTimeout | WouldBlock),
                f"{name} after close() raised {_describe(exc)}: it tried to wait instead of failing",
            )
            _expect(elapsed < PROMPT, f"{name} after close() took {elapsed:.1f} s to fail")
        try:
            fd = a.fileno()
        except OSError:
            pass
        else:
            _expect(fd == -1, f"fileno() of a closed transport returned {fd!r}; expected -1")
        _expect(not b.closed, "closing one end closed the other")


def _blocking_receives(end: Transport, size: int) -> dict[str, Callable[[], object]]:
    """Each receive *end* offers that waits for data, asking for *size* bytes, by name."""
    calls: dict[str, Callable[[], object]] = {
        f"recv({size})": lambda: end.recv(size),
        f"recv_into({size}-byte buffer)": lambda: end.recv_into(bytearray(size)),
    }
    if _is_stream(end):
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

    worker = _Worker(receive, name)
    if not about_to_call.wait(TIMEOUT):
        worker.wait(TIMEOUT + 1)
        _fail(f"the helper thread for {name} did not start within {TIMEOUT:g} s")
    # The worker may not be inside the call yet; a close that lands first
    # must make the call fail with TransportClosed just the same.
    b.close()
    closed_at_once = b.closed
    if not worker.wait(PROMPT):
        _release(a)
        if not worker.wait(TIMEOUT + 1):
            after = "; sending data to it and closing the peer did not wake it either"
        elif worker.value is not None:
            after = f"; when the peer then sent data the closed end handed it out (it returned {_show(worker.value)})"
        else:
            try:
                worker.result(0)
                ending = ""
            except Exception as exc:
                ending = f", with {_describe(exc)}"
            after = f"; it ended only once the peer sent data and closed{ending}"
        _fail(
            f"{what} was still blocked {PROMPT:g} s after close() returned{after}. "
            "close() must wake every call blocked on the transport, promptly, with TransportClosed"
        )
    try:
        value = worker.result(0)
    except TransportClosed:
        pass
    except Exception as exc:
        raise ContractViolation(
            f"{what} raised {_describe(exc)} when close() was called; the contract wants TransportClosed"
        ) from exc
    else:
        _fail(
            f"{what} returned {_show(value)} when close() was called; the contract wants TransportClosed "
            "(a close is not the peer ending the stream, and what arrives after it is not handed out)"
        )
    _expect(closed_at_once is True, f"closed was {closed_at_once!r} right after close() returned")
    with contextlib.suppress(Exception):
        a.send(b"sent after close")  # the peer may be told the end is gone: any outcome is fine
    for later, again in _blocking_receives(b, 64).items():
        outcome = _within(PROMPT, again, f"{later} after close()", lambda: _close_all(a))
        if outcome.error is None:
            _fail(
                f"{later} after close(), with the peer sending data, returned {_show(outcome.value)}; "
                "a closed transport never hands out data (it must raise TransportClosed)"
            )
        if not isinstance(outcome.error, TransportError) or isinstance(
            outcome.error, TransportTimeout | WouldBlock
        ):
            raise ContractViolation(
                f"{later} after close(), with the peer sending data, raised {_describe(outcome.error)}; "
                "the contract wants TransportClosed"
            ) from outcome.error


@_check
def check_close_wakes_blocked_receive(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """``close()`` from another thread wakes a blocked receive with ``TransportClosed`` (APUE 16.2 Socket Descriptors, 16.5).

    For each receive the end offers (``recv``, ``recv_into``, and
    ``recv_exactly`` on a stream, ``recv_from`` on a datagram end), with
    ``timeout=None`` and with a timeout: a helper thread blocks in the call
    on an empty transport; this thread closes that end. The call must end
    within :data:`PROMPT` seconds (in practice at once) with
    ``TransportClosed`` -- not with data, not with ``b""``, not by waiting
    for the peer. ``closed`` is True as soon as ``close()`` returns. Then the
    peer sends data, and every receive on the closed end still fails: a
    closed transport never hands out what arrived after the close.

    The helper sets an event just before it calls, so the close may come
    before the call has started to wait; the call must then fail with
    ``TransportClosed`` just the same. A call that does not wake is released
    (the peer sends data, then closes) so the check never hangs, and fails.
    """
    with _opened(factory) as (a, b):
        names = list(_blocking_receives(b, 64))
    for timeout in (None, TIMEOUT):
        for name in names:
            with _opened(factory) as (a, b):
                _close_wakes(a, b, name, timeout)


#: The peak allocation, in bytes, :func:`check_receive_memory_bounded` allows a receive of a few
#: bytes: room for a fixed receive buffer (one system call never returns more than a socket buffer
#: holds, a few MiB), far below every size the check asks for.
_MEMORY_BOUND = 32 * _MiB
#: What :func:`check_receive_memory_bounded` asks ``recv_exactly`` and ``recv(WAITALL)`` for.
_ASKED_EXACTLY = 256 * _MiB
#: What it asks ``recv`` for.
_ASKED_RECV = 2**40
#: What it asks ``recv_from`` (and ``recv_exactly`` at end of stream) for.
_ASKED_HUGE = 2**62


def _bounded(call: Callable[[], R], what: str, unblock: Callable[[], object]) -> _Outcome[R]:
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
        outcome = _within(TIMEOUT + PROMPT, call, what, unblock)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if started:
            tracemalloc.stop()
    if isinstance(outcome.error, MemoryError | OverflowError):
        raise ContractViolation(
            f"{what} raised {_describe(outcome.error)}: it reserved the size it was asked for; memory "
            "must grow with the bytes that arrive"
        ) from outcome.error
    grown = peak - base
    _expect(
        grown < _MEMORY_BOUND,
        f"{what} allocated {grown / _MiB:.1f} MiB at its peak (the check allows {_MEMORY_BOUND // _MiB} MiB): "
        "memory must grow with the bytes that arrive, not with the size asked for",
    )
    return outcome


def _wanted(outcome: _Outcome[R], what: str) -> R:
    """The value of a bounded call that had to return one."""
    if outcome.error is not None:
        raise ContractViolation(f"{what} raised {_describe(outcome.error)}") from outcome.error
    return cast(R, outcome.value)


def _bounded_stream(factory: PairFactory[Transport]) -> None:
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        sent = b"bytes that arrived"
        a.send_all(sent)
        what = f"recv({_ASKED_RECV}) with {len(sent)} bytes waiting"
        got: object = _wanted(_bounded(lambda: b.recv(_ASKED_RECV), what, a.close), what)
        if not isinstance(got, bytes) or not got or not sent.startswith(got):
            _fail(f"{what} returned {_show(got)}, not the start of {sent!r}")
        if len(got) < len(sent):
            _receive_whole(b, sent[len(got) :], f"the rest after {what}")
        a.send_all(b"partial")
        a.shutdown("write")
        what = f"recv_exactly({_ASKED_EXACTLY}) with 7 bytes before the end of stream"
        outcome = _bounded(lambda: b.recv_exactly(_ASKED_EXACTLY), what, a.close)
        if not isinstance(outcome.error, UnexpectedEOF):
            _fail(
                f"{what} gave "
                f"{_describe(outcome.error) if outcome.error else _show(outcome.value)}; "
                "the contract wants UnexpectedEOF"
            )
        _expect(
            outcome.error.partial == b"partial",
            f"{what}: UnexpectedEOF.partial is {outcome.error.partial!r}, not b'partial'",
        )
        _expect(
            outcome.error.expected == _ASKED_EXACTLY,
            f"{what}: UnexpectedEOF.expected is {outcome.error.expected!r}, not {_ASKED_EXACTLY}",
        )
        what = f"recv({_ASKED_RECV}) at end of stream"
        got = _wanted(_bounded(lambda: b.recv(_ASKED_RECV), what, a.close), what)
        _expect(got == b"", f"{what} returned {_show(got)}, not b''")
        what = f"recv_exactly({_ASKED_HUGE}) at end of stream"
        outcome = _bounded(lambda: b.recv_exactly(_ASKED_HUGE), what, a.close)
        if not isinstance(outcome.error, UnexpectedEOF | ValueError):
            raise ContractViolation(
                f"{what} gave {_describe(outcome.error) if outcome.error else _show(outcome.value)}; "
                "the contract wants UnexpectedEOF (or a ValueError saying the size is too large)"
            ) from outcome.error
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        sent = b"wait for all of it"
        a.send_all(sent)
        a.shutdown("write")
        what = f"recv({_ASKED_EXACTLY}, RecvFlags.WAITALL) with {len(sent)} bytes before the end of stream"
        outcome = _bounded(lambda: b.recv(_ASKED_EXACTLY, RecvFlags.WAITALL), what, a.close)
        if isinstance(outcome.error, UnsupportedFlag):
            return  # the transport has no WAITALL: nothing to bound
        got = _wanted(outcome, what)
        _expect(got == sent, f"{what} returned {_show(got)}, not the {len(sent)} bytes sent")


def _bounded_messages(factory: PairFactory[Transport]) -> None:
    with _opened(factory) as (a, b):
        _messages(a, b)
        _send_whole(a, b"one message")
        what = f"recv({_ASKED_RECV}) with an 11-byte message waiting"
        got = _wanted(_bounded(lambda: b.recv(_ASKED_RECV), what, lambda: _send_whole(a, b"wake up")), what)
        _expect(got == b"one message", f"{what} returned {_show(got)}")
        if not isinstance(b, DatagramTransport):
            return
        datagram_end = b
        _send_whole(a, b"a datagram")
        what = f"recv_from({_ASKED_HUGE}) with a 10-byte datagram waiting"
        datagram = _wanted(
            _bounded(lambda: datagram_end.recv_from(_ASKED_HUGE), what, lambda: _send_whole(a, b"wake up")),
            what,
        )
        _expect(
            datagram.data == b"a datagram" and datagram.truncated is False,
            f"{what} returned {datagram!r}",
        )


@_check
def check_receive_memory_bounded(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A receive's memory grows with the bytes that arrived, never with the size asked for (APUE 14.7 readn and writen, 16.5).

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
    with _opened(factory) as (a, _):
        stream = _is_stream(a)
    if stream:
        _bounded_stream(factory)
    else:
        _bounded_messages(factory)


def _refused_send(factory: PairFactory[Transport], flag: SendFlags) -> bool:
    """Try *flag* on a fresh pair; if refused, prove nothing moved. Whether it was refused."""
    with _opened(factory) as (a, b):
        try:
            a.send(b"probe", flag)
        except UnsupportedFlag as exc:
            _expect(
                bool(int(flag) & int(exc.flag)) and str(flag.name) in str(exc),
                f"send(b'probe', {flag!r}) raised UnsupportedFlag that does not name {flag.name}: {exc}",
            )
        except Exception:
            return False  # accepted, whatever came of it
        else:
            return False
        _send_whole(a, b"after")
        _receive_whole(b, b"after", f"the first data after a refused send({flag!r})")
        if _is_stream(a):
            stream = cast(StreamTransport, a)
            _raises(
                UnsupportedFlag,
                lambda: stream.send_all(b"x", flag),
                f"send_all({flag!r}) when send refuses it",
            )
            _send_whole(a, b"again")
            _receive_whole(b, b"again", f"the first data after a refused send_all({flag!r})")
        return True


def _refused_recv(factory: PairFactory[Transport], flag: RecvFlags) -> bool:
    """Try *flag* on a fresh pair with data waiting; if refused, prove nothing was consumed."""
    with _opened(factory) as (a, b):
        _send_whole(a, b"probe")
        b.timeout = PROMPT
        try:
            b.recv(5, flag)
        except UnsupportedFlag as exc:
            _expect(
                bool(int(flag) & int(exc.flag)) and str(flag.name) in str(exc),
                f"recv(5, {flag!r}) raised UnsupportedFlag that does not name {flag.name}: {exc}",
            )
        except Exception:
            return False
        else:
            return False
        _raises(UnsupportedFlag, lambda: b.recv_into(bytearray(5), 0, flag), f"recv_into({flag!r})")
        b.timeout = TIMEOUT
        _receive_whole(b, b"probe", f"the data after a refused recv({flag!r})")
        return True


@_check
def check_refused_flags(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A flag the transport cannot honour raises ``UnsupportedFlag`` naming it, before any data moves (APUE 16.5, Figs. 16.13-16.14).

    Each send and receive flag is tried on a fresh pair. For every refused
    one, the error names the flag, and nothing was sent (the peer's next
    data is what was sent after) or consumed (the waiting data is still
    there). Not applicable when the transport accepts every flag.
    """
    refused = [flag for flag in SendFlags if flag is not SendFlags.NOSIGNAL and _refused_send(factory, flag)]
    refused_recv = [flag for flag in RecvFlags if _refused_recv(factory, flag)]
    if not refused and not refused_recv:
        raise NotApplicable("the transport accepts every SendFlags and RecvFlags member")


# -- stream checks ---------------------------------------------------------------------------


@_check
def check_stream_identity(factory: PairFactory[Transport]) -> None:
    """Both ends are byte streams: ``Transport`` and ``StreamTransport``, kind STREAM (APUE 16.2 Socket Descriptors).

    Also: ``closed`` is False, ``timeout`` reads back what was set (a number,
    0 or None), addresses are :data:`transports.Address` values,
    ``fileno()`` is a descriptor (or raises OSError for a transport that is
    not one), and ``with`` returns the transport and closes it.
    """
    with _opened(factory) as (a, b):
        _streams(a, b)
        _check_basics(a, b)


@_check
def check_stream_round_trip(factory: PairFactory[Transport]) -> None:
    """Bytes arrive exactly as sent, none lost, none added, at 0, 1, 1000 and 1 MiB + 7 bytes (APUE 14.7 readn and writen).

    ``send_all`` in a helper thread, ``recv_exactly`` here, SHA-256 compared;
    a trailer after the payload proves no byte was dropped or repeated, and
    the digest travels back the other way.
    """
    for size in (0, 1, 1000, _MiB + 7):
        data = _payload(size, size)
        with _opened(factory) as pair:
            a, b = _streams(*pair)

            def send(a: StreamTransport = a, data: bytes = data) -> None:
                a.send_all(data)
                a.send_all(_TRAILER)

            with _background(send, f"send_all of {size} bytes", a, b) as sender:
                try:
                    got = b.recv_exactly(size)
                except UnexpectedEOF as exc:
                    raise ContractViolation(
                        f"recv_exactly({size}) hit end of stream after {len(exc.partial)} bytes"
                    ) from exc
                _expect(
                    got == data,
                    f"{size} bytes sent (sha256 {_digest(data)}) but the bytes received differ "
                    f"(sha256 {_digest(got)}): bytes were lost, added or reordered",
                )
                tail = b.recv_exactly(len(_TRAILER))
                _expect(tail == _TRAILER, f"after the {size}-byte payload came {tail!r}, not the trailer")
                sender.result()
            digest = hashlib.sha256(got).digest()
            b.send_all(digest)
            back = a.recv_exactly(len(digest))
            _expect(back == digest, "the digest sent back the other way arrived changed")


@_check
def check_stream_send_returns_count(factory: PairFactory[Transport]) -> None:
    """``send`` returns how many bytes the kernel took, 1 to ``len(data)``, and exactly those arrive (APUE 16.5 Data Transfer).

    A 256 KiB send may be partial; the peer receives exactly that prefix and
    nothing more; ``send(b"")`` returns 0.
    """
    data = _payload(256 * 1024, 7)
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        empty = a.send(b"")  # first: on a full buffer even an empty send would wait
        _expect(empty == 0, f"send(b'') returned {empty!r}")
        sent = a.send(data)
        _expect(
            _is_int(sent) and 0 < sent <= len(data),
            f"send of {len(data)} bytes returned {sent!r}; it must be 1..{len(data)}",
        )
        expected = data[:sent] + _TRAILER
        with _background(lambda: _read_to_eof(b, len(expected)), "reading to end of stream", a, b) as reader:
            a.send_all(_TRAILER)
            a.close()
            got = reader.result()
        _expect(
            got == expected,
            f"send returned {sent}, then a {len(_TRAILER)}-byte trailer was sent, but the peer received "
            f"{len(got)} bytes up to end of stream (expected {len(expected)}): send did not send what it said",
        )


@_check
def check_waitall(factory: PairFactory[Transport]) -> None:
    """``RecvFlags.WAITALL`` fills the whole buffer across many sends (APUE 14.7 readn and writen, Fig. 16.14).

    2 MiB + 3 bytes are sent in 64 KiB pieces by a helper thread; one
    ``recv`` and one ``recv_into`` with WAITALL each return all of them.
    Not applicable where WAITALL is refused.
    """
    data = _payload(2 * _MiB + 3, 11)
    with _opened(factory) as pair:
        a, b = _streams(*pair)

        def send() -> None:
            for _ in range(2):
                for start in range(0, len(data), 65536):
                    a.send_all(data[start : start + 65536])

        with _background(send, "sending in 64 KiB pieces", a, b) as sender:
            got = _flagged(lambda: b.recv(len(data), RecvFlags.WAITALL), RecvFlags.WAITALL)
            _expect(
                len(got) == len(data),
                f"recv({len(data)}, WAITALL) returned {len(got)} bytes before the stream ended",
            )
            _expect(got == data, "recv(WAITALL) returned other bytes than were sent")
            buffer = bytearray(len(data) + 10)
            count = b.recv_into(buffer, len(data), RecvFlags.WAITALL)
            _expect(count == len(data), f"recv_into({len(data)}, WAITALL) returned {count}")
            _expect(buffer[:count] == data, "recv_into(WAITALL) stored other bytes than were sent")
            sender.result()


@_check
def check_half_close(factory: PairFactory[Transport]) -> None:
    """``shutdown("write")`` is a half-close: the peer reads end of stream, the other direction still works (APUE 16.2).

    The peer's ``recv`` returns ``b""`` (again on every call), the peer can
    still send and this end read it, and sending after the shutdown raises a
    ``TransportError`` (``BrokenPipe`` for ours).
    """
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        a.send_all(b"before")
        a.shutdown("write")
        _expect(b.recv_exactly(6) == b"before", "data sent before shutdown was lost")
        for attempt in ("first", "second"):
            got = b.recv(100)
            _expect(
                got == b"", f"the {attempt} recv after the peer's shutdown('write') returned {got!r}, not b''"
            )
        b.send_all(b"answer")
        answer = a.recv_exactly(6)
        _expect(answer == b"answer", f"the half-closed end read {answer!r}, not the peer's answer")
        _raises(
            TransportError, lambda: a.send(b"after shutdown"), "send after shutdown('write')", " (BrokenPipe)"
        )


@_check
def check_stream_eof_after_close(factory: PairFactory[Transport]) -> None:
    """When the peer closes, the data it sent arrives, then ``recv`` returns ``b""`` for good (APUE 16.5 Data Transfer).

    ``recv_into`` returns 0 at end of stream.
    """
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        a.send_all(b"last words")
        a.close()
        _expect(b.recv_exactly(10) == b"last words", "data sent before close was lost")
        for attempt in ("first", "second"):
            got = b.recv(100)
            _expect(got == b"", f"the {attempt} recv after the peer closed returned {got!r}, not b''")
        count = b.recv_into(bytearray(10))
        _expect(count == 0, f"recv_into at end of stream returned {count!r}, not 0")


@_check
def check_recv_exactly_eof(factory: PairFactory[Transport]) -> None:
    """``recv_exactly`` raises ``UnexpectedEOF`` carrying ``partial`` and ``expected`` if the stream ends first (APUE 14.7 readn and writen).

    ``recv_exactly(0)`` returns ``b""`` at once.
    """
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        _expect(b.recv_exactly(0) == b"", "recv_exactly(0) did not return b''")
        a.send_all(b"partial")
        a.close()
        exc = _raises(
            UnexpectedEOF, lambda: b.recv_exactly(100), "recv_exactly(100) with 7 bytes before the end"
        )
        _expect(exc.partial == b"partial", f"UnexpectedEOF.partial is {exc.partial!r}, not b'partial'")
        _expect(exc.expected == 100, f"UnexpectedEOF.expected is {exc.expected!r}, not 100")


@_check
def check_recv_exactly_timeout_keeps_partial(factory: PairFactory[Transport]) -> None:
    """A ``recv_exactly`` that times out loses nothing: the bytes that came are in the error's ``partial`` (APUE 14.7).

    The timeout covers the whole call, not each system call.
    """
    with _opened(factory) as pair:
        a, b = _streams(*pair)
        a.send_all(b"abc")
        _expect(b.recv(1) == b"a", "the first byte did not arrive")
        b.timeout = SHORT
        outcome = _within(
            PROMPT,
            lambda: b.recv_exactly(10),
            "recv_exactly(10) with 2 of 10 bytes there",
            lambda: a.send_all(bytes(8)),
        )
        if not isinstance(outcome.error, TransportTimeout):
            _fail(
                f"recv_exactly(10) with a {SHORT} s timeout and 2 bytes there gave "
                f"{_describe(outcome.error) if outcome.error else repr(outcome.value)}; "
                "the contract wants TransportTimeout"
            )
        _expect(
            outcome.error.partial == b"bc",
            f"the timed-out recv_exactly's partial is {outcome.error.partial!r}, not b'bc': data was lost",
        )
        b.timeout = TIMEOUT
        a.send_all(b"more")
        _expect(b.recv_exactly(4) == b"more", "the stream did not work after a timed-out recv_exactly")


# -- message checks --------------------------------------------------------------------------


def _messages(a: Transport, b: Transport) -> None:
    for end in (a, b):
        _expect(
            end.kind.keeps_boundaries,
            f"{end!r} has kind {end.kind!r}; a message check needs Kind.DATAGRAM or Kind.SEQPACKET",
        )


@_check
def check_message_identity(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """Both ends keep message boundaries: kind DATAGRAM or SEQPACKET, and the ``Transport`` protocol (APUE 16.2).

    A DATAGRAM end that has ``recv_from`` satisfies ``DatagramTransport``;
    ``max_message_size``, where present, is a positive int. Plus what
    :func:`check_stream_identity` checks of any end.
    """
    with _opened(factory) as (a, b):
        _messages(a, b)
        for end in (a, b):
            _max_message_size(end)
            if end.kind is Kind.DATAGRAM and hasattr(end, "recv_from"):
                _expect(
                    isinstance(end, DatagramTransport),
                    f"{end!r} has recv_from but does not satisfy DatagramTransport",
                )
        _check_basics(a, b)


@_check
def check_message_boundaries(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """One send is one receive: messages are neither merged nor split (APUE 16.5 Data Transfer).

    Four messages of different sizes are sent before any is received; four
    receives return them one each (in order when *reliable*, else in any
    order).
    """
    with _opened(factory) as (a, b):
        _messages(a, b)
        big = min(3000, _max_message_size(a) or 3000)
        messages = [b"first", b"second message", b"x" * big, b"last"]
        for message in messages:
            _send_whole(a, message)
        waiting = list(messages)
        for n in range(len(messages)):
            got = b.recv(4096)
            expected = waiting[0] if reliable else got
            _expect(
                got == expected and got in waiting,
                f"receive {n + 1} of {len(messages)} returned {_show(got)}; expected "
                f"{_show(waiting[0]) if reliable else 'one of ' + ', '.join(map(_show, waiting))}",
            )
            waiting.remove(got)


@_check
def check_empty_message(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """An empty message is a message: ``send(b"")`` returns 0 and the peer receives ``b""`` (APUE 16.5 Data Transfer)."""
    with _opened(factory) as (a, b):
        _messages(a, b)
        sent = a.send(b"")
        _expect(sent == 0, f"send(b'') returned {sent!r}")
        _send_whole(a, b"after")
        got = [b.recv(100), b.recv(100)]
        expected = [b"", b"after"]
        _expect(
            got == expected if reliable else sorted(got) == expected,
            f"after sending b'' and b'after' the peer received {got!r}",
        )


@_check
def check_message_order(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A reliable message kind delivers in order: 100 numbered messages arrive 0..99 (APUE 16.5 Data Transfer).

    The sender is a helper thread, so a short queue just makes it wait. Not
    applicable when ``reliable=False``.
    """
    if not reliable:
        raise NotApplicable("reliable=False: the transport may reorder messages")
    with _opened(factory) as (a, b):
        _messages(a, b)
        messages = [f"message {n:03d}".encode() for n in range(100)]

        def send() -> None:
            for message in messages:
                _send_whole(a, message)

        with _background(send, "sending 100 messages", a, b) as sender:
            got = [b.recv(100) for _ in messages]
            sender.result()
        for n, (sent, received) in enumerate(zip(messages, got, strict=True)):
            _expect(sent == received, f"message {n} was {received!r}, expected {sent!r}")


@_check
def check_message_truncation(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A message longer than the buffer is never cut silently (APUE 16.5 Data Transfer, MSG_TRUNC).

    ``recv`` and ``recv_into`` raise ``MessageTruncated`` with the part that
    fitted in ``data`` (and the real ``size`` or None); ``recv_from``, where
    there is one, returns a ``Datagram`` with ``truncated=True``. The rest of
    the cut message is gone and the next message arrives whole.
    """
    message = bytes(range(100))
    with _opened(factory) as (a, b):
        _messages(a, b)
        _send_whole(a, message)
        what = "recv(10) of a 100-byte message"
        exc = _raises(MessageTruncated, lambda: b.recv(10), what, " (a silent cut loses data)")
        _expect(
            exc.data == message[:10], f"{what}: MessageTruncated.data is {exc.data!r}, not the first 10 bytes"
        )
        _expect(exc.size in (100, None), f"{what}: MessageTruncated.size is {exc.size!r}, not 100 or None")
        _send_whole(a, b"next")
        _receive_whole(b, b"next", "the message after a truncated one")
        _send_whole(a, message)
        buffer = bytearray(16)
        what = "recv_into(16-byte buffer) of a 100-byte message"
        exc = _raises(MessageTruncated, lambda: b.recv_into(buffer), what, " (a silent cut loses data)")
        _expect(exc.data == message[:16], f"{what}: MessageTruncated.data is {exc.data!r}")
        _expect(
            buffer == message[:16], f"{what}: the buffer holds {bytes(buffer)!r}, not the part that fitted"
        )
        if isinstance(b, DatagramTransport):
            _send_whole(a, message)
            datagram = b.recv_from(8)
            _expect(
                datagram.truncated is True and datagram.data == message[:8],
                f"recv_from(8) of a 100-byte message returned {datagram!r}; it must say truncated=True",
            )
            _expect(datagram.size in (100, None), f"recv_from(8): size is {datagram.size!r}, not 100 or None")
            _send_whole(a, b"fits")
            datagram = b.recv_from(100)
            _expect(
                datagram.truncated is False and datagram.data == b"fits",
                f"recv_from(100) of a 4-byte message returned {datagram!r}",
            )


@_check
def check_max_message_size(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """A message of exactly ``max_message_size`` goes through; one byte more raises ``MessageTooLarge`` (APUE 16.5, EMSGSIZE).

    The error carries ``limit`` (the same number) and nothing of the refused
    message is sent. Not applicable to a transport without
    ``max_message_size``.
    """
    with _opened(factory) as (a, b):
        _messages(a, b)
        limit = _max_message_size(a)
        if limit is None:
            raise NotApplicable("the transport has no max_message_size")
        data = _payload(limit, 3)
        _send_whole(a, data, f"send of exactly max_message_size ({limit}) bytes")
        got = b.recv(limit)
        _expect(got == data, f"the {limit}-byte message arrived as {_show(got)}")
        exc = _raises(
            MessageTooLarge,
            lambda: a.send(bytes(limit + 1)),
            f"send of max_message_size + 1 ({limit + 1}) bytes",
        )
        _expect(
            exc.limit == limit, f"MessageTooLarge.limit is {exc.limit!r}, but max_message_size is {limit}"
        )
        _send_whole(a, b"after")
        _receive_whole(b, b"after", "the message after a refused oversize one")


@_check
def check_message_end_of_connection(factory: PairFactory[Transport], *, reliable: bool = True) -> None:
    """On a connection (seqpacket), the peer's close ends it: queued messages, then ``b""`` (APUE 16.2, 16.5).

    Where the end has ``shutdown``, ``shutdown("write")`` is a half-close as
    on a stream. Not applicable to connectionless kinds (DATAGRAM).
    """
    with _opened(factory) as (a, b):
        _messages(a, b)
        if not a.kind.connection_oriented:
            raise NotApplicable(f"{a.kind.value} transports have no connection to end")
        _send_whole(a, b"last")
        a.close()
        _receive_whole(b, b"last", "the message sent before close")
        for attempt in ("first", "second"):
            got = b.recv(100)
            _expect(got == b"", f"the {attempt} recv after the peer closed returned {got!r}, not b''")
    with _opened(factory) as (a, b):
        shutdown = getattr(a, "shutdown", None)
        if shutdown is None:
            return
        shutdown("write")
        got = b.recv(100)
        _expect(got == b"", f"recv after the peer's shutdown('write') returned {got!r}, not b''")
        _send_whole(b, b"answer")
        _receive_whole(a, b"answer", "the answer to a half-closed end")


# -- listener checks ---------------------------------------------------------------------------


@contextlib.contextmanager
def _listening(make_listener: Callable[[], L]) -> Iterator[L]:
    try:
        listener = make_listener()
    except Exception as exc:
        raise ContractViolation(f"make_listener raised {_describe(exc)}") from exc
    try:
        listener.timeout = TIMEOUT
        yield listener
    finally:
        listener.close()


def _connect_and_accept(listener: L, connect_to: Callable[[L], Transport]) -> tuple[Transport, Transport]:
    """Connect in a helper thread while this one accepts; returns (client, server), both with timeouts."""
    worker = _Worker(lambda: connect_to(listener), "connect_to")
    try:
        server = listener.accept()
    except BaseException:
        worker.wait(TIMEOUT + 1)
        _close_all(worker.value)
        raise
    try:
        client = worker.result()
        _expect(isinstance(server, Transport), f"accept() returned {server!r}, not a Transport")
        _expect(isinstance(client, Transport), f"connect_to returned {client!r}, not a Transport")
        client.timeout = TIMEOUT
        server.timeout = TIMEOUT
    except BaseException:
        _close_all(server, worker.value)
        raise
    return client, server


def _talk(client: Transport, server: Transport) -> None:
    _send_whole(client, b"hello server")
    _receive_whole(server, b"hello server", "what the client sent")
    _send_whole(server, b"hello client")
    _receive_whole(client, b"hello client", "what the accepted end sent")


@_check
def check_listener_accept(make_listener: Callable[[], L], connect_to: Callable[[L], Transport]) -> None:
    """``accept`` returns a connected transport; both ends talk both ways (APUE 16.4 Connection Establishment).

    The listener satisfies the ``Listener`` protocol, is not closed, and has
    an address; two connections in a row each get their own transport.
    """
    with _listening(make_listener) as listener:
        _expect(isinstance(listener, Listener), f"{listener!r} does not satisfy the Listener protocol")
        _expect(listener.closed is False, "a new listener says closed=True")
        address = listener.address
        _expect(isinstance(address, _ADDRESS_TYPES), f"listener.address is {address!r}, not an Address")
        for _ in range(2):
            client, server = _connect_and_accept(listener, connect_to)
            with client, server:
                _expect(not server.closed, "accept() returned a closed transport")
                _talk(client, server)


@_check
def check_listener_iteration_stops_on_close(
    make_listener: Callable[[], L], connect_to: Callable[[L], Transport]
) -> None:
    """Iterating a listener yields connections and stops quietly once another thread closes it (APUE 16.4).

    A helper thread iterates; after it has handed over one connection, it
    is (or soon will be) blocked in the next ``accept``; ``close()`` from
    this thread must end the iteration within :data:`PROMPT` seconds,
    without an exception.
    """
    accepted: queue.Queue[Transport] = queue.Queue()
    with _listening(make_listener) as listener:

        def serve() -> int:
            count = 0
            for connection in listener:
                accepted.put(connection)
                count += 1
            return count

        worker = _Worker(serve, "iterating the listener")
        client: Transport | None = None
        try:
            client = connect_to(listener)
            try:
                server = accepted.get(timeout=TIMEOUT)
            except queue.Empty:
                _fail(f"iterating the listener yielded nothing within {TIMEOUT:g} s of a connect")
            server.close()
            listener.close()
            if not worker.wait(PROMPT):
                worker.wait(TIMEOUT + 1)
                _fail(f"iterating the listener went on for {PROMPT:g} s after close() from another thread")
            try:
                count = worker.result(0)
            except Exception as exc:
                raise ContractViolation(
                    f"iterating the listener raised {_describe(exc)} when it was closed; it must stop quietly"
                ) from exc
            _expect(count == 1, f"iterating the listener yielded {count} connections, expected 1")
        finally:
            listener.close()
            worker.wait(TIMEOUT + 1)
            _close_all(client)
            while not accepted.empty():
                _close_all(accepted.get_nowait())


@_check
def check_listener_accept_timeout(
    make_listener: Callable[[], L], connect_to: Callable[[L], Transport]
) -> None:
    """``accept`` with nobody connecting raises ``TransportTimeout`` once the listener's timeout passes (APUE 16.8, 16.4).

    Not at once and not never; the listener still accepts afterwards.
    """
    with _listening(make_listener) as listener:
        listener.timeout = SHORT
        late: list[Transport] = []
        start = time.monotonic()
        worker = _Worker(listener.accept, "accept with a short timeout")
        if not worker.wait(PROMPT):
            with contextlib.suppress(Exception):
                late.append(connect_to(listener))
            worker.wait(TIMEOUT + 1)
            _close_all(*late, worker.value)
            _fail(f"accept() with a {SHORT} s timeout was still blocked after {PROMPT:g} s")
        elapsed = time.monotonic() - start
        try:
            unexpected = worker.result(0)
        except TransportTimeout:
            pass
        except Exception as exc:
            raise ContractViolation(
                f"accept() with a {SHORT} s timeout raised {_describe(exc)}; the contract wants TransportTimeout"
            ) from exc
        else:
            _close_all(unexpected)
            _fail(f"accept() with a {SHORT} s timeout and nobody connecting returned {unexpected!r}")
        _expect(elapsed >= SHORT / 2, f"accept() gave up after {elapsed:.3f} s, before its timeout")
        listener.timeout = TIMEOUT
        client, server = _connect_and_accept(listener, connect_to)
        with client, server:
            _talk(client, server)


@_check
def check_listener_close(make_listener: Callable[[], L], connect_to: Callable[[L], Transport]) -> None:
    """A closed listener says so, closes again harmlessly, and ``accept`` fails with a ``TransportError`` (APUE 16.4).

    Iterating it yields nothing.
    """
    with _listening(make_listener) as listener:
        listener.close()
        listener.close()
        _expect(listener.closed is True, f"closed is {listener.closed!r} after close()")
        _raises(TransportError, listener.accept, "accept() on a closed listener", " (TransportClosed)")
        outcome = _within(PROMPT, lambda: list(listener), "iterating a closed listener", lambda: None)
        if outcome.error is not None:
            raise ContractViolation(
                f"iterating a closed listener raised {_describe(outcome.error)}"
            ) from outcome.error
        _expect(outcome.value == [], f"iterating a closed listener yielded {outcome.value!r}")


# -- the lists, and running them all ----------------------------------------------------------

#: Every check for a factory of connected byte-stream pairs.
STREAM_CHECKS: tuple[StreamCheck, ...] = (
    check_stream_identity,
    check_stream_round_trip,
    check_stream_send_returns_count,
    check_send_accepts_buffers,
    check_peek_leaves_data,
    check_waitall,
    check_dontwait,
    check_half_close,
    check_stream_eof_after_close,
    check_recv_exactly_eof,
    check_recv_timeout,
    check_recv_exactly_timeout_keeps_partial,
    check_close_twice,
    check_use_after_close,
    check_close_wakes_blocked_receive,
    check_receive_memory_bounded,
    check_refused_flags,
)

#: Every check for a factory of connected message pairs (datagram or seqpacket).
MESSAGE_CHECKS: tuple[MessageCheck, ...] = (
    check_message_identity,
    check_message_boundaries,
    check_empty_message,
    check_message_order,
    check_message_truncation,
    check_max_message_size,
    check_send_accepts_buffers,
    check_peek_leaves_data,
    check_dontwait,
    check_recv_timeout,
    check_message_end_of_connection,
    check_close_twice,
    check_use_after_close,
    check_close_wakes_blocked_receive,
    check_receive_memory_bounded,
    check_refused_flags,
)

#: Every check for a listener and a way to connect to it.
LISTENER_CHECKS: tuple[ListenerCheck, ...] = (
    check_listener_accept,
    check_listener_iteration_stops_on_close,
    check_listener_accept_timeout,
    check_listener_close,
)


def _run(checks: Sequence[Callable[[], None]], names: Sequence[str]) -> dict[str, str]:
    results: dict[str, str] = {}
    for name, run in zip(names, checks, strict=True):
        try:
            run()
        except NotApplicable as exc:
            results[name] = f"not applicable: {exc}"
        else:
            results[name] = "passed"
    return results


def run_stream_checks(factory: PairFactory[Transport]) -> dict[str, str]:
    """Run every stream check on *factory* (APUE 16.5 Data Transfer, 14.7 readn and writen).

    Stops at the first :class:`ContractViolation`; otherwise returns each
    check's name with ``"passed"`` or ``"not applicable: <why>"``.
    """
    return _run(
        [functools.partial(check, factory) for check in STREAM_CHECKS],
        [getattr(check, "__name__", repr(check)) for check in STREAM_CHECKS],
    )


def run_message_checks(factory: PairFactory[Transport], *, reliable: bool = True) -> dict[str, str]:
    """Run every message check on *factory* (APUE 16.5 Data Transfer).

    *reliable* says the transport neither drops nor reorders (true of every
    local kind and of UDP on loopback); with False, order is not checked.
    Returns like :func:`run_stream_checks`.
    """
    return _run(
        [functools.partial(check, factory, reliable=reliable) for check in MESSAGE_CHECKS],
        [getattr(check, "__name__", repr(check)) for check in MESSAGE_CHECKS],
    )


def run_listener_checks(
    make_listener: Callable[[], L], connect_to: Callable[[L], Transport]
) -> dict[str, str]:
    """Run every listener check (APUE 16.4 Connection Establishment); returns like :func:`run_stream_checks`."""
    return _run(
        [functools.partial(check, make_listener, connect_to) for check in LISTENER_CHECKS],
        [getattr(check, "__name__", repr(check)) for check in LISTENER_CHECKS],
    )
