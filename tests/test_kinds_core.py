"""The pieces the socket kinds share: socket set-up, socketpairs, fd passing as functions (issue 14).

``closing_on_error`` is the one close-on-failure block of every constructor;
``FdPassingMixin.pair`` makes the socketpair of each Unix kind; the fd-passing
work is in ``send_fds_on``/``recv_fds_on``, which the methods call.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest

import transports
from conftest import TIMEOUT
from transports import (
    TransportClosed,
    TransportError,
    UnixDatagramTransport,
    UnixSeqpacketTransport,
    UnixStreamTransport,
)
from transports._core.networks import NETWORKS
from transports._core.sockets import closing_on_error
from transports._core.transport import SocketTransport
from transports.fdpass import FdPassingMixin, recv_fds_on, send_fds_on
from transports.flags import RecvFlags, SendFlags, allowed_masks

UNIX_KINDS = [UnixStreamTransport, UnixSeqpacketTransport, UnixDatagramTransport]


def test_closing_on_error_closes_the_socket_and_names_the_step() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with (
        pytest.raises(TransportError) as info,
        closing_on_error(sock, "bind", "tcp://203.0.113.1:1"),
    ):
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
    assert sock.fileno() == -1, "the socket is closed when a step fails"
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert info.value.op == "bind"
    assert "tcp://203.0.113.1:1" in str(info.value)


def test_closing_on_error_passes_other_exceptions_and_still_closes() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(KeyboardInterrupt), closing_on_error(sock, "connect to", "udp://127.0.0.1:9"):
        raise KeyboardInterrupt
    assert sock.fileno() == -1


def test_closing_on_error_leaves_a_socket_that_was_set_up_open() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with closing_on_error(sock, "bind", "udp://127.0.0.1:0") as same:
        same.bind(("127.0.0.1", 0))
    try:
        assert sock.fileno() != -1
        assert sock.getsockname()[1] != 0
    finally:
        sock.close()


@pytest.mark.parametrize("kind", UNIX_KINDS, ids=lambda k: k.network)
def test_every_unix_kind_is_an_fd_passing_transport_with_its_own_pair(kind: type[FdPassingMixin]) -> None:
    a, b = kind.pair()
    with a, b:
        assert type(a) is kind
        assert type(b) is kind
        assert isinstance(a, FdPassingMixin)
        assert a.kind is kind._kind
        b.timeout = TIMEOUT
        a.send(b"x")
        assert b.recv(1) == b"x"


@pytest.mark.parametrize("fail_on", [1, 2], ids=["first end", "second end"])
def test_pair_closes_both_sockets_when_wrapping_fails(
    fail_on: int, fd_count: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = 0
    real_init = UnixStreamTransport.__init__

    def failing_init(self: UnixStreamTransport, sock: socket.socket) -> None:
        nonlocal made
        made += 1
        if made == fail_on:
            raise RuntimeError("wrapping failed")
        real_init(self, sock)

    before = fd_count()
    monkeypatch.setattr(UnixStreamTransport, "__init__", failing_init)
    with pytest.raises(RuntimeError, match="wrapping failed"):
        UnixStreamTransport.pair()
    assert fd_count() == before, "no socket of the pair is left open"


def test_fd_passing_functions_work_on_any_unix_transport() -> None:
    a, b = UnixSeqpacketTransport.pair()
    read_end, write_end = os.pipe()
    try:
        with a, b:
            b.timeout = TIMEOUT
            assert send_fds_on(a, b"fd", [write_end], SendFlags.NONE, None) == 2
            got = recv_fds_on(b, 16, 1, RecvFlags.NONE)
            assert got.data == b"fd"
            assert len(got.fds) == 1
            with os.fdopen(got.fds[0], "wb") as received:
                received.write(b"through the copy")
            assert os.read(read_end, 64) == b"through the copy"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_recv_fds_on_a_closed_transport_is_transport_closed() -> None:
    a, b = UnixStreamTransport.pair()
    with a:
        b.close()
        with pytest.raises(TransportClosed):
            recv_fds_on(b, 16, 1, RecvFlags.NONE)


CONCRETE: dict[str, type[SocketTransport[Any]]] = {
    "tcp": transports.TCPTransport,
    "udp": transports.UDPTransport,
    "unix": UnixStreamTransport,
    "unixgram": UnixDatagramTransport,
    "unixpacket": UnixSeqpacketTransport,
}


@pytest.mark.parametrize("network", sorted(CONCRETE))
def test_a_kind_takes_its_socket_type_families_decoder_and_flags_from_its_network_row(network: str) -> None:
    cls = CONCRETE[network]
    row = NETWORKS[network]
    assert cls.network == network
    assert cls._kind is row.kind
    assert cls._families == row.families
    # the plain function, reached through the class: no bound-method frame per message
    assert getattr(cls, "_address") is row.address  # noqa: B009 - a private attribute, read as the class sees it
    assert (cls._send_allowed, cls._recv_allowed) == allowed_masks(network)


def test_every_network_row_has_its_kind_class() -> None:
    assert set(NETWORKS) == set(CONCRETE)


def test_a_new_kind_is_its_network_name() -> None:
    class LoudUDP(transports.UDPTransport, network="udp"):
        __slots__ = ()

    with LoudUDP.bind("127.0.0.1", 0) as end:
        end.timeout = TIMEOUT
        end.send_to(b"x", end.local_address)
        got = end.recv_from(10)
        assert got.address == end.local_address
    assert got.data == b"x"
    with pytest.raises(KeyError):

        class Nowhere(transports.UDPTransport, network="carrier-pigeon"):
            __slots__ = ()
