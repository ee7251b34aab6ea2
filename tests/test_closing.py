"""close() from another thread wakes every blocked call (APUE 16.2: close versus shutdown).

A thread blocks in a call on one end of a pair; the test waits until the
thread sleeps inside the system call (tests/blocking.py reads /proc), then
closes the end from the test thread. The blocked call must end with
TransportClosed, not with data, an empty result or a hang, with the
timeout ``None`` and with a long timeout. The peer sends after the close;
the closed end must never hand that out.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from blocking import wait_until_blocked
from conftest import TIMEOUT, Background, Pair
from transports import (
    DatagramTransport,
    LineStream,
    MessageStream,
    RecvFlags,
    SendfileCapable,
    SendFlags,
    StreamTransport,
    TCPListener,
    TCPTransport,
    Transport,
    TransportClosed,
    UnixDatagramTransport,
    UnixListener,
    UnixStreamTransport,
    WouldBlock,
)
from transports.fdpass import FdPassingMixin

Call = Callable[[Transport], object]


def _block_then_close(
    background: Background, end: Transport, call: Call, timeout: float | None, name: str
) -> BaseException | object:
    """Run *call* on *end* in a thread, close *end* once the thread is blocked; return what the call gave."""
    end.timeout = timeout
    about_to_call = threading.Event()

    def blocked() -> object:
        about_to_call.set()
        return call(end)

    task = background.start(blocked, name=f"blocked-{name}")
    assert about_to_call.wait(TIMEOUT)
    assert wait_until_blocked(task.thread), f"{name} returned before it blocked"
    end.close()
    assert end.closed, "closed must say True as soon as close() returns"
    try:
        return task.result(TIMEOUT)
    except BaseException as exc:  # the outcome under test
        return exc


def _send_late(peer: Transport) -> None:
    """The peer sends after the close: the closed end must not hand it out."""
    with contextlib.suppress(OSError):
        peer.timeout = TIMEOUT
        peer.send(b"late")


def _assert_woken(outcome: object, op: str) -> None:
    assert isinstance(outcome, TransportClosed), f"{op} gave {outcome!r} after close(), not TransportClosed"
    assert outcome.op == op
    assert "closed" in str(outcome)


def _assert_stays_closed(end: Transport) -> None:
    assert end.closed
    assert end.fileno() == -1, "the last call out must close the descriptor"
    with pytest.raises(TransportClosed):
        end.recv(10)


# -- receives on every kind ---------------------------------------------------------


def _recv_fds(end: Transport) -> object:
    if not isinstance(end, FdPassingMixin):
        pytest.skip("only Unix-domain transports pass descriptors")
    return end.recv_fds(100, 2)


STREAM_RECEIVES: dict[str, tuple[str, Call]] = {
    "recv": ("recv", lambda end: end.recv(100)),
    "recv_into": ("recv_into", lambda end: end.recv_into(bytearray(100))),
    "recv_exactly": ("recv_exactly", lambda end: _stream(end).recv_exactly(100)),
    "recv_waitall": ("recv", lambda end: end.recv(100, RecvFlags.WAITALL)),
    "recv_exactly_huge": ("recv_exactly", lambda end: _stream(end).recv_exactly(2**62)),
    "recv_fds": ("recv_fds", _recv_fds),
}

MESSAGE_RECEIVES: dict[str, tuple[str, Call]] = {
    "recv": ("recv", lambda end: end.recv(100)),
    "recv_into": ("recv_into", lambda end: end.recv_into(bytearray(100))),
    "recv_huge": ("recv", lambda end: end.recv(2**62)),
    "recv_fds": ("recv_fds", _recv_fds),
}


def _stream(end: Transport) -> StreamTransport:
    assert isinstance(end, StreamTransport)
    return end


def _file_capable(end: Transport) -> SendfileCapable:
    assert isinstance(end, SendfileCapable)
    return end


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("call", list(STREAM_RECEIVES))
def test_close_wakes_a_blocked_stream_receive(
    stream_pair: Pair, background: Background, call: str, timeout: float | None
) -> None:
    op, func = STREAM_RECEIVES[call]
    if call == "recv_fds" and not isinstance(stream_pair.b, FdPassingMixin):
        pytest.skip("only Unix-domain transports pass descriptors")
    outcome = _block_then_close(background, stream_pair.b, func, timeout, call)
    _send_late(stream_pair.a)
    _assert_woken(outcome, op)
    _assert_stays_closed(stream_pair.b)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("call", list(MESSAGE_RECEIVES))
def test_close_wakes_a_blocked_message_receive(
    message_pair: Pair, background: Background, call: str, timeout: float | None
) -> None:
    op, func = MESSAGE_RECEIVES[call]
    if call == "recv_fds" and not isinstance(message_pair.b, FdPassingMixin):
        pytest.skip("only Unix-domain transports pass descriptors")
    outcome = _block_then_close(background, message_pair.b, func, timeout, call)
    _send_late(message_pair.a)
    _assert_woken(outcome, op)
    _assert_stays_closed(message_pair.b)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("size", [100, 2**62], ids=["small", "huge"])
def test_close_wakes_a_blocked_recv_from(
    datagram_pair: Pair, background: Background, size: int, timeout: float | None
) -> None:
    def recv_from(end: Transport) -> object:
        assert isinstance(end, DatagramTransport)
        return end.recv_from(size)

    outcome = _block_then_close(background, datagram_pair.b, recv_from, timeout, "recv_from")
    _send_late(datagram_pair.a)
    _assert_woken(outcome, "recv_from")
    _assert_stays_closed(datagram_pair.b)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
def test_close_wakes_a_blocked_recv_into_file(
    stream_pair: Pair, background: Background, tmp_path: Path, timeout: float | None
) -> None:
    target = tmp_path / "target.bin"
    with target.open("wb") as file:
        outcome = _block_then_close(
            background,
            stream_pair.b,
            lambda end: _file_capable(end).recv_into_file(file, 100),
            timeout,
            "recv_into_file",
        )
    _send_late(stream_pair.a)
    _assert_woken(outcome, "recv_into_file")
    _assert_stays_closed(stream_pair.b)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("framing", ["MessageStream", "LineStream"])
def test_close_wakes_a_blocked_framed_receive(
    stream_pair: Pair, background: Background, framing: str, timeout: float | None
) -> None:
    framed: MessageStream | LineStream = (
        MessageStream(_stream(stream_pair.b))
        if framing == "MessageStream"
        else LineStream(_stream(stream_pair.b))
    )
    outcome = _block_then_close(
        background, stream_pair.b, lambda _end: framed.recv_message(), timeout, framing
    )
    _send_late(stream_pair.a)
    assert isinstance(outcome, TransportClosed), f"{framing}.recv_message gave {outcome!r} after close()"
    _assert_stays_closed(stream_pair.b)


# -- blocked sends --------------------------------------------------------------------


def _fill(end: Transport) -> None:
    """Send without waiting until the kernel takes no more: the next blocking send waits."""
    chunk = b"f" * 4096
    with contextlib.suppress(WouldBlock):
        for _ in range(1_000_000):
            end.send(chunk, SendFlags.DONTWAIT)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
def test_close_wakes_a_blocked_send_all(
    stream_pair: Pair, background: Background, timeout: float | None
) -> None:
    _fill(stream_pair.a)
    outcome = _block_then_close(
        background, stream_pair.a, lambda end: _stream(end).send_all(b"s" * (1 << 20)), timeout, "send_all"
    )
    _assert_woken(outcome, "send_all")
    assert isinstance(outcome, TransportClosed)
    assert outcome.bytes_sent is not None
    assert 0 <= outcome.bytes_sent < 1 << 20
    _assert_stays_closed(stream_pair.a)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
def test_close_wakes_a_blocked_send(
    connected_pair: Pair, background: Background, timeout: float | None
) -> None:
    _fill(connected_pair.a)
    outcome = _block_then_close(
        background, connected_pair.a, lambda end: end.send(b"s" * 4096), timeout, "send"
    )
    _assert_woken(outcome, "send")
    _assert_stays_closed(connected_pair.a)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
def test_close_wakes_a_blocked_sendfile(
    stream_pair: Pair, background: Background, tmp_path: Path, timeout: float | None
) -> None:
    source = tmp_path / "source.bin"
    with source.open("wb") as out:
        out.truncate(64 << 20)  # sparse: 64 MiB without writing them
    _fill(stream_pair.a)
    with source.open("rb") as file:
        outcome = _block_then_close(
            background, stream_pair.a, lambda end: _file_capable(end).sendfile(file), timeout, "sendfile"
        )
    _assert_woken(outcome, "sendfile")
    _assert_stays_closed(stream_pair.a)


# -- listeners, close from the same thread, and races ------------------------------------


def test_close_wakes_a_blocked_accept(background: Background) -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        about = threading.Event()

        def accept() -> object:
            about.set()
            return listener.accept()

        task = background.start(accept, name="blocked-accept")
        assert about.wait(TIMEOUT)
        assert wait_until_blocked(task.thread)
        listener.close()
        with pytest.raises(TransportClosed):
            task.result(TIMEOUT)


def test_close_without_blocked_calls_is_a_plain_close() -> None:
    """No call in flight: close(2) only, so no FIN reaches a peer another process may still serve."""
    a, b = UnixStreamTransport.pair()
    with b:
        spare = os.dup(a.fileno())  # another reference to the socket, as a forked child holds
        try:
            a.close()
            assert a.closed
            assert a.fileno() == -1
            os.write(spare, b"still here")
            b.timeout = TIMEOUT
            assert b.recv(100) == b"still here"
        finally:
            os.close(spare)


def test_concurrent_close_and_receive_race_never_hands_out_data() -> None:
    """Many rounds of close() racing a peer's send: a receive either has data from before or raises."""
    for _ in range(200):
        a, b = UnixStreamTransport.pair()
        with a, b:
            b.timeout = TIMEOUT
            got: list[object] = []
            ready = threading.Event()

            def receive(
                end: UnixStreamTransport = b, ready: threading.Event = ready, got: list[object] = got
            ) -> None:
                ready.set()
                try:
                    got.append(end.recv(10))
                except TransportClosed as exc:
                    got.append(exc)

            thread = threading.Thread(target=receive)
            thread.start()
            assert ready.wait(TIMEOUT)
            b.close()
            with contextlib.suppress(OSError):  # the peer may already see the close
                a.send(b"after")
            thread.join(TIMEOUT)
            assert not thread.is_alive()
            assert isinstance(got[0], TransportClosed), f"a closed transport handed out {got[0]!r}"


