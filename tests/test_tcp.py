"""TCP: connecting, listening, out-of-band data, timeouts, resets and broken pipes (APUE 16.4-16.7)."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import TIMEOUT, Background, needs_ipv6
from transports import (
    AddressError,
    AddressInUse,
    BrokenPipe,
    ConnectionRefused,
    ConnectionReset,
    InetAddress,
    Linger,
    OptionSetting,
    RecvFlags,
    SendFlags,
    TCPListener,
    TCPTransport,
    TransportClosed,
    TransportError,
    TransportTimeout,
    WouldBlock,
)
from transports.options import SO_LINGER, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF

MiB = 1 << 20


@contextlib.contextmanager
def tcp_pair(
    host: str = "127.0.0.1",
    *,
    client_options: tuple[OptionSetting[Any], ...] = (),
    server_options: tuple[OptionSetting[Any], ...] = (),
) -> Iterator[tuple[TCPTransport, TCPTransport]]:
    """A connected (client, server) pair; options apply before the connection exists."""
    with TCPListener.listen(host, 0, timeout=TIMEOUT, options=server_options) as listener:
        port = listener.address.port
        with (
            TCPTransport.connect(host, port, timeout=TIMEOUT, options=client_options) as client,
            listener.accept() as server,
        ):
            server.timeout = TIMEOUT
            yield client, server


def send_repeatedly(send: Callable[[], int], times: int, sent: list[int]) -> None:
    """Call *send* up to *times* times, recording each count in *sent*, until it raises."""
    for _ in range(times):
        sent.append(send())


@pytest.fixture
def free_port() -> Iterator[int]:
    """A loopback port with a bound socket that does not listen: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


# -- connecting ---------------------------------------------------------------------


def test_connect_keeps_the_timeout() -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        port = listener.address.port
        with TCPTransport.connect("127.0.0.1", port, timeout=2.5) as client, listener.accept() as server:
            assert client.timeout == 2.5
            # Accepted transports are blocking whatever the listener's timeout.
            assert server.timeout is None
            assert client.remote_address == InetAddress("127.0.0.1", port)
            assert server.local_address == InetAddress("127.0.0.1", port)
            assert server.remote_address == client.local_address


def test_connect_times_out_on_a_full_backlog(fd_count: Callable[[], int]) -> None:
    # With backlog 0 one finished handshake fills the accept queue; Linux then drops
    # further SYNs, so the next connect waits (for a retransmission) past its timeout.
    with (
        TCPListener.listen("127.0.0.1", 0, backlog=0) as listener,
        TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT),
    ):
        before = fd_count()
        started = time.monotonic()
        with pytest.raises(TransportTimeout) as info:
            TCPTransport.connect("127.0.0.1", listener.address.port, timeout=0.2)
        assert time.monotonic() - started < TIMEOUT
        assert fd_count() == before
        assert isinstance(info.value, TimeoutError)
        assert info.value.op == "connect"
        assert f"tcp://127.0.0.1:{listener.address.port}" in str(info.value)
        assert "0.2 s" in str(info.value)


def test_connect_from_a_source_address() -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT) as listener:
        source = InetAddress("127.0.0.1", 0)
        with (
            TCPTransport.connect(
                "127.0.0.1", listener.address.port, timeout=TIMEOUT, source=source
            ) as client,
            listener.accept() as server,
        ):
            assert client.local_address.host == "127.0.0.1"
            assert client.local_address.port != 0
            assert server.remote_address == client.local_address


def test_connect_refused(free_port: int, fd_count: Callable[[], int]) -> None:
    before = fd_count()
    with pytest.raises(ConnectionRefused) as info:
        TCPTransport.connect("127.0.0.1", free_port, timeout=TIMEOUT)
    assert fd_count() == before
    err = info.value
    assert isinstance(err, ConnectionRefusedError)
    assert isinstance(err, TransportError)
    assert err.errno == errno.ECONNREFUSED
    assert err.op == "connect"
    assert err.address == f"tcp://127.0.0.1:{free_port}"
    assert f"tcp://127.0.0.1:{free_port}" in str(err)
    assert "ECONNREFUSED" in str(err)


def test_failed_connects_leak_no_descriptors(free_port: int, fd_count: Callable[[], int]) -> None:
    before = fd_count()
    for _ in range(20):
        with pytest.raises(ConnectionRefusedError):
            TCPTransport.connect("127.0.0.1", free_port, timeout=TIMEOUT)
    with pytest.raises(AddressError):
        TCPTransport.connect("127.0.0.1", 70000)
    with pytest.raises(TypeError):
        TCPTransport.connect("127.0.0.1", free_port, options=["TCP_NODELAY"])  # type: ignore[list-item]
    assert fd_count() == before


def test_bad_arguments_fail_before_any_socket(fd_count: Callable[[], int]) -> None:
    before = fd_count()
    with pytest.raises(ValueError, match="timeout"):
        TCPTransport.connect("127.0.0.1", 1, timeout=-1)
    with pytest.raises(ValueError, match="family"):
        TCPTransport.connect("127.0.0.1", 1, family="ipx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backlog"):
        TCPListener.listen("127.0.0.1", 0, backlog=-1)
    assert fd_count() == before


