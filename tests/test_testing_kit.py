"""The conformance kit (transports.testing): its runners and plugin work, and broken transports fail it.

Our kinds run every check, one test each on both faces, in
tests/test_kit_kinds.py; here they run once through the ``run_*``
functions, and the plugin is loaded as a user's suite loads it. Then small
wrappers around real socketpair transports, each broken in one way, must
fail the check that covers that part of the contract with a
:class:`ContractViolation` naming it; an honest wrapper passes everything,
so the failures come from the breakage and not from the wrapping.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs
import pytest
from typing_extensions import Buffer

import transports
from conftest import TIMEOUT
from transports import (
    Address,
    Datagram,
    DatagramTransport,
    InetAddress,
    Listener,
    MemoryDatagramTransport,
    MemoryListener,
    MemoryStreamTransport,
    NamedAddress,
    RecvFlags,
    SendFlags,
    StreamTransport,
    TCPListener,
    TCPTransport,
    Transport,
    TransportClosed,
    UDPTransport,
    UnexpectedEOF,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedFlag,
    WouldBlock,
)
from transports.faults import Passthrough
from transports.protocols import ShutdownHow
from transports.testing import (
    LISTENER_CHECKS,
    MESSAGE_CHECKS,
    PROMPT,
    STREAM_CHECKS,
    ContractViolation,
    ListenerCheck,
    MessageCheck,
    NotApplicable,
    PairFactory,
    StreamCheck,
    checks,
    run_listener_checks,
    run_message_checks,
    run_stream_checks,
)
from transports.testing.aio import loop_factories

# -- factories for our own kinds ----------------------------------------------------------


def tcp_pair() -> tuple[Transport, Transport]:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        client = TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
        try:
            server = listener.accept()
        except BaseException:
            client.close()
            raise
    return client, server


def udp_pair() -> tuple[Transport, Transport]:
    b = UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT)
    try:
        a = UDPTransport.connect("127.0.0.1", b.local_address.port, timeout=TIMEOUT)
        # The transport has no method to fix the peer of a bound socket: use the raw socket.
        b.raw_socket.connect(a.raw_socket.getsockname())
    except BaseException:
        b.close()
        raise
    return a, b


def unix_stream_factory(directory: Path) -> PairFactory[Transport]:
    """Unix stream pairs through a listener at a fresh path each time (not a socketpair)."""
    numbers = itertools.count()

    def make() -> tuple[Transport, Transport]:
        path = directory / f"s{next(numbers)}.sock"
        with UnixListener.listen(path, timeout=TIMEOUT) as listener:
            client = UnixStreamTransport.connect(path, timeout=TIMEOUT)
            try:
                server = listener.accept()
            except BaseException:
                client.close()
                raise
        return client, server

    return make


def pair_of(
    cls: type[UnixStreamTransport | UnixDatagramTransport | UnixSeqpacketTransport],
) -> PairFactory[Transport]:
    def make() -> tuple[Transport, Transport]:
        return cls.pair()

    return make


def memory_stream_pair() -> tuple[Transport, Transport]:
    return MemoryStreamTransport.pair("kit")


def memory_datagram_pair() -> tuple[Transport, Transport]:
    return MemoryDatagramTransport.pair()


@pytest.fixture(params=["tcp", "unix", "memory"])
def stream_factory(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> PairFactory[Transport]:
    """Stream pairs of each of our stream kinds: TCP on 127.0.0.1, Unix stream at a path, memory://."""
    if request.param == "tcp":
        return tcp_pair
    if request.param == "memory":
        return memory_stream_pair
    return unix_stream_factory(tmp_sock_dir)


@pytest.fixture(params=["udp", "unixgram", "unixpacket", "memorygram"])
def message_factory(request: pytest.FixtureRequest) -> PairFactory[Transport]:
    """Message pairs of each of our message kinds: UDP on 127.0.0.1, Unix datagram, Unix seqpacket, memorygram://."""
    if request.param == "udp":
        return udp_pair
    if request.param == "memorygram":
        return memory_datagram_pair
    return pair_of(UnixDatagramTransport if request.param == "unixgram" else UnixSeqpacketTransport)