def test_many_threads_blocked_on_one_transport_all_wake(background: Background) -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        tasks = []
        for index in range(4):
            about = threading.Event()

            def receive(event: threading.Event = about) -> object:
                event.set()
                return b.recv(10)

            tasks.append(background.start(receive, name=f"receiver-{index}"))
            assert about.wait(TIMEOUT)
        for task in tasks:
            assert wait_until_blocked(task.thread)
        b.close()
        for task in tasks:
            with pytest.raises(TransportClosed):
                task.result(TIMEOUT)
        assert b.fileno() == -1


# -- the ResourceWarning names the transport ----------------------------------------------


def test_unclosed_transport_warning_names_the_transport_and_its_url() -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        conn = TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
        with listener.accept():
            url = f"tcp://127.0.0.1:{listener.address.port}"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                del conn
                gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1, messages
    assert "TCPTransport" in messages[0]
    assert url in messages[0]
    assert "socket.socket" not in messages[0]


def test_unclosed_listener_and_bound_datagram_warn_by_name(tmp_sock_dir: Path) -> None:
    listener = UnixListener.listen(tmp_sock_dir / "warn.sock")
    bound = UnixDatagramTransport.bind(tmp_sock_dir / "warn-dgram.sock")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del listener, bound
        gc.collect()
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))
    assert len(messages) == 2, messages
    assert "UnixDatagramTransport" in messages[0]
    assert "warn-dgram.sock" in messages[0]
    assert "UnixListener" in messages[1]
    assert "warn.sock" in messages[1]


