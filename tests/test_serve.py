"""The threaded ``serve()`` of sync listeners, and its graceful stop (issue 15 item 5).

A stop stops accepting (a connect is refused), wakes the handlers idle in
a receive (they see end of stream), lets the busy ones finish within the
grace, and resets the connections still open at its end; ``serve`` returns
:class:`~transports._core.serving.Served` once every handler thread ended.
Every wait here is on an event, a queue or a blocked system call, with a
timeout; no handler thread outlives its test.
"""

from __future__ import annotations

import contextlib
import errno
import queue
import select
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from blocking import wait_until_blocked
from conftest import TIMEOUT, Background
from forking import CAN_FORK, fork_child, wait_child
from transports import (
    ConnectionRefused,
    ConnectionReset,
    TCPListener,
    TCPTransport,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
)
from transports._core.serving import Served

KINDS = ["tcp", "unix", "unixpacket"]
Listener = TCPListener | UnixListener | UnixSeqpacketListener
Conn = TCPTransport | UnixStreamTransport | UnixSeqpacketTransport


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    """Every handler thread (and helper) has ended when the test does."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left running: {left}"


def listen(kind: str, directory: Path) -> Listener:
    if kind == "tcp":
        return TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT)
    if kind == "unix":
        return UnixListener.listen(directory / "serve.sock", timeout=TIMEOUT)
    return UnixSeqpacketListener.listen(directory / "serve.sock", timeout=TIMEOUT)


def dial(listener: Listener) -> Conn:
    if isinstance(listener, TCPListener):
        return TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT)
    if isinstance(listener, UnixListener):
        return UnixStreamTransport.connect(listener.address, timeout=TIMEOUT)
    return UnixSeqpacketTransport.connect(listener.address, timeout=TIMEOUT)


def serving(
    background: Background, listener: Listener, handler: Callable[[Any], object], **kwargs: Any
) -> Callable[[], Served]:
    """Run ``listener.serve(handler, **kwargs)`` in a thread; the returned function joins it."""
    task = background.start(lambda: listener.serve(handler, **kwargs), name="serve")
    return task.result


def echo(conn: Conn) -> None:
    conn.timeout = TIMEOUT
    while data := conn.recv(1024):
        conn.send(data)


@pytest.mark.parametrize("kind", KINDS)
def test_a_threaded_server_is_three_lines(kind: str, tmp_sock_dir: Path, background: Background) -> None:
    with listen(kind, tmp_sock_dir) as listener:
        result = serving(background, listener, echo)
        clients = [dial(listener) for _ in range(3)]
        for index, client in enumerate(clients):
            client.send(b"hello %d" % index)
        for index, client in enumerate(clients):
            assert client.recv(100) == b"hello %d" % index
        for client in clients:
            client.close()
        listener.close()
        served = result()
    assert served == Served(accepted=3, failed=0, cut=())
    assert served.finished == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_handler_idle_in_recv_is_woken_at_stop(
    kind: str, tmp_sock_dir: Path, background: Background
) -> None:
    """The handler's receive sees end of stream: it ends on its own, long before the grace."""
    waiting: queue.Queue[threading.Thread] = queue.Queue()
    seen: list[bytes] = []

    def handler(conn: Conn) -> None:
        conn.send(conn.recv(100))
        waiting.put(threading.current_thread())
        seen.append(conn.recv(100))  # idle: the client sends nothing more

    with listen(kind, tmp_sock_dir) as listener:
        result = serving(background, listener, handler, grace=60.0)
        with dial(listener) as client:
            client.send(b"ping")
            assert client.recv(100) == b"ping"
            assert wait_until_blocked(waiting.get(timeout=TIMEOUT))
            listener.close()
            served = result()
            assert client.recv(100) == b""  # the handler ended and closed its end: no reset
    assert seen == [b""]
    assert served == Served(accepted=1, failed=0, cut=())


