"""Transport URLs: property tests of ``parse_url`` and the errors for bad URLs (APUE 16.3.3).

The schemes are Go's network names. The expected kind and family of each
scheme are written out here, independently of the tables in
``transports.urls``, so a change there is noticed.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import transports
from transports import AddressError, InetAddress, Kind, UnixAddress, UnknownScheme
from transports.urls import ParsedURL, parse_url

LINUX = sys.platform.startswith("linux")

#: scheme -> (kind, family) as the design promises: Go's network names.
INET: dict[str, tuple[Kind, socket.AddressFamily]] = {
    "tcp": (Kind.STREAM, socket.AF_UNSPEC),
    "tcp4": (Kind.STREAM, socket.AF_INET),
    "tcp6": (Kind.STREAM, socket.AF_INET6),
    "udp": (Kind.DATAGRAM, socket.AF_UNSPEC),
    "udp4": (Kind.DATAGRAM, socket.AF_INET),
    "udp6": (Kind.DATAGRAM, socket.AF_INET6),
}
UNIX: dict[str, Kind] = {
    "unix": Kind.STREAM,
    "unixgram": Kind.DATAGRAM,
    "unixpacket": Kind.SEQPACKET,
}
ALL_SCHEMES = sorted([*INET, *UNIX])

# Parsing is pure computation: no deadline (a loaded CI machine is not a bug)
# and no example database written into the working tree.
PROPERTY = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -------------------------------------------------------------------

ports = st.integers(min_value=0, max_value=65535)
ipv4_hosts = st.ip_addresses(v=4).map(str)
ipv6_hosts = st.ip_addresses(v=6).map(str)
_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?", fullmatch=True)
# The last label starts with a letter, as top-level domains do, so a name is
# never mistaken for a dotted-quad IPv4 literal.
_top_label = st.from_regex(r"[A-Za-z]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
dns_names = st.builds(
    lambda labels, top, dot: ".".join([*labels, top]) + ("." if dot else ""),
    st.lists(_label, max_size=4),
    _top_label,
    st.booleans(),
)
#: Hosts each family of scheme accepts: "" is the wildcard (every local address).
HOSTS: dict[socket.AddressFamily, st.SearchStrategy[str]] = {
    socket.AF_UNSPEC: st.one_of(ipv4_hosts, ipv6_hosts, dns_names, st.just("")),
    socket.AF_INET: st.one_of(ipv4_hosts, dns_names, st.just("")),
    socket.AF_INET6: st.one_of(ipv6_hosts, dns_names, st.just("")),
}


def _fits_sun_path(name: str) -> bool:
    try:
        return len(os.fsencode(name)) <= 107
    except UnicodeEncodeError:  # a lone surrogate that no undecodable byte stands for
        return False


# Any character a file name can hold (no NUL), including the ones URLs treat
# specially (% ? # @ : and spaces) and the surrogates that stand for
# undecodable bytes in file names.
_name_chars = st.characters(exclude_characters="\0/")
_tricky_chars = st.sampled_from("%?#@:[] .~")
_segment = st.text(st.one_of(_name_chars, _tricky_chars), min_size=1, max_size=12)
absolute_paths = st.lists(_segment, min_size=1, max_size=6).map(lambda parts: "/" + "/".join(parts))
relative_paths = st.lists(_segment, min_size=1, max_size=6).map("/".join)
abstract_names = st.text(st.one_of(_name_chars, _tricky_chars, st.just("/")), min_size=1, max_size=40)


# -- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(INET))
@PROPERTY
@given(data=st.data(), port=ports, spelling=st.sampled_from([str.lower, str.upper]))
def test_inet_url_round_trips(
    scheme: str, data: st.DataObject, port: int, spelling: Callable[[str], str]
) -> None:
    kind, family = INET[scheme]
    address = InetAddress(data.draw(HOSTS[family], label="host"), port)
    url = address.url(spelling(scheme))
    assert parse_url(url) == ParsedURL(scheme, kind, family, address)


@pytest.mark.parametrize("scheme", sorted(UNIX))
@PROPERTY
@given(path=absolute_paths.filter(_fits_sun_path))
def test_unix_absolute_path_url_round_trips(scheme: str, path: str) -> None:
    address = UnixAddress(path)
    url = address.url(scheme)
    assert url.startswith(f"{scheme}:///")
    assert parse_url(url) == ParsedURL(scheme, UNIX[scheme], socket.AF_UNIX, address)


@pytest.mark.parametrize("scheme", sorted(UNIX))
@PROPERTY
@given(path=relative_paths.filter(_fits_sun_path))
def test_unix_relative_path_url_round_trips(scheme: str, path: str) -> None:
    address = UnixAddress(path)
    url = address.url(scheme)
    assert not url.startswith(f"{scheme}://")
    assert parse_url(url) == ParsedURL(scheme, UNIX[scheme], socket.AF_UNIX, address)


@pytest.mark.skipif(not LINUX, reason="abstract Unix socket names exist only on Linux")
@pytest.mark.parametrize("scheme", sorted(UNIX))
@PROPERTY
@given(name=abstract_names.filter(_fits_sun_path))
def test_unix_abstract_url_round_trips(scheme: str, name: str) -> None:
    address = UnixAddress(name, abstract=True)
    url = address.url(scheme)
    assert url.startswith(f"{scheme}://@")
    assert parse_url(url) == ParsedURL(scheme, UNIX[scheme], socket.AF_UNIX, address)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("unix:///run/app.sock", UnixAddress("/run/app.sock")),
        ("unix:relative.sock", UnixAddress("relative.sock")),
        ("unix:sub/dir.sock", UnixAddress("sub/dir.sock")),
        ("unix:", UnixAddress("")),
        ("unixgram:%40not-abstract", UnixAddress("@not-abstract")),
        ("unix:with%20space%3F.sock", UnixAddress("with space?.sock")),
        pytest.param(
            "unix://@name",
            UnixAddress("name", abstract=True),
            marks=pytest.mark.skipif(not LINUX, reason="Linux"),
        ),
        pytest.param(
            "unix:@name",
            UnixAddress("name", abstract=True),
            marks=pytest.mark.skipif(not LINUX, reason="Linux"),
        ),
        ("tcp://[::1]:8080", InetAddress("::1", 8080)),
        ("tcp://:8080", InetAddress("", 8080)),
        ("udp4://localhost:53/", InetAddress("localhost", 53)),
        ("TCP6://[fe80::1%lo]:0", InetAddress("fe80::1%lo", 0)),
        ("tcp://127.0.0.1:00080", InetAddress("127.0.0.1", 80)),
    ],
)
def test_documented_spellings(url: str, expected: InetAddress | UnixAddress) -> None:
    assert parse_url(url).address == expected


def test_scheme_tables_match_go_network_names() -> None:
    for scheme in ALL_SCHEMES:
        parsed = parse_url(f"{scheme}:///x" if scheme in UNIX else f"{scheme}://localhost:1")
        if scheme in UNIX:
            assert (parsed.kind, parsed.family) == (UNIX[scheme], socket.AF_UNIX)
        else:
            assert (parsed.kind, parsed.family) == INET[scheme]
    assert set(ALL_SCHEMES) <= set(transports.registered_schemes())


# -- arbitrary text -------------------------------------------------------------------

_url_alphabet = st.one_of(
    st.characters(),
    st.sampled_from("0123456789:/[]@%?#.-_ abcdefxyz"),
)
_prefixes = st.sampled_from(
    [f"{s}{sep}" for s in [*ALL_SCHEMES, "http", "TCP"] for sep in (":", "://", "://[", "://@")]
)
arbitrary_urls = st.one_of(
    st.text(),
    st.builds(str.__add__, _prefixes, st.text(_url_alphabet, max_size=40)),
    st.builds(
        lambda scheme, host, port: f"{scheme}://{host}:{port}",
        st.sampled_from(sorted(INET)),
        st.one_of(ipv4_hosts, ipv6_hosts, ipv6_hosts.map("[{}]".format), dns_names, st.text(max_size=10)),
        st.one_of(st.integers(), st.text(max_size=6)),
    ),
)


@PROPERTY
@given(url=arbitrary_urls)
def test_any_text_parses_or_raises_address_error(url: str) -> None:
    try:
        parsed = parse_url(url)
    except AddressError:
        return
    # What parsed is a valid address of the scheme's kind, and writing it
    # back as a URL gives the same result.
    if parsed.scheme in UNIX:
        assert isinstance(parsed.address, UnixAddress)
        assert (parsed.kind, parsed.family) == (UNIX[parsed.scheme], socket.AF_UNIX)
    else:
        assert isinstance(parsed.address, InetAddress)
        assert (parsed.kind, parsed.family) == INET[parsed.scheme]
    assert parse_url(parsed.address.url(parsed.scheme)) == parsed


@pytest.mark.parametrize(
    "url",
    [
        "tcp://h:" + "1" * 5000,  # int() refuses over 4300 digits with a bare ValueError
        "unix:bad\ud800name",  # no file-system encoding
        "unix:///bad\udcffname\ud800",
        "",
        ":",
        "tcp",
        "1tcp://h:1",
    ],
)
def test_pathological_text_raises_address_error(url: str) -> None:
    with pytest.raises(AddressError):
        parse_url(url)


@pytest.mark.parametrize("url", [None, b"tcp://127.0.0.1:80", 80, ("127.0.0.1", 80)])
def test_a_url_must_be_text(url: Any) -> None:
    with pytest.raises(AddressError, match="must be a str"):
        parse_url(url)


# -- error messages -------------------------------------------------------------------


def _error(url: str, *, names_url: bool = True) -> str:
    """The message of the AddressError that parsing *url* raises."""
    with pytest.raises(AddressError) as info:
        parse_url(url)
    message = str(info.value)
    if names_url:
        assert repr(url) in message
    return message


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:65536", "udp6://[::1]:65536", "tcp://h:99999"])
def test_port_out_of_range(url: str) -> None:
    message = _error(url)
    assert "out of range" in message
    assert "0..65535" in message


@pytest.mark.parametrize(
    "url", ["tcp://127.0.0.1", "tcp://[::1]", "udp://localhost", "tcp://127.0.0.1:", "tcp://[::1]:"]
)
def test_missing_port(url: str) -> None:
    assert "missing port" in _error(url)


@pytest.mark.parametrize("url", ["tcp://h:http", "tcp://h:+80", "tcp://h:8 0", "tcp://h:\u0663"])
def test_port_not_a_number(url: str) -> None:
    assert "is not a number" in _error(url)


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownScheme) as info:
        parse_url("sctp://127.0.0.1:9")
    error = info.value
    assert isinstance(error, AddressError)
    assert isinstance(error, ValueError)
    assert error.scheme == "sctp"
    assert set(ALL_SCHEMES) <= set(error.known)
    assert list(error.known) == sorted(error.known)
    message = str(error)
    assert "'sctp'" in message
    for scheme in ALL_SCHEMES:
        assert scheme in message


def test_unknown_scheme_through_the_registry_lists_registered_ones() -> None:
    with pytest.raises(UnknownScheme) as info:
        transports.connect("HTTP://example.org:80")
    assert info.value.scheme == "http"
    # Installed plugins are listed too, before they are loaded.
    assert set(transports.registered_schemes()) <= set(info.value.known)


@pytest.mark.parametrize("url", ["127.0.0.1:80", "/run/app.sock", "://h:1", "t@p://h:1"])
def test_no_scheme(url: str) -> None:
    assert "needs a scheme" in _error(url)


@pytest.mark.parametrize("url", ["tcp://::1:8080", "udp://fe80::1:53", "tcp6://::1:1"])
def test_ipv6_without_brackets(url: str) -> None:
    assert "brackets" in _error(url)


@pytest.mark.parametrize("url", ["tcp4://[::1]:80", "udp4://[2001:db8::1]:53"])
def test_ipv4_scheme_with_ipv6_host(url: str) -> None:
    message = _error(url)
    assert "IPv4 only" in message
    assert "is an IPv6 address" in message


@pytest.mark.parametrize("url", ["tcp6://127.0.0.1:80", "udp6://10.0.0.1:53"])
def test_ipv6_scheme_with_ipv4_host(url: str) -> None:
    message = _error(url)
    assert "IPv6 only" in message
    assert "is an IPv4 address" in message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("tcp://[::1:80", "no closing bracket"),
        ("tcp://[not-v6]:80", "is not an IPv6 address"),
        ("tcp://user@h:80", "no user name"),
        ("tcp://h:80/path", "have no path"),
        ("tcp:h:80", "write tcp://HOST:PORT"),
        ("tcp://exa mple:80", "not a valid host name"),
        ("tcp://-bad-.org:80", "not a valid host name"),
    ],
)
def test_other_inet_mistakes(url: str, problem: str) -> None:
    assert problem in _error(url)


def test_unix_path_longer_than_sun_path() -> None:
    assert parse_url("unix:///" + "a" * 106).address == UnixAddress("/" + "a" * 106)  # 107 bytes: fits
    message = _error("unix:///" + "a" * 107, names_url=False)
    assert repr("/" + "a" * 107) in message
    assert "108 bytes" in message
    assert "sun_path" in message
    assert "107" in message
    # Percent-escapes count once decoded: 36 escapes of a 3-byte character.
    assert "108 bytes" in _error("unix:" + "%E2%82%AC" * 36, names_url=False)


@pytest.mark.skipif(not LINUX, reason="abstract Unix socket names exist only on Linux")
def test_unix_abstract_name_longer_than_sun_path() -> None:
    assert "sun_path" in _error("unixgram://@" + "n" * 108, names_url=False)
    assert "cannot be empty" in _error("unix://@", names_url=False)


@pytest.mark.parametrize(
    "url",
    [
        "tcp://127.0.0.1:80?nodelay=1",
        "udp://h:1#frag",
        "unix:///run/app.sock?mode=600",
        "unix:a.sock#x",
        "unix://@n?x",
    ],
)
def test_query_and_fragment_are_refused(url: str) -> None:
    assert "no query or fragment" in _error(url)


@pytest.mark.parametrize("url", ["unix://host/run/app.sock", "unixgram://localhost/x", "unixpacket://a.sock"])
def test_unix_url_with_a_host_part(url: str) -> None:
    message = _error(url)
    assert "has no host" in message
    assert "unix:///" in message


# -- no socket before the address is known to be good ------------------------------------

BAD_CONNECT_URLS = [
    "tcp://127.0.0.1:65536",
    "tcp://127.0.0.1",
    "sctp://127.0.0.1:9",
    "tcp://::1:80",
    "tcp4://[::1]:80",
    "tcp6://127.0.0.1:80",
    "unix:///" + "a" * 200,
    "udp://127.0.0.1:9?x",
    "unix://host/a.sock",
    "tcp://:80",  # connecting needs a host
    "unix:",  # and a path
    "unixgram:",
    "not a url",
]
BAD_LISTEN_URLS = ["tcp://127.0.0.1:65536", "tcp6://127.0.0.1:0", "unix:", "unix://@", "udp://127.0.0.1:0"]
BAD_BIND_URLS = ["udp://127.0.0.1:65536", "udp4://[::1]:0", "unixgram:///" + "b" * 108, "tcp://127.0.0.1:0"]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if a socket is made or a name looked up, and if the fd count changes."""

    def forbidden(*args: object, **kwargs: object) -> Any:
        raise AssertionError(f"a socket call ran for a bad address: {args!r}")

    for name in ("socket", "socketpair", "getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, name, forbidden)
    before = _open_fds() if os.path.isdir("/proc/self/fd") else None
    yield
    if before is not None:
        assert _open_fds() == before


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize("url", BAD_CONNECT_URLS)
def test_connect_refuses_bad_url_before_any_socket(url: str) -> None:
    with pytest.raises(AddressError):
        transports.connect(url, timeout=5)


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize("url", BAD_LISTEN_URLS)
def test_listen_refuses_bad_url_before_any_socket(url: str) -> None:
    with pytest.raises(AddressError):
        transports.listen(url, timeout=5)


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize("url", BAD_BIND_URLS)
def test_bind_refuses_bad_url_before_any_socket(url: str) -> None:
    with pytest.raises(AddressError):
        transports.bind(url, timeout=5)


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize(
    "call",
    [
        lambda: transports.TCPTransport.connect("127.0.0.1", 65536, timeout=5),
        lambda: transports.TCPListener.listen("[::1]", 0),
        lambda: transports.UDPTransport.bind("127.0.0.1", -1),
        lambda: transports.UnixStreamTransport.connect("/" + "c" * 200, timeout=5),
        lambda: transports.UnixListener.listen("/tmp/x\0y"),
        lambda: transports.UnixDatagramTransport.bind("/" + "d" * 108),
    ],
)
def test_typed_constructors_refuse_bad_addresses_before_any_socket(call: Callable[[], object]) -> None:
    with pytest.raises(AddressError):
        call()
