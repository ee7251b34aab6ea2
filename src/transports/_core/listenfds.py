"""What a service manager passed: the ``LISTEN_*`` variables read as ``sd_listen_fds`` reads them, each fd inspected (:apue:`16.2`, :apue:`16.4`).

systemd (or ``systemd-socket-activate``, or any launcher speaking the same
protocol) opens the sockets of a ``.socket`` unit itself and starts the
service with them as descriptors 3, 4, ...; ``LISTEN_PID`` names the process
they are meant for, ``LISTEN_FDS`` says how many there are and
``LISTEN_FDNAMES`` names them (colon-separated). :func:`read_listen_fds`
reads the three as systemd's own library does, and :func:`inspect_fd` says
what each descriptor is (``SO_TYPE``, ``SO_DOMAIN``, ``SO_ACCEPTCONN``) and
which of our classes adopts it. :mod:`transports._core.activation` builds the
public :class:`~transports.Activation` on these.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
from collections.abc import MutableMapping

import attrs

from transports.kinds import Kind

__all__ = [
    "ADOPTED_KINDS",
    "LISTEN_FDS_START",
    "VARIABLES",
    "ActivationError",
    "PassedFd",
    "inspect_fd",
    "read_listen_fds",
]

#: The first descriptor a service manager passes (``SD_LISTEN_FDS_START``): 0, 1 and 2 are stdio.
LISTEN_FDS_START = 3
#: The variables of the protocol, cleared together.
VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")

#: What each passed socket is adopted as: (family, type, listening) -> the class's name.
_ADOPTED_AS: dict[tuple[int, int, bool], str] = {
    (socket.AF_INET, socket.SOCK_STREAM, True): "TCPListener",
    (socket.AF_INET6, socket.SOCK_STREAM, True): "TCPListener",
    (socket.AF_INET, socket.SOCK_DGRAM, False): "UDPTransport",
    (socket.AF_INET6, socket.SOCK_DGRAM, False): "UDPTransport",
    (socket.AF_UNIX, socket.SOCK_STREAM, True): "UnixListener",
    (socket.AF_UNIX, socket.SOCK_DGRAM, False): "UnixDatagramTransport",
    (socket.AF_UNIX, socket.SOCK_SEQPACKET, True): "UnixSeqpacketListener",
}
#: Each class a passed socket can become: the kind it carries and whether it is a listener.
ADOPTED_KINDS: dict[str, tuple[Kind, bool]] = {
    "TCPListener": (Kind.STREAM, True),
    "UDPTransport": (Kind.DATAGRAM, False),
    "UnixListener": (Kind.STREAM, True),
    "UnixDatagramTransport": (Kind.DATAGRAM, False),
    "UnixSeqpacketListener": (Kind.SEQPACKET, True),
}


class ActivationError(ValueError):
    """The passed descriptors do not hold what was asked for (:apue:`16.4`).

    Raised when ``LISTEN_*`` is malformed, when no socket was passed under a
    name or position, or when a passed socket is of another kind than the
    class asked for; the message names the descriptor, its name, what it
    really is and what was passed. A :class:`ValueError`: a retry loop on
    :class:`OSError` does not swallow a unit file that does not match the code.
    """


ActivationError.__module__ = "transports"


@attrs.frozen
class PassedFd:
    """One descriptor a service manager passed: its number, its name, what it is (:apue:`16.2`).

    ``what`` describes it in words (``a listening TCP socket on
    127.0.0.1:8080``, ``a FIFO``); ``adopts_as`` names the class of ours that
    adopts it (``"TCPListener"``), or is None when none does.
    """

    #: The descriptor number (3 for the first).
    fd: int
    #: Its ``FileDescriptorName=`` from ``LISTEN_FDNAMES`` ("unknown" when none were passed).
    name: str
    #: What it is, in words.
    what: str
    #: The name of the class that adopts it (in :mod:`transports` and :mod:`transports.aio`), or None.
    adopts_as: str | None

    @property
    def label(self) -> str:
        """How messages name it: ``fd 3 ('web')``."""
        return f"fd {self.fd} ({self.name!r})"


PassedFd.__module__ = "transports"


def _integer(environ: MutableMapping[str, str], variable: str, least: int) -> int:
    text = environ[variable]
    if not (text.isascii() and text.isdigit()) or int(text) < least:
        raise ActivationError(
            f"{variable}={text!r} is not a number >= {least}: the service manager or launcher that "
            f"started this process set it wrongly (systemd sets it to a decimal number)"
        )
    return int(text)


def read_listen_fds(environ: MutableMapping[str, str], *, clear: bool) -> list[tuple[int, str]]:
    """The ``(fd, name)`` pairs passed to this process, read as ``sd_listen_fds_with_names`` does.

    Nothing (an empty list) when ``LISTEN_PID`` or ``LISTEN_FDS`` is unset or
    ``LISTEN_PID`` is another process's; names are "unknown" when
    ``LISTEN_FDNAMES`` is unset. Each descriptor is made close-on-exec, so
    a child this process starts does not inherit it. With *clear* the
    three variables are removed from *environ* whatever the outcome (an
    error or a pid that is not ours included), as systemd's library does
    with ``unset_environment``. Malformed values raise :class:`ActivationError`.
    """
    try:
        if "LISTEN_PID" not in environ or "LISTEN_FDS" not in environ:
            return []
        if _integer(environ, "LISTEN_PID", 1) != os.getpid():
            return []  # meant for another process: the one that set it, or our parent
        count = _integer(environ, "LISTEN_FDS", 1)
        joined = environ.get("LISTEN_FDNAMES")
        names = ["unknown"] * count if joined is None else joined.split(":")
        if len(names) != count:
            raise ActivationError(
                f"LISTEN_FDS={count} but LISTEN_FDNAMES={joined!r} names {len(names)} descriptors; "
                "the launcher must name each passed descriptor once"
            )
        fds = range(LISTEN_FDS_START, LISTEN_FDS_START + count)
        for fd, name in zip(fds, names, strict=True):
            _close_on_exec(fd, name, count)
        return list(zip(fds, names, strict=True))
    finally:
        if clear:
            for variable in VARIABLES:
                environ.pop(variable, None)


def _close_on_exec(fd: int, name: str, count: int) -> None:
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
    except OSError as exc:
        why = "is not open" if exc.errno == errno.EBADF else f"cannot be used ({exc.strerror})"
        raise ActivationError(
            f"LISTEN_FDS={count} says fd {fd} ({name!r}) was passed, but it {why}; "
            "was this process started with its descriptors in place (pass_fds, or a .socket unit)?"
        ) from exc


def _address_text(raw: object) -> str:
    """A socket address as people write it: ``127.0.0.1:80``, ``[::1]:80``, ``/run/x.sock``, ``@name``."""
    if isinstance(raw, tuple):
        host, port = raw[0], raw[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    if isinstance(raw, bytes):
        if raw.startswith(b"\0"):
            return "@" + raw[1:].decode("utf-8", "backslashreplace")
        raw = raw.decode("utf-8", "surrogateescape")
    if raw == "":
        return "an unnamed address"
    return str(raw)


def _socket_words(family: int, sock_type: int) -> str:
    if family in (socket.AF_INET, socket.AF_INET6):
        protocols: dict[int, str] = {socket.SOCK_STREAM: "TCP", socket.SOCK_DGRAM: "UDP"}
        protocol = protocols.get(sock_type)
        if protocol is not None:
            return protocol
    if family == socket.AF_UNIX:
        kind: dict[int, str] = {
            socket.SOCK_STREAM: "stream",
            socket.SOCK_DGRAM: "datagram",
            socket.SOCK_SEQPACKET: "seqpacket",
        }
        if sock_type in kind:
            return f"Unix {kind[sock_type]}"
    return f"{_enum_name(socket.AddressFamily, family)} {_enum_name(socket.SocketKind, sock_type)}"


def _enum_name(enum: type[socket.AddressFamily] | type[socket.SocketKind], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def _not_a_socket(fd: int) -> str:
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        return f"not usable ({exc.strerror})"
    for test, words in (
        (stat.S_ISFIFO, "a FIFO (ListenFIFO=), not a socket"),
        (stat.S_ISCHR, "a character device (ListenSpecial=), not a socket"),
        (stat.S_ISREG, "a regular file, not a socket"),
        (stat.S_ISDIR, "a directory, not a socket"),
    ):
        if test(mode):
            return words
    return "not a socket"


def inspect_fd(fd: int, name: str) -> PassedFd:
    """What descriptor *fd* (passed as *name*) is, and which class adopts it; the fd stays open and untouched."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        if exc.errno != errno.ENOTSOCK:
            return PassedFd(fd, name, f"not usable ({exc.strerror})", None)
        return PassedFd(fd, name, _not_a_socket(fd), None)
    try:
        family, sock_type = int(sock.family), int(sock.type)
        listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        words = _socket_words(family, sock_type)
        try:
            where = f" on {_address_text(sock.getsockname())}"
        except OSError:
            where = ""
        if listening:
            what = f"a listening {words} socket{where}"
        elif sock_type == socket.SOCK_DGRAM:
            what = f"a {words} socket{where}"
        else:
            what = _unlistened(sock, words, where)
        return PassedFd(fd, name, what, _ADOPTED_AS.get((family, sock_type, listening)))
    finally:
        sock.detach()  # the descriptor stays the caller's


def _unlistened(sock: socket.socket, words: str, where: str) -> str:
    try:
        peer = _address_text(sock.getpeername())
    except OSError:
        return f"a {words} socket{where} that is not listening"
    return (
        f"a connected {words} socket{where} (from {peer}): systemd passes one connection per "
        "service instance with Accept=yes; wrap it with the transport class's from_socket"
    )