@attrs.frozen
class ListenerKind:
    make: Callable[[], Listener[Transport]]
    connect: Callable[[Listener[Transport]], Transport]


def _port(listener: Listener[Transport]) -> int:
    address = listener.address
    assert isinstance(address, InetAddress)
    return address.port


def tcp_listeners() -> ListenerKind:
    return ListenerKind(
        lambda: TCPListener.listen("127.0.0.1", 0),
        lambda listener: TCPTransport.connect("127.0.0.1", _port(listener), timeout=TIMEOUT),
    )


def unix_listeners(directory: Path, seqpacket: bool) -> ListenerKind:
    numbers = itertools.count()
    listen = UnixSeqpacketListener.listen if seqpacket else UnixListener.listen
    connect = UnixSeqpacketTransport.connect if seqpacket else UnixStreamTransport.connect

    def make() -> Listener[Transport]:
        return listen(directory / f"l{next(numbers)}.sock")

    def connect_to(listener: Listener[Transport]) -> Transport:
        address = listener.address
        assert not isinstance(address, InetAddress)
        return connect(str(address), timeout=TIMEOUT)

    return ListenerKind(make, connect_to)


@pytest.fixture(params=["tcp", "unix", "unixpacket"])
def listener_kind(request: pytest.FixtureRequest, tmp_sock_dir: Path) -> ListenerKind:
    if request.param == "tcp":
        return tcp_listeners()
    return unix_listeners(tmp_sock_dir, seqpacket=request.param == "unixpacket")


@pytest.fixture(autouse=True)
def no_check_thread_left() -> Iterator[None]:
    """Every helper thread the kit starts has ended when a check returns or fails."""
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("transports-check-")]
    assert left == []


# -- our kinds pass through the run_* functions (tests/test_kit_kinds.py runs each check on its own) -----------------------------------------------------


def test_run_functions(tmp_sock_dir: Path, fd_count: Callable[[], int]) -> None:
    before = fd_count()
    streams = run_stream_checks(unix_stream_factory(tmp_sock_dir))
    assert list(streams) == [check.__name__ for check in STREAM_CHECKS]
    assert set(streams.values()) == {"passed"}
    messages = run_message_checks(pair_of(UnixDatagramTransport))
    assert list(messages) == [getattr(check, "__name__", "") for check in MESSAGE_CHECKS]
    assert messages.pop("check_message_end_of_connection").startswith("not applicable: datagram")
    assert set(messages.values()) == {"passed"}
    unordered = run_message_checks(udp_pair, reliable=False)
    assert unordered["check_message_order"].startswith("not applicable: reliable=False")
    listeners = run_listener_checks(tcp_listeners().make, tcp_listeners().connect)
    assert list(listeners) == [getattr(check, "__name__", "") for check in LISTENER_CHECKS]
    assert set(listeners.values()) == {"passed"}
    assert fd_count() == before


def _memory_listener() -> Listener[Transport]:
    return MemoryListener(f"kit-{next(_listener_numbers)}")


def _memory_connect(listener: Listener[Transport]) -> Transport:
    address = listener.address
    assert isinstance(address, NamedAddress)
    return transports.connect(address.url(), timeout=TIMEOUT)


_listener_numbers = itertools.count()


def test_run_functions_on_memory_transports() -> None:
    streams = run_stream_checks(memory_stream_pair)
    assert list(streams) == [check.__name__ for check in STREAM_CHECKS]
    assert set(streams.values()) == {"passed"}
    messages = run_message_checks(memory_datagram_pair)
    assert list(messages) == [getattr(check, "__name__", "") for check in MESSAGE_CHECKS]
    assert messages.pop("check_message_end_of_connection").startswith("not applicable: datagram")
    assert set(messages.values()) == {"passed"}
    listeners = run_listener_checks(_memory_listener, _memory_connect)
    assert set(listeners.values()) == {"passed"}


