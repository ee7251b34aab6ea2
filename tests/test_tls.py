"""TLS over the stream interface: the sans-IO engine and the sync face, both ends ours, on real streams.

The certificates come from tests/tls_certs.py (trustme, made at test time).
The helpers here (``tls_pair``, ``in_thread``, the plain stream makers) are
imported by the other ``test_tls_*`` modules: interop with the openssl
command (test_tls_openssl.py), verification and mutual TLS
(test_tls_verify.py), faults and timeouts (test_tls_faults.py), the
listener (test_tls_listener.py), the async face (test_tls_aio.py) and the
conformance kit on both faces (test_tls_kit.py).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from typing_extensions import Buffer

import transports
from blocking import CAN_SEE_BLOCKED, wait_until_blocked
from tls_certs import PKI, tls_pki
from transports import RecvFlags, SendFlags, StreamTransport, TCPListener, TCPTransport, UnixStreamTransport
from transports.errors import TransportError, UnexpectedEOF, UnsupportedFlag
from transports.testing import Passthrough
from transports.testing.memory import MemoryStreamTransport
from transports.tls import TLSEngine, TLSError, TLSHandshakeError, TLSTransport, TLSTruncated

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here

T = TypeVar("T")
#: Seconds any one blocking call here may take.
TIMEOUT = 10.0


# -- helpers for every test_tls_* module ------------------------------------------------------------


def in_thread(call: Callable[[], T]) -> Callable[[], T]:
    """Run *call* in a thread; the returned function joins it and gives its result (or raises its error)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as err:  # handed to the joining thread
            error.append(err)

    thread = threading.Thread(target=run, name="tls-test-peer", daemon=True)
    thread.start()

    def join() -> T:
        thread.join(TIMEOUT * 2)
        assert not thread.is_alive(), "the peer thread did not finish"
        if error:
            raise error[0]
        return result[0]

    return join


def tls_pair(
    plain: tuple[StreamTransport, StreamTransport],
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
    server_hostname: str = "localhost",
) -> tuple[TLSTransport, TLSTransport]:
    """(client, server) TLS ends over the two plain ends, after the handshake."""
    a, b = plain
    a.timeout = b.timeout = TIMEOUT
    server = in_thread(lambda: TLSTransport.wrap(b, server_context, server_side=True))
    try:
        client = TLSTransport.wrap(a, client_context, server_hostname=server_hostname)
    except BaseException:
        with contextlib.suppress(TLSError):
            server().close()
        raise
    return client, server()


def tcp_plain() -> tuple[StreamTransport, StreamTransport]:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        listener.timeout = TIMEOUT
        address = listener.address
        assert isinstance(address, transports.InetAddress)
        client = TCPTransport.connect("127.0.0.1", address.port, timeout=TIMEOUT)
        return client, listener.accept()


def unix_plain() -> tuple[StreamTransport, StreamTransport]:
    a, b = transports.socketpair("stream")
    assert isinstance(a, UnixStreamTransport)
    assert isinstance(b, UnixStreamTransport)
    return a, b


def memory_plain() -> tuple[StreamTransport, StreamTransport]:
    return MemoryStreamTransport.pair()


#: The plain streams TLS runs over in these tests.
PLAINS: dict[str, Callable[[], tuple[StreamTransport, StreamTransport]]] = {
    "tcp": tcp_plain,
    "unix": unix_plain,
    "memory": memory_plain,
}


@pytest.fixture
def server_context(tls_pki: PKI) -> ssl.SSLContext:
    return tls_pki.server_context(alpn=["h2", "test/1"])


@pytest.fixture
def client_context(tls_pki: PKI) -> ssl.SSLContext:
    return tls_pki.client_context(alpn=["test/1"])