# -- listening ----------------------------------------------------------------------


def test_listener_on_port_zero_gets_a_real_port() -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        address = listener.address
        assert address.host == "127.0.0.1"
        assert address.port != 0
        assert listener.get_option(SO_REUSEADDR) is True
        assert listener.fileno() >= 0
        assert f"tcp://127.0.0.1:{address.port}" in repr(listener)
    assert listener.closed
    assert listener.fileno() == -1
    listener.close()  # twice is harmless


def test_second_listener_on_the_same_port(fd_count: Callable[[], int]) -> None:
    with TCPListener.listen("127.0.0.1", 0) as first:
        before = fd_count()
        with pytest.raises(AddressInUse) as info:
            TCPListener.listen("127.0.0.1", first.address.port)
        assert info.value.errno == errno.EADDRINUSE
        assert str(first.address.port) in str(info.value)
        assert fd_count() == before


def test_accept_times_out() -> None:
    with TCPListener.listen("127.0.0.1", 0, timeout=0.05) as listener:
        with pytest.raises(TransportTimeout) as info:
            listener.accept()
        assert isinstance(info.value, TimeoutError)
        assert info.value.op == "accept"


def test_accept_after_close() -> None:
    listener = TCPListener.listen("127.0.0.1", 0)
    listener.close()
    with pytest.raises(TransportClosed):
        listener.accept()
    assert list(listener) == []


@needs_ipv6
def test_ipv6_listener_and_client() -> None:
    with tcp_pair("::1") as (client, server):
        assert client.local_address.host == "::1"
        assert server.remote_address == client.local_address
        client.send_all(b"over IPv6")
        assert server.recv_exactly(9) == b"over IPv6"


@needs_ipv6
def test_dual_stack_listener_accepts_both_families() -> None:
    with TCPListener.listen("", 0, dual_stack=True, timeout=TIMEOUT) as listener:
        port = listener.address.port
        for host, seen_as in [("127.0.0.1", "::ffff:127.0.0.1"), ("::1", "::1")]:
            with (
                TCPTransport.connect(host, port, timeout=TIMEOUT) as client,
                listener.accept() as server,
            ):
                server.timeout = TIMEOUT
                assert server.remote_address is not None
                assert server.remote_address.host == seen_as
                client.send_all(host.encode())
                assert server.recv_exactly(len(host)) == host.encode()


def test_dual_stack_needs_an_ipv6_wildcard() -> None:
    with pytest.raises(AddressError, match="dual_stack"):
        TCPListener.listen("127.0.0.1", 0, dual_stack=True)


def test_iteration_stops_when_closed_from_another_thread(background: Background) -> None:
    first_accepted = threading.Event()
    accepted: list[TCPTransport] = []

    def serve(listener: TCPListener) -> None:
        for connection in listener:
            accepted.append(connection)
            first_accepted.set()

    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT))
        server = background.start(lambda: serve(listener), "acceptor")
        stack.enter_context(TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT))
        assert first_accepted.wait(TIMEOUT)
        stack.enter_context(accepted[0])
        # The acceptor is back in accept() (or about to be): closing must end its loop
        # at once, not when the accept timeout runs out.
        started = time.monotonic()
        listener.close()
        server.result()
        assert time.monotonic() - started < TIMEOUT / 2, "close did not wake the blocked accept"
        assert len(accepted) == 1


# -- data: out-of-band, WAITALL, DONTWAIT -----------------------------------------------


def test_out_of_band_byte() -> None:
    with tcp_pair() as (client, server):
        client.send(b"normal")
        client.send(b"!", SendFlags.OOB)
        poller = select.poll()
        poller.register(server.fileno(), select.POLLPRI)
        # Urgent data shows as POLLPRI (APUE 16.7): wait for it on the socket.
        assert poller.poll(TIMEOUT * 1000), "no urgent data arrived"
        assert server.recv(1, RecvFlags.OOB) == b"!"
        # The urgent byte is not part of the ordinary stream.
        assert server.recv_exactly(6) == b"normal"


def test_dontwait_send_on_a_full_buffer() -> None:
    small = (SO_SNDBUF(4096),)
    with tcp_pair(client_options=small, server_options=(SO_RCVBUF(4096),)) as (client, _server):
        chunk = bytes(65536)
        sent: list[int] = []
        with pytest.raises(WouldBlock) as info:
            send_repeatedly(lambda: client.send(chunk, SendFlags.DONTWAIT), 1000, sent)
        assert sum(sent) > 0
        assert len(sent) < 1000  # 64 MiB never fit in the buffers
        assert isinstance(info.value, BlockingIOError)
        assert client.timeout == TIMEOUT


def test_more_flag_is_accepted() -> None:
    with tcp_pair() as (client, server):
        client.send(b"corked ", SendFlags.MORE)
        client.send(b"data")
        assert server.recv_exactly(11) == b"corked data"


