"""Who sent a Unix datagram: ``bind(credentials=True)`` and ``allowed_uids`` (SCM_CREDENTIALS, APUE 17.3).

A datagram socket has no connection whose peer the kernel could record, so
the credentials travel with each datagram: the kernel attaches the sender's
pid, uid and gid when the receiver has ``SO_PASSCRED`` on. These tests send
from this process, from a child process, and -- when the tests run as root --
from a child that switched to another user, and check the values against
``os.getpid()``/``getuid()``/``getgid()`` of the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forking import CAN_FORK, fork_child, wait_child
from transports import (
    Credentials,
    Datagram,
    PeerRejected,
    RecvFlags,
    TransportError,
    UnixAddress,
    UnixDatagramTransport,
    UnsupportedOption,
    aio,
)
from transports.fdpass import SO_PASSCRED

TIMEOUT = 5.0
ME = Credentials(os.getpid(), os.getuid(), os.getgid())
#: A uid that is not ours, for the tests that do not switch users.
OTHER_UID = os.getuid() + 4242
#: The user a root test run switches its sender to ("nobody" on Debian).
NOBODY = 65534

needs_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_PASSCRED/SCM_CREDENTIALS are Linux's"
)
pytestmark = needs_linux


@contextlib.contextmanager
def _server(
    tmp_sock_dir: Path, **kwargs: object
) -> Iterator[tuple[UnixDatagramTransport, UnixDatagramTransport]]:
    """A server bound with *kwargs* and a client bound to an autobound name."""
    with (
        UnixDatagramTransport.bind(tmp_sock_dir / "server.sock", timeout=TIMEOUT, **kwargs) as server,  # type: ignore[arg-type]  # the keywords under test
        UnixDatagramTransport.bind(None, timeout=TIMEOUT) as client,
    ):
        yield server, client


# -- credentials on each datagram ----------------------------------------------------------------------


def test_each_datagram_carries_its_senders_credentials(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        assert server.get_option(SO_PASSCRED) is True
        client.send_to(b"who am I", server.local_address)
        got = server.recv_from(100)
        assert got.address == client.local_address
    assert got.data == b"who am I"
    assert got.credentials == ME
    assert got.credentials is not None
    assert got.credentials.pidfd is None


def test_without_credentials_nothing_changes(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir) as (server, client):
        assert type(server) is UnixDatagramTransport
        assert server.get_option(SO_PASSCRED) is False
        client.send_to(b"plain", server.local_address)
        got = server.recv_from(100)
        assert got == Datagram(b"plain", client.local_address, False, 5)
    assert got.credentials is None


def test_a_credentials_socket_keeps_its_class_and_removes_its_file(tmp_sock_dir: Path) -> None:
    path = tmp_sock_dir / "server.sock"
    with UnixDatagramTransport.bind(path, timeout=TIMEOUT, credentials=True) as server:
        assert type(server) is UnixDatagramTransport
        assert repr(server).startswith("<UnixDatagramTransport")
        assert path.exists()
    assert not path.exists(), "the socket file is removed on close as for any bound socket"


def test_a_child_process_is_named_by_its_own_ids(tmp_sock_dir: Path) -> None:
    with UnixDatagramTransport.bind(tmp_sock_dir / "s.sock", timeout=TIMEOUT, credentials=True) as server:
        script = (
            "import socket, sys\n"
            "with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:\n"
            "    s.sendto(b'from the child', sys.argv[1])\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", script, os.fspath(tmp_sock_dir / "s.sock")])
        assert proc.wait(timeout=30) == 0
        got = server.recv_from(100)
    assert got.data == b"from the child"
    assert got.credentials == Credentials(proc.pid, os.getuid(), os.getgid())


def test_a_cut_datagram_still_reports_size_and_sender(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        client.send_to(b"0123456789", server.local_address)
        got = server.recv_from(4)
    assert (got.data, got.truncated, got.size, got.credentials) == (b"0123", True, 10, ME)


def test_recv_many_gives_credentials_too(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        for n in range(3):
            client.send_to(b"%d" % n, server.local_address)
        got = server.recv_many(10, 100)
    assert [d.data for d in got] == [b"0", b"1", b"2"]
    assert all(d.credentials == ME for d in got)


def test_descriptors_are_not_crowded_out_by_credentials(
    tmp_sock_dir: Path, fd_count: Callable[[], int]
) -> None:
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        read_end, write_end = os.pipe()
        try:
            client.send_fds(b"fd", [write_end], address=server.local_address)
            client.send_fds(b"no fd", [], address=server.local_address)
            got = server.recv_fds(16, 1)
            assert got.data == b"fd"
            assert len(got.fds) == 1
            os.close(got.fds[0])
            assert server.recv_fds(16, 0).data == b"no fd"
        finally:
            os.close(read_end)
            os.close(write_end)


def test_the_kernel_attaches_nothing_to_datagrams_sent_before_passcred(abstract_name: str) -> None:
    """Why ``bind`` turns SO_PASSCRED on before binding: a datagram queued earlier has no sender.

    The kernel attaches credentials when a datagram is sent, and only if the
    receiver has SO_PASSCRED on by then; one queued before reports pid 0 and
    the overflow uid, whoever sent it.
    """
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
    ):
        receiver.settimeout(TIMEOUT)
        receiver.bind("\0" + abstract_name)
        sender.sendto(b"early", "\0" + abstract_name)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sender.sendto(b"late", "\0" + abstract_name)
        pids = []
        for _ in range(2):
            _, ancillary, _, _ = receiver.recvmsg(16, socket.CMSG_SPACE(12))
            ((_, _, raw),) = ancillary
            pids.append(int.from_bytes(raw[:4], sys.byteorder))
    assert pids == [0, os.getpid()]


# -- allowed_uids ------------------------------------------------------------------------------------------


def test_an_allowed_sender_is_handed_out(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, allowed_uids={os.getuid(), OTHER_UID}) as (server, client):
        assert server.get_option(SO_PASSCRED) is True  # allowed_uids needs the credentials
        client.send_to(b"friend", server.local_address)
        got = server.recv_from(100)
    assert (got.data, got.credentials) == (b"friend", ME)


def test_a_sender_not_allowed_is_rejected_and_its_datagram_discarded(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, allowed_uids={OTHER_UID}) as (server, client):
        client.send_to(b"stranger", server.local_address)
        client.send_to(b"stranger again", server.local_address)
        with pytest.raises(PeerRejected) as info:
            server.recv_from(100)
        err = info.value
        assert isinstance(err, PermissionError)
        assert isinstance(err, TransportError)
        assert err.credentials == ME
        assert err.op == "recv_from"
        assert f"uid {os.getuid()}" in str(err)
        assert str(tmp_sock_dir / "server.sock") in str(err)
        assert "catch PeerRejected and receive the next one" in str(err)
        # The refused datagram is gone: the next receive sees the next one (and refuses it too).
        with pytest.raises(PeerRejected):
            server.recv_from(100)
        server.timeout = 0
        with pytest.raises(BlockingIOError):
            server.recv_from(100)


def test_recv_and_recv_into_check_the_sender_too(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, allowed_uids={OTHER_UID}) as (server, client):
        client.send_to(b"one", server.local_address)
        client.send_to(b"two", server.local_address)
        with pytest.raises(PeerRejected) as info:
            server.recv(100)
        assert info.value.op == "recv"
        with pytest.raises(PeerRejected) as info:
            server.recv_into(bytearray(100))
        assert info.value.op == "recv_into"
    with _server(tmp_sock_dir, allowed_uids={os.getuid()}) as (server, client):
        client.send_to(b"one", server.local_address)
        client.send_to(b"two", server.local_address)
        assert server.recv(100) == b"one"
        buffer = bytearray(8)
        assert server.recv_into(buffer, 5) == 3
        assert buffer[:3] == b"two"


def test_a_rejected_senders_descriptors_are_closed(tmp_sock_dir: Path, fd_count: Callable[[], int]) -> None:
    with _server(tmp_sock_dir, allowed_uids={OTHER_UID}) as (server, client):
        read_end, write_end = os.pipe()
        try:
            client.send_fds(b"take this", [write_end], address=server.local_address)
            before = fd_count()
            with pytest.raises(PeerRejected):
                server.recv_fds(16, 1)
            assert fd_count() == before, "a rejected sender's descriptor was left open"
        finally:
            os.close(read_end)
            os.close(write_end)


def test_recv_many_stops_at_a_rejected_sender_and_raises_it_next(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, allowed_uids={OTHER_UID}) as (server, client):
        client.send_to(b"x", server.local_address)
        with pytest.raises(PeerRejected):
            server.recv_many(4, 100)


def test_recv_msg_is_refused_where_it_would_skip_the_check(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, allowed_uids={os.getuid()}) as (server, client):
        client.send_to(b"x", server.local_address)
        with pytest.raises(UnsupportedOption, match="allowed_uids"):
            server.recv_msg(100, timestamps=True)
        assert server.recv_from(100).data == b"x", "the refusal took nothing"
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        client.send_to(b"y", server.local_address)
        assert server.recv_msg(100).data == b"y"


@pytest.mark.parametrize("bad", ["0", [None], 0.5])
def test_allowed_uids_must_be_ints(bad: object, tmp_sock_dir: Path) -> None:
    with pytest.raises(TypeError, match="allowed_uids"):
        UnixDatagramTransport.bind(tmp_sock_dir / "x.sock", allowed_uids=bad)  # type: ignore[arg-type]
    assert not (tmp_sock_dir / "x.sock").exists()


def test_credentials_must_be_a_bool(tmp_sock_dir: Path) -> None:
    with pytest.raises(TypeError, match="credentials"):
        UnixDatagramTransport.bind(tmp_sock_dir / "x.sock", credentials=1)  # type: ignore[arg-type]


# -- another user (root only) -----------------------------------------------------------------------------


def _send_as_nobody(name: str, payload: bytes) -> Callable[[], None]:
    def child() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload + b" %d" % os.getpid(), "\0" + name)

    return child


@pytest.mark.skipif(not CAN_FORK or os.geteuid() != 0, reason="switching users needs root and fork")
def test_a_sender_under_another_user_is_seen_and_can_be_refused(abstract_name: str) -> None:
    address = UnixAddress(abstract_name, abstract=True)
    with UnixDatagramTransport.bind(address, timeout=TIMEOUT, allowed_uids={os.getuid()}) as server:
        pid = fork_child(_send_as_nobody(abstract_name, b"from nobody"))
        assert wait_child(pid, TIMEOUT) == 0
        with UnixDatagramTransport.bind(None, timeout=TIMEOUT) as client:
            client.send_to(b"from root", address)
            # A server loop skips refused senders and goes on.
            handed_out: list[Datagram] = []
            refused: list[Credentials] = []
            while len(handed_out) < 1:
                try:
                    handed_out.append(server.recv_from(100))
                except PeerRejected as err:
                    refused.append(err.credentials)
    assert refused == [Credentials(pid, NOBODY, NOBODY)]
    assert [d.data for d in handed_out] == [b"from root"]
    assert handed_out[0].credentials == ME


@pytest.mark.skipif(not CAN_FORK or os.geteuid() != 0, reason="switching users needs root and fork")
def test_the_other_users_ids_arrive_with_credentials_on(abstract_name: str) -> None:
    address = UnixAddress(abstract_name, abstract=True)
    with UnixDatagramTransport.bind(address, timeout=TIMEOUT, credentials=True) as server:
        pid = fork_child(_send_as_nobody(abstract_name, b"hello"))
        assert wait_child(pid, TIMEOUT) == 0
        got = server.recv_from(100)
    assert got.data == b"hello %d" % pid
    assert got.credentials == Credentials(pid, NOBODY, NOBODY)


# -- the Datagram value -------------------------------------------------------------------------------------


def test_a_datagram_with_credentials_is_a_value(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        client.send_to(b"v", server.local_address)
        got = server.recv_from(100)
    plain = Datagram(b"v", got.address, False, 1)
    assert got != plain
    assert got == pickle.loads(pickle.dumps(got))
    assert hash(got) == hash(pickle.loads(pickle.dumps(got)))
    assert f"credentials={ME!r}" in repr(got)
    assert "credentials" not in repr(plain)
    with pytest.raises(AttributeError):
        got.credentials = None  # type: ignore[misc]


# -- the async face -------------------------------------------------------------------------------------------


def test_the_async_face_receives_credentials_and_refuses_strangers(tmp_sock_dir: Path) -> None:
    async def main() -> tuple[Datagram, PeerRejected]:
        server = await aio.UnixDatagramTransport.bind(
            tmp_sock_dir / "a.sock", timeout=TIMEOUT, credentials=True
        )
        guarded = await aio.UnixDatagramTransport.bind(
            tmp_sock_dir / "b.sock", timeout=TIMEOUT, allowed_uids={OTHER_UID}
        )
        client = await aio.UnixDatagramTransport.bind(None, timeout=TIMEOUT)
        async with server, guarded, client:
            receive = asyncio.ensure_future(server.recv_from(100))  # waits on the loop first
            await client.send_to(b"async", server.local_address)
            got = await receive
            await client.send_to(b"stranger", guarded.local_address)
            try:
                await guarded.recv_from(100)
            except PeerRejected as err:
                return got, err
            raise AssertionError("the stranger was handed out")

    got, err = asyncio.run(main())
    assert (got.data, got.credentials) == (b"async", ME)
    assert err.credentials == ME


def test_recv_many_waits_then_checks_on_the_async_face(tmp_sock_dir: Path) -> None:
    async def main() -> list[Datagram]:
        server = await aio.UnixDatagramTransport.bind(
            tmp_sock_dir / "a.sock", timeout=TIMEOUT, allowed_uids={os.getuid()}
        )
        client = await aio.UnixDatagramTransport.bind(None, timeout=TIMEOUT)
        async with server, client:
            await client.send_to(b"1", server.local_address)
            await client.send_to(b"2", server.local_address)
            return await server.recv_many(5, 10)

    got = asyncio.run(main())
    assert [(d.data, d.credentials) for d in got] == [(b"1", ME), (b"2", ME)]


def test_a_flagged_receive_keeps_its_flags(tmp_sock_dir: Path) -> None:
    with _server(tmp_sock_dir, credentials=True) as (server, client):
        client.send_to(b"peeked", server.local_address)
        first = server.recv_from(100, RecvFlags.PEEK)
        second = server.recv_from(100)
    assert first == second
    assert first.credentials == ME
