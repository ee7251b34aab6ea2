"""Unix-domain sockets: socket files, abstract names, datagram limits, seqpacket (APUE 17.2, 17.3)."""

from __future__ import annotations

import os
import select
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import transports
from conftest import TIMEOUT
from transports import (
    AddressError,
    AddressInUse,
    MessageTooLarge,
    RecvFlags,
    SendFlags,
    TransportError,
    UnixAddress,
    UnixDatagramTransport,
    UnixListener,
    UnixSeqpacketListener,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedFlag,
    WouldBlock,
)
from transports.options import SO_SNDBUF
from transports.unix import unix_stream_has_oob

LISTENERS = [
    pytest.param(UnixListener, UnixStreamTransport, id="stream"),
    pytest.param(UnixSeqpacketListener, UnixSeqpacketTransport, id="seqpacket"),
]
ListenerClass = type[UnixListener] | type[UnixSeqpacketListener]
ClientClass = type[UnixStreamTransport] | type[UnixSeqpacketTransport]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _leave_stale_socket(path: Path) -> None:
    """Bind a socket at *path* and close it: the file stays, with nobody behind it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(os.fspath(path))
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


# -- socket files ---------------------------------------------------------------------


@pytest.mark.parametrize(("listener_cls", "client_cls"), LISTENERS)
def test_listener_creates_a_private_socket_file(
    listener_cls: ListenerClass, client_cls: ClientClass, tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "server.sock"
    with listener_cls.listen(path, timeout=TIMEOUT) as listener:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert _mode(path) == 0o600
        assert listener.address == UnixAddress(os.fspath(path))
        with client_cls.connect(path, timeout=TIMEOUT) as client, listener.accept() as server:
            assert client.remote_address == UnixAddress(os.fspath(path))
            assert server.local_address == UnixAddress(os.fspath(path))
            client.send(b"hi")
            server.timeout = TIMEOUT
            assert server.recv(10) == b"hi"
    assert not path.exists()


@pytest.mark.parametrize("mode", [0o660, 0o666, 0o700])
def test_listener_custom_mode(mode: int, tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "shared.sock"
    with UnixListener.listen(path, mode=mode):
        assert _mode(path) == mode


def test_bad_mode_is_refused_before_any_file(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "bad.sock"
    with pytest.raises(ValueError, match="mode"):
        UnixListener.listen(path, mode=0o1777)
    assert not path.exists()


def test_stale_socket_file_is_replaced(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "stale.sock"
    _leave_stale_socket(path)
    os.chmod(path, 0o644)  # to tell the old file from the new one (inode numbers get reused)
    with UnixListener.listen(path, timeout=TIMEOUT) as listener:
        assert _mode(path) == 0o600
        with UnixStreamTransport.connect(path, timeout=TIMEOUT), listener.accept():
            pass
    assert not path.exists()


def test_live_socket_is_never_replaced(tmp_sock_dir: Path, fd_count: Callable[[], int]) -> None:
    path = tmp_sock_dir / "live.sock"
    with UnixListener.listen(path, timeout=TIMEOUT) as first:
        inode = os.lstat(path).st_ino
        before = fd_count()
        with pytest.raises(AddressInUse) as info:
            UnixListener.listen(path)
        assert "listening" in str(info.value)
        assert os.fspath(path) in str(info.value)
        assert fd_count() == before
        # The first server is untouched and still answers.
        assert os.lstat(path).st_ino == inode
        with UnixStreamTransport.connect(path, timeout=TIMEOUT), first.accept():
            pass


def test_live_socket_of_another_kind_is_never_replaced(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "packet.sock"
    with UnixSeqpacketListener.listen(path):
        with pytest.raises(AddressInUse):
            UnixListener.listen(path)
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def _make_regular(path: Path) -> None:
    path.write_bytes(b"precious data")


def _make_directory(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_bytes(b"precious data")


def _make_symlink(path: Path) -> None:
    target = path.with_name("target.sock")
    _leave_stale_socket(target)  # even a link to a stale socket is not ours to remove
    path.symlink_to(target)


@pytest.mark.parametrize(
    ("make", "described"),
    [
        pytest.param(_make_regular, "a regular file", id="regular-file"),
        pytest.param(_make_directory, "a directory", id="directory"),
        pytest.param(_make_symlink, "a symbolic link", id="symlink"),
    ],
)
def test_other_files_are_never_replaced(
    make: Callable[[Path], None], described: str, tmp_sock_dir: Path
) -> None:
    path = tmp_sock_dir / "taken"
    make(path)
    before = os.lstat(path)
    with pytest.raises(AddressInUse) as info:
        UnixListener.listen(path)
    assert described in str(info.value)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        before.st_ino,
        before.st_mode,
        before.st_mtime_ns,
    )
    if path.is_symlink():
        assert stat.S_ISSOCK(os.lstat(path.with_name("target.sock")).st_mode)
    elif path.is_dir():
        assert (path / "inside").read_bytes() == b"precious data"
    else:
        assert path.read_bytes() == b"precious data"


def test_close_removes_only_the_file_it_created(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "replaced.sock"
    listener = UnixListener.listen(path)
    with listener:
        # Someone else takes the path while we listen: on close it must survive.
        path.unlink()
        path.write_bytes(b"someone else's")
    assert path.read_bytes() == b"someone else's"


def test_path_too_long_fails_before_any_socket(tmp_sock_dir: Path, fd_count: Callable[[], int]) -> None:
    path = tmp_sock_dir / ("x" * 120)
    before = fd_count()
    with pytest.raises(AddressError, match="sun_path"):
        UnixListener.listen(path)
    with pytest.raises(AddressError, match="sun_path"):
        UnixStreamTransport.connect(path)
    with pytest.raises(AddressError, match="sun_path"):
        UnixDatagramTransport.bind(path)
    assert fd_count() == before
    assert not path.exists()


def test_connect_to_a_missing_path(tmp_sock_dir: Path, fd_count: Callable[[], int]) -> None:
    path = tmp_sock_dir / "nobody-home.sock"
    before = fd_count()
    with pytest.raises(TransportError) as info:
        UnixStreamTransport.connect(path, timeout=TIMEOUT)
    assert os.fspath(path) in str(info.value)
    assert "is the server running" in str(info.value)
    assert isinstance(info.value, FileNotFoundError) or info.value.errno == 2
    assert fd_count() == before


def test_connect_to_a_stale_socket_is_refused(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "dead.sock"
    _leave_stale_socket(path)
    with pytest.raises(ConnectionRefusedError):
        UnixStreamTransport.connect(path, timeout=TIMEOUT)


# -- abstract names -------------------------------------------------------------------------


def test_abstract_listener(abstract_name: str) -> None:
    url = f"unix://@{abstract_name}"
    with transports.listen(url, timeout=TIMEOUT) as listener:
        assert listener.address == UnixAddress(abstract_name, abstract=True)
        with transports.connect(url, timeout=TIMEOUT) as client, listener.accept() as server:
            assert client.remote_address == UnixAddress(abstract_name, abstract=True)
            client.send(b"abstract")
            server.timeout = TIMEOUT
            assert server.recv(100) == b"abstract"
        # An abstract name is no file, and a live one cannot be taken twice.
        assert not os.path.exists(abstract_name)
        with pytest.raises(AddressInUse):
            transports.listen(url)
    # Once the last socket closed, the name is free again.
    with transports.listen(url):
        pass


def test_abstract_datagram_names(abstract_name: str) -> None:
    with (
        UnixDatagramTransport.bind(f"\0{abstract_name}", timeout=TIMEOUT) as server,
        UnixDatagramTransport.bind(None, timeout=TIMEOUT) as client,
    ):
        assert server.local_address == UnixAddress(abstract_name, abstract=True)
        # Autobind gives the client an abstract name, so the server can answer it.
        auto = client.local_address
        assert auto.abstract
        assert auto.path
        client.send_to(b"ping", server.local_address)
        request = server.recv_from(100)
        assert request.data == b"ping"
        assert request.address == auto
        server.send_to(b"pong", request.address)
        assert client.recv(100) == b"pong"


# -- Unix datagrams ---------------------------------------------------------------------------


def test_datagram_bound_to_a_path(tmp_sock_dir: Path) -> None:
    server_path, client_path = tmp_sock_dir / "dgram.sock", tmp_sock_dir / "reply.sock"
    with UnixDatagramTransport.bind(server_path, timeout=TIMEOUT) as server:
        assert _mode(server_path) == 0o600
        with UnixDatagramTransport.connect(server_path, local=client_path, timeout=TIMEOUT) as client:
            assert client.local_address == UnixAddress(os.fspath(client_path))
            client.send(b"request")
            request = server.recv_from(100)
            assert request.address == UnixAddress(os.fspath(client_path))
            server.send_to(b"reply", request.address)
            assert client.recv(100) == b"reply"
        assert not client_path.exists()
    assert not server_path.exists()


def test_datagram_connect_without_local_name_can_get_replies(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "dgram.sock"
    with (
        UnixDatagramTransport.bind(path, timeout=TIMEOUT) as server,
        UnixDatagramTransport.connect(path, timeout=TIMEOUT) as client,
    ):
        client.send(b"who am I?")
        request = server.recv_from(100)
        assert request.address == client.local_address
        server.send_to(b"reply", request.address)
        assert client.recv(100) == b"reply"


def test_datagram_limit_follows_the_send_buffer() -> None:
    a, b = UnixDatagramTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        assert a.max_message_size == a.get_option(SO_SNDBUF) - 32
        a.set_option(SO_SNDBUF, 300_000)
        limit = a.max_message_size
        assert limit == a.get_option(SO_SNDBUF) - 32
        assert limit >= 300_000
        data = os.urandom(limit)
        assert a.send(data) == limit
        assert b.recv(limit) == data
        with pytest.raises(MessageTooLarge) as info:
            a.send(bytes(limit + 1))
        assert info.value.limit == limit
        assert info.value.size == limit + 1
        with pytest.raises(WouldBlock):
            b.recv(limit + 1, RecvFlags.DONTWAIT)


def test_huge_datagram_is_too_large_not_no_buffers() -> None:
    # Far above the send buffer Linux answers ENOBUFS instead of EMSGSIZE: same error for us.
    a, b = UnixDatagramTransport.pair()
    with a, b:
        with pytest.raises(MessageTooLarge) as info:
            a.send(bytes(5_000_000))
        assert info.value.size == 5_000_000
        assert info.value.limit == a.max_message_size


def test_send_to_refuses_inet_addresses() -> None:
    a, b = UnixDatagramTransport.pair()
    with a, b, pytest.raises(AddressError, match="path"):
        a.send_to(b"x", ("127.0.0.1", 9))


def test_send_to_an_unnamed_address_fails_before_the_kernel() -> None:
    # A socketpair end has no name; the kernel would answer EINVAL.
    a, b = UnixDatagramTransport.pair()
    with a, b, pytest.raises(AddressError, match="unnamed"):
        a.send_to(b"x", b.local_address)


@pytest.mark.parametrize("kind", ["datagram", "seqpacket"])
def test_recv_into_with_nbytes_beyond_the_buffer(kind: str) -> None:
    a, b = transports.socketpair(kind)  # type: ignore[call-overload]  # kind is one of the two literals
    with a, b:
        a.send(b"hello")
        with pytest.raises(ValueError, match="larger than the 4-byte buffer"):
            b.recv_into(bytearray(4), 10)
        b.timeout = TIMEOUT
        assert b.recv(10) == b"hello"  # the refused call consumed nothing


# -- seqpacket versus stream ------------------------------------------------------------------


def test_seqpacket_keeps_boundaries_a_stream_keeps_order() -> None:
    sa, sb = UnixSeqpacketTransport.pair()
    with sa, sb:
        sb.timeout = TIMEOUT
        for message in (b"one", b"two", b"three"):
            sa.send(message)
        assert [sb.recv(100), sb.recv(100), sb.recv(100)] == [b"one", b"two", b"three"]
    ta, tb = UnixStreamTransport.pair()
    with ta, tb:
        tb.timeout = TIMEOUT
        for message in (b"one", b"two", b"three"):
            ta.send_all(message)
        # The stream may deliver these in any grouping; only the bytes and their order count.
        assert tb.recv_exactly(11) == b"onetwothree"


def test_seqpacket_eor_flag_is_accepted() -> None:
    a, b = UnixSeqpacketTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.send(b"record", SendFlags.EOR)
        assert b.recv(100) == b"record"


def test_unix_stream_out_of_band() -> None:
    a, b = UnixStreamTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        if not unix_stream_has_oob():
            # A kernel built without AF_UNIX OOB: refused up front, never sent as ordinary data.
            with pytest.raises(UnsupportedFlag, match="OOB"):
                a.send(b"!", SendFlags.OOB)
            return
        a.send(b"data")
        a.send(b"!", SendFlags.OOB)
        poller = select.poll()
        poller.register(b.fileno(), select.POLLPRI)
        assert poller.poll(TIMEOUT * 1000), "no urgent data arrived"
        assert b.recv(1, RecvFlags.OOB) == b"!"
        assert b.recv_exactly(4) == b"data"


def test_socketpair_by_kind_name() -> None:
    for kind, cls in [
        ("stream", UnixStreamTransport),
        ("datagram", UnixDatagramTransport),
        ("seqpacket", UnixSeqpacketTransport),
    ]:
        a, b = transports.socketpair(kind)  # type: ignore[call-overload]
        with a, b:
            assert type(a) is cls
            assert type(b) is cls
    with pytest.raises(ValueError, match="socketpair kind"):
        transports.socketpair("raw")  # type: ignore[call-overload]