def test_plugin_is_registered_through_its_entry_point(tmp_path: Path) -> None:
    # A project of its own (no conftest, no config): the fixtures come from the pytest11 entry point.
    # Memory transports: what is proven here is the plugin, not the socket kinds (tested above).
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import transports
            from transports import aio

            def test_streams(transports_stream_check):
                transports_stream_check(transports.MemoryStreamTransport.pair)

            def test_datagrams(transports_message_check):
                transports_message_check(transports.MemoryDatagramTransport.pair)

            def test_old_name(stream_check):
                stream_check(transports.MemoryStreamTransport.pair)

            async def unix_streams():
                return aio.socketpair("stream")

            def test_async_streams(transports_async_stream_check):
                transports_async_stream_check(unix_streams)
            """
        )
    )

    def pytest_run(*args: str) -> str:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args, "test_user.py"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        return done.stdout + done.stderr

    result = pytest_run("-rs", "-W", "error::ResourceWarning")
    loops = len(loop_factories())
    passed = len(STREAM_CHECKS) * (2 + loops) + len(MESSAGE_CHECKS) - 1
    assert f"{passed} passed, 1 skipped" in result, result
    assert "check_message_end_of_connection: datagram transports have no connection" in result
    collected = pytest_run("--collect-only")
    assert "test_user.py::test_streams[check_stream_round_trip]" in collected
    assert "test_user.py::test_datagrams[check_message_truncation]" in collected
    for check in ("check_close_wakes_blocked_receive", "check_receive_memory_bounded"):
        assert f"test_user.py::test_streams[{check}]" in collected
        assert f"test_user.py::test_datagrams[{check}]" in collected
        assert f"test_user.py::test_async_streams[{check}-asyncio]" in collected
    assert "fixture 'transports_stream_check' not found" in pytest_run("-p", "no:transports")


def test_loading_the_plugin_imports_no_check_and_no_event_loop() -> None:
    # What every suite that has typed-transports installed pays at start: the plugin module alone.
    code = (
        "import sys, transports.testing.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('transports.testing.', 'asyncio', 'uvloop'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "['transports.testing.plugin']"


def test_every_check_names_its_apue_section() -> None:
    every: list[object] = [*STREAM_CHECKS, *MESSAGE_CHECKS, *LISTENER_CHECKS]
    for check in every:
        assert re.search(r"(?:APUE |:apue:`)\d+\.\d+", check.__doc__ or ""), check


def test_violation_is_an_assertion_naming_the_check() -> None:
    violation = ContractViolation("it went wrong", check="check_something")
    assert isinstance(violation, AssertionError)
    assert str(violation) == "check_something: it went wrong"
    assert (violation.check, violation.problem) == ("check_something", "it went wrong")


def test_a_factory_that_fails_is_reported() -> None:
    def broken() -> tuple[Transport, Transport]:
        raise OSError("no sockets today")

    with pytest.raises(ContractViolation, match="check_close_twice: the pair factory raised OSError"):
        checks.check_close_twice(broken)


def test_stream_checks_refuse_a_message_pair() -> None:
    with pytest.raises(ContractViolation, match="not a StreamTransport"):
        checks.check_stream_round_trip(pair_of(UnixSeqpacketTransport))


def test_not_applicable_when_a_flag_is_refused() -> None:
    # A stream that cannot do WAITALL says so with UnsupportedFlag: the WAITALL check does not apply.
    with pytest.raises(NotApplicable, match="WAITALL"):
        checks.check_waitall(_wrapped(RefusesWaitall))


# -- broken fakes fail -------------------------------------------------------------------------


class Wrapper(Passthrough[Transport]):
    """A transport that hands every call to a real one; each fake below breaks one thing."""

    @property
    def max_message_size(self) -> int:
        limit = getattr(self.inner, "max_message_size", None)
        if limit is None:
            raise AttributeError("max_message_size")
        return int(limit)


class StreamWrapper(Wrapper):
    """A stream wrapper: also send_all, recv_exactly and shutdown."""

    def __init__(self, inner: StreamTransport) -> None:
        super().__init__(inner)
        self.stream = inner

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        self.stream.send_all(data, flags)

    def recv_exactly(self, n: int) -> bytes:
        return self.stream.recv_exactly(n)

    def shutdown(self, how: ShutdownHow = "write") -> None:
        self.stream.shutdown(how)


def _wrapped(
    cls: type[StreamWrapper],
    make_pair: Callable[[], tuple[StreamTransport, StreamTransport]] = UnixStreamTransport.pair,
) -> PairFactory[Transport]:
    def make() -> tuple[Transport, Transport]:
        a, b = make_pair()
        return cls(a), cls(b)

    return make


def _wrapped_messages(
    cls: type[Wrapper], kind: type[UnixDatagramTransport | UnixSeqpacketTransport]
) -> PairFactory[Transport]:
    def make() -> tuple[Transport, Transport]:
        a, b = kind.pair()
        return cls(a), cls(b)

    return make


class DropsAByte(StreamWrapper):
    """send_all loses one byte in the middle of any send over 64 KiB."""

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        raw = bytes(data)
        if len(raw) > 65536:
            raw = raw[: len(raw) // 2] + raw[len(raw) // 2 + 1 :]
        self.stream.send_all(raw, flags)


class SendOverstates(StreamWrapper):
    """send claims the whole buffer went when only half did."""

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        raw = bytes(data)
        self.stream.send_all(raw[: len(raw) // 2], flags)
        return len(raw)


class PeekConsumes(StreamWrapper):
    """PEEK is dropped: the data is consumed."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return self.stream.recv(max_bytes, flags & ~RecvFlags.PEEK)