@pytest.fixture
def pair(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> Iterator[tuple[TLSTransport, TLSTransport]]:
    client, server = tls_pair(unix_plain(), server_context, client_context)
    with client, server:
        yield client, server


# -- handshake and echo over every stream -----------------------------------------------------------


@pytest.mark.parametrize("plain", sorted(PLAINS))
def test_handshake_and_echo(
    plain: str, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    client, server = tls_pair(PLAINS[plain](), server_context, client_context)
    with client, server:
        payload = bytes(range(256)) * 1000  # several records
        echo = in_thread(lambda: server.send_all(server.recv_exactly(len(payload))))
        client.send_all(payload)
        assert client.recv_exactly(len(payload)) == payload
        echo()
        assert client.version() in ("TLSv1.2", "TLSv1.3")
        assert client.cipher() == server.cipher()
        assert client.selected_alpn_protocol() == server.selected_alpn_protocol() == "test/1"
        assert dict(x[0] for x in client.getpeercert()["subject"])["commonName"] == "localhost"
        assert server.getpeercert() is None  # no client certificate asked for
        assert client.kind is transports.Kind.STREAM
        assert client.remote_address == client.stream.remote_address


def test_is_a_stream_transport_without_extras(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, _ = pair
    assert isinstance(client, StreamTransport)
    assert not isinstance(client, transports.FdPassing)


def test_recv_into(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"abcdef")
    buffer = bytearray(10)
    got = server.recv_into(buffer, 6)
    assert buffer[:got] == b"abcdef"[:got]
    assert got > 0


def test_send_takes_at_most_a_chunk_and_says_how_much(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    data = b"z" * (200 * 1024)
    reader = in_thread(lambda: server.recv_exactly(len(data)))
    done = 0
    while done < len(data):
        sent = client.send(data[done:])
        assert 0 < sent <= len(data) - done
        done += sent
    assert reader() == data


@pytest.mark.parametrize(
    ("server_alpn", "client_alpn", "chosen"),
    [(["h2", "test/1"], ["test/1"], "test/1"), (["h2"], ["test/1"], None), (None, ["test/1"], None)],
)
def test_alpn(
    tls_pki: PKI, server_alpn: list[str] | None, client_alpn: list[str], chosen: str | None
) -> None:
    """Both ends agree on the chosen protocol; without an overlap there is none, and the handshake still succeeds."""
    client, server = tls_pair(
        unix_plain(), tls_pki.server_context(alpn=server_alpn), tls_pki.client_context(alpn=client_alpn)
    )
    with client, server:
        assert client.selected_alpn_protocol() == chosen
        assert server.selected_alpn_protocol() == chosen


def serve_once(server_context: ssl.SSLContext, reply: bytes) -> tuple[int, Callable[[], None]]:
    """A TLS server on a loopback port that answers one connection with *reply*; (port, join)."""
    listener = TCPListener.listen("127.0.0.1", 0)
    listener.timeout = TIMEOUT
    address = listener.address
    assert isinstance(address, transports.InetAddress)

    def serve() -> None:
        with listener:
            plain = listener.accept()
            plain.timeout = TIMEOUT
            with (
                contextlib.suppress(TransportError),
                TLSTransport.wrap(plain, server_context, server_side=True) as tls,
            ):
                tls.send_all(reply)
                tls.shutdown("write")
                assert tls.recv(10) == b""

    return address.port, in_thread(serve)


def test_connect(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    port, join = serve_once(server_context, b"hello")
    with TLSTransport.connect(
        "127.0.0.1", port, context=client_context, server_hostname="localhost", timeout=TIMEOUT
    ) as tls:
        assert tls.timeout == TIMEOUT
        assert isinstance(tls.stream, TCPTransport)
        assert tls.recv_exactly(5) == b"hello"
        assert tls.recv(10) == b""
    join()


def test_connect_checks_the_ip_address_by_default(tls_pki: PKI, server_context: ssl.SSLContext) -> None:
    """Without server_hostname the host itself is checked: 127.0.0.1 is in the certificate's names."""
    port, join = serve_once(server_context, b"by address")
    with TLSTransport.connect("127.0.0.1", port, context=tls_pki.client_context(), timeout=TIMEOUT) as tls:
        assert tls.recv_exactly(10) == b"by address"
    join()


def test_peer_not_speaking_tls(client_context: ssl.SSLContext) -> None:
    a, b = unix_plain()
    with b:
        b.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        a.timeout = TIMEOUT
        with pytest.raises(TLSHandshakeError, match="failed"):
            TLSTransport.wrap(a, client_context, server_hostname="localhost")
        assert a.closed


# -- the end of the stream -------------------------------------------------------------------------


@pytest.mark.parametrize("plain", sorted(PLAINS))
def test_eof_without_close_notify_is_an_error(
    plain: str, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    client, server = tls_pair(PLAINS[plain](), server_context, client_context)
    with client, server:
        server.send_all(b"last words")
        server.stream.close()  # a plaintext EOF: no close_notify
        assert client.recv_exactly(10) == b"last words"
        with pytest.raises(TLSTruncated, match="close_notify"):
            client.recv(100)
        with pytest.raises(TLSTruncated):  # and never a silent b"" afterwards
            client.recv(100)


def test_recv_exactly_truncated_keeps_partial(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    server.send_all(b"half")
    server.stream.close()
    with pytest.raises(TLSTruncated) as caught:
        client.recv_exactly(8)
    assert caught.value.partial == b"half"


def test_shutdown_write_gives_the_peer_a_clean_end(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"request")
    client.shutdown("write")
    assert server.recv_exactly(7) == b"request"
    assert server.recv(100) == b""
    assert server.recv(100) == b""  # and stays ended
    server.send_all(b"reply")  # the other half still works
    assert client.recv_exactly(5) == b"reply"
    with pytest.raises(transports.TransportClosed, match="shutdown"):
        client.send(b"too late")  # our side has ended


def test_shutdown_write_with_data_still_unread(pair: tuple[TLSTransport, TLSTransport]) -> None:
    """A half-close while the peer's data waits unread: the data is still read, then the peer sees the end."""
    client, server = pair
    server.send_all(b"early")
    server.send_all(b"later")  # a second record, pulled in with the first one
    assert client.recv(5) == b"early"
    client.shutdown("write")
    assert client.recv_exactly(5) == b"later"
    assert server.recv(10) == b""


def test_close_sends_close_notify(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"bye")
    client.close()
    assert server.recv_exactly(3) == b"bye"
    assert server.recv(10) == b""  # a clean end, not TLSTruncated
    with pytest.raises(transports.TransportClosed):
        client.send(b"x")


def test_recv_exactly_at_clean_end(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"ab")
    client.shutdown("write")
    with pytest.raises(UnexpectedEOF) as caught:
        server.recv_exactly(3)
    assert caught.value.partial == b"ab"


def test_unwrap_returns_the_plain_stream(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"secret")
    assert server.recv_exactly(6) == b"secret"
    other = in_thread(server.unwrap)
    plain_client = client.unwrap()
    plain_server = other()
    assert client.closed
    assert server.closed
    assert not plain_client.closed
    with plain_client, plain_server:
        plain_client.send_all(b"in the clear")
        assert plain_server.recv_exactly(12) == b"in the clear"


def test_starttls_over_an_open_tcp_connection(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """Plaintext, then TLS on the same connection (wrap on both ends), then plaintext again (unwrap)."""
    client_plain, server_plain = tcp_plain()
    with client_plain, server_plain:
        client_plain.timeout = server_plain.timeout = TIMEOUT
        client_plain.send_all(b"STARTTLS\r\n")
        assert server_plain.recv_exactly(10) == b"STARTTLS\r\n"
        server_plain.send_all(b"220 go ahead\r\n")
        assert client_plain.recv_exactly(14) == b"220 go ahead\r\n"

        client, server = tls_pair((client_plain, server_plain), server_context, client_context)
        assert client.stream is client_plain
        client.send_all(b"AUTH secret\r\n")
        assert server.recv_exactly(13) == b"AUTH secret\r\n"
        server.send_all(b"235 ok\r\n")
        assert client.recv_exactly(8) == b"235 ok\r\n"

        unwrapping = in_thread(server.unwrap)
        assert client.unwrap() is client_plain
        assert unwrapping() is server_plain
        client_plain.send_all(b"QUIT\r\n")
        assert server_plain.recv_exactly(6) == b"QUIT\r\n"
        server_plain.send_all(b"221 bye\r\n")
        client_plain.shutdown("write")
        assert client_plain.recv_exactly(9) == b"221 bye\r\n"
        assert server_plain.recv(10) == b""


# -- flags and the engine ---------------------------------------------------------------------------


class Recording(Passthrough[StreamTransport]):
    """A plain stream that notes every send and receive made on it."""

    def __init__(self, inner: StreamTransport) -> None:
        super().__init__(inner)
        self.calls: list[str] = []

    def send(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> int:
        self.calls.append("send")
        return super().send(data, flags)

    def send_all(self, data: Buffer, flags: SendFlags = SendFlags.NONE) -> None:
        self.calls.append("send_all")
        self.inner.send_all(data, flags)

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        self.calls.append("recv")
        return super().recv(max_bytes, flags)


@pytest.mark.parametrize("flag", list(SendFlags)[:3], ids=str)
def test_send_flags_are_refused_before_any_io(
    flag: SendFlags, server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    a, b = unix_plain()
    recording = Recording(a)
    client, server = tls_pair((recording, b), server_context, client_context)
    with client, server:
        recording.calls.clear()
        with pytest.raises(UnsupportedFlag) as caught:
            client.send(b"x", flag)
        assert caught.value.network == "tls"
        assert "flag" in str(caught.value)
        with pytest.raises(UnsupportedFlag):
            client.send_all(b"x", flag)
        assert recording.calls == []


@pytest.mark.parametrize("flag", list(RecvFlags)[:3], ids=str)
def test_recv_flags_are_refused_before_any_io(
    flag: RecvFlags, pair: tuple[TLSTransport, TLSTransport]
) -> None:
    client, server = pair
    with pytest.raises(UnsupportedFlag):
        client.recv(1, flag)
    with pytest.raises(UnsupportedFlag):
        client.recv_into(bytearray(1), 0, flag)
    server.send_all(b"still fine")  # nothing was consumed
    assert client.recv_exactly(10) == b"still fine"


def test_engine_is_sans_io(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    client = TLSEngine(client_context, server_hostname="localhost")
    server = TLSEngine(server_context, server_side=True)
    done = [False, False]
    for _ in range(10):
        done = [client.handshake(), server.handshake()]
        server.receive_data(client.data_to_send())
        client.receive_data(server.data_to_send())
        if all(done):
            break
    assert all(done)
    assert server.decrypt(10) is None  # wants more: said by the return value
    client.encrypt(b"hello")
    server.receive_data(client.data_to_send())
    assert server.decrypt(10) == b"hello"
    server.receive_eof()
    with pytest.raises(TLSTruncated):
        server.decrypt(10)


# -- threads, and closing with bytes unread ---------------------------------------------------------


def test_close_with_session_tickets_unread_is_a_clean_end(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """A TCP client that never reads (the TLS 1.3 tickets wait unread) still ends cleanly, not with a reset."""
    client, server = tls_pair(tcp_plain(), server_context, client_context)
    with server:
        client.send_all(b"fire and forget")
        client.close()
        assert server.recv_exactly(15) == b"fire and forget"
        assert server.recv(10) == b""


def test_one_thread_sends_while_another_receives(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    up = bytes(range(256)) * (16 * 1024)  # 4 MiB each way, at the same time
    down = bytes(reversed(range(256))) * (16 * 1024)
    server_reads = in_thread(lambda: server.recv_exactly(len(up)))
    server_writes = in_thread(lambda: server.send_all(down))
    client_reads = in_thread(lambda: client.recv_exactly(len(down)))
    client.send_all(up)
    assert client_reads() == down
    assert server_reads() == up
    server_writes()


@pytest.mark.skipif(not CAN_SEE_BLOCKED, reason="needs Linux /proc to see a thread blocked in recv")
def test_close_from_another_thread_wakes_a_blocked_recv(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, _ = pair
    errors: list[BaseException] = []

    def receive() -> None:
        try:
            client.recv(10)
        except TransportError as err:
            errors.append(err)

    thread = threading.Thread(target=receive, name="tls-blocked-recv", daemon=True)
    thread.start()
    assert wait_until_blocked(thread)
    client.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], transports.TransportClosed), errors[0]