def test_adopting_a_socket_that_fails_checks_does_not_warn() -> None:
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match="needs a stream socket"):
                TCPTransport(raw)
            gc.collect()
    finally:
        raw.close()


@pytest.fixture
def _no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) <= before


@pytest.mark.usefixtures("_no_leftover_threads")
def test_close_from_a_signal_handler_in_the_blocked_thread() -> None:
    """SIGALRM's handler closes the transport its own thread is blocked on: the call ends, no hang."""
    import signal

    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        previous = signal.signal(signal.SIGALRM, lambda *_: b.close())
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(TransportClosed) as info:
                b.recv(10)
            assert info.value.errno == errno.EBADF
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["no-timeout", "timeout"])
@pytest.mark.parametrize("how", ["send", "send_to"])
def test_close_wakes_a_unix_datagram_send_blocked_on_a_full_receiver(
    tmp_sock_dir: Path, background: Background, how: str, timeout: float | None
) -> None:
    path = tmp_sock_dir / "full.sock"
    with UnixDatagramTransport.bind(path) as receiver, UnixDatagramTransport.connect(path) as sender:
        _fill(sender)  # the receiver's queue is full: the next blocking send waits
        call: Call = (
            (lambda end: end.send(b"d"))
            if how == "send"
            else (lambda end: cast(UnixDatagramTransport, end).send_to(b"d", receiver.local_address))
        )
        outcome = _block_then_close(background, sender, call, timeout, how)
        _assert_woken(outcome, how)
        _assert_stays_closed(sender)
