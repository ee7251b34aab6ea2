"""transports-mqueue passes the typed-transports conformance kit, reached through its URL scheme."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest
from transports_mqueue import MQueueTransport

import transports
from transports.testing import MessageCheck


def _name() -> str:
    return f"/tt-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def mqueue_pair() -> tuple[transports.Transport, transports.Transport]:
    """A fresh server end and client end, made through the entry point like any user would."""
    url = f"mqueue://{_name()}"
    server = transports.bind(url, timeout=5)
    try:
        client = transports.connect(url, timeout=5)
    except BaseException:
        server.close()
        raise
    return server, client


def test_conformance(message_check: MessageCheck) -> None:
    message_check(mqueue_pair)


def test_the_scheme_comes_from_the_plugin() -> None:
    info = {row.name: row for row in transports.schemes()}["mqueue"]
    assert info.kind is transports.Kind.DATAGRAM
    assert info.origin.startswith("plugin transports-mqueue")
    assert info.error is None


@pytest.fixture
def ends() -> Iterator[tuple[transports.Transport, transports.Transport]]:
    server, client = mqueue_pair()
    with server, client:
        yield server, client


def test_both_directions_and_addresses(ends: tuple[transports.Transport, transports.Transport]) -> None:
    server, client = ends
    assert isinstance(server, MQueueTransport)
    client.send(b"question")
    assert server.recv(100) == b"question"
    server.send(b"answer")
    assert client.recv(100) == b"answer"
    assert server.local_address == client.remote_address
    assert server.local_address.url().startswith("mqueue:///tt-")


def test_peek_is_refused(ends: tuple[transports.Transport, transports.Transport]) -> None:
    server, _ = ends
    with pytest.raises(transports.UnsupportedFlag, match="PEEK"):
        server.recv(100, transports.RecvFlags.PEEK)


def test_fileno_is_the_queue_descriptor(ends: tuple[transports.Transport, transports.Transport]) -> None:
    server, client = ends
    if not sys.platform.startswith("linux"):
        pytest.skip("message queue descriptors are files only on Linux")
    assert server.fileno() >= 0
    assert server.fileno() != client.fileno()


def test_the_server_removes_its_queues() -> None:
    url = f"mqueue://{_name()}"
    with transports.bind(url):
        with pytest.raises(transports.TransportError, match="another server"):
            transports.bind(url)
    with pytest.raises(transports.TransportError, match="is a server bound there"):
        transports.connect(url)


def test_urls() -> None:
    with pytest.raises(transports.AddressError):
        transports.connect("mqueue:///a/b")
    with pytest.raises(transports.AddressError, match=r"use transports\.bind"):
        transports.listen("mqueue:///jobs")
