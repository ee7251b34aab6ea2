"""Address value types: validation, immutability, equality and socket round trips (APUE 16.3.2).

The round trips go through real sockets: an address is handed to ``bind``
through ``to_sockaddr()`` and read back with ``getsockname`` through
``from_sockaddr()``, so the tests check what the kernel does with our
values, not only what our own code thinks of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transports import (
    Address,
    AddressError,
    Datagram,
    InetAddress,
    UDPTransport,
    UnixAddress,
    UnixDatagramTransport,
)

LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="abstract Unix socket names exist only on Linux")

TIMEOUT = 5.0


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="IPv6 loopback (::1) is not available")


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short private directory for socket files (sun_path holds only 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="tt-addr-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- InetAddress: validation ------------------------------------------------------


@pytest.mark.parametrize("port", [0, 1, 8080, 65535])
def test_inet_ports_in_range_are_accepted(port: int) -> None:
    address = InetAddress("127.0.0.1", port)
    assert address.port == port
    assert address.host == "127.0.0.1"


@pytest.mark.parametrize("port", [-1, 65536, 1 << 20])
def test_inet_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(AddressError, match=rf"port {port} is out of range.*0\.\.65535"):
        InetAddress("127.0.0.1", port)


@pytest.mark.parametrize("port", [True, False])
def test_inet_port_bool_is_refused(port: bool) -> None:
    # bool is an int subclass; InetAddress("h", True) is almost surely a bug.
    with pytest.raises(AddressError, match="port must be an int"):
        InetAddress("127.0.0.1", port)


@pytest.mark.parametrize("port", ["80", 80.0, None, b"80"])
def test_inet_port_of_another_type_is_refused(port: Any) -> None:
    with pytest.raises(AddressError, match="port must be an int"):
        InetAddress("127.0.0.1", port)


@pytest.mark.parametrize("host", ["[::1]", "[::1", "::1]", "[127.0.0.1]"])
def test_inet_host_with_brackets_is_refused(host: str) -> None:
    with pytest.raises(AddressError, match="without brackets"):
        InetAddress(host, 80)


@pytest.mark.parametrize("host", ["exa mple.org", "a/b", "a?b", "a#b", "user@host", "tab\there", "new\nline"])
def test_inet_host_with_impossible_characters_is_refused(host: str) -> None:
    with pytest.raises(AddressError, match="contains characters"):
        InetAddress(host, 80)


@pytest.mark.parametrize("host", [None, b"127.0.0.1", 2130706433])
def test_inet_host_of_another_type_is_refused(host: Any) -> None:
    with pytest.raises(AddressError, match="host must be a str"):
        InetAddress(host, 80)


def test_address_error_is_a_value_error() -> None:
    # Callers that catch ValueError for bad input keep working.
    with pytest.raises(ValueError, match="out of range"):
        InetAddress("127.0.0.1", 70000)


@pytest.mark.parametrize(
    ("host", "family", "is_ipv6"),
    [
        ("127.0.0.1", socket.AF_INET, False),
        ("::1", socket.AF_INET6, True),
        ("fe80::1%lo", socket.AF_INET6, True),
        ("localhost", socket.AF_UNSPEC, False),
        ("", socket.AF_UNSPEC, False),
    ],
)
def test_inet_family_follows_the_host(host: str, family: socket.AddressFamily, is_ipv6: bool) -> None:
    address = InetAddress(host, 1)
    assert address.family == family
    assert address.is_ipv6 is is_ipv6


# -- InetAddress: value semantics -------------------------------------------------


def test_inet_address_is_frozen() -> None:
    address = InetAddress("127.0.0.1", 80)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        address.port = 81  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        address.host = "10.0.0.1"  # type: ignore[misc]
    assert address == InetAddress("127.0.0.1", 80)


def test_inet_address_equality_and_hash() -> None:
    a, b = InetAddress("::1", 8080), InetAddress("::1", 8080)
    assert a == b
    assert a is not b
    assert hash(a) == hash(b)
    assert a != InetAddress("::1", 8081)
    assert a != InetAddress("127.0.0.1", 8080)
    as_tuple: object = ("::1", 8080)
    assert a != as_tuple
    table = {a: "first"}
    table[b] = "second"
    assert table == {InetAddress("::1", 8080): "second"}
    assert len({a, b, InetAddress("::1", 8081)}) == 2


@pytest.mark.parametrize(
    ("host", "port", "text"),
    [
        ("127.0.0.1", 80, "127.0.0.1:80"),
        ("::1", 8080, "[::1]:8080"),
        ("example.org", 443, "example.org:443"),
        ("", 9000, ":9000"),
    ],
)
def test_inet_str_and_url(host: str, port: int, text: str) -> None:
    address = InetAddress(host, port)
    assert str(address) == text
    assert address.url() == f"tcp://{text}"
    assert address.url("udp6") == f"udp6://{text}"
    assert address.to_sockaddr() == (host, port)


def test_inet_repr_names_fields() -> None:
    assert repr(InetAddress("::1", 1)) == "InetAddress(host='::1', port=1)"


def test_inet_from_sockaddr_takes_two_and_four_tuples() -> None:
    assert InetAddress.from_sockaddr(("127.0.0.1", 80)) == InetAddress("127.0.0.1", 80)
    assert InetAddress.from_sockaddr(("::1", 80, 0, 0)) == InetAddress("::1", 80)


@pytest.mark.parametrize(
    ("family", "host"),
    [
        pytest.param(socket.AF_INET, "127.0.0.1", id="ipv4"),
        pytest.param(socket.AF_INET6, "::1", id="ipv6", marks=needs_ipv6),
    ],
)
def test_inet_sockaddr_round_trip_through_the_kernel(family: socket.AddressFamily, host: str) -> None:
    # Bind with our sockaddr, read the kernel's back, and send to it.
    with (
        socket.socket(family, socket.SOCK_DGRAM) as receiver,
        socket.socket(family, socket.SOCK_DGRAM) as sender,
    ):
        receiver.settimeout(TIMEOUT)
        receiver.bind(InetAddress(host, 0).to_sockaddr())
        sender.bind(InetAddress(host, 0).to_sockaddr())
        bound = InetAddress.from_sockaddr(receiver.getsockname())
        assert bound.host == host
        assert 0 < bound.port <= 65535
        assert bound.family == family
        sender.sendto(b"where", bound.to_sockaddr())
        data, raw_sender = receiver.recvfrom(100)
        assert data == b"where"
        assert InetAddress.from_sockaddr(raw_sender) == InetAddress.from_sockaddr(sender.getsockname())


# -- UnixAddress: validation -------------------------------------------------------


@pytest.mark.parametrize("path", ["a\0b", "\0", "/tmp/x\0"])
def test_unix_path_with_nul_is_refused(path: str) -> None:
    with pytest.raises(AddressError, match="NUL"):
        UnixAddress(path)


@linux_only
def test_unix_abstract_name_with_nul_is_refused() -> None:
    with pytest.raises(AddressError, match="NUL"):
        UnixAddress("a\0b", abstract=True)


@linux_only
def test_unix_abstract_empty_name_is_refused() -> None:
    with pytest.raises(AddressError, match="abstract Unix socket name cannot be empty"):
        UnixAddress("", abstract=True)


@pytest.mark.skipif(LINUX, reason="checks the refusal on platforms without abstract names")
def test_unix_abstract_name_is_refused_off_linux() -> None:  # pragma: no cover - not Linux
    with pytest.raises(AddressError, match="only on Linux"):
        UnixAddress("name", abstract=True)


def test_unix_path_length_limit_counts_bytes() -> None:
    assert UnixAddress("a" * 107).path == "a" * 107
    with pytest.raises(AddressError, match=r"108 bytes, longer than sun_path allows \(107\)"):
        UnixAddress("a" * 108)
    # 54 characters, but 108 bytes in UTF-8: the limit is on the encoded name.
    with pytest.raises(AddressError, match="108 bytes"):
        UnixAddress("é" * 54)
    if LINUX:
        assert UnixAddress("b" * 107, abstract=True).to_sockaddr() == b"\0" + b"b" * 107
        with pytest.raises(AddressError, match="sun_path"):
            UnixAddress("b" * 108, abstract=True)


@pytest.mark.parametrize("path", [b"/tmp/a.sock", None, 3, Path("/tmp/a.sock")])
def test_unix_path_of_another_type_is_refused(path: Any) -> None:
    with pytest.raises(AddressError, match="must be a str"):
        UnixAddress(path)


def test_unix_path_that_cannot_be_encoded_is_an_address_error() -> None:
    # A lone surrogate has no file-system encoding; that is a bad address,
    # not a UnicodeEncodeError escaping from deep inside.
    with pytest.raises(AddressError, match="cannot be encoded"):
        UnixAddress("bad\ud800name")


def test_unix_abstract_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        UnixAddress("name", True)  # type: ignore[call-arg]


# -- UnixAddress: value semantics ---------------------------------------------------


def test_unix_address_is_frozen() -> None:
    address = UnixAddress("/tmp/a.sock")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        address.path = "/tmp/b.sock"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        address.abstract = True  # type: ignore[misc]


@linux_only
def test_unix_address_equality_and_hash() -> None:
    path, abstract = UnixAddress("svc"), UnixAddress("svc", abstract=True)
    assert path == UnixAddress("svc")
    assert hash(path) == hash(UnixAddress("svc"))
    assert path != abstract
    assert abstract == UnixAddress("svc", abstract=True)
    assert len({path, abstract, UnixAddress("svc"), UnixAddress("svc", abstract=True)}) == 2
    unnamed: object = UnixAddress("")
    assert unnamed != InetAddress("", 0)


@pytest.mark.parametrize(
    ("address", "text", "url", "sockaddr"),
    [
        (UnixAddress("/run/app.sock"), "/run/app.sock", "unix:///run/app.sock", "/run/app.sock"),
        (UnixAddress("run/app.sock"), "run/app.sock", "unix:run/app.sock", "run/app.sock"),
        (UnixAddress(""), "(unnamed)", "unix:", ""),
    ],
)
def test_unix_str_url_and_sockaddr(address: UnixAddress, text: str, url: str, sockaddr: str) -> None:
    assert str(address) == text
    assert address.url() == url
    assert address.to_sockaddr() == sockaddr
    assert address.unnamed is (sockaddr == "")


@linux_only
def test_unix_abstract_str_url_and_sockaddr() -> None:
    address = UnixAddress("svc", abstract=True)
    assert str(address) == "@svc"
    assert address.url() == "unix://@svc"
    assert address.url("unixgram") == "unixgram://@svc"
    assert address.to_sockaddr() == b"\0svc"
    assert not address.unnamed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, UnixAddress("")),
        ("", UnixAddress("")),
        ("/tmp/a.sock", UnixAddress("/tmp/a.sock")),
        (b"/tmp/a.sock", UnixAddress("/tmp/a.sock")),
        (b"", UnixAddress("")),
    ],
)
def test_unix_from_sockaddr(raw: str | bytes | None, expected: UnixAddress) -> None:
    assert UnixAddress.from_sockaddr(raw) == expected


@linux_only
def test_unix_from_sockaddr_abstract() -> None:
    assert UnixAddress.from_sockaddr(b"\0svc") == UnixAddress("svc", abstract=True)


@pytest.mark.parametrize("name", ["a.sock", "sp ace.sock", "ünï.sock", "%41?#@.sock"])
def test_unix_path_round_trip_through_the_kernel(sock_dir: Path, name: str) -> None:
    address = UnixAddress(str(sock_dir / name))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address.to_sockaddr())
        assert UnixAddress.from_sockaddr(sock.getsockname()) == address
    assert (sock_dir / name).exists()


@linux_only
@pytest.mark.parametrize("prefix", ["tt", "tt with spaces/and/slashes", "ünï"])
def test_unix_abstract_round_trip_through_the_kernel(prefix: str) -> None:
    address = UnixAddress(f"{prefix}-{uuid.uuid4().hex}", abstract=True)
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender,
    ):
        receiver.settimeout(TIMEOUT)
        receiver.bind(address.to_sockaddr())
        assert UnixAddress.from_sockaddr(receiver.getsockname()) == address
        sender.sendto(b"hi", address.to_sockaddr())
        assert receiver.recv(10) == b"hi"


# -- sockaddr round trips for any valid address --------------------------------------------

_PROPERTY = settings(deadline=None, database=None)


def _encodable(name: str) -> bool:
    try:
        return 0 < len(os.fsencode(name)) <= 107
    except UnicodeEncodeError:
        return False


@_PROPERTY
@given(host=st.one_of(st.ip_addresses().map(str), st.just("")), port=st.integers(0, 65535))
def test_inet_sockaddr_round_trip(host: str, port: int) -> None:
    address = InetAddress(host, port)
    assert InetAddress.from_sockaddr(address.to_sockaddr()) == address
    assert InetAddress.from_sockaddr((*address.to_sockaddr(), 0, 0)) == address  # the IPv6 4-tuple


@_PROPERTY
@given(name=st.text(st.characters(exclude_characters="\0"), min_size=1, max_size=40).filter(_encodable))
def test_unix_sockaddr_round_trip(name: str) -> None:
    path = UnixAddress(name)
    assert UnixAddress.from_sockaddr(path.to_sockaddr()) == path
    assert UnixAddress.from_sockaddr(os.fsencode(name)) == path  # bytes, as for undecodable names
    if LINUX:
        abstract = UnixAddress(name, abstract=True)
        assert UnixAddress.from_sockaddr(abstract.to_sockaddr()) == abstract


# -- Datagram ------------------------------------------------------------------------


def test_datagram_fields_and_defaults() -> None:
    sender = InetAddress("127.0.0.1", 5353)
    datagram = Datagram(b"payload", sender)
    assert (datagram.data, datagram.address, datagram.truncated, datagram.size) == (
        b"payload",
        sender,
        False,
        None,
    )
    cut = Datagram(b"pay", sender, truncated=True, size=7)
    assert cut.truncated
    assert cut.size == 7
    assert cut != datagram
    assert Datagram(b"pay", sender, truncated=True, size=7) == cut
    assert hash(Datagram(b"pay", sender, truncated=True, size=7)) == hash(cut)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        cut.data = b"other"  # type: ignore[misc]


def test_udp_recv_from_fills_every_datagram_field() -> None:
    with (
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as receiver,
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as sender,
    ):
        sender.send_to(b"0123456789", receiver.local_address)
        sender.send_to(b"abc", receiver.local_address)
        whole = receiver.recv_from(100)
        assert whole == Datagram(b"0123456789", sender.local_address, truncated=False, size=10)
        cut = receiver.recv_from(2)
        assert cut.data == b"ab"
        assert cut.truncated
        assert cut.address == sender.local_address
        assert cut.size == (3 if LINUX else None)


def test_unix_datagram_from_an_unnamed_sender(sock_dir: Path) -> None:
    path = str(sock_dir / "r.sock")
    with (
        UnixDatagramTransport.bind(path, timeout=TIMEOUT) as receiver,
        contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as unnamed,
    ):
        assert receiver.local_address == UnixAddress(path)
        unnamed.sendto(b"anonymous", path)
        datagram = receiver.recv_from(100)
        address: Address = datagram.address
        assert address == UnixAddress("")
        assert isinstance(address, UnixAddress)
        assert address.unnamed
        assert datagram.data == b"anonymous"
        assert not datagram.truncated
