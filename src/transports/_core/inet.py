"""Internet addressing shared by TCP and UDP, sync and async (:apue:`16.3.3`, :apue:`16.4`).

One place for what a TCP or UDP constructor checks and looks up before it
makes a socket: the IP version asked for (:data:`Family`), the destination
(:func:`check_peer`), the local end to bind first (:func:`check_source`),
the name lookup (:func:`resolve`) and the rule that a socket binds one of
the addresses a name resolves to (:func:`one_address`). :mod:`transports.tcp` re-exports
``Family`` and ``resolve``, their documented home.
"""

from __future__ import annotations

import socket
from typing import Any, Literal

from transports.addresses import InetAddress
from transports.errors import AddressError, TransportError
from transports.kinds import Kind

__all__ = ["Family", "check_peer", "check_source", "numeric", "one_address", "resolve"]

#: Which IP version to use: "any" resolves both and tries each in turn.
Family = Literal["any", "ipv4", "ipv6"]
_FAMILIES: dict[str, socket.AddressFamily] = {
    "any": socket.AF_UNSPEC,
    "ipv4": socket.AF_INET,
    "ipv6": socket.AF_INET6,
}


def _family(family: Family) -> socket.AddressFamily:
    try:
        return _FAMILIES[family]
    except KeyError:
        raise ValueError(f"family must be 'any', 'ipv4' or 'ipv6', got {family!r}") from None


def check_source(source: InetAddress | None) -> None:
    """Refuse a ``source=`` that is not an :class:`~transports.InetAddress` (or None)."""
    if source is not None and not isinstance(source, InetAddress):
        raise TypeError(f"source must be an InetAddress such as InetAddress('127.0.0.1', 0), got {source!r}")


def check_peer(host: str, port: int, network: str) -> InetAddress:
    """Validate the address a connect goes to, before any lookup or socket (:apue:`16.4`).

    Port 0 means "any free port" to ``bind`` and ``listen``; as a
    destination it names no service (Linux refuses TCP with ECONNREFUSED and
    lets a UDP socket "connect" to it, after which every send fails), so it
    is refused here like any other port out of range.
    """
    address = InetAddress(host, port)  # type and 0..65535 checks first
    if port == 0:
        raise AddressError(
            f"cannot connect to {address.url(network)}: port 0 is not a destination "
            "(it means 'any free port' only when binding or listening); give the "
            "server's port, 1..65535"
        )
    return address


#: The families an IP literal may be read as, by the ``family`` argument.
_LITERAL_FAMILIES: dict[str, tuple[socket.AddressFamily, ...]] = {
    "any": (socket.AF_INET, socket.AF_INET6),
    "ipv4": (socket.AF_INET,),
    "ipv6": (socket.AF_INET6,),
}


def numeric(host: str, port: int, family: Family = "any") -> list[tuple[socket.AddressFamily, Any]] | None:
    """The one socket address of an IP literal, with no lookup (:apue:`16.3.3`); None for a name.

    What ``getaddrinfo`` would return for a numeric *host*, read by
    ``inet_pton`` instead: a connect to ``127.0.0.1`` or ``::1`` asks no
    resolver. Anything else (a name, a scoped IPv6 address, a literal of
    the other family than *family* asks for) is None: :func:`resolve` it.
    """
    for fam in _LITERAL_FAMILIES.get(family, ()):
        try:
            packed = socket.inet_pton(fam, host)
        except (OSError, TypeError):
            continue
        text = socket.inet_ntop(fam, packed)
        return [(fam, (text, port) if fam == socket.AF_INET else (text, port, 0, 0))]
    return None


def resolve(
    host: str,
    port: int,
    kind: Kind,
    family: Family = "any",
    *,
    passive: bool = False,
    network: str = "tcp",
) -> list[tuple[socket.AddressFamily, Any]]:
    """Resolve *host* and *port* to socket addresses (:apue:`16.3.3`).

    Returns ``(family, sockaddr)`` pairs in the order ``getaddrinfo`` gives.
    An empty *host* with ``passive=True`` means every local address.
    """
    address = InetAddress(host, port)  # validates before any lookup
    where = address.url(network)
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = socket.getaddrinfo(address.host or None, port, _family(family), kind.socket_type, 0, flags)
    except socket.gaierror as exc:
        raise TransportError(
            f"resolve {where}: {exc.strerror}; check the host name (lookups that "
            "need DNS fail on a machine without it)",
            op="resolve",
            address=where,
        ) from exc
    seen: list[tuple[socket.AddressFamily, Any]] = []
    for fam, _, _, _, sockaddr in infos:
        if (fam, sockaddr) not in seen:
            seen.append((fam, sockaddr))
    if not seen:  # pragma: no cover - getaddrinfo raises instead
        raise TransportError(f"resolve {where}: no addresses", op="resolve", address=where)
    return seen


def one_address(
    candidates: list[tuple[socket.AddressFamily, Any]],
    host: str,
    port: int,
    *,
    op: str = "listen on",
    network: str = "tcp",
) -> tuple[socket.AddressFamily, Any]:
    """The one address a socket is bound (or connected) to: the only one *host* resolved to (:apue:`16.3.3`).

    One socket binds one address, so a name with several (``localhost`` is
    often both ``::1`` and ``127.0.0.1``) is refused with
    :class:`~transports.AddressError` naming them, rather than the first
    silently used. An empty *host* ("every local address") takes the first
    that :func:`resolve` gave. *op* is the message's phrase: ``"listen on"``,
    ``"bind"`` or ``"connect to"``.
    """
    if len(candidates) == 1 or not host:
        return candidates[0]
    listed = ", ".join(str(sockaddr[0]) for _, sockaddr in candidates)
    every = "" if op == "connect to" else ", or host '' for every local address"
    raise AddressError(
        f"{op} {InetAddress(host, port).url(network)}: {host!r} resolves to {len(candidates)} "
        f"addresses ({listed}) and one socket takes one address; pass one of them as the host, "
        f"or family='ipv4' or 'ipv6' to keep one family{every}"
    )
