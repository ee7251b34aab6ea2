"""The messages of a hand-off of listening sockets: format, encoding and checks (:apue:`17.4`).

The control channel is a Unix seqpacket connection, so that each message
arrives whole or not at all, with its descriptors. Every message starts with
a 12-byte header in network byte order::

    magic "TTHO" | version (1 byte) | type (1 byte) | count (2 bytes) | body length (4 bytes)

``OFFER`` carries *count* descriptors (``SCM_RIGHTS``) and a body of *count*
entries, each ``network code (1 byte) | name length (1 byte) | name (UTF-8)``;
``READY`` and ``RELEASED`` have no body; ``REFUSED`` carries a reason
(UTF-8, at most :data:`MAX_REASON` bytes). A receiver reads at most
:data:`MAX_MESSAGE` bytes whatever the header announces, and refuses a header
whose counts disagree with what arrived, closing every descriptor it got.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
from collections.abc import Iterable, Iterator, Sequence

import attrs

from transports.errors import TransportError
from transports.fdpass import MAX_FDS, ReceivedFds

__all__ = [
    "MAX_MESSAGE",
    "MAX_NAME",
    "MAX_REASON",
    "MAX_REPLY",
    "NETWORKS",
    "OFFER",
    "READY",
    "REFUSED",
    "RELEASED",
    "HandoffError",
    "Offered",
    "close_sockets",
    "encode",
    "encode_offer",
    "failed_step",
    "handoff_error",
    "parse_offer",
    "parse_reply",
    "refuse",
]

MAGIC = b"TTHO"
VERSION = 1
_HEAD = struct.Struct("!4sBBHI")
_ENTRY = struct.Struct("!BB")

#: Message types.
OFFER, READY, RELEASED, REFUSED = 1, 2, 3, 4
_TYPE_NAMES = {OFFER: "OFFER", READY: "READY", RELEASED: "RELEASED", REFUSED: "REFUSED"}

#: The longest name of an offered socket, in UTF-8 bytes (its length travels in one byte).
MAX_NAME = 255
#: The longest reason a REFUSED message carries, in UTF-8 bytes.
MAX_REASON = 1024
#: The largest OFFER: 253 entries with the longest names (65,033 bytes); no receiver reads more.
MAX_MESSAGE = _HEAD.size + MAX_FDS * (_ENTRY.size + MAX_NAME)
#: The largest reply (READY, RELEASED or REFUSED with its reason).
MAX_REPLY = _HEAD.size + MAX_REASON

#: The five kinds that can be handed over: network code -> (network, families, socket type, listening).
NETWORKS: dict[int, tuple[str, tuple[int, ...], int, bool]] = {
    1: ("tcp", (socket.AF_INET, socket.AF_INET6), socket.SOCK_STREAM, True),
    2: ("unix", (socket.AF_UNIX,), socket.SOCK_STREAM, True),
    3: ("unixpacket", (socket.AF_UNIX,), socket.SOCK_SEQPACKET, True),
    4: ("udp", (socket.AF_INET, socket.AF_INET6), socket.SOCK_DGRAM, False),
    5: ("unixgram", (socket.AF_UNIX,), socket.SOCK_DGRAM, False),
}
_CODES = {row[0]: code for code, row in NETWORKS.items()}


class HandoffError(TransportError):
    """A hand-off of listening sockets failed (:apue:`17.4`).

    Raised by ``take`` (nobody offers at the path, the offering process
    refused us or went away, a malformed message, a timeout: every descriptor
    received was closed) and by ``HandoffServer.hand_off`` (no successor in
    time: the server's own sockets were never released). ``address`` is the
    control socket's path.
    """


# Documented, and found by name, at its public path.
HandoffError.__module__ = "transports.handoff"


def handoff_error(where: str, what: str, code: int | None = None) -> HandoffError:
    return HandoffError(f"hand-off at {where}: {what}", errno=code, address=where)


def encode(kind: int, reason: str = "") -> bytes:
    """A READY, RELEASED or REFUSED message (a REFUSED one with *reason*, cut to :data:`MAX_REASON` bytes)."""
    body = reason.encode("utf-8", "replace")[:MAX_REASON]
    return _HEAD.pack(MAGIC, VERSION, kind, 0, len(body)) + body


def encode_offer(entries: Sequence[tuple[str, str]]) -> bytes:
    """The OFFER message for *entries*, (name, network) in the order the descriptors travel."""
    body = bytearray()
    for name, network in entries:
        raw = name.encode("utf-8")
        body += _ENTRY.pack(_CODES[network], len(raw)) + raw
    return _HEAD.pack(MAGIC, VERSION, OFFER, len(entries), len(body)) + bytes(body)


def _head(data: bytes, where: str, expect: Iterable[int]) -> tuple[int, int, bytes]:
    """Check a message's header against what arrived; return (type, count, body)."""
    if len(data) < _HEAD.size:
        raise handoff_error(
            where,
            f"a message of {len(data)} bytes is shorter than the {_HEAD.size}-byte header; is the peer a hand-off server of typed-transports?",
            errno.EPROTO,
        )
    magic, version, kind, count, length = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise handoff_error(
            where,
            f"not a hand-off message (magic {magic!r}, want {MAGIC!r}); is the path another program's socket?",
            errno.EPROTO,
        )
    if version != VERSION:
        raise handoff_error(
            where,
            f"the peer speaks hand-off version {version}, this one version {VERSION}; run the same library version on both sides",
            errno.EPROTONOSUPPORT,
        )
    wanted = tuple(expect)
    if kind not in wanted:
        names = " or ".join(_TYPE_NAMES[k] for k in wanted)
        raise handoff_error(
            where, f"expected {names}, got message type {_TYPE_NAMES.get(kind, kind)}", errno.EPROTO
        )
    body = data[_HEAD.size :]
    if length != len(body):
        raise handoff_error(
            where,
            f"the header announces a body of {length} bytes but {len(body)} arrived; refused",
            errno.EPROTO,
        )
    return kind, count, body


def parse_reply(data: bytes, where: str, expect: int) -> str | None:
    """Check a reply: None if it is *expect*; the peer's reason if it is REFUSED; HandoffError otherwise."""
    if not data:
        raise handoff_error(
            where,
            f"the peer closed the connection instead of sending {_TYPE_NAMES[expect]}",
            errno.ECONNRESET,
        )
    kind, count, body = _head(data, where, (expect, REFUSED))
    if count:
        raise handoff_error(
            where,
            f"a {_TYPE_NAMES[kind]} message announces {count} descriptors; it carries none",
            errno.EPROTO,
        )
    if kind == REFUSED:
        return body.decode("utf-8", "replace") or "(no reason given)"
    if body:
        raise handoff_error(
            where, f"a {_TYPE_NAMES[kind]} message has a body of {len(body)} bytes; it has none", errno.EPROTO
        )
    return None


@attrs.frozen
class Offered:
    """One socket received in an OFFER: its name, its network and the socket (not yet adopted)."""

    name: str
    network: str
    sock: socket.socket


def parse_offer(got: ReceivedFds, where: str) -> list[Offered]:
    """Check an OFFER and wrap its descriptors; on any failure every descriptor is closed.

    Checks the header against what arrived (never allocating what it
    announces), then each entry, then that each descriptor really is the
    kind of socket its entry names (a listener must be listening). Changes
    nothing on the sockets: their blocking mode is the offering process's
    until it released them.
    """
    fds = list(got.fds)
    socks: list[socket.socket] = []
    try:
        if got.truncated:
            raise handoff_error(
                where,
                f"a message longer than {MAX_MESSAGE} bytes, the largest OFFER; refused",
                errno.EMSGSIZE,
            )
        if not got.data and not fds:
            raise handoff_error(
                where,
                "the offering process closed the connection before offering (another successor took the sockets, it stopped offering, or it refused us)",
                errno.ECONNRESET,
            )
        _, count, body = _head(got.data, where, (OFFER,))
        if count != len(fds):
            raise handoff_error(
                where,
                f"the header announces {count} descriptors but {len(fds)} arrived; refused",
                errno.EPROTO,
            )
        entries = list(_entries(body, count, where))
        while fds:
            socks.append(socket.socket(fileno=fds[0]))
            del fds[0]
        offered = []
        for (name, code), sock in zip(entries, socks, strict=True):
            network, families, sock_type, listening = NETWORKS[code]
            if (
                sock.family not in families
                or sock.type != sock_type
                or bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)) != listening
            ):
                raise handoff_error(
                    where,
                    f"{name!r} is announced as {network} but its descriptor is a {sock.type.name} socket of {sock.family.name}; refused",
                    errno.EPROTO,
                )
            offered.append(Offered(name, network, sock))
        return offered
    except BaseException:
        close_sockets(socks)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise


