"""TLS over the stream interface: the sans-IO engine and its sync face, on real loopback streams."""

from __future__ import annotations

import contextlib
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TypeVar

import pytest

import transports
from transports import RecvFlags, SendFlags, StreamTransport, TCPListener, TCPTransport, UnixStreamTransport
from transports.errors import TransportError, TransportTimeout, UnsupportedFlag
from transports.testing import run_stream_checks
from transports.testing.memory import MemoryStreamTransport
from transports.tls import (
    TLSCertificateError,
    TLSEngine,
    TLSError,
    TLSHandshakeError,
    TLSHandshakeTimeout,
    TLSTransport,
    TLSTruncated,
)

T = TypeVar("T")
TIMEOUT = 10.0
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


# -- a throwaway CA and server certificate, made by the openssl command -------------------------------


class Certs(NamedTuple):
    ca: Path
    cert: Path
    key: Path


def make_certs(directory: Path) -> Certs:
    """A CA and a certificate it signed for localhost and 127.0.0.1, written into *directory*."""
    assert OPENSSL is not None

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True, timeout=60)

    # Python 3.13's default context verifies strictly (VERIFY_X509_STRICT): the CA needs its key
    # usage, the server certificate its key identifiers, as a real CA would issue them.
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=typed-transports test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (directory / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")  # fmt: skip
    return Certs(directory / "ca.pem", directory / "server.pem", directory / "server.key")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed")
    return make_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    context.set_alpn_protocols(["h2", "test/1"])
    return context


@pytest.fixture
def client_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.set_alpn_protocols(["test/1"])
    return context


# -- helpers ---------------------------------------------------------------------------------------


def in_thread(call: Callable[[], T]) -> Callable[[], T]:
    """Run *call* in a thread; the returned function joins it and gives its result (or raises its error)."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as err:  # handed to the joining thread
            error.append(err)

    thread = threading.Thread(target=run, daemon=True)
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
        client = TCPTransport.connect("127.0.0.1", address.port, timeout=TIMEOUT)
        return client, listener.accept()


def unix_plain() -> tuple[StreamTransport, StreamTransport]:
    a, b = transports.socketpair("stream")
    assert isinstance(a, UnixStreamTransport)
    assert isinstance(b, UnixStreamTransport)
    return a, b


def memory_plain() -> tuple[StreamTransport, StreamTransport]:
    return MemoryStreamTransport.pair()


PLAINS = {"tcp": tcp_plain, "unix": unix_plain, "memory": memory_plain}


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
        assert client.cipher() is not None
        assert client.selected_alpn_protocol() == "test/1"
        assert dict(x[0] for x in client.getpeercert()["subject"])["commonName"] == "localhost"


def test_is_a_stream_transport_without_extras(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, _ = pair
    assert isinstance(client, StreamTransport)
    assert not isinstance(client, transports.SendfileCapable)
    assert not isinstance(client, transports.FdPassing)


def test_recv_into(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"abcdef")
    buffer = bytearray(10)
    got = server.recv_into(buffer, 6)
    assert buffer[:got] == b"abcdef"[:got]
    assert got > 0


def serve_once(server_context: ssl.SSLContext, reply: bytes) -> tuple[int, Callable[[], None]]:
    """A TLS server on a loopback port that answers one connection with *reply*; (port, join)."""
    listener = TCPListener.listen("127.0.0.1", 0)
    listener.timeout = TIMEOUT

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

    return listener.address.port, in_thread(serve)


def test_connect(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    port, join = serve_once(server_context, b"hello")
    with TLSTransport.connect(
        "127.0.0.1", port, context=client_context, server_hostname="localhost", timeout=TIMEOUT
    ) as tls:
        assert tls.timeout == TIMEOUT
        assert tls.recv_exactly(5) == b"hello"
        assert tls.recv(10) == b""
    join()


def test_connect_verifies_by_default(server_context: ssl.SSLContext) -> None:
    port, join = serve_once(server_context, b"never read")
    with pytest.raises(TLSCertificateError) as caught:
        TLSTransport.connect("127.0.0.1", port, timeout=TIMEOUT)  # the system's CAs do not know ours
    join()
    assert caught.value.host == "127.0.0.1"
    assert "127.0.0.1" in str(caught.value)


# -- verification ----------------------------------------------------------------------------------


def test_wrong_host_names_the_host_and_reason(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    with pytest.raises(TLSCertificateError) as caught:
        tls_pair(unix_plain(), server_context, client_context, server_hostname="wrong.example")
    assert caught.value.host == "wrong.example"
    assert "wrong.example" in str(caught.value)
    assert "mismatch" in str(caught.value).lower()
    assert "load_verify_locations" in str(caught.value)


def test_unknown_ca_is_refused(server_context: ssl.SSLContext) -> None:
    stranger = ssl.create_default_context(cafile=None)  # the system's CAs only
    with pytest.raises(TLSCertificateError) as caught:
        tls_pair(unix_plain(), server_context, stranger)
    assert "localhost" in str(caught.value)
    assert caught.value.verify_message
    assert "issuer" in caught.value.verify_message


def test_handshake_timeout_is_a_transport_timeout(client_context: ssl.SSLContext) -> None:
    a, b = unix_plain()
    with b:
        a.timeout = 0.2
        with pytest.raises(TLSHandshakeTimeout) as caught:
            TLSTransport.wrap(a, client_context, server_hostname="localhost")
        assert isinstance(caught.value, TransportTimeout)
        assert a.closed


def test_peer_not_speaking_tls(client_context: ssl.SSLContext) -> None:
    a, b = unix_plain()
    with b:
        b.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        a.timeout = TIMEOUT
        with pytest.raises(TLSHandshakeError, match="failed"):
            TLSTransport.wrap(a, client_context, server_hostname="localhost")


# -- the end of the stream -------------------------------------------------------------------------


def test_eof_without_close_notify_is_an_error(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    server.send_all(b"last words")
    server.stream.close()  # a plaintext EOF: no close_notify
    assert client.recv_exactly(10) == b"last words"
    with pytest.raises(TLSTruncated, match="close_notify"):
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


def test_recv_exactly_at_clean_end(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    client.send_all(b"ab")
    client.shutdown("write")
    with pytest.raises(transports.errors.UnexpectedEOF) as caught:
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


# -- flags and the kit ----------------------------------------------------------------------------


def test_flags_are_refused(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, _ = pair
    with pytest.raises(UnsupportedFlag) as caught:
        client.send(b"x", next(iter(SendFlags)))
    assert caught.value.network == "tls"
    with pytest.raises(UnsupportedFlag):
        client.send_all(b"x", next(iter(SendFlags)))
    with pytest.raises(UnsupportedFlag):
        client.recv(1, next(iter(RecvFlags)))
    with pytest.raises(UnsupportedFlag):
        client.recv_into(bytearray(1), 0, next(iter(RecvFlags)))


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


def test_stream_kit(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    # TLS 1.3 session tickets the client never reads would make its close a reset (unread data).
    server_context.num_tickets = 0

    def factory() -> tuple[transports.Transport, transports.Transport]:
        return tls_pair(unix_plain(), server_context, client_context)

    results = run_stream_checks(factory)  # raises ContractViolation at the first failure
    skipped = {name for name, verdict in results.items() if verdict != "passed"}
    # The flags act on the ciphertext stream, so TLS refuses them: those three checks do not apply.
    assert skipped == {"check_waitall", "check_peek_leaves_data", "check_dontwait"}, results


# -- openssl s_client as a real peer --------------------------------------------------------------


@needs_openssl
def test_openssl_s_client_peer(certs: Certs, server_context: ssl.SSLContext) -> None:
    assert OPENSSL is not None
    with TCPListener.listen("127.0.0.1", 0) as listener:
        listener.timeout = TIMEOUT
        port = listener.address.port
        peer = subprocess.Popen(
            [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(certs.ca),
             "-servername", "localhost", "-verify_return_error", "-quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            plain = listener.accept()
            plain.timeout = TIMEOUT
            with TLSTransport.wrap(plain, server_context, server_side=True) as server:
                assert peer.stdin is not None
                peer.stdin.write(b"ping\n")
                peer.stdin.flush()
                assert server.recv_exactly(5) == b"ping\n"
                server.send_all(b"pong\n")
                server.shutdown("write")
            out, _ = peer.communicate(timeout=TIMEOUT)
        finally:
            if peer.poll() is None:
                peer.kill()
                peer.communicate(timeout=TIMEOUT)
    assert b"pong\n" in out
