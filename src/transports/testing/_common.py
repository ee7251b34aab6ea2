"""What the checks share, and nothing public: the internal API of the conformance kit.

Naming a check's failures (:func:`contract_check`, :func:`fail`,
:func:`expect`), helper threads with a deadline (:class:`Worker`,
:func:`background`, :func:`feeding`, :func:`within`), opening and closing a pair
(:func:`opened`), moving whole payloads (:func:`send_whole`,
:func:`receive_whole`, :func:`read_to_eof`), judging a bounded call's error
(:func:`raised`) and running a list of checks (:func:`run_checks`). The check
modules import this module whole, as ``kit`` (``kit.expect(...)``), so a
check reads as what it asks of the kit; users import :mod:`transports.testing`
instead.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, NoReturn, TypeVar, cast

from transports.addresses import InetAddress, NamedAddress, UnixAddress
from transports.errors import UnsupportedFlag
from transports.flags import RecvFlags, SendFlags
from transports.kinds import Kind
from transports.protocols import Listener, StreamTransport, Transport
from transports.testing.base import TIMEOUT, ContractViolation, NotApplicable, PairFactory

R = TypeVar("R")
E = TypeVar("E", bound=BaseException)
_F = TypeVar("_F", bound=Callable[..., None])

MiB = 1 << 20
TRAILER = b"\x00end-of-payload\xff"
ADDRESS_TYPES = (InetAddress, UnixAddress, NamedAddress)


# -- reporting ------------------------------------------------------------------------


def contract_check(func: _F) -> _F:
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
            raise ContractViolation(f"unexpected {describe(exc)}", check=name) from exc

    return cast(_F, run)


def fail(problem: str) -> NoReturn:
    raise ContractViolation(problem)


def expect(condition: bool, problem: str) -> None:
    if not condition:
        fail(problem)


def describe(exc: BaseException) -> str:
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def show(value: object) -> str:
    """A short repr: long byte strings by size and start."""
    if isinstance(value, bytes | bytearray) and len(value) > 40:
        return f"{len(value)} bytes starting {bytes(value[:16])!r}"
    return repr(value)


def raises(expected: type[E], call: Callable[[], object], what: str, hint: str = "") -> E:
    """Call *call*; it must raise *expected*. Returns the exception."""
    try:
        result = call()
    except expected as exc:
        return exc
    except Exception as exc:
        raise ContractViolation(
            f"{what} raised {describe(exc)}; the contract wants {expected.__name__}{hint}"
        ) from exc
    fail(f"{what} returned {show(result)}; the contract wants it to raise {expected.__name__}{hint}")


def flagged(call: Callable[[], R], flag: SendFlags | RecvFlags) -> R:
    """Call *call*, which passes *flag*; a refusal of the flag makes the check not applicable."""
    try:
        return call()
    except UnsupportedFlag as exc:
        raise NotApplicable(f"the transport refuses {flag!r}: {exc}") from exc


# -- threads ----------------------------------------------------------------------------


class Worker(Generic[R]):
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
    def error(self) -> BaseException | None:
        """What it raised, once it has (None while it runs or if it returned)."""
        return self._error

    @property
    def value(self) -> R | None:
        """The result, if it returned one (no exception)."""
        return self._value

    def result(self, timeout: float = TIMEOUT) -> R:
        """Wait for the function and return what it returned, or raise what it raised."""
        if not self.wait(timeout):
            fail(f"{self.name} in a helper thread was still blocked after {timeout:g} s")
        if self._error is not None:
            raise self._error
        return cast(R, self._value)


def close_all(*ends: Transport | Listener[Transport] | None) -> None:
    for end in ends:
        if end is not None:
            with contextlib.suppress(Exception):
                end.close()


@contextlib.contextmanager
def background(func: Callable[[], R], name: str, *ends: Transport) -> Iterator[Worker[R]]:
    """Run *func* in a helper thread for the ``with`` block; it must have ended by the block's end.

    If the block fails, *ends* are closed first so that a helper blocked on
    them (a sender whose receiver stopped reading) wakes up; every transport
    the checks make has a timeout, which bounds the wait in any case.
    """
    worker = Worker(func, name)
    try:
        yield worker
    except BaseException:
        close_all(*ends)
        worker.wait(TIMEOUT + 1)
        raise
    if not worker.wait(TIMEOUT):
        close_all(*ends)
        worker.wait(TIMEOUT + 1)
        fail(f"{name} in a helper thread was still blocked after {TIMEOUT:g} s")


class Feeder:
    """Calls made one after another by a helper thread, in the order given (see :func:`feeding`)."""

    def __init__(self, *ends: Transport) -> None:
        self._calls: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._ends = ends
        #: What the first failed call raised.
        self.failed: BaseException | None = None

    def __call__(self, call: Callable[[], object]) -> None:
        """Make *call* after every call given before it."""
        self._calls.put(call)

    def stop(self) -> None:
        self._calls.put(None)

    def run(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                call()
            except BaseException as exc:
                self.failed = exc
                close_all(*self._ends)  # a receive waiting for what will not come wakes now
                raise


@contextlib.contextmanager
def feeding(name: str, *ends: Transport) -> Iterator[Feeder]:
    """A :class:`Feeder` for the ``with`` block: sends that may wait for this thread to receive.

    A check sends through it whatever it receives itself in the same block,
    so it never relies on the transport buffering what was sent: on a
    clogged pair (:func:`~transports.testing.clogged`) a send waits
    until the peer has received it. Every call must have been made by the
    block's end. If one fails, *ends* are closed (so the receive waiting for
    it wakes) and its error is the one raised; if the block fails first,
    *ends* are closed so that a waiting send wakes, and the block's error is raised.
    """
    feeder = Feeder(*ends)
    worker = Worker(feeder.run, name)
    try:
        yield feeder
    except BaseException:
        cause = feeder.failed  # a failed send explains the receive that then failed
        feeder.stop()
        close_all(*ends)
        worker.wait(TIMEOUT + 1)
        if cause is not None:
            raise cause from None
        raise
    feeder.stop()
    worker.result()


class Outcome(Generic[R]):
    """What a bounded call did: its value or exception, and how long it took."""

    __slots__ = ("elapsed", "error", "value")

    def __init__(self, value: R | None, error: BaseException | None, elapsed: float) -> None:
        self.value = value
        self.error = error
        self.elapsed = elapsed


def within(limit: float, call: Callable[[], R], what: str, unblock: Callable[[], object]) -> Outcome[R]:
    """Run *call*, which must return or raise within *limit* seconds.

    It runs in a helper thread; if it is still blocked at the limit,
    *unblock* (sending something to it, say) releases it and the check fails.
    """
    start = time.monotonic()
    worker = Worker(call, what)
    if worker.wait(limit):
        elapsed = time.monotonic() - start
        try:
            return Outcome(worker.result(0), None, elapsed)
        except Exception as exc:
            return Outcome(None, exc, elapsed)
    try:
        unblock()
    finally:
        released = worker.wait(TIMEOUT + 1)
    late = "; it returned only once it was given data" if released else ""
    fail(f"{what} was still blocked after {limit:g} s{late}")


def raised(outcome: Outcome[R], expected: type[E], what: str, wanted: str) -> E:
    """The error of a bounded call that had to raise *expected*; *wanted* says what the contract wants.

    A value instead, or another error, fails the check with what the call gave.
    """
    if outcome.error is None:
        fail(f"{what} returned {show(outcome.value)}; the contract wants {wanted}")
    if not isinstance(outcome.error, expected):
        raise ContractViolation(
            f"{what} raised {describe(outcome.error)}; the contract wants {wanted}"
        ) from outcome.error
    return outcome.error


# -- pairs and how to move data over them ------------------------------------------------


@contextlib.contextmanager
def opened(factory: PairFactory[Transport]) -> Iterator[tuple[Transport, Transport]]:
    """A fresh pair from *factory*, both ends with a timeout, both closed at the end."""
    try:
        a, b = factory()
    except Exception as exc:
        raise ContractViolation(f"the pair factory raised {describe(exc)}") from exc
    try:
        expect(a is not b, "the pair factory returned the same object twice")
        a.timeout = TIMEOUT
        b.timeout = TIMEOUT
        yield a, b
    finally:
        try:
            a.close()
        finally:
            b.close()


def streams(a: Transport, b: Transport) -> tuple[StreamTransport, StreamTransport]:
    for end in (a, b):
        expect(
            isinstance(end, StreamTransport),
            f"{end!r} is not a StreamTransport (send_all, recv_exactly and shutdown are missing)",
        )
        expect(end.kind is Kind.STREAM, f"{end!r} has kind {end.kind!r}; a stream check needs Kind.STREAM")
    return cast(StreamTransport, a), cast(StreamTransport, b)


def message_ends(a: Transport, b: Transport) -> None:
    """Both ends keep message boundaries, or the check fails saying which kind an end has."""
    for end in (a, b):
        expect(
            end.kind.keeps_boundaries,
            f"{end!r} has kind {end.kind!r}; a message check needs Kind.DATAGRAM or Kind.SEQPACKET",
        )


def is_stream(end: Transport) -> bool:
    return end.kind is Kind.STREAM and isinstance(end, StreamTransport)


def send_whole(end: Transport, data: bytes, what: str = "send") -> None:
    """Send *data* as one message, or all of it on a stream."""
    if is_stream(end):
        cast(StreamTransport, end).send_all(data)
        return
    sent = end.send(data)
    expect(
        sent == len(data),
        f"{what}: send of a {len(data)}-byte message returned {sent!r}; a message goes whole or not at all",
    )


def receive_whole(end: Transport, expected: bytes, what: str) -> None:
    """Receive *expected*: exactly that many bytes on a stream, one message otherwise."""
    if is_stream(end):
        got = cast(StreamTransport, end).recv_exactly(len(expected))
    else:
        got = end.recv(len(expected) + 64)
    expect(got == expected, f"{what}: received {show(got)}, expected {show(expected)}")


def through(a: Transport, b: Transport, data: bytes, what: str) -> None:
    """*data* sent by *a* (from a helper thread) is what *b* receives next."""
    with feeding(f"sending {show(data)}", a, b) as feed:
        feed(lambda: send_whole(a, data))
        receive_whole(b, data, what)


def is_int(value: object) -> bool:
    """Whether *value* is a real int (the checks do not trust annotations of the code they test)."""
    return isinstance(value, int) and not isinstance(value, bool)


def read_to_eof(end: Transport, limit: int) -> bytes:
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


def random_payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def message_limit(end: Transport) -> int | None:
    limit = getattr(end, "max_message_size", None)
    if limit is None:
        return None
    expect(
        is_int(limit) and limit > 0,
        f"max_message_size is {limit!r}; it must be a positive int",
    )
    return cast(int, limit)


def assert_basics(a: Transport, b: Transport) -> None:
    """What every end of every kind shows: the Transport protocol, state, timeout, addresses."""
    for end in (a, b):
        expect(isinstance(end, Transport), f"{end!r} does not satisfy the transports.Transport protocol")
        expect(isinstance(end.kind, Kind), f"kind is {end.kind!r}, not a transports.Kind")
        expect(end.closed is False, f"a fresh end says closed={end.closed!r}")
        expect(end.timeout == TIMEOUT, f"timeout reads {end.timeout!r} after being set to {TIMEOUT}")
        end.timeout = None
        expect(end.timeout is None, f"timeout reads {end.timeout!r} after being set to None")
        end.timeout = 0
        expect(end.timeout == 0, f"timeout reads {end.timeout!r} after being set to 0")
        end.timeout = TIMEOUT
        refuse_timeout(end, -1, ValueError)
        refuse_timeout(end, "5", TypeError)
        local = end.local_address
        expect(isinstance(local, ADDRESS_TYPES), f"local_address is {local!r}, not a transports.Address")
        remote = end.remote_address
        expect(
            remote is None or isinstance(remote, ADDRESS_TYPES),
            f"remote_address is {remote!r}, neither None nor a transports.Address",
        )
        try:
            fd = end.fileno()
        except OSError:
            pass  # not every transport is a descriptor (io.UnsupportedOperation is an OSError)
        else:
            expect(is_int(fd) and fd >= 0, f"fileno() of an open end returned {fd!r}")
    for end, peer in ((a, b), (b, a)):
        remote = end.remote_address
        expect(
            remote is None or remote == peer.local_address,
            f"remote_address of one end is {remote!r} but the other end's local_address is "
            f"{peer.local_address!r}: a connected pair's addresses mirror each other",
        )
    with a as entered:
        expect(entered is a, "__enter__ did not return the transport itself")
    expect(a.closed, "leaving a `with` block did not close the transport")


def refuse_timeout(end: Transport, value: object, error: type[Exception]) -> None:
    """Setting *end*'s timeout to *value* raises *error* and leaves the timeout as it was."""

    def assign() -> None:
        end.timeout = value  # type: ignore[assignment]  # a wrong value, on purpose

    before = end.timeout
    raises(error, assign, f"setting timeout to {value!r}")
    expect(end.timeout == before, f"a refused timeout of {value!r} changed the timeout to {end.timeout!r}")


def check_name(check: object) -> str:
    """The name a check reports under: its function's name."""
    return str(getattr(check, "__name__", check))


def run_checks(checks: Iterable[Callable[..., None]], *args: Any, **kwargs: Any) -> dict[str, str]:
    """Run each of *checks* with *args* and *kwargs*: the runner of every layer's ``run_*`` function.

    Stops at the first :class:`~transports.testing.ContractViolation`; otherwise returns each
    check's name with ``"passed"`` or ``"not applicable: <why>"``.
    """
    results: dict[str, str] = {}
    for check in checks:
        name = check_name(check)
        try:
            check(*args, **kwargs)
        except NotApplicable as exc:
            results[name] = f"not applicable: {exc}"
        else:
            results[name] = "passed"
    return results
