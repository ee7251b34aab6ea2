"""The sync TLSListener: accept with the handshake run lazily, iteration, serve(), the listener kit.

``accept`` hands out a TLS transport whose handshake runs at its first
call (or ``do_handshake()``), in the thread that serves the connection: a
client that sends garbage fails its own connection's first call, and the
listener goes on accepting.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_tls import TIMEOUT, in_thread
from tls_certs import PKI, tls_pki
from transports import (
    ConnectionReset,
    InetAddress,
    TCPListener,
    TCPTransport,
    TransportError,
    UnixListener,
    UnixStreamTransport,
)
from transports.testing import ListenerCheck
from transports.tls import TLSEngine, TLSError, TLSHandshakeError, TLSListener, TLSTransport

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here


@pytest.fixture
def listener(tls_pki: PKI) -> Iterator[TLSListener[InetAddress]]:
    with TLSListener.listen("127.0.0.1", 0, context=tls_pki.server_context(), timeout=TIMEOUT) as listener:
        yield listener


def port(listener: TLSListener[InetAddress]) -> int:
    return listener.address.port


def connect(listener: TLSListener[InetAddress], pki: PKI) -> TLSTransport:
    """A client that runs its handshake now (so it waits for the server's first call)."""
    return TLSTransport.connect(
        "127.0.0.1",
        port(listener),
        context=pki.client_context(),
        server_hostname="localhost",
        timeout=TIMEOUT,
    )


def test_accept_runs_the_handshake_at_the_first_call(
    listener: TLSListener[InetAddress], tls_pki: PKI
) -> None:
    plain = TCPTransport.connect("127.0.0.1", port(listener), timeout=TIMEOUT)
    client = TLSTransport(plain, TLSEngine(tls_pki.client_context(), server_hostname="localhost"))
    with client, listener.accept() as server:
        assert isinstance(server, TLSTransport)
        done_at_accept = server.handshake_done
        assert not done_at_accept  # accept did not wait for the client
        assert server.version() is None
        sending = in_thread(lambda: client.send_all(b"first words"))  # the client's handshake runs here
        assert server.recv_exactly(11) == b"first words"  # ... and the server's here
        sending()
        assert server.handshake_done
        assert client.handshake_done
        assert server.version() == client.version()


def test_do_handshake_meets_the_errors_at_a_chosen_place(
    listener: TLSListener[InetAddress], tls_pki: PKI
) -> None:
    connecting = in_thread(lambda: connect(listener, tls_pki))
    with listener.accept() as server:
        server.do_handshake()
        assert server.handshake_done
        server.do_handshake()  # once done, it does nothing
        with connecting() as client:
            client.send_all(b"x")
            assert server.recv(1) == b"x"


def test_a_client_sending_garbage_fails_its_own_first_call(
    listener: TLSListener[InetAddress], tls_pki: PKI
) -> None:
    with TCPTransport.connect("127.0.0.1", port(listener), timeout=TIMEOUT) as garbage:
        garbage.send_all(b"GET / HTTP/1.0\r\n\r\n")
        with listener.accept() as server:  # accept itself does not care
            with pytest.raises(TLSHandshakeError) as caught:
                server.recv(10)
            assert caught.value.reason is not None
            assert caught.value.reason in str(caught.value)

    # The listener goes on accepting.
    def connect_and_send() -> None:
        with connect(listener, tls_pki) as client:
            client.send_all(b"fine")
            client.shutdown("write")
            assert client.recv(1) == b""

    connecting = in_thread(connect_and_send)
    with listener.accept() as server:
        assert server.recv_exactly(4) == b"fine"
        assert server.recv(1) == b""
    connecting()


def lazy_client(listener: TLSListener[InetAddress], pki: PKI) -> TLSTransport:
    """A connected client whose handshake waits for its first call (so it can be made before accept)."""
    plain = TCPTransport.connect("127.0.0.1", port(listener), timeout=TIMEOUT)
    return TLSTransport(plain, TLSEngine(pki.client_context(), server_hostname="localhost"))


def test_iteration_stops_when_the_listener_closes(listener: TLSListener[InetAddress], tls_pki: PKI) -> None:
    clients = [lazy_client(listener, tls_pki), lazy_client(listener, tls_pki)]
    got: list[bytes] = []
    with clients[0], clients[1]:
        for server in listener:
            with server:
                client, number = clients[len(got)], len(got)
                sending = in_thread(lambda: client.send_all(b"%d" % number))  # noqa: B023  # joined at once
                got.append(server.recv_exactly(1))
                sending()
            if len(got) == 2:
                listener.close()  # the loop then ends quietly
    assert got == [b"0", b"1"]
    assert listener.closed
    assert list(listener) == []


def test_serve_hands_each_handler_a_tls_transport(listener: TLSListener[InetAddress], tls_pki: PKI) -> None:
    """A garbage client fails its own handler's first call; serving goes on for the good ones."""
    seen: list[str | None] = []
    refused: list[TLSError] = []
    lock = threading.Lock()

    def handler(conn: TLSTransport) -> None:
        try:
            request = conn.recv_exactly(5)
        except TLSHandshakeError as err:
            with lock:
                refused.append(err)
            return
        with lock:
            seen.append(conn.version())
        conn.send_all(request.upper())

    serving = in_thread(lambda: listener.serve(handler, grace=TIMEOUT))
    try:
        with TCPTransport.connect("127.0.0.1", port(listener), timeout=TIMEOUT) as garbage:
            garbage.send_all(b"\x00" * 64)
            with contextlib.suppress(ConnectionReset):
                garbage.recv(100)  # an alert or the end: the handler is done with this one
        for _ in range(2):
            with connect(listener, tls_pki) as client:
                client.send_all(b"hello")
                assert client.recv_exactly(5) == b"HELLO"
                assert client.recv(1) == b""  # the handler returned: close_notify, a clean end
    finally:
        listener.close()
        served = serving()
    assert served.accepted == 3
    assert served.failed == 0
    assert len(refused) == 1
    assert seen == [seen[0], seen[0]]
    assert seen[0] in ("TLSv1.2", "TLSv1.3")


def test_over_a_unix_listener(tls_pki: PKI, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "tls.sock"
    with TLSListener(UnixListener.listen(path, timeout=TIMEOUT), tls_pki.server_context()) as listener:
        assert listener.address == listener.listener.address
        assert listener.fileno() == listener.listener.fileno()

        def connect_unix() -> TLSTransport:
            plain = UnixStreamTransport.connect(path, timeout=TIMEOUT)
            return TLSTransport.wrap(plain, tls_pki.client_context(), server_hostname="localhost")

        connecting = in_thread(connect_unix)
        with listener.accept() as server:
            server.timeout = TIMEOUT
            server.send_all(b"over unix")
            with connecting() as client:
                assert client.recv_exactly(9) == b"over unix"
                assert isinstance(client.stream, UnixStreamTransport)


def test_refuses_a_context_that_is_not_one(tmp_sock_dir: Path) -> None:
    with UnixListener.listen(tmp_sock_dir / "plain.sock", timeout=TIMEOUT) as plain:
        with pytest.raises(TypeError, match="load_cert_chain"):
            TLSListener(plain, "not a context")  # type: ignore[arg-type]  # the mistake under test
        assert not plain.closed


def test_session_resumption(listener: TLSListener[InetAddress], tls_pki: PKI) -> None:
    """A second connection resumes the first one's session (a TLS 1.3 ticket)."""
    context = tls_pki.client_context()

    def serve_two() -> None:
        for _ in range(2):
            with listener.accept() as server:
                server.send_all(b"hi")
                assert server.recv(1) == b""

    serving = in_thread(serve_two)
    first = TLSTransport.connect(
        "127.0.0.1", port(listener), context=context, server_hostname="localhost", timeout=TIMEOUT
    )
    with first:
        assert first.recv_exactly(2) == b"hi"  # the ticket came with (before) the data
        session = first.session
        assert session is not None
        assert not first.session_reused
        first.shutdown("write")
    second = TLSTransport.connect(
        "127.0.0.1", port(listener), context=context, server_hostname="localhost", session=session,
        timeout=TIMEOUT,
    )  # fmt: skip
    with second:
        assert second.recv_exactly(2) == b"hi"
        assert second.session_reused
        second.shutdown("write")
    serving()


# -- the listener kit ---------------------------------------------------------------------------------


class Handshaking:
    """Starts each transport's handshake in a thread of its own, and joins them all at the end."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def start(self, tls: TLSTransport) -> TLSTransport:
        def handshake() -> None:
            with contextlib.suppress(TransportError):  # a check that closes the other end first
                tls.do_handshake()

        thread = threading.Thread(target=handshake, name="tls-kit-handshake", daemon=True)
        thread.start()
        self.threads.append(thread)
        return tls

    def join(self) -> None:
        for thread in self.threads:
            thread.join(TIMEOUT)
        assert not [thread for thread in self.threads if thread.is_alive()]


def test_tls_listener_kit(transports_listener_check: ListenerCheck, tls_pki: PKI) -> None:
    """The listener checks, with each end's handshake started in the background as it is made.

    The kit connects, accepts and then talks in one thread: two lazy
    handshakes there would wait for each other. Each end's first call waits
    for its handshake (the transport's locks).
    """
    server_context = tls_pki.server_context()
    client_context = tls_pki.client_context()
    handshaking = Handshaking()

    class Listener(TLSListener[InetAddress]):
        def accept(self) -> TLSTransport:
            return handshaking.start(super().accept())

    def make() -> TLSListener[InetAddress]:
        return Listener(TCPListener.listen("127.0.0.1", 0), server_context)

    def connect_to(listener: TLSListener[InetAddress]) -> TLSTransport:
        plain = TCPTransport.connect("127.0.0.1", port(listener), timeout=TIMEOUT)
        return handshaking.start(TLSTransport(plain, TLSEngine(client_context, server_hostname="localhost")))

    try:
        transports_listener_check(make, connect_to)
    finally:
        handshaking.join()