class PeekConsumesMessages(Wrapper):
    """The message version: a peek takes the message away."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return self.inner.recv(max_bytes, flags & ~RecvFlags.PEEK)


class RefusesWaitall(StreamWrapper):
    """An honest transport that cannot do WAITALL and says so."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        if flags & RecvFlags.WAITALL:
            raise UnsupportedFlag("RecvFlags.WAITALL is refused", flag=RecvFlags.WAITALL, network="fake")
        return self.stream.recv(max_bytes, flags)


class IgnoresWaitall(StreamWrapper):
    """WAITALL is dropped: recv returns whatever is there."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return self.stream.recv(max_bytes, flags & ~RecvFlags.WAITALL)

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        return self.stream.recv_into(buffer, nbytes, flags & ~RecvFlags.WAITALL)


class DataAfterClose(StreamWrapper):
    """recv on a closed transport returns made-up data instead of failing."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        if self.closed:
            return b"ghost"[:max_bytes]
        return self.stream.recv(max_bytes, flags)


class ValueErrorAfterClose(StreamWrapper):
    """recv on a closed transport raises ValueError, which `except OSError` would miss."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed transport")
        return self.stream.recv(max_bytes, flags)


class DontwaitReturnsEmpty(StreamWrapper):
    """DONTWAIT with nothing there returns b"" (end of stream!) instead of raising WouldBlock."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        try:
            return self.stream.recv(max_bytes, flags)
        except WouldBlock:
            return b""


class DontwaitBlocks(StreamWrapper):
    """DONTWAIT is dropped: the call waits for data."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return self.stream.recv(max_bytes, flags & ~RecvFlags.DONTWAIT)


class NeverTimesOut(StreamWrapper):
    """The timeout is remembered but never applied: a receive waits forever."""

    def __init__(self, inner: StreamTransport) -> None:
        super().__init__(inner)
        inner.timeout = None
        self._timeout: float | None = None

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._timeout = value


class EOFWithoutError(StreamWrapper):
    """recv_exactly returns the short data at end of stream instead of raising UnexpectedEOF."""

    def recv_exactly(self, n: int) -> bytes:
        try:
            return self.stream.recv_exactly(n)
        except UnexpectedEOF as exc:
            return exc.partial


class RefusesTooLate(StreamWrapper):
    """Sends the data, then says the flag was refused."""

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        sent = self.stream.send(data)
        if flags:
            raise UnsupportedFlag(f"{flags!r} is refused", flag=flags, network="fake")
        return sent


class MergesMessages(Wrapper):
    """recv glues the next waiting message onto the one it returns."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        first = self.inner.recv(max_bytes, flags)
        try:
            return first + self.inner.recv(max_bytes, RecvFlags.DONTWAIT)
        except WouldBlock:
            return first


