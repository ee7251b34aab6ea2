"""TLS under injected faults and timeouts: short transfers, cuts mid-send and mid-recv, one budget per operation.

The plain stream under TLS is wrapped in
:class:`~transports.testing.FaultyTransport` (or a
:class:`~transports.testing.Passthrough` that breaks one call), so the TLS
layer meets what a real network does. Errors must carry ``bytes_sent``
(plaintext whose records went out) or ``partial`` (plaintext that came),
and a timeout is one budget for the whole operation, however many reads
and writes of the plain stream it takes.
"""

from __future__ import annotations

import contextlib
import errno
import ssl
import time

import pytest

from test_tls import TIMEOUT, in_thread, memory_plain, tcp_plain, tls_pair, unix_plain
from tls_certs import PKI, tls_pki
from transports import ConnectionReset, InetAddress, RecvFlags, StreamTransport, TCPListener
from transports.errors import TransportTimeout
from transports.testing import Faults, FaultyTransport, Passthrough
from transports.tls import TLSError, TLSHandshakeTimeout, TLSTransport, TLSTruncated

__all__ = ["tls_pki"]  # the session's certificates (tests/tls_certs.py), a fixture used here

KiB = 1024
#: Slack for a timeout to fire: the budget is spent once, so an operation ends within it plus this.
SLACK = 0.75
CUT_MAKERS = {"unix": unix_plain, "memory": memory_plain}


