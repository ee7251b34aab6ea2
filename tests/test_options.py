"""Typed socket options: round trips, options that do not apply, values of the wrong type (APUE 16.6)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from conftest import HAS_IPV6, TIMEOUT, Pair
from transports import (
    Kind,
    Linger,
    OptionSetting,
    SocketOption,
    TCPListener,
    TCPTransport,
    TransportError,
    UDPTransport,
    UnixDatagramTransport,
    UnixSeqpacketTransport,
    UnixStreamTransport,
    UnsupportedOption,
)
from transports.options import (
    IPV6_V6ONLY,
    SO_BROADCAST,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
    all_options,
    apply_option,
    flag_option,
    read_option,
)

Concrete = TCPTransport | UDPTransport | UnixStreamTransport | UnixDatagramTransport | UnixSeqpacketTransport
BOOL_OPTIONS = {SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, TCP_NODELAY, IPV6_V6ONLY}
SIZE_OPTIONS = {SO_RCVBUF, SO_SNDBUF}
COUNT_OPTIONS = {TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT}


def _concrete(pair: Pair) -> Concrete:
    assert isinstance(pair.a, Concrete)
    return pair.a


def _option_id(option: SocketOption[Any]) -> str:
    return option.name


def test_all_options_lists_every_exported_option() -> None:
    from transports import options

    exported = {name for name in options.__all__ if name.isupper()}
    assert {option.name for option in all_options()} == exported
    for option in all_options():
        assert option.available, f"{option.name} missing on Linux"
        assert repr(option) == f"<SocketOption {option.name}>"


def _round_trip(transport: Concrete, option: SocketOption[Any]) -> None:
    if option in BOOL_OPTIONS:
        start = transport.get_option(option)
        assert isinstance(start, bool)
        transport.set_option(option, not start)
        assert transport.get_option(option) is (not start)
        transport.set_option(option, start)
        assert transport.get_option(option) is start
    elif option in SIZE_OPTIONS:
        transport.set_option(option, 65536)
        assert transport.get_option(option) >= 65536  # Linux reads back double
        transport.set_option(option, 262144)
        assert transport.get_option(option) >= 262144
    elif option in COUNT_OPTIONS:
        for value in (7, 3):
            transport.set_option(option, value)
            assert transport.get_option(option) == value
    elif option is SO_LINGER:
        assert transport.get_option(SO_LINGER) is None
        for linger in (Linger(0), Linger(3), None):
            transport.set_option(SO_LINGER, linger)
            assert transport.get_option(SO_LINGER) == linger
    else:  # pragma: no cover - a new option needs a case here
        pytest.fail(f"no round trip written for {option.name}")


@pytest.mark.parametrize("option", all_options(), ids=_option_id)
def test_option_round_trip_or_refusal(pair: Pair, option: SocketOption[Any]) -> None:
    transport = _concrete(pair)
    if not option.applies_to(pair.family, pair.kind):
        with pytest.raises(UnsupportedOption) as info:
            transport.get_option(option)
        assert option.name in str(info.value)
        with pytest.raises(UnsupportedOption, match=option.name):
            transport.set_option(option, option.decode(0) if option.buflen == 0 else None)
        return
    if option is IPV6_V6ONLY:
        # Fixed once the socket is bound: readable, set only at construction (tested below).
        assert isinstance(transport.get_option(IPV6_V6ONLY), bool)
        with pytest.raises(TransportError):
            transport.set_option(IPV6_V6ONLY, not transport.get_option(IPV6_V6ONLY))
        return
    _round_trip(transport, option)


@pytest.mark.parametrize(
    ("make", "option", "value"),
    [
        pytest.param(lambda: UDPTransport.bind("127.0.0.1", 0), TCP_NODELAY, True, id="TCP_NODELAY-on-udp"),
        pytest.param(lambda: UDPTransport.bind("127.0.0.1", 0), IPV6_V6ONLY, True, id="IPV6_V6ONLY-on-ipv4"),
        pytest.param(lambda: UDPTransport.bind("127.0.0.1", 0), SO_LINGER, Linger(1), id="SO_LINGER-on-udp"),
        pytest.param(lambda: UnixDatagramTransport.bind(None), SO_REUSEPORT, True, id="SO_REUSEPORT-on-unix"),
    ],
)
def test_inapplicable_option_is_refused_by_name(
    make: Callable[[], Concrete], option: SocketOption[Any], value: object
) -> None:
    with make() as transport:
        with pytest.raises(UnsupportedOption) as info:
            transport.set_option(option, value)
        err = info.value
        assert isinstance(err, ValueError)
        assert not isinstance(err, OSError)  # a caller mistake: no `except OSError` retries it
        assert option.name in str(err)
        assert "does not apply" in str(err)


def test_broadcast_on_tcp_is_refused_before_connecting(fd_count: Callable[[], int]) -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        before = fd_count()
        with pytest.raises(UnsupportedOption, match="SO_BROADCAST"):
            TCPTransport.connect(
                "127.0.0.1", listener.address.port, timeout=TIMEOUT, options=[SO_BROADCAST(True)]
            )
        assert fd_count() == before


def test_options_at_construction_take_effect() -> None:
    settings: list[OptionSetting[Any]] = [
        TCP_NODELAY(True),
        SO_KEEPALIVE(True),
        TCP_KEEPIDLE(42),
        SO_LINGER(Linger(2)),
    ]
    with (
        TCPListener.listen("127.0.0.1", 0, timeout=TIMEOUT, options=[SO_RCVBUF(8192)]) as listener,
        TCPTransport.connect("127.0.0.1", listener.address.port, timeout=TIMEOUT, options=settings) as client,
        listener.accept() as server,
    ):
        assert client.get_option(TCP_NODELAY) is True
        assert client.get_option(SO_KEEPALIVE) is True
        assert client.get_option(TCP_KEEPIDLE) == 42
        assert client.get_option(SO_LINGER) == Linger(2)
        assert listener.get_option(SO_RCVBUF) >= 8192
        # An accepted socket inherits the listener's buffer size.
        assert server.get_option(SO_RCVBUF) == listener.get_option(SO_RCVBUF)
    with UDPTransport.bind("127.0.0.1", 0, options=[SO_BROADCAST(True)]) as udp:
        assert udp.get_option(SO_BROADCAST) is True
    with UnixDatagramTransport.bind(None, options=[SO_SNDBUF(300_000)]) as gram:
        assert gram.get_option(SO_SNDBUF) >= 300_000
        assert gram.max_message_size == gram.get_option(SO_SNDBUF) - 32


@pytest.mark.skipif(not HAS_IPV6, reason="IPv6 loopback (::1) is not available")
def test_v6only_is_set_before_connect() -> None:
    # (A listener bound to ::1 is IPv6-only whatever we ask: Linux sets the flag
    # when binding a specific IPv6 address, so clients show the option best.)
    with TCPListener.listen("::1", 0, timeout=TIMEOUT) as listener:
        assert listener.get_option(IPV6_V6ONLY) is True
        port = listener.address.port
        for value in (False, True):
            with (
                TCPTransport.connect("::1", port, timeout=TIMEOUT, options=[IPV6_V6ONLY(value)]) as client,
                listener.accept(),
            ):
                assert client.get_option(IPV6_V6ONLY) is value


def test_listener_options() -> None:
    with TCPListener.listen("127.0.0.1", 0) as listener:
        assert listener.get_option(SO_REUSEADDR) is True
        listener.set_option(SO_KEEPALIVE, True)
        assert listener.get_option(SO_KEEPALIVE) is True
        with pytest.raises(UnsupportedOption, match="SO_BROADCAST"):
            listener.get_option(SO_BROADCAST)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param(SO_RCVBUF, "big", id="size-str"),
        pytest.param(SO_RCVBUF, True, id="size-bool"),
        pytest.param(SO_RCVBUF, 1.5, id="size-float"),
        pytest.param(TCP_NODELAY, 1, id="bool-int"),
        pytest.param(TCP_NODELAY, "yes", id="bool-str"),
        pytest.param(SO_LINGER, 3, id="linger-int"),
        pytest.param(TCP_KEEPCNT, None, id="count-none"),
    ],
)
def test_wrong_value_types_are_type_errors(option: SocketOption[Any], value: object) -> None:
    with pytest.raises(TypeError, match=option.name):
        option(value)
    a, b = UnixStreamTransport.pair()
    with a, b:
        if option.applies_to(socket.AF_UNIX, Kind.STREAM):
            with pytest.raises(TypeError, match=option.name):
                a.set_option(option, value)
    with TCPListener.listen("127.0.0.1", 0) as listener, pytest.raises(TypeError):
        listener.set_option(option, value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param(SO_RCVBUF, -1, id="negative-size"),
        pytest.param(SO_SNDBUF, 2**31, id="huge-size"),
        pytest.param(TCP_KEEPCNT, 0, id="zero-count"),
    ],
)
def test_values_out_of_range_are_value_errors(option: SocketOption[Any], value: int) -> None:
    with pytest.raises(ValueError, match=option.name):
        option(value)


def test_linger_checks_its_seconds() -> None:
    with pytest.raises(TypeError, match="Linger"):
        Linger("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Linger"):
        Linger(True)
    with pytest.raises(ValueError, match="Linger"):
        Linger(-1)
    assert Linger(5) == Linger(5)


def test_settings_are_values() -> None:
    assert TCP_NODELAY(True) == OptionSetting(TCP_NODELAY, True)
    assert TCP_NODELAY(True) != TCP_NODELAY(False)
    with pytest.raises(TypeError, match="options must be settings"):
        UDPTransport.bind("127.0.0.1", 0, options=[(TCP_NODELAY, True)])  # type: ignore[list-item]


def test_applies_to() -> None:
    assert TCP_NODELAY.applies_to(socket.AF_INET6, Kind.STREAM)
    assert not TCP_NODELAY.applies_to(socket.AF_UNIX, Kind.STREAM)
    assert not TCP_NODELAY.applies_to(socket.AF_INET, Kind.DATAGRAM)
    assert SO_BROADCAST.applies_to(socket.AF_INET, Kind.DATAGRAM)
    assert not SO_BROADCAST.applies_to(socket.AF_INET6, Kind.DATAGRAM)
    assert SO_LINGER.applies_to(socket.AF_UNIX, Kind.SEQPACKET)
    assert not SO_LINGER.applies_to(socket.AF_UNIX, Kind.DATAGRAM)


def test_flag_option_checks_its_values_like_the_built_in_ones() -> None:
    made = flag_option(
        "SO_KEEPALIVE_AGAIN",
        socket.SOL_SOCKET,
        socket.SO_KEEPALIVE,
        frozenset({socket.AF_INET}),
        frozenset({Kind.STREAM}),
        "doc",
    )
    with pytest.raises(TypeError, match="SO_KEEPALIVE_AGAIN takes True or False, got 1"):
        made(1)  # type: ignore[arg-type]  # the wrong value is the point
    with socket.socket() as sock:
        apply_option(sock, made, True, "tcp:(test)")
        assert read_option(sock, made, "tcp:(test)") is True