class TruncatesSilently(Wrapper):
    """recv returns the part of a long message that fits, and says nothing."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        return self.inner.recv(1 << 18, flags)[:max_bytes]


class OverstatesLimit(Wrapper):
    """max_message_size is smaller than what send really accepts."""

    @property
    def max_message_size(self) -> int:
        return super().max_message_size - 100


class CloseDoesNotWake(StreamWrapper):
    """close() only marks the end closed, as close(2) alone does: a receive already waiting keeps waiting.

    A receive started after close() fails honestly; the blocked one returns
    whatever the peer sends next.
    """

    def __init__(self, inner: StreamTransport) -> None:
        super().__init__(inner)
        self._marked = False

    @property
    def closed(self) -> bool:
        return self._marked

    def close(self) -> None:
        self._marked = True

    def _refuse_if_closed(self, op: str) -> None:
        if self._marked:
            raise TransportClosed(f"{op}: the fake is closed", op=op)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        self._refuse_if_closed("recv")
        return self.stream.recv(max_bytes, flags)

    def recv_into(self, buffer: Buffer, nbytes: int = 0, flags: RecvFlags = RecvFlags.NONE) -> int:
        self._refuse_if_closed("recv_into")
        return self.stream.recv_into(buffer, nbytes, flags)

    def recv_exactly(self, n: int) -> bytes:
        self._refuse_if_closed("recv_exactly")
        return self.stream.recv_exactly(n)


class CloseWakesWithEOF(StreamWrapper):
    """close() only shuts the reading side down: a waiting receive wakes, but with b"" (end of stream)."""

    def __init__(self, inner: StreamTransport) -> None:
        super().__init__(inner)
        self._marked = False

    @property
    def closed(self) -> bool:
        return self._marked

    def close(self) -> None:
        if not self._marked:
            self._marked = True
            self.stream.shutdown("read")


class ClosedLags(StreamWrapper):
    """close() works, but ``closed`` says False until another call has seen the close."""

    def __init__(self, inner: StreamTransport) -> None:
        super().__init__(inner)
        self._noticed = False

    @property
    def closed(self) -> bool:
        return self._noticed

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        self._noticed = self.stream.closed
        return self.stream.send(data, flags)


class RecvExactlyReserves(StreamWrapper):
    """recv_exactly(n) reserves n bytes before any arrive (a zero-filled buffer of the size asked)."""

    def recv_exactly(self, n: int) -> bytes:
        reserved = bytearray(n)
        try:
            return self.stream.recv_exactly(n)
        finally:
            del reserved


class DatagramWrapper(Wrapper):
    """A datagram wrapper: also send_to and recv_from, so that it satisfies DatagramTransport."""

    def __init__(self, inner: DatagramTransport) -> None:
        super().__init__(inner)
        self.datagram = inner

    def send_to(
        self, data: Buffer, address: Address | tuple[str, int] | str, flags: SendFlags = SendFlags.NONE
    ) -> int:
        return self.datagram.send_to(data, address, flags)

    def recv_from(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> Datagram:
        return self.datagram.recv_from(max_bytes, flags)


def _wrapped_datagrams(cls: type[DatagramWrapper]) -> PairFactory[Transport]:
    """Pairs of *cls* around memorygram endpoints."""

    def make() -> tuple[Transport, Transport]:
        a, b = MemoryDatagramTransport.pair()
        return cls(a), cls(b)

    return make


class RecvReserves(DatagramWrapper):
    """recv(max_bytes) of a message reserves max_bytes first, as socket.recv does."""

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        buffer = bytearray(max_bytes)
        count = self.inner.recv_into(buffer, 0, flags)
        return bytes(buffer[:count])


class ListenerWrapper:
    """A listener that hands every call to a real TCP listener."""

    def __init__(self, inner: TCPListener) -> None:
        self.inner = inner

    @property
    def address(self) -> Address:
        return self.inner.address

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def timeout(self) -> float | None:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.inner.timeout = value

    def accept(self) -> Transport:
        return self.inner.accept()

    def __iter__(self) -> Iterator[Transport]:
        return iter(self.inner)

    def fileno(self) -> int:
        return self.inner.fileno()

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class IterationRaises(ListenerWrapper):
    """Iteration lets the TransportClosed of a closed listener escape."""

    def __iter__(self) -> Iterator[Transport]:
        while True:
            yield self.inner.accept()


class AcceptIgnoresTimeout(ListenerWrapper):
    """The timeout is remembered but accept waits forever."""

    _remembered: float | None = None

    @property
    def timeout(self) -> float | None:
        return self._remembered

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._remembered = value


def _listener_run(cls: type[ListenerWrapper], check: ListenerCheck) -> Callable[[], None]:
    def make() -> Listener[Transport]:
        return cls(TCPListener.listen("127.0.0.1", 0))

    return lambda: check(make, tcp_listeners().connect)


def _stream_run(cls: type[StreamWrapper], check: StreamCheck) -> Callable[[], None]:
    return lambda: check(_wrapped(cls))


def _memory_run(cls: type[StreamWrapper], check: StreamCheck) -> Callable[[], None]:
    """*check* on *cls* around memory streams, which pass the issue-13 checks when honestly wrapped."""
    return lambda: check(_wrapped(cls, MemoryStreamTransport.pair))


def _message_run(
    cls: type[Wrapper], check: MessageCheck, kind: type[UnixDatagramTransport | UnixSeqpacketTransport]
) -> Callable[[], None]:
    return lambda: check(_wrapped_messages(cls, kind))


BROKEN = [
    pytest.param(
        _stream_run(DropsAByte, checks.check_stream_round_trip), "bytes were lost", id="drops-a-byte"
    ),
    pytest.param(
        _stream_run(SendOverstates, checks.check_stream_send_returns_count),
        "send did not send what it said",
        id="send-overstates",
    ),
    pytest.param(_stream_run(PeekConsumes, checks.check_peek_leaves_data), "consumed", id="peek-consumes"),
    pytest.param(
        _message_run(PeekConsumesMessages, checks.check_peek_leaves_data, UnixDatagramTransport),
        "consumed",
        id="peek-consumes-messages",
    ),
    pytest.param(
        _stream_run(IgnoresWaitall, checks.check_waitall), "before the stream ended", id="ignores-waitall"
    ),
    pytest.param(_stream_run(DataAfterClose, checks.check_use_after_close), "b'g'", id="data-after-close"),
    pytest.param(
        _stream_run(ValueErrorAfterClose, checks.check_use_after_close),
        "raised ValueError",
        id="value-error-after-close",
    ),
    pytest.param(
        _stream_run(DontwaitReturnsEmpty, checks.check_dontwait), "returned b''", id="dontwait-returns-empty"
    ),
    pytest.param(_stream_run(DontwaitBlocks, checks.check_dontwait), "still blocked", id="dontwait-blocks"),
    pytest.param(
        _stream_run(NeverTimesOut, checks.check_recv_timeout), "still blocked", id="never-times-out"
    ),
    pytest.param(
        _stream_run(EOFWithoutError, checks.check_recv_exactly_eof), "UnexpectedEOF", id="eof-without-error"
    ),
    pytest.param(
        _stream_run(RefusesTooLate, checks.check_refused_flags), "refused send", id="refuses-too-late"
    ),
    pytest.param(
        _message_run(MergesMessages, checks.check_message_boundaries, UnixSeqpacketTransport),
        "receive 1 of 4 returned b'firstsecond message'; expected b'first'",
        id="merges-messages",
    ),
    pytest.param(
        _message_run(TruncatesSilently, checks.check_message_truncation, UnixDatagramTransport),
        "returned b'\\x00\\x01",
        id="truncates-silently",
    ),
    pytest.param(
        _message_run(OverstatesLimit, checks.check_max_message_size, UnixDatagramTransport),
        "max_message_size + 1",
        id="overstates-limit",
    ),
    pytest.param(
        _listener_run(IterationRaises, checks.check_listener_iteration_stops_on_close),
        "must stop quietly",
        id="iteration-raises",
    ),
    pytest.param(
        _listener_run(AcceptIgnoresTimeout, checks.check_listener_accept_timeout),
        "still blocked",
        id="accept-ignores-timeout",
    ),
    pytest.param(
        _memory_run(CloseDoesNotWake, checks.check_close_wakes_blocked_receive),
        "recv(64) with timeout=None, blocked in another thread, was still blocked 2 s after close() "
        "returned; when the peer then sent data the closed end handed it out (it returned b'wake up')",
        id="close-does-not-wake",
    ),
    pytest.param(
        _memory_run(CloseWakesWithEOF, checks.check_close_wakes_blocked_receive),
        "recv(64) with timeout=None, blocked in another thread, returned b'' when close() was called",
        id="close-wakes-with-eof",
    ),
    pytest.param(
        _memory_run(ClosedLags, checks.check_close_wakes_blocked_receive),
        "closed was False right after close() returned",
        id="closed-lags",
    ),
    pytest.param(
        _memory_run(DataAfterClose, checks.check_close_wakes_blocked_receive),
        "recv(64) after close(), with the peer sending data, returned b'ghost'",
        id="data-after-close-wakes",
    ),
    pytest.param(
        _memory_run(RecvExactlyReserves, checks.check_receive_memory_bounded),
        "recv_exactly(268435456) with 7 bytes before the end of stream allocated 256.",
        id="recv-exactly-reserves",
    ),
    pytest.param(
        lambda: checks.check_receive_memory_bounded(_wrapped_datagrams(RecvReserves)),
        "recv(1099511627776) with an 11-byte message waiting raised MemoryError",
        id="recv-reserves",
    ),
]


@pytest.mark.parametrize(("run", "problem"), BROKEN)
def test_broken_transport_fails(run: Callable[[], None], problem: str) -> None:
    with pytest.raises(ContractViolation) as info:
        run()
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{info.value.check}: ")
    assert info.value.check.startswith("check_")


def test_honest_wrappers_pass() -> None:
    # The fakes fail because of what they break, not because they are wrappers.
    for stream_check in STREAM_CHECKS:
        stream_check(_wrapped(StreamWrapper))
    for message_check in MESSAGE_CHECKS:
        message_check(_wrapped_messages(Wrapper, UnixSeqpacketTransport))
    assert set(run_stream_checks(_wrapped(StreamWrapper, MemoryStreamTransport.pair)).values()) == {"passed"}
    memorygram = run_message_checks(_wrapped_datagrams(DatagramWrapper))
    assert memorygram.pop("check_message_end_of_connection").startswith("not applicable")
    assert set(memorygram.values()) == {"passed"}
    assert set(
        run_listener_checks(
            lambda: ListenerWrapper(TCPListener.listen("127.0.0.1", 0)), tcp_listeners().connect
        ).values()
    ) == {"passed"}


# -- the issue-13 checks themselves --------------------------------------------------------------


def test_a_receive_close_does_not_wake_fails_quickly() -> None:
    # The check gives a blocked call PROMPT seconds, then releases it and fails: it never hangs.
    start = time.monotonic()
    with pytest.raises(ContractViolation, match="was still blocked"):
        checks.check_close_wakes_blocked_receive(_wrapped(CloseDoesNotWake, MemoryStreamTransport.pair))
    assert time.monotonic() - start < PROMPT + 2


@pytest.mark.parametrize("tracing", [False, True], ids=["not-tracing", "already-tracing"])
def test_memory_check_leaves_tracemalloc_as_it_found_it(tracing: bool) -> None:
    if tracing:
        tracemalloc.start()
    try:
        checks.check_receive_memory_bounded(memory_stream_pair)
        checks.check_receive_memory_bounded(memory_datagram_pair)
        assert tracemalloc.is_tracing() is tracing
        with pytest.raises(ContractViolation, match="allocated 256"):
            checks.check_receive_memory_bounded(_wrapped(RecvExactlyReserves, MemoryStreamTransport.pair))
        assert tracemalloc.is_tracing() is tracing
    finally:
        tracemalloc.stop()
