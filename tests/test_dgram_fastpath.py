"""The cheap per-datagram path and the lookup-free numeric connect (issue 18, items 1 and 2).

What the fast paths must keep: a Datagram is still an immutable, hashable
value with the same fields; truncation is still reported (``truncated`` and
``size``, or MessageTruncated) whichever receive path runs; a sender is
decoded once; an IP literal is connected to without asking getaddrinfo,
with the same errors as before.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import time
from pathlib import Path
from typing import Any, NoReturn

import attrs
import pytest

import transports._core.message as message_core
from blocking import wait_until_blocked
from conftest import HAS_IPV6, TIMEOUT, Background
from transports import (
    AddressError,
    ConnectionRefused,
    Datagram,
    InetAddress,
    MessageTruncated,
    TCPListener,
    TCPTransport,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UDPTransport,
    UnixAddress,
    UnixDatagramTransport,
    WouldBlock,
    aio,
)
from transports._core import sockflags
from transports._core.inet import numeric
from transports._core.message import SENDERS_KEPT

# -- Datagram, the value -------------------------------------------------------------


def test_datagram_is_an_immutable_hashable_value() -> None:
    sender = InetAddress("127.0.0.1", 9)
    made = Datagram(b"abc", sender, truncated=True, size=10)
    assert (made.data, made.address, made.truncated, made.size) == (b"abc", sender, True, 10)
    assert Datagram(b"abc", sender) == Datagram(b"abc", sender, False, None)
    assert made == Datagram(b"abc", sender, True, 10)
    assert made != Datagram(b"abc", sender, True, 11)
    assert hash(made) == hash(Datagram(b"abc", sender, truncated=True, size=10))
    assert len({made, Datagram(b"abc", sender, True, 10), Datagram(b"abd", sender)}) == 2
    for name in ("data", "address", "truncated", "size"):
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(made, name, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(made, name)
    assert made.data == b"abc"


def test_datagram_repr_names_every_field_and_matches() -> None:
    sender = UnixAddress("peer.sock")
    made = Datagram(b"x", sender, size=1)
    assert repr(made) == f"Datagram(data=b'x', address={sender!r}, truncated=False, size=1)"
    match made:
        case Datagram(data, address, truncated, size):
            assert (data, address, truncated, size) == (b"x", sender, False, 1)
        case _:
            pytest.fail("a Datagram matches its four fields by position")
    assert made != (b"x", sender, False, 1)
    assert pickle.loads(pickle.dumps(made)) == made
    with pytest.raises(AttributeError):
        made.extra = 1  # type: ignore[attr-defined]  # the point: no new attributes either


def test_a_frozen_datagram_says_what_to_do() -> None:
    made = Datagram(b"x", UnixAddress(""))
    with pytest.raises(attrs.exceptions.FrozenInstanceError) as caught:
        made.size = 3  # type: ignore[misc]  # the point: it must refuse
    assert "make a new Datagram" in "".join(caught.value.__notes__)


# -- truncation on the fast receive paths -----------------------------------------------


@pytest.fixture(params=[True, False], ids=["sized-recv", "portable"])
def receive_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test on the hot path (Linux) and on the checked path every platform takes."""
    sized: bool = request.param
    if sized and not sockflags.SIZED_RECV:
        pytest.skip("this Python or platform does not report a datagram's real size through recv")
    if not sized:
        monkeypatch.setattr(message_core, "SIZED_RECV", False)
    return sized


def test_udp_recv_from_reports_a_cut_on_every_path(receive_path: bool) -> None:
    with (
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as receiver,
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as sender,
    ):
        for payload in (b"0123456789", b"abcd", b"xyz", b""):
            sender.send_to(payload, receiver.local_address)
        cut = receiver.recv_from(4)
        assert (cut.data, cut.truncated, cut.address) == (b"0123", True, sender.local_address)
        assert cut.size == (10 if sockflags.TRUNC_IN else None)
        exact = receiver.recv_from(4)
        assert exact == Datagram(b"abcd", sender.local_address, truncated=False, size=4)
        assert receiver.recv_from(4) == Datagram(b"xyz", sender.local_address, False, 3)
        empty = receiver.recv_from(4)
        assert (empty.data, empty.truncated, empty.size) == (b"", False, 0)


def test_unix_datagram_recv_raises_truncated_with_the_part_that_fitted(receive_path: bool) -> None:
    a, b = UnixDatagramTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.send(b"0123456789")
        a.send(b"abcd")
        with pytest.raises(MessageTruncated) as caught:
            b.recv(4)
        assert caught.value.data == b"0123"
        assert caught.value.size == (10 if sockflags.TRUNC_IN else None)
        assert "did not fit the 4-byte buffer" in str(caught.value)
        assert b.recv(4) == b"abcd"  # the cut message is gone, the next one whole