@pytest.fixture
def contexts(tls_pki: PKI) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts."""
    return tls_pki.server_context(), tls_pki.client_context()


def test_short_sends_and_reads_under_tls(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """Records cut into pieces of a few bytes on both ends still make the handshake and the data.

    Over TCP: a Unix socket charges each tiny send a whole buffer, and would fill up with them.
    """
    a, b = tcp_plain()
    slow_a = FaultyTransport(a, max_send=7, max_recv=5)
    slow_b = FaultyTransport(b, max_send=3, max_recv=11)
    client, server = tls_pair((slow_a, slow_b), *contexts)
    with client, server:
        payload = bytes(range(256)) * 40
        echo = in_thread(lambda: server.send_all(server.recv_exactly(len(payload))))
        client.send_all(payload)
        assert client.recv_exactly(len(payload)) == payload
        echo()
        client.shutdown("write")
        assert server.recv(1) == b""


@pytest.mark.parametrize("plain", sorted(CUT_MAKERS))
def test_send_all_cut_mid_stream_reports_bytes_sent(
    plain: str, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    a, b = CUT_MAKERS[plain]()
    faulty = FaultyTransport(a)
    client, server = tls_pair((faulty, b), *contexts)
    with client, server:
        # Cut 100 kB of ciphertext from now: in the middle of a record.
        faulty.faults = Faults(reset_after=faulty.bytes_sent + 100_000 + 7)
        payload = bytes(range(256)) * (4 * KiB)  # 1 MiB
        reading = in_thread(lambda: server.recv_exactly(len(payload)))
        with pytest.raises(ConnectionReset) as sent:
            client.send_all(payload)
        # The end of the stream without close_notify; over a Unix socket a reset, as the
        # injector closes a socket with the session tickets unread.
        with pytest.raises((TLSTruncated, ConnectionReset)) as received:
            reading()
    bytes_sent, partial = sent.value.bytes_sent, received.value.partial
    assert bytes_sent is not None
    assert partial is not None
    assert 0 < bytes_sent < 100_000  # plaintext whose records all went out
    assert partial == payload[: len(partial)]
    assert len(partial) >= bytes_sent  # what was counted as sent did arrive
    assert len(partial) < 100_000


class CutRecv(Passthrough[StreamTransport]):
    """A plain stream whose reads fail with a reset once *after* bytes came through."""

    def __init__(self, inner: StreamTransport, after: int) -> None:
        super().__init__(inner)
        self.after = after
        self.received = 0

    def recv(self, max_bytes: int, flags: RecvFlags = RecvFlags.NONE) -> bytes:
        if self.received >= self.after:
            raise ConnectionReset("recv: reset by the test", errno=errno.ECONNRESET, op="recv")
        data = super().recv(min(max_bytes, self.after - self.received), flags)
        self.received += len(data)
        return data


def test_recv_exactly_cut_mid_recv_keeps_partial(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    a, b = unix_plain()
    cut = CutRecv(a, after=10**9)
    client, server = tls_pair((cut, b), *contexts)
    with client, server:
        payload = bytes(range(256)) * 200  # 50 kB: fits the socket buffer
        server.send_all(payload)
        cut.after = cut.received + 20_000  # in the middle of the second record
        with pytest.raises(ConnectionReset) as caught:
            client.recv_exactly(len(payload))
    partial = caught.value.partial
    assert partial is not None
    assert 0 < len(partial) < 20_000
    assert partial == payload[: len(partial)]


# -- timeouts: one budget per operation ---------------------------------------------------------------


def test_recv_exactly_timeout_is_one_budget(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """Each read is quick, but many of them together outlast the budget: the operation times out."""
    a, b = unix_plain()
    faulty = FaultyTransport(a)
    client, server = tls_pair((faulty, b), *contexts)
    with client, server:
        payload = bytes(range(256)) * 256  # 64 KiB: fits the socket buffer
        server.send_all(payload)
        faulty.faults = Faults(delay=0.03, max_recv=4096)  # 17 reads of 30 ms: 0.5 s in all
        client.timeout = 0.4
        start = time.monotonic()
        with pytest.raises(TransportTimeout) as caught:
            client.recv_exactly(len(payload))
        elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 0.4 + SLACK
    partial = caught.value.partial
    assert partial is not None
    assert 0 < len(partial) < len(payload)
    assert partial == payload[: len(partial)]
    assert client.timeout == 0.4  # the transport's own timeout is kept


def test_send_all_timeout_is_one_budget_and_counts_bytes(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    client, server = tls_pair(unix_plain(), *contexts)
    with client, server:
        payload = bytes(range(256)) * (64 * KiB)  # 16 MiB: far more than the socket buffers hold
        client.timeout = 0.3
        start = time.monotonic()
        with pytest.raises(TransportTimeout) as caught:
            client.send_all(payload)  # nobody reads
        elapsed = time.monotonic() - start
        sent = caught.value.bytes_sent
        assert sent is not None
        assert 0.25 <= elapsed < 0.3 + SLACK
        assert 0 < sent < len(payload)
        assert client.timeout == 0.3
        assert server.recv_exactly(sent) == payload[:sent]  # what was counted did go out


def test_handshake_timeout_is_a_transport_timeout(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    a, b = unix_plain()
    with b:
        a.timeout = 0.2
        start = time.monotonic()
        with pytest.raises(TLSHandshakeTimeout) as caught:
            TLSTransport.wrap(a, contexts[1], server_hostname="localhost")
        assert time.monotonic() - start < 0.2 + SLACK
        assert isinstance(caught.value, TransportTimeout)
        assert isinstance(caught.value, TLSError)
        assert "0.2" in str(caught.value)
        assert a.closed


def test_handshake_budget_is_spent_once(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """Every step of the handshake is slow but quicker than the timeout: together they are not."""
    a, b = unix_plain()
    b.timeout = TIMEOUT
    slow = FaultyTransport(a, delay=0.06, max_recv=500)  # the server's first flight takes several reads
    slow.timeout = 0.15

    def serve() -> None:
        with contextlib.suppress(TLSError):  # the client gives up in the middle
            TLSTransport.wrap(b, contexts[0], server_side=True).close()

    server = in_thread(serve)
    start = time.monotonic()
    with pytest.raises(TLSHandshakeTimeout):
        TLSTransport.wrap(slow, contexts[1], server_hostname="localhost")
    assert time.monotonic() - start < 0.15 + SLACK
    server()


def test_connect_timeout_covers_the_handshake(tls_pki: PKI) -> None:
    """A listener that never accepts: TCP connects (the backlog), the handshake never answers."""
    with TCPListener.listen("127.0.0.1", 0) as listener:
        address = listener.address
        assert isinstance(address, InetAddress)
        start = time.monotonic()
        with pytest.raises(TLSHandshakeTimeout) as caught:
            TLSTransport.connect("127.0.0.1", address.port, context=tls_pki.client_context(), timeout=0.3)
        assert time.monotonic() - start < 0.3 + SLACK
        assert isinstance(caught.value, TransportTimeout)
