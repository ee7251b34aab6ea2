"""Hostile sizes on TLS: refused before any I/O, and receives that take only what arrived (:apue:`16.5`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from test_tls import tls_pair, unix_plain
from tls_certs import PKI, tls_pki
from transports import TLSTransport, UnexpectedEOF

__all__ = ["tls_pki"]

BAD: list[tuple[str, Callable[[TLSTransport], object], type[Exception]]] = [
    ("recv(nan)", lambda t: t.recv(math.nan), TypeError),  # type: ignore[arg-type]  # the misuse under test
    ("recv(True)", lambda t: t.recv(True), TypeError),
    ("recv(-1)", lambda t: t.recv(-1), ValueError),
    ("recv_exactly(nan)", lambda t: t.recv_exactly(math.nan), TypeError),  # type: ignore[arg-type]  # as above
    ("recv_exactly(-1)", lambda t: t.recv_exactly(-1), ValueError),
    ("recv_into(nbytes=-1)", lambda t: t.recv_into(bytearray(4), -1), ValueError),
    ("recv_into(nbytes=5) of 4", lambda t: t.recv_into(bytearray(4), 5), ValueError),
    ("recv_into(bytes)", lambda t: t.recv_into(b"read-only"), TypeError),
]


@pytest.fixture
def pair(tls_pki: PKI) -> tuple[TLSTransport, TLSTransport]:
    return tls_pair(unix_plain(), tls_pki.server_context(), tls_pki.client_context())


@pytest.mark.parametrize(("what", "call", "error"), BAD, ids=[b[0] for b in BAD])
def test_bad_sizes_are_refused_at_once(
    pair: tuple[TLSTransport, TLSTransport],
    what: str,
    call: Callable[[TLSTransport], object],
    error: type[Exception],
) -> None:
    client, server = pair
    with client, server:
        client.timeout = 30  # a call that waited instead of refusing would hang the test, not pass it
        with pytest.raises(error):
            call(client)
        server.send_all(b"intact")
        assert client.recv_exactly(6) == b"intact"  # nothing was consumed by the refused call


def test_huge_sizes_take_only_what_arrived(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    with client, server:
        server.send_all(b"abcd")
        assert client.recv(2**62) == b"abcd"
        server.send_all(b"efgh")
        server.shutdown("write")
        with pytest.raises(UnexpectedEOF) as ended:
            client.recv_exactly(2**62)
        assert ended.value.partial == b"efgh"
        assert client.recv(2**62) == b""


def test_empty_sends_and_receives(pair: tuple[TLSTransport, TLSTransport]) -> None:
    client, server = pair
    with client, server:
        assert client.send(b"") == 0
        client.send_all(b"")
        assert client.recv(0) == b""
        assert client.recv_exactly(0) == b""
        assert client.recv_into(bytearray(0)) == 0
        client.send_all(b"x")
        assert server.recv_exactly(1) == b"x"


def test_context_is_checked() -> None:
    a, b = unix_plain()
    with a, b:
        with pytest.raises(TypeError, match=r"ssl\.SSLContext.*create_default_context"):
            TLSTransport.wrap(a, "not a context", server_hostname="localhost")  # type: ignore[arg-type]  # the misuse
        assert not a.closed  # refused before it took the stream over
