"""Adopting a listening socket made elsewhere: ``from_socket`` on every listener kind, both faces (:apue:`16.4`)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blocking import wait_until_blocked
from transports import (
    TCPListener,
    TCPTransport,
    TransportClosed,
    TransportTimeout,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    WouldBlock,
    aio,
)

TIMEOUT = 5.0


def listening_tcp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_tcp_listener_adopts_and_accepts() -> None:
    sock = listening_tcp()
    port = sock.getsockname()[1]
    with TCPListener.from_socket(sock) as listener:
        assert listener.raw_socket is sock
        assert listener.address.port == port
        assert listener.timeout is None
        with TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as client:
            listener.timeout = TIMEOUT
            with listener.accept() as conn:
                client.send_all(b"adopted")
                conn.timeout = TIMEOUT
                assert conn.recv_exactly(7) == b"adopted"
    assert sock.fileno() == -1  # taken over: closed with the listener


def test_an_adopted_socket_keeps_one_mode_whatever_its_timeout() -> None:
    """The blocking mode is shared by every process holding the socket: a listener never flips it."""
    for blocking in (True, False):
        sock = listening_tcp()
        sock.setblocking(blocking)
        with TCPListener.from_socket(sock) as listener:
            assert listener.timeout is None  # accept waits for ever...
            assert not sock.getblocking()  # ...in poll(2), the socket itself non-blocking
            listener.timeout = 2.5
            assert (listener.timeout, sock.getblocking()) == (2.5, False)


def test_close_wakes_accept_without_stopping_the_shared_socket() -> None:
    """A waiting accept wakes on close(), and another holder of the socket still accepts (systemd, a successor)."""
    sock = listening_tcp()
    port = sock.getsockname()[1]
    other_holder = socket.socket(fileno=os.dup(sock.fileno()))  # what systemd or a successor holds
    listener = TCPListener.from_socket(sock)
    woke = threading.Event()
    errors: list[BaseException] = []

    def wait_in_accept() -> None:
        try:
            listener.accept()
        except TransportClosed:
            woke.set()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=wait_in_accept)
    thread.start()
    try:
        assert wait_until_blocked(thread, TIMEOUT)  # in poll(2), inside accept()
        listener.close()
        thread.join(TIMEOUT)
        assert woke.is_set()
        assert not errors
        assert not thread.is_alive()
        with other_holder, socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
            other_holder.settimeout(TIMEOUT)
            conn, _ = other_holder.accept()  # still listening: close() shut nothing down
            with conn:
                client.sendall(b"ok")
                conn.settimeout(TIMEOUT)
                assert conn.recv(2) == b"ok"
    finally:
        listener.close()
        thread.join(TIMEOUT)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM), "not listening"),
        (lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM), "SOCK_STREAM"),
        (lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), "AF_INET"),
    ],
    ids=["unlistened", "datagram", "unix-family"],
)
def test_tcp_listener_refuses_and_leaves_open(make: Callable[[], socket.socket], words: str) -> None:
    with make() as sock:
        with pytest.raises(ValueError, match=words) as info:
            TCPListener.from_socket(sock)
        assert "not taken over" in str(info.value)
        assert sock.fileno() != -1


def test_refuses_closed_and_non_sockets() -> None:
    sock = listening_tcp()
    sock.close()
    with pytest.raises(ValueError, match="closed"):
        TCPListener.from_socket(sock)
    with pytest.raises(TypeError, match=r"socket\.socket"):
        TCPListener.from_socket(3)  # type: ignore[arg-type]  # the wrong usage under test


def test_unix_adopted_listener_never_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "made-elsewhere.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(4)
    with UnixListener.from_socket(sock) as listener:
        assert listener.address.path == str(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(TIMEOUT)
            client.connect(str(path))
            listener.timeout = TIMEOUT
            with listener.accept() as conn:
                client.sendall(b"x")
                conn.timeout = TIMEOUT
                assert conn.recv(1) == b"x"
    assert path.exists()  # whoever bound it removes it (CPython gh-133354 is asyncio unlinking it)


def test_seqpacket_adoption_checks_the_type(tmp_path: Path) -> None:
    path = tmp_path / "packets.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.bind(str(path))
    sock.listen(4)
    with pytest.raises(ValueError, match="SOCK_STREAM"):
        UnixListener.from_socket(sock)
    with UnixSeqpacketListener.from_socket(sock) as listener:
        with UnixSeqpacketTransport.connect(str(path), timeout=TIMEOUT) as client:
            listener.timeout = TIMEOUT
            with listener.accept() as conn:
                client.send(b"one")
                conn.timeout = TIMEOUT
                assert conn.recv(10) == b"one"
    assert path.exists()


def test_aio_listeners_adopt(tmp_path: Path) -> None:
    async def main() -> None:
        sock = listening_tcp()
        port = sock.getsockname()[1]
        async with aio.TCPListener.from_socket(sock) as listener:
            assert not sock.getblocking()
            async with await aio.TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT) as client:
                async with asyncio.timeout(TIMEOUT):
                    conn = await listener.accept()
                async with conn:
                    await client.send_all(b"hi")
                    async with asyncio.timeout(TIMEOUT):
                        assert await conn.recv_exactly(2) == b"hi"
        path = tmp_path / "aio.sock"
        usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        usock.bind(str(path))
        usock.listen(4)
        async with aio.UnixListener.from_socket(usock) as ulistener:
            assert ulistener.address.path == str(path)
        assert path.exists()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unlistened:
            with pytest.raises(ValueError, match="not listening"):
                aio.TCPListener.from_socket(unlistened)
            assert unlistened.fileno() != -1

    asyncio.run(main())


def test_adopt_from_a_parent_by_fd_number() -> None:
    """What activation and hand-off do: a socket known only by its descriptor number."""
    original = listening_tcp()
    duplicate = os.dup(original.fileno())
    original.close()
    sock = socket.socket(fileno=duplicate)
    listener: Any = TCPListener.from_socket(sock)
    with listener:
        assert listener.address.host == "127.0.0.1"


def test_accept_timeout_and_non_blocking_say_what_happened() -> None:
    """The listener's own timeout: 0 raises WouldBlock at once, a short one a timeout naming its length."""
    with TCPListener.listen("127.0.0.1", 0, timeout=0) as listener:
        with pytest.raises(WouldBlock, match="EAGAIN"):
            listener.accept()
        listener.timeout = 0.05
        with pytest.raises(TransportTimeout, match=r"timed out \(timeout of 0\.05 s\)") as info:
            listener.accept()
        assert info.value.op == "accept"
        assert not listener.raw_socket.getblocking()  # waiting happened in poll(2), not in the socket


def test_disown_leaves_the_socket_file_for_whoever_serves_it_now(tmp_path: Path) -> None:
    """What a hand-off's old process does: its close() must not remove the path clients use."""
    listening = tmp_path / "listener.sock"
    datagrams = tmp_path / "datagrams.sock"
    with UnixListener.listen(listening) as listener, UnixDatagramTransport.bind(datagrams) as bound:
        listener.disown()
        bound.disown()
    assert listening.exists()
    assert datagrams.exists()
    kept = tmp_path / "kept.sock"
    with UnixListener.listen(kept):
        pass
    assert not kept.exists()  # without disown() the file goes with the listener, as before

    async def main() -> None:
        path = tmp_path / "aio.sock"
        async with await aio.UnixSeqpacketListener.listen(path) as listener:
            listener.disown()
        assert path.exists()

    asyncio.run(main())