def test_bytes_that_arrived_before_the_stop_are_still_read(
    tmp_sock_dir: Path, background: Background
) -> None:
    """Only the receive that would wait sees end of stream: a request already sent is served."""
    entered, release = threading.Event(), threading.Event()

    def handler(conn: UnixStreamTransport) -> None:
        entered.set()
        assert release.wait(TIMEOUT)
        conn.send_all(conn.recv(100).upper())

    with UnixListener.listen(tmp_sock_dir / "serve.sock", timeout=TIMEOUT) as listener:
        result = serving(background, listener, handler)
        with UnixStreamTransport.connect(listener.address, timeout=TIMEOUT) as client:
            client.send_all(b"in flight")
            assert entered.wait(TIMEOUT)
            listener.close()
            release.set()
            assert client.recv_exactly(9) == b"IN FLIGHT"
            assert result().cut == ()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_busy_handler_past_the_grace_is_cut_and_reported(
    kind: str, tmp_sock_dir: Path, background: Background
) -> None:
    """A handler blocked sending to a peer that never reads is reset at the deadline; serve names it."""
    sending: queue.Queue[threading.Thread] = queue.Queue()
    errors: list[BaseException] = []

    def handler(conn: Conn) -> None:
        assert isinstance(conn, TCPTransport | UnixStreamTransport)
        sending.put(threading.current_thread())
        chunk = bytes(1 << 20)
        try:
            while True:
                conn.send_all(chunk)  # the client never reads: this blocks
        except TransportError as exc:
            errors.append(exc)
            raise  # an error of the transport after the stop: not reported as a failure

    with listen(kind, tmp_sock_dir) as listener:
        result = serving(background, listener, handler, grace=0.05)
        with dial(listener) as client:
            assert wait_until_blocked(sending.get(timeout=TIMEOUT))
            listener.close()
            served = result()
            assert served.accepted == 1
            assert served.failed == 0
            assert served.finished == 0
            assert len(served.cut) == 1
            if kind == "tcp":
                assert served.cut == (client.local_address,)
            assert [type(exc) for exc in errors] == [TransportClosed]
            # The peer's end is gone (a reset, or end of stream then a reset): a send fails.
            assert isinstance(client, TCPTransport | UnixStreamTransport)
            with contextlib.suppress(ConnectionReset):
                while client.recv(1 << 20):
                    pass
            with pytest.raises(TransportError):
                client.send_all(b"after the cut" * 100000)


@pytest.mark.parametrize("kind", KINDS)
def test_no_connection_is_accepted_once_the_stop_began(
    kind: str, tmp_sock_dir: Path, background: Background
) -> None:
    """While a handler still runs in its grace, a new connect is refused: the listening socket is gone."""
    entered, release = threading.Event(), threading.Event()

    def handler(conn: Conn) -> None:
        entered.set()
        assert release.wait(TIMEOUT)

    with listen(kind, tmp_sock_dir) as listener:
        address = listener.address
        result = serving(background, listener, handler)
        with dial(listener):
            assert entered.wait(TIMEOUT)
            listener.close()
            try:
                if kind == "tcp":
                    with pytest.raises(ConnectionRefused):
                        TCPTransport.connect("127.0.0.1", address.port, timeout=TIMEOUT).close()  # type: ignore[union-attr]  # an InetAddress for tcp
                else:  # close() removed the socket file
                    with pytest.raises(TransportError) as refused:
                        UnixStreamTransport.connect(address, timeout=TIMEOUT).close()  # type: ignore[arg-type]  # a UnixAddress for unix
                    assert refused.value.errno == errno.ENOENT
            finally:
                release.set()
            assert result() == Served(accepted=1, failed=0, cut=())


def test_max_connections_holds_the_limit(background: Background) -> None:
    """The third connection waits in the backlog, not accepted, until a handler ends."""
    entered: queue.Queue[int] = queue.Queue()
    releases = [threading.Event() for _ in range(3)]
    lock = threading.Lock()
    active = [0, 0]  # now, most ever

    def handler(conn: TCPTransport) -> None:
        index = conn.recv_exactly(1)[0]
        with lock:
            active[0] += 1
            active[1] = max(active)
        entered.put(index)
        assert releases[index].wait(TIMEOUT)
        with lock:
            active[0] -= 1

    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        result = serving(background, listener, handler, max_connections=2)
        with contextlib.ExitStack() as stack:
            port = listener.address.port
            clients = [
                stack.enter_context(TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT))
                for _ in range(3)
            ]
            for index, client in enumerate(clients):
                client.send(bytes([index]))
            first = {entered.get(timeout=TIMEOUT), entered.get(timeout=TIMEOUT)}
            # The third connection is queued in the kernel: the listener stays readable, nobody accepts it.
            poller = select.poll()
            poller.register(listener.fileno(), select.POLLIN)
            assert poller.poll(TIMEOUT * 1000)
            assert entered.empty()
            releases[min(first)].set()
            third = entered.get(timeout=TIMEOUT)
            assert {*first, third} == {0, 1, 2}
            for release in releases:
                release.set()
        listener.close()
        assert result().accepted == 3
    assert active == [0, 2]