def test_unix_datagram_recv_from_reports_a_cut_and_the_unnamed_sender(receive_path: bool) -> None:
    a, b = UnixDatagramTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.send(b"0123456789")
        a.send(b"ok")
        cut = b.recv_from(3)
        assert (cut.data, cut.truncated, cut.address) == (b"012", True, UnixAddress(""))
        assert b.recv_from(3) == Datagram(b"ok", UnixAddress(""), False, 2)


def test_recv_of_zero_bytes_still_reports_the_whole_message_as_cut() -> None:
    a, b = UnixDatagramTransport.pair()
    with a, b:
        b.timeout = TIMEOUT
        a.send(b"abc")
        a.send(b"def")
        cut = b.recv_from(0)
        assert (cut.data, cut.truncated) == (b"", True)
        with pytest.raises(MessageTruncated):
            b.recv(0)


def test_fast_recv_times_out_and_close_wakes_it(background: Background) -> None:
    with UDPTransport.bind("127.0.0.1", 0, timeout=0.05) as receiver:
        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            receiver.recv_from(64)
        assert time.monotonic() - started < TIMEOUT
    blocked = UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT)
    task = background.start(lambda: blocked.recv_from(64), name="blocked-recv_from")
    assert wait_until_blocked(task.thread), "recv_from returned before it blocked"
    blocked.close()
    with pytest.raises(TransportClosed):
        task.result()


# -- senders decoded once ----------------------------------------------------------


def test_a_sender_is_decoded_once_and_shared() -> None:
    with (
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as receiver,
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as sender,
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as other,
    ):
        sender.send_to(b"1", receiver.local_address)
        sender.send_to(b"2", receiver.local_address)
        other.send_to(b"3", receiver.local_address)
        first, second, third = (receiver.recv_from(8) for _ in range(3))
        assert first.address is second.address
        assert first.address == sender.local_address
        assert third.address == other.local_address != first.address


def test_the_sender_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(message_core, "SENDERS_KEPT", 2)
    with UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as receiver:
        senders = [UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) for _ in range(5)]
        try:
            for end in senders:
                end.send_to(b"x", receiver.local_address)
                assert receiver.recv_from(8).address == end.local_address
                assert len(message_core._SENDERS) <= 2
        finally:
            for end in senders:
                end.close()
    assert SENDERS_KEPT >= 512


def test_unix_senders_and_inet_senders_do_not_mix(tmp_sock_dir: Path) -> None:
    path = str(tmp_sock_dir / "r.sock")
    with (
        UnixDatagramTransport.bind(path, timeout=TIMEOUT) as receiver,
        UnixDatagramTransport.bind(str(tmp_sock_dir / "s.sock"), timeout=TIMEOUT) as sender,
    ):
        sender.send_to(b"x", UnixAddress(path))
        got = receiver.recv_from(8)
        assert got.address == sender.local_address
        assert isinstance(got.address, UnixAddress)


# -- send_to reads the address of its own family directly ---------------------------


def test_send_to_takes_every_form_of_address(tmp_sock_dir: Path, abstract_name: str) -> None:
    with (
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as receiver,
        UDPTransport.bind("127.0.0.1", 0, timeout=TIMEOUT) as sender,
    ):
        port = receiver.local_address.port
        assert sender.send_to(b"value", receiver.local_address) == 5
        assert sender.send_to(b"tuple", ("127.0.0.1", port)) == 5
        assert [receiver.recv_from(8).data for _ in range(2)] == [b"value", b"tuple"]
        with pytest.raises(AddressError):
            sender.send_to(b"x", UnixAddress("some.sock"))  # the point: the wrong family
    path = str(tmp_sock_dir / "r.sock")
    with (
        UnixDatagramTransport.bind(path, timeout=TIMEOUT) as named,
        UnixDatagramTransport.bind(UnixAddress(abstract_name, abstract=True), timeout=TIMEOUT) as hidden,
        UnixDatagramTransport.bind(None, timeout=TIMEOUT) as unix_sender,
    ):
        unix_sender.send_to(b"path", UnixAddress(path))
        unix_sender.send_to(b"abstract", hidden.local_address)
        assert named.recv_from(16).data == b"path"
        assert hidden.recv_from(16).data == b"abstract"
        with pytest.raises(AddressError, match="unnamed"):
            unix_sender.send_to(b"x", UnixAddress(""))
        with pytest.raises(AddressError):
            unix_sender.send_to(b"x", InetAddress("127.0.0.1", 9))  # the point: the wrong family


# -- a numeric connect asks no resolver ------------------------------------------------


