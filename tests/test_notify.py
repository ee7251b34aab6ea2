"""``notify()``: the state datagram to ``$NOTIFY_SOCKET``, bound here by the test as systemd would (:apue:`17.2`, :apue:`17.4`)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import transports
from conftest import TIMEOUT
from transports import aio


@pytest.fixture
def manager(tmp_sock_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A Unix datagram socket at a path, named by NOTIFY_SOCKET: the service manager's end."""
    path = tmp_sock_dir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_ready_and_status_reach_a_path(manager: socket.socket) -> None:
    assert transports.notify("READY=1\nSTATUS=serving 3 clients") is True
    assert manager.recv(4096) == b"READY=1\nSTATUS=serving 3 clients"
    assert transports.notify("STOPPING=1\n") is True  # one trailing newline is dropped
    assert manager.recv(4096) == b"STOPPING=1"


def test_an_abstract_name_with_at(monkeypatch: pytest.MonkeyPatch, abstract_name: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + abstract_name)
        sock.settimeout(TIMEOUT)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + abstract_name)
        assert transports.notify("WATCHDOG=1") is True
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_fdstore_passes_a_descriptor_that_works(manager: socket.socket) -> None:
    read_end, write_end = os.pipe()
    try:
        assert transports.notify("FDSTORE=1\nFDNAME=jobs", fds=[read_end]) is True
        data, fds, _, _ = socket.recv_fds(manager, 4096, 4)
        assert data == b"FDSTORE=1\nFDNAME=jobs"
        assert len(fds) == 1
        try:
            assert fds[0] != read_end
            os.write(write_end, b"kept")
            assert os.read(fds[0], 10) == b"kept"  # the same pipe, as systemd keeps it
        finally:
            os.close(fds[0])
    finally:
        os.close(read_end)
        os.close(write_end)


def test_reloading_gets_its_monotonic_timestamp(manager: socket.socket) -> None:
    before = time.monotonic_ns() // 1000
    transports.notify("RELOADING=1")
    after = time.monotonic_ns() // 1000
    lines = manager.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    key, _, value = lines[1].partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after
    transports.notify("RELOADING=1\nMONOTONIC_USEC=42")  # given: kept as is
    assert manager.recv(4096) == b"RELOADING=1\nMONOTONIC_USEC=42"


def test_unset_is_a_no_op_that_still_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert transports.notify("READY=1") is False
    with pytest.raises(ValueError, match="READY takes only the value 1"):
        transports.notify("READY=yes")
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert transports.notify("READY=1") is False


@pytest.mark.parametrize(
    ("state", "fds", "words"),
    [
        ("ready=1", False, "'ready=1' is not a KEY=VALUE line with an upper-case key"),
        ("READY", False, "'READY' is not a KEY=VALUE line"),
        ("READY=1\n\nSTATUS=x", False, "'' is not a KEY=VALUE line"),
        ("READY=2", False, "READY takes only the value 1"),
        ("WATCHDOG=yes", False, "WATCHDOG takes 1 (alive) or 'trigger'"),
        ("MAINPID=me", False, "MAINPID takes a decimal number"),
        ("STATUS=a\0b", False, "NUL"),
        ("FDSTORE=1", False, "pass them with fds="),
        ("STATUS=x", True, "descriptors travel only with FDSTORE=1"),
        ("FDSTORE=1\nFDNAME=a:b", True, "no ':'"),
        ("FDNAME=jobs", False, "FDNAME names descriptors of FDSTORE=1 or FDSTOREREMOVE=1"),
        ("STATUS=" + "x" * 4090, False, "the state is 4097 bytes; systemd reads at most 4096"),
    ],
)
def test_bad_states_are_refused_before_sending(
    manager: socket.socket, state: str, fds: bool, words: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        transports.notify(state, fds=[0] if fds else [])
    manager.setblocking(False)
    with pytest.raises(BlockingIOError):
        manager.recv(4096)  # nothing was sent


def test_the_longest_state_systemd_reads_is_sent_whole(manager: socket.socket) -> None:
    state = "STATUS=" + "x" * (4096 - len("STATUS="))
    assert transports.notify(state) is True
    assert manager.recv(8192) == state.encode()


def test_a_state_that_is_not_text_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a str of KEY=VALUE lines, got bytes"):
        transports.notify(b"READY=1")  # type: ignore[arg-type]  # the wrong type is the point


@pytest.mark.parametrize("value", ["relative.sock", "vsock:2:1234", "@"])
def test_a_notify_socket_we_cannot_reach_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", value)
    with pytest.raises(transports.AddressError, match=f"NOTIFY_SOCKET={value!r}: expected an absolute path"):
        transports.notify("READY=1")


def test_nobody_listening_raises_the_library_error(
    monkeypatch: pytest.MonkeyPatch, tmp_sock_dir: Path
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_sock_dir / "gone.sock"))
    with pytest.raises(transports.TransportError, match=r"gone\.sock"):
        transports.notify("READY=1")


def test_the_async_twin(manager: socket.socket) -> None:
    read_end, write_end = os.pipe()

    async def main() -> tuple[bool, bool]:
        first = await aio.notify("READY=1\nSTATUS=async")
        second = await aio.notify("FDSTORE=1", fds=[read_end])
        return first, second

    try:
        assert asyncio.run(main()) == (True, True)
        assert manager.recv(4096) == b"READY=1\nSTATUS=async"
        data, fds, _, _ = socket.recv_fds(manager, 4096, 4)
        assert data == b"FDSTORE=1"
        for fd in fds:
            os.close(fd)
        assert len(fds) == 1
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_async_twin_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert asyncio.run(aio.notify("READY=1")) is False