def test_a_failing_handler_is_reported_and_serving_goes_on(
    background: Background, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", reports.append)

    def handler(conn: TCPTransport) -> None:
        if conn.recv(100) == b"fail":
            raise RuntimeError("the handler broke")
        conn.send(b"ok")

    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        result = serving(background, listener, handler)
        with dial(listener) as bad:
            bad.send(b"fail")
            assert bad.recv(10) == b""  # closed by serve when its handler failed
        with dial(listener) as good:
            good.send(b"work")
            assert good.recv(10) == b"ok"
        listener.close()
        assert result() == Served(accepted=2, failed=1, cut=())
    assert [type(report.exc_value) for report in reports] == [RuntimeError]


def test_an_error_in_serve_closes_the_connections_and_propagates(background: Background) -> None:
    """What a KeyboardInterrupt does: every connection closed, every handler thread joined, the listener kept."""

    class Broken(Exception):
        pass

    go = threading.Event()

    class FlakyListener(TCPListener):
        __slots__ = ()
        accepts = 0

        def accept(self) -> TCPTransport:
            FlakyListener.accepts += 1
            if FlakyListener.accepts == 2:
                assert go.wait(TIMEOUT)  # once the first handler waits in recv
                raise Broken
            return super().accept()

    waiting: queue.Queue[threading.Thread] = queue.Queue()
    seen: list[type[BaseException]] = []

    def handler(conn: TCPTransport) -> None:
        waiting.put(threading.current_thread())
        try:
            conn.recv(100)
        except TransportClosed as exc:
            seen.append(type(exc))

    with FlakyListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        task = background.start(lambda: listener.serve(handler), name="serve")
        with dial(listener):
            thread = waiting.get(timeout=TIMEOUT)
            assert wait_until_blocked(thread)
            go.set()
            with pytest.raises(Broken):
                task.result()
            assert not thread.is_alive()
            assert not listener.closed
    assert seen == [TransportClosed]


def test_an_accept_timeout_does_not_end_serving(background: Background) -> None:
    """The listener's timeout bounds one accept; serve just accepts again."""
    timeouts = threading.Semaphore(0)

    class CountingListener(TCPListener):
        __slots__ = ()

        def accept(self) -> TCPTransport:
            try:
                return super().accept()
            except TransportTimeout:
                timeouts.release()
                raise

    with CountingListener.listen("127.0.0.1", 0, timeout=0.01) as listener:
        result = serving(background, listener, echo)
        for _ in range(3):
            assert timeouts.acquire(timeout=TIMEOUT)
        with dial(listener) as client:
            client.send(b"still here")
            assert client.recv(100) == b"still here"
        listener.close()
        assert result().accepted == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"grace": -1}, ValueError, "grace must be a finite number of seconds >= 0"),
        ({"grace": float("inf")}, ValueError, "pass None to wait for every handler"),
        ({"grace": "5"}, TypeError, "grace must be a number of seconds or None"),
        ({"max_connections": 0}, ValueError, "max_connections must be at least 1"),
        ({"max_connections": True}, TypeError, "max_connections must be an int or None"),
    ],
)
def test_bad_arguments_are_refused_before_serving(
    kwargs: dict[str, Any], error: type[Exception], text: str
) -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        with pytest.raises(error, match=text):
            listener.serve(echo, **kwargs)
        assert listener._servings == []


@pytest.mark.skipif(not CAN_FORK, reason="needs os.fork and os.pidfd_open")
def test_a_forked_child_closing_its_copy_stops_nothing_of_the_parent(background: Background) -> None:
    """The child's close() drops its reference: the parent's handler is not woken, its listener still accepts."""
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        result = serving(background, listener, echo)
        with dial(listener) as first:
            first.send(b"one")
            assert first.recv(10) == b"one"  # a handler is idle in recv now
            assert wait_child(fork_child(listener.close), TIMEOUT) == 0
            first.send(b"two")
            assert first.recv(10) == b"two"  # not woken to end of stream by the child
            with dial(listener) as second:
                second.send(b"three")
                assert second.recv(10) == b"three"
        listener.close()
        assert result().accepted == 2