def _no_lookup(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError(f"getaddrinfo called for an IP literal: {args!r}")


LOOPBACKS = [
    pytest.param("127.0.0.1", id="ipv4"),
    pytest.param("::1", id="ipv6", marks=pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")),
]


@pytest.mark.parametrize("host", LOOPBACKS)
def test_numeric_connect_does_not_resolve(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with TCPListener.listen(host, 0, timeout=TIMEOUT) as listener:
        monkeypatch.setattr(socket, "getaddrinfo", _no_lookup)
        with TCPTransport.connect(host, listener.address.port, timeout=TIMEOUT) as client:
            with listener.accept() as server:
                assert client.remote_address == listener.address
                assert server.remote_address == client.local_address
                client.send_all(b"ping")
                assert server.recv_exactly(4) == b"ping"


@pytest.mark.parametrize("host", LOOPBACKS)
def test_aio_numeric_connect_does_not_resolve(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        listener = await aio.TCPListener.listen(host, 0)
        async with listener:
            monkeypatch.setattr(socket, "getaddrinfo", _no_lookup)
            client = await aio.TCPTransport.connect(host, listener.address.port, timeout=TIMEOUT)
            async with client, await listener.accept() as server:
                await client.send_all(b"ping")
                assert await server.recv_exactly(4) == b"ping"

    asyncio.run(main())


def test_a_refused_numeric_connect_names_the_address() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connects are refused
        with pytest.raises(ConnectionRefused) as caught:
            TCPTransport.connect("127.0.0.1", port, timeout=TIMEOUT)
    assert f"tcp://127.0.0.1:{port}" in str(caught.value)
    assert caught.value.remote == InetAddress("127.0.0.1", port)


def test_names_and_other_literals_still_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[object] = []

    def counting(host: object, *args: Any, **kwargs: Any) -> NoReturn:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    for host, family in (("localhost", "any"), ("127.0.0.1", "ipv6"), ("127.1", "any")):
        with pytest.raises(TransportError, match="resolve"):
            TCPTransport.connect(host, 80, family=family, timeout=TIMEOUT)  # type: ignore[arg-type]
    assert asked == ["localhost", "127.0.0.1", "127.1"]


def test_bad_destinations_are_refused_before_any_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _no_lookup)
    with pytest.raises(AddressError, match="port 0 is not a destination"):
        TCPTransport.connect("127.0.0.1", 0)
    with pytest.raises(AddressError, match="out of range"):
        TCPTransport.connect("127.0.0.1", 70000)
    with pytest.raises(AddressError, match="port must be an int"):
        TCPTransport.connect("127.0.0.1", True)
    with pytest.raises(AddressError, match="host must be a str"):
        TCPTransport.connect(b"127.0.0.1", 80)  # type: ignore[arg-type]  # the point


def test_numeric_gives_what_getaddrinfo_gives() -> None:
    assert numeric("127.0.0.1", 80) == [(socket.AF_INET, ("127.0.0.1", 80))]
    assert numeric("::1", 80) == [(socket.AF_INET6, ("::1", 80, 0, 0))]
    assert numeric("0:0::1", 80, "ipv6") == [(socket.AF_INET6, ("::1", 80, 0, 0))]
    assert numeric("127.0.0.1", 80, "ipv6") is None
    assert numeric("::1", 80, "ipv4") is None
    assert numeric("localhost", 80) is None
    assert numeric("fe80::1%lo", 80) is None
    assert numeric("", 80) is None
    for host, port in (("127.0.0.1", 80), ("::1", 443)):
        found = numeric(host, port)
        assert found is not None
        family, sockaddr = found[0]
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        assert (family, sockaddr) == (infos[0][0], infos[0][4])


# -- the async face tries once before it waits --------------------------------------------


def test_aio_datagram_first_try_then_wait() -> None:
    async def main() -> None:
        receiver = await aio.UDPTransport.bind("127.0.0.1", 0)
        sender = await aio.UDPTransport.bind("127.0.0.1", 0)
        async with receiver, sender:
            target = receiver.local_address
            # Nothing queued: recv_from must wait on the loop, then receive what arrives.
            waiting = asyncio.ensure_future(receiver.recv_from(64))
            await asyncio.sleep(0)
            assert not waiting.done()
            assert await sender.send_to(b"late", target) == 4
            got = await asyncio.wait_for(waiting, TIMEOUT)
            assert got == Datagram(b"late", sender.local_address, False, 4)
            # Queued already: answered at once, a cut still reported.
            await sender.send_to(b"0123456789", target)
            cut = await asyncio.wait_for(receiver.recv_from(4), TIMEOUT)
            assert (cut.data, cut.truncated, cut.size) == (
                b"0123",
                True,
                10 if sockflags.TRUNC_IN else None,
            )
            receiver.timeout = 0
            with pytest.raises(WouldBlock):
                await receiver.recv_from(64)

    asyncio.run(main())


def test_aio_unix_datagram_recv_waits_then_reports_a_cut() -> None:
    async def main() -> None:
        a, b = aio.UnixDatagramTransport.pair()
        async with a, b:
            waiting = asyncio.ensure_future(b.recv(64))
            await asyncio.sleep(0)
            assert not waiting.done()
            await a.send(b"late")
            assert await asyncio.wait_for(waiting, TIMEOUT) == b"late"
            await a.send(b"0123456789")
            with pytest.raises(MessageTruncated) as caught:
                await asyncio.wait_for(b.recv(4), TIMEOUT)
            assert caught.value.data == b"0123"
            b.timeout = 0
            with pytest.raises(WouldBlock):
                await b.recv(64)

    asyncio.run(main())