# -- send_all interrupted by a timeout ---------------------------------------------------


def test_send_all_timeout_reports_bytes_sent() -> None:
    with tcp_pair(client_options=(SO_SNDBUF(4096),), server_options=(SO_RCVBUF(4096),)) as (
        client,
        server,
    ):
        client.timeout = 0.2
        total = 16 * MiB
        with pytest.raises(TransportTimeout) as info:
            client.send_all(bytes(total))  # the server reads nothing
        err = info.value
        assert err.bytes_sent is not None
        assert 0 < err.bytes_sent < total
        assert f"after {err.bytes_sent} bytes" in str(err)
        assert "0.2 s" in str(err)
        assert client.timeout == 0.2  # restored after the loop
        # Every byte the kernel took does arrive: exactly bytes_sent of them.
        client.shutdown("write")
        received = 0
        while chunk := server.recv(MiB):
            received += len(chunk)
        assert received == err.bytes_sent


# -- the peer goes away -------------------------------------------------------------------


def test_peer_reset() -> None:
    with tcp_pair() as (client, server):
        server.set_option(SO_LINGER, Linger(0))
        server.close()  # with linger 0 this sends RST instead of FIN
        with pytest.raises(ConnectionReset) as info:
            client.recv(100)
        assert isinstance(info.value, ConnectionResetError)
        assert info.value.errno == errno.ECONNRESET
        assert info.value.op == "recv"


def test_errors_after_a_reset_still_name_the_peer() -> None:
    # getpeername fails once the connection is torn down; the message must not
    # fall back to naming our own end.
    with tcp_pair() as (client, server):
        peer_url = server.local_address.url("tcp")
        server.set_option(SO_LINGER, Linger(0))
        server.close()
        with pytest.raises(ConnectionReset) as info:
            client.recv(100)
        assert info.value.address == peer_url
        assert peer_url in str(info.value)


def test_setting_a_timeout_on_a_closed_transport() -> None:
    with tcp_pair() as (client, _):
        client.close()
        with pytest.raises(TransportClosed, match="closed"):
            client.timeout = 1.0


def test_send_after_peer_closed_is_broken_pipe() -> None:
    with tcp_pair() as (client, server):
        server.close()
        assert client.recv(1) == b""  # the FIN arrived
        # The first send draws an RST from the closed peer; a later one fails.
        sent: list[int] = []
        with pytest.raises(BrokenPipe) as info:
            send_repeatedly(lambda: client.send(b"anyone there?"), 100, sent)
        assert 1 <= len(sent) < 100
        assert isinstance(info.value, BrokenPipeError)
        assert info.value.errno == errno.EPIPE
        assert "tcp://127.0.0.1:" in str(info.value)


SIGPIPE_CHILD = """
import signal
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a peer that went away would kill us now

import transports

caught = []
with transports.TCPListener.listen("127.0.0.1", 0, timeout=5) as listener:
    port = listener.address.port
    with transports.TCPTransport.connect("127.0.0.1", port, timeout=5) as client:
        listener.accept().close()
        assert client.recv(1) == b""
        try:
            for _ in range(1000):
                client.send_all(bytes(65536))
        except (transports.BrokenPipe, transports.ConnectionReset) as exc:
            caught.append("tcp send_all: " + type(exc).__name__)

a, b = transports.socketpair("stream")
b.close()
with a:
    try:
        a.send(b"x")
    except transports.BrokenPipe as exc:
        caught.append("unix send: " + type(exc).__name__)
print("; ".join(caught))
"""


def test_no_sigpipe_even_with_the_default_handler() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SIGPIPE_CHILD],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != -signal.SIGPIPE, "the child was killed by SIGPIPE"
    assert result.returncode == 0, result.stderr
    assert "tcp send_all: " in result.stdout
    assert "unix send: BrokenPipe" in result.stdout


def test_from_socket_checks_the_kind() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(ValueError, match="stream"):
            TCPTransport.from_socket(udp)
        assert udp.fileno() != -1  # not taken over, so not closed
    with pytest.raises(TypeError):
        TCPTransport.from_socket("not a socket")  # type: ignore[arg-type]


def test_loops_never_change_the_socket_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another thread may use the other direction at the same time: send_all and
    # recv_exactly must spread their deadline by polling, not by shrinking the
    # socket's timeout under that thread's feet.
    calls: list[float | None] = []
    original = socket.socket.settimeout

    def spy(self: socket.socket, value: float | None) -> None:
        calls.append(value)
        original(self, value)

    with tcp_pair(client_options=(SO_SNDBUF(4096),), server_options=(SO_RCVBUF(4096),)) as (client, server):
        monkeypatch.setattr(socket.socket, "settimeout", spy)
        data = os.urandom(4 * MiB)
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(server.recv_exactly(len(data))))
        reader.start()
        client.send_all(data)  # many partial sends: the buffers are small
        reader.join(TIMEOUT)
        assert not reader.is_alive()
        assert received == [data]
        assert calls == []
        assert client.timeout == TIMEOUT
        assert server.timeout == TIMEOUT