def _entries(body: bytes, count: int, where: str) -> Iterator[tuple[str, int]]:
    """The (name, network code) entries of an OFFER body, checked to fill it exactly."""
    at, seen = 0, set()
    for index in range(count):
        if at + _ENTRY.size > len(body):
            raise handoff_error(
                where, f"the body ends inside entry {index} of {count}; refused", errno.EPROTO
            )
        code, size = _ENTRY.unpack_from(body, at)
        at += _ENTRY.size
        raw = body[at : at + size]
        at += size
        if len(raw) != size or not size:
            raise handoff_error(
                where,
                f"entry {index} announces a name of {size} bytes; {len(raw)} arrived; refused",
                errno.EPROTO,
            )
        if code not in NETWORKS:
            raise handoff_error(
                where,
                f"entry {index} names network code {code}, not one of {sorted(NETWORKS)}; refused",
                errno.EPROTO,
            )
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise handoff_error(where, f"entry {index}'s name is not UTF-8; refused", errno.EPROTO) from None
        if name in seen:
            raise handoff_error(where, f"the name {name!r} is offered twice; refused", errno.EPROTO)
        seen.add(name)
        yield name, code
    if at != len(body):
        raise handoff_error(
            where, f"{len(body) - at} bytes follow the {count} entries; refused", errno.EPROTO
        )


def failed_step(where: str, step: str, exc: OSError) -> HandoffError:
    """A HandoffError for a call of the exchange that failed (a timeout, a reset, a refused connect)."""
    if isinstance(exc, HandoffError):
        return exc
    return handoff_error(where, f"{step}: {exc}", exc.errno)


def close_sockets(socks: Iterable[socket.socket]) -> None:
    """Close sockets received and not handed out."""
    for sock in socks:
        sock.close()


def refuse(sock: socket.socket, why: Exception) -> None:
    """Tell the offering process why its offer was refused (it keeps serving); never waits, never raises."""
    with contextlib.suppress(OSError):
        sock.send(encode(REFUSED, str(why)), socket.MSG_DONTWAIT)
