"""Transport URLs: Go's network names as URL schemes (:apue:`16.3.3`).

``tcp://host:port``, ``tcp4://``, ``tcp6://``, ``udp://``, ``udp4://``,
``udp6://``; IPv6 hosts in brackets (``tcp://[::1]:8080``); an empty host
(``tcp://:8080``) means every local address when listening. Unix sockets:
``unix:///run/app.sock`` (absolute path), ``unix:relative.sock`` (relative),
``unix://@name`` (Linux abstract name); ``unixgram`` and ``unixpacket`` take
the same forms. TLS runs over three of them: ``tls://host:port`` (over TCP),
``tls+unix:///path`` (over a Unix stream) and ``tls+memory://name`` (over the
in-memory stream), each written as the URL of the stream below with the
scheme replaced. Parsing never touches the network or the filesystem.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import unquote

import attrs

from transports.addresses import InetAddress, NamedAddress, UnixAddress
from transports.errors import AddressError
from transports.kinds import Kind

__all__ = [
    "INET_SCHEMES",
    "TLS_SCHEMES",
    "UNIX_SCHEMES",
    "ParsedURL",
    "parse_named_url",
    "parse_url",
    "plain_url",
]

#: scheme -> (kind, address family to resolve to)
INET_SCHEMES: dict[str, tuple[Kind, socket.AddressFamily]] = {
    "tcp": (Kind.STREAM, socket.AF_UNSPEC),
    "tcp4": (Kind.STREAM, socket.AF_INET),
    "tcp6": (Kind.STREAM, socket.AF_INET6),
    "udp": (Kind.DATAGRAM, socket.AF_UNSPEC),
    "udp4": (Kind.DATAGRAM, socket.AF_INET),
    "udp6": (Kind.DATAGRAM, socket.AF_INET6),
}
#: scheme -> kind
UNIX_SCHEMES: dict[str, Kind] = {
    "unix": Kind.STREAM,
    "unixgram": Kind.DATAGRAM,
    "unixpacket": Kind.SEQPACKET,
}
#: TLS scheme -> the scheme of the stream its records travel on
TLS_SCHEMES: dict[str, str] = {
    "tls": "tcp",
    "tls+unix": "unix",
    "tls+memory": "memory",
}


@attrs.frozen
class ParsedURL:
    """A URL taken apart: its scheme, kind, address family and address."""

    scheme: str
    kind: Kind
    family: socket.AddressFamily
    address: InetAddress | UnixAddress


def split_scheme(url: str) -> tuple[str, str]:
    """Split ``scheme:rest``; the scheme is lower-cased. Raises AddressError if there is none."""
    if not isinstance(url, str):
        raise AddressError(f"a transport URL must be a str, got {url!r}")
    scheme, sep, rest = url.partition(":")
    if not sep or not scheme or not scheme[0].isalpha() or not all(c.isalnum() or c in "+-." for c in scheme):
        raise AddressError(
            f"{url!r} is not a transport URL: it needs a scheme, e.g. tcp://127.0.0.1:8080 "
            "or unix:///run/app.sock"
        )
    return scheme.lower(), rest


def parse_url(url: str) -> ParsedURL:
    """Parse one of our built-in URLs into a :class:`ParsedURL`.

    >>> parse_url("tcp://[::1]:8080").address
    InetAddress(host='::1', port=8080)
    >>> parse_url("unix://@svc").address
    UnixAddress(path='svc', abstract=True)
    """
    scheme, rest = split_scheme(url)
    if scheme in INET_SCHEMES:
        kind, family = INET_SCHEMES[scheme]
        return ParsedURL(scheme, kind, family, _parse_inet(url, scheme, rest, family))
    if scheme in UNIX_SCHEMES:
        return ParsedURL(scheme, UNIX_SCHEMES[scheme], socket.AF_UNIX, _parse_unix(url, rest))
    from transports.errors import UnknownScheme

    raise UnknownScheme(scheme, [*INET_SCHEMES, *UNIX_SCHEMES])


def plain_url(url: str) -> str:
    """The URL of the stream under a TLS URL: its scheme replaced by the plain one.

    >>> plain_url("tls://example.org:443")
    'tcp://example.org:443'
    >>> plain_url("tls+unix:///run/app.sock")
    'unix:///run/app.sock'
    """
    scheme, rest = split_scheme(url)
    if scheme not in TLS_SCHEMES:
        raise AddressError(
            f"{url!r} is not a TLS URL; write one of {', '.join(s + '://' for s in TLS_SCHEMES)}"
        )
    return f"{TLS_SCHEMES[scheme]}:{rest}"


def parse_named_url(url: str, scheme: str) -> NamedAddress:
    """Parse ``scheme://name`` (or a bare name) into a :class:`NamedAddress`, for ``memory://`` and the like.

    >>> parse_named_url("memory://jobs", "memory")
    NamedAddress(scheme='memory', name='jobs')
    """
    prefix = f"{scheme}://"
    if url.lower().startswith(prefix):
        name = url[len(prefix) :]
    elif "://" in url:
        raise AddressError(f"{url!r} is not a {scheme}:// URL")
    else:
        name = url
    if not name or any(c.isspace() or c in "?#" for c in name):
        raise AddressError(f"{url!r}: a {scheme} name must be non-empty, without spaces, '?' or '#'")
    return NamedAddress(scheme, name)


def _reject_extras(url: str, rest: str) -> str:
    if "?" in rest or "#" in rest:
        raise AddressError(f"{url!r}: transport URLs take no query or fragment")
    return rest


def _parse_inet(url: str, scheme: str, rest: str, family: socket.AddressFamily) -> InetAddress:
    rest = _reject_extras(url, rest)
    if not rest.startswith("//"):
        raise AddressError(f"{url!r}: write {scheme}://HOST:PORT, e.g. {scheme}://127.0.0.1:8080")
    hostport = rest[2:]
    if hostport.endswith("/"):
        hostport = hostport[:-1]
    if "/" in hostport:
        raise AddressError(f"{url!r}: {scheme} URLs have no path; write {scheme}://HOST:PORT")
    if "@" in hostport:
        raise AddressError(f"{url!r}: {scheme} URLs take no user name")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise AddressError(f"{url!r}: the IPv6 host has no closing bracket")
        host, after = hostport[1:end], hostport[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError(f"{url!r}: {host!r} in brackets is not an IPv6 address") from None
        if family == socket.AF_INET:
            raise AddressError(f"{url!r}: {scheme} is IPv4 only but {host!r} is an IPv6 address")
        if not after.startswith(":"):
            raise AddressError(f"{url!r}: missing port; write {scheme}://[{host}]:PORT")
        port_text = after[1:]
    else:
        host, sep, port_text = hostport.rpartition(":")
        if not sep:
            raise AddressError(f"{url!r}: missing port; write {scheme}://{hostport}:PORT")
        if ":" in host:
            raise AddressError(f"{url!r}: put IPv6 hosts in brackets, e.g. {scheme}://[::1]:8080")
        if host and family == socket.AF_INET6 and _is_ipv4(host):
            raise AddressError(f"{url!r}: {scheme} is IPv6 only but {host!r} is an IPv4 address")
    if not port_text:
        raise AddressError(f"{url!r}: missing port after the colon; use 0..65535")
    negative = port_text.startswith("-") and port_text[1:].isdigit() and port_text.isascii()
    if negative and port_text[1:].strip("0"):
        # A number all right, just below the range: say so, as InetAddress does for -1.
        raise AddressError(f"{url!r}: port {port_text} is out of range; use 0..65535")
    if not port_text.isdigit() or not port_text.isascii():
        raise AddressError(f"{url!r}: port {port_text!r} is not a number; use 0..65535")
    digits = port_text.lstrip("0") or "0"
    # Compare the length first: int() refuses very long digit strings with a
    # bare ValueError (its 4300-digit limit).
    if len(digits) > 5 or int(digits) > 65535:
        raise AddressError(f"{url!r}: port {digits} is out of range; use 0..65535")
    port = int(digits)
    if host and not _is_hostname(host) and ":" not in host:
        raise AddressError(f"{url!r}: {host!r} is not a valid host name or IP address")
    return InetAddress(host, port)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _is_hostname(host: str) -> bool:
    if len(host) > 253:
        return False
    labels = host.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63
        and label.isascii()
        and all(c.isalnum() or c in "-_" for c in label)
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def _parse_unix(url: str, rest: str) -> UnixAddress:
    rest = _reject_extras(url, rest)
    if rest.startswith("//"):
        body = rest[2:]
        if body.startswith("@"):
            return UnixAddress(unquote(body[1:]), abstract=True)
        if body and not body.startswith("/"):
            raise AddressError(
                f"{url!r}: a Unix URL has no host; write unix:///abs/path.sock for an "
                f"absolute path or unix:{body} for a relative one"
            )
        path = unquote(body)
    elif rest.startswith("@"):
        return UnixAddress(unquote(rest[1:]), abstract=True)
    else:
        path = unquote(rest)
    return UnixAddress(path)
