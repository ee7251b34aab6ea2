"""systemd socket activation: the sockets a service manager passed, adopted as our typed objects (:apue:`16.4`, :apue:`17.4`).

:func:`activation` reads ``LISTEN_PID``, ``LISTEN_FDS`` and
``LISTEN_FDNAMES`` (:mod:`transports._core.listenfds`) and returns an
:class:`Activation`: the passed descriptors by position and by name, each
adopted on request as the class its socket really is -- a listening TCP
socket as :class:`~transports.TCPListener`, a UDP socket as
:class:`~transports.UDPTransport`, and so on, on either face. The
``systemd://NAME`` and ``fd://N`` URLs open the same sockets through
:func:`open_passed`, from the process's one record of what was passed.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, overload

from transports._closing import CloseOnExit
from transports._core.listenfds import (
    ADOPTED_KINDS,
    LISTEN_FDS_START,
    ActivationError,
    PassedFd,
    inspect_fd,
    read_listen_fds,
)
from transports.kinds import Kind
from transports.urls import parse_named_url, split_scheme

if TYPE_CHECKING:
    from transports.tcp import TCPListener
    from transports.udp import UDPTransport
    from transports.unix import UnixDatagramTransport, UnixListener, UnixSeqpacketListener

__all__ = [
    "Activation",
    "activation",
    "open_passed",
    "passed_entry",
    "passed_kind",
    "process_activation",
]


class _Adoptable(Protocol):
    """A class that wraps a socket made elsewhere: every socket class of both faces."""

    @classmethod
    def from_socket(cls, sock: socket.socket) -> Self: ...


AdoptableT = TypeVar("AdoptableT", bound=_Adoptable)


def _classes(name: str) -> tuple[type, ...]:
    """The class called *name* on the sync face, and on the aio face when that is loaded."""
    found: tuple[type, ...] = (getattr(importlib.import_module("transports"), name),)
    aio = sys.modules.get("transports.aio")
    return found if aio is None else (*found, getattr(aio, name))


def _what_was_passed(entries: Iterable[PassedFd]) -> str:
    """What was passed, for a message: ``passed: fd 3 'web', fd 4 'dns'``."""
    shown = ", ".join(f"fd {e.fd} {e.name!r}" for e in entries)
    return f"passed: {shown}" if shown else "nothing was passed (LISTEN_FDS is not set for this process)"


class Activation(CloseOnExit):
    """The descriptors a service manager passed this process, adopted on request (:apue:`16.4`, :apue:`17.4`).

    Made by :func:`~transports.activation`. Entries are found by position
    (0 is fd 3) or by ``FileDescriptorName=``; iterating gives each
    :class:`~transports.PassedFd` without adopting anything.
    :meth:`adopt` turns one into a typed object, once: the object then owns
    the descriptor. :meth:`close` closes those nobody adopted.

    >>> acts = Activation([])  # what activation() gives outside systemd
    >>> len(acts), "web" in acts
    (0, False)
    """

    __slots__ = ("_entries", "_lock", "_taken")

    def __init__(self, entries: list[PassedFd]) -> None:
        self._entries = tuple(entries)
        #: Each adopted or detached descriptor, and what took it (None: detached or closed).
        self._taken: dict[int, object] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[PassedFd]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return any(entry.name == name for entry in self._entries)

    def __repr__(self) -> str:
        shown = ", ".join(f"{e.fd}={e.name!r}" for e in self._entries)
        return f"<Activation {shown or 'nothing passed'}>"

    @property
    def names(self) -> tuple[str, ...]:
        """The name of each passed descriptor, in order ("unknown" when ``LISTEN_FDNAMES`` was unset)."""
        return tuple(entry.name for entry in self._entries)

    def entry(self, key: int | str) -> PassedFd:
        """The passed descriptor at position *key* (0 is fd 3) or named *key* (:apue:`16.2`).

        A name several descriptors share (a unit with two ``ListenStream=``
        lines) is refused: take those by position. A missing one raises
        :class:`~transports.ActivationError` listing what was passed.
        """
        if isinstance(key, bool) or not isinstance(key, int | str):
            raise TypeError(f"Activation: a key is a position (int) or a name (str), got {key!r}")
        if isinstance(key, int):
            if 0 <= key < len(self._entries):
                return self._entries[key]
            raise ActivationError(
                f"no descriptor at position {key} (fd {key + LISTEN_FDS_START}); {_what_was_passed(self)}"
            )
        found = [entry for entry in self._entries if entry.name == key]
        if not found:
            raise ActivationError(f"no descriptor named {key!r}; {_what_was_passed(self)}")
        if len(found) > 1:
            positions = ", ".join(str(self._entries.index(e)) for e in found)
            raise ActivationError(
                f"{len(found)} descriptors are named {key!r} (fds {', '.join(str(e.fd) for e in found)}); "
                f"take them by position ({positions})"
            )
        return found[0]

    @overload
    def adopt(
        self, key: int | str
    ) -> TCPListener | UDPTransport | UnixListener | UnixDatagramTransport | UnixSeqpacketListener: ...
    @overload
    def adopt(self, key: int | str, cls: type[AdoptableT]) -> AdoptableT: ...
    def adopt(self, key: int | str, cls: type[Any] | None = None) -> Any:
        """Adopt the descriptor at *key* as the object its socket is (:apue:`16.4`).

        Without *cls*, the sync class found by looking at the socket
        (``SO_DOMAIN``, ``SO_TYPE``, ``SO_ACCEPTCONN``): a listening TCP
        socket becomes :class:`~transports.TCPListener`, a UDP one
        :class:`~transports.UDPTransport`, a listening Unix stream one
        :class:`~transports.UnixListener`, a Unix datagram one
        :class:`~transports.UnixDatagramTransport`, a listening Unix seqpacket
        one :class:`~transports.UnixSeqpacketListener`. With *cls* (that class,
        or its :mod:`transports.aio` twin) the result is typed as *cls*, and a
        socket of another kind raises :class:`~transports.ActivationError`
        saying what it is. So does anything else (a FIFO, a connected socket
        of ``Accept=yes``): :meth:`detach` hands out its raw descriptor.

        Each descriptor is adopted once; the object owns it from then on
        (a Unix socket's file is never removed: systemd made it). It starts
        blocking (timeout None) on the sync face.
        """
        entry = self.entry(key)
        with self._lock:
            self._check_free(entry)
            made = adopt_entry(entry, cls)
            self._taken[entry.fd] = made
        return made

    def detach(self, key: int | str) -> int:
        """Give up the descriptor at *key* unadopted: return its number, now the caller's to close (:apue:`16.2`)."""
        entry = self.entry(key)
        with self._lock:
            self._check_free(entry)
            self._taken[entry.fd] = None
        return entry.fd

    def _check_free(self, entry: PassedFd) -> None:
        if entry.fd not in self._taken:
            return
        taken = self._taken[entry.fd]
        how = "detached or closed" if taken is None else f"adopted as {type(taken).__qualname__}"
        raise ActivationError(
            f"{entry.label} was already {how}: each passed descriptor is taken once; "
            "keep the object the first call returned"
        )

    def close(self) -> None:
        """Close every passed descriptor nobody adopted or detached (:apue:`16.2`); adopted ones stay open."""
        with self._lock:
            for entry in self._entries:
                if entry.fd not in self._taken:
                    self._taken[entry.fd] = None
                    os.close(entry.fd)


Activation.__module__ = "transports"


def adopt_entry(entry: PassedFd, cls: object) -> Any:
    """Wrap *entry*'s descriptor in *cls* (None: the sync class it is); a refusal leaves it open and unowned."""
    if entry.adopts_as is None:
        raise ActivationError(
            f"{entry.label} is {entry.what}; none of the socket classes adopts it "
            "(take the raw descriptor with Activation.detach)"
        )
    expected = _classes(entry.adopts_as)
    if cls is None:
        cls = expected[0]
    if not (isinstance(cls, type) and issubclass(cls, expected)):
        raise ActivationError(
            f"{entry.label} is {entry.what}: adopt it as {entry.adopts_as} "
            f"(or transports.aio.{entry.adopts_as}), not {getattr(cls, '__qualname__', cls)!r}"
        )
    sock = socket.socket(fileno=entry.fd)
    try:
        sock.settimeout(None)  # blocking, whatever the manager's NonBlocking= said; aio makes it non-blocking
        return getattr(cls, "from_socket")(sock)  # noqa: B009 - every class of _classes has it
    except BaseException:
        sock.detach()  # refused: the descriptor stays as it was passed
        raise


# -- the process's record, and the URLs -----------------------------------------------------------

_lock = threading.RLock()
#: The Activation that took this process's variables, and the pid it belongs to.
_record: list[tuple[int, Activation]] = []
#: Descriptors opened as ``fd://N`` outside any activation, and what took each.
_direct: dict[int, object] = {}


def activation(*, clear_environment: bool = True) -> Activation:
    """The sockets systemd passed this process: ``LISTEN_PID``, ``LISTEN_FDS``, ``LISTEN_FDNAMES`` (:apue:`16.4`, :apue:`17.4`).

    As systemd's ``sd_listen_fds``: descriptors start at 3; nothing is taken
    (an empty :class:`~transports.Activation`) when the variables are unset or
    ``LISTEN_PID`` is another process's; each descriptor is made
    close-on-exec; and with *clear_environment* (the default) the three
    variables leave ``os.environ`` in any case, so that a child process
    does not believe the sockets are meant for it. A second call then finds
    nothing, as ``sd_listen_fds`` does; the ``systemd://`` and ``fd://`` URLs
    keep using the first call's result. With ``clear_environment=False``
    the variables stay and every call reads them afresh: adopt each
    descriptor from one result only. Malformed variables raise
    :class:`~transports.ActivationError`.
    """
    with _lock:
        entries = [inspect_fd(fd, name) for fd, name in read_listen_fds(os.environ, clear=clear_environment)]
        made = Activation(entries)
        if clear_environment and entries:
            _record[:] = [(os.getpid(), made)]
        return made


def process_activation() -> Activation:
    """This process's record of what was passed, reading (and clearing) the variables until something is found."""
    with _lock:
        if _record and _record[0][0] == os.getpid() and len(_record[0][1]):
            return _record[0][1]
        made = activation()
        _record[:] = [(os.getpid(), made)]
        return made


def passed_entry(scheme: str, key: str, url: str) -> tuple[Activation | None, PassedFd]:
    """What ``systemd://NAME`` or ``fd://N`` (*scheme*, *key*) names: its activation (None: outside one) and entry."""
    acts = process_activation()
    if scheme == "systemd":
        try:
            return acts, acts.entry(key)
        except ActivationError as exc:
            raise ActivationError(
                f"{url}: {exc}; name sockets with FileDescriptorName= (or --fdname)"
            ) from None
    fd = int(key)
    for entry in acts:
        if entry.fd == fd:
            return acts, entry
    try:
        os.fstat(fd)
    except OSError as exc:
        raise ActivationError(
            f"{url}: fd {fd} is not open ({exc.strerror}); {_what_was_passed(acts)}"
        ) from None
    return None, inspect_fd(fd, "unknown")


def open_passed(url: str, scheme: str, key: str, op: str, face: str, wanted: Kind | None) -> Any:
    """Adopt the socket of a ``systemd://`` or ``fd://`` URL for *op* ("listen" or "bind") on *face* (:apue:`16.4`).

    *face* is ``"transports"`` or ``"transports.aio"``; *wanted* the kind the
    caller asked for (None: any). A socket that cannot serve *op* or is of
    another kind raises :class:`~transports.ActivationError` naming it.
    """
    with _lock:
        acts, entry = passed_entry(scheme, key, url)
        check_use(url, entry, op, wanted)
        cls = getattr(importlib.import_module(face), str(entry.adopts_as))
        if acts is not None:
            try:
                return acts.adopt(entry.fd - LISTEN_FDS_START, cls)
            except ActivationError as exc:
                raise ActivationError(f"{url}: {exc}") from None
        taken = _direct.get(entry.fd)
        if taken is not None and not getattr(taken, "closed", True):
            raise ActivationError(f"{url}: {entry.label} is already open as {type(taken).__qualname__}")
        made = adopt_entry(entry, cls)
        os.set_inheritable(entry.fd, False)  # ours now: a child we start does not inherit it
        _direct[entry.fd] = made
        return made


def check_use(url: str, entry: PassedFd, op: str, wanted: Kind | None) -> Kind:
    """The kind of *entry*'s socket, refusing one that *op* cannot open or of another kind than *wanted*."""
    if entry.adopts_as is None:
        raise ActivationError(f"{url}: {entry.label} is {entry.what}; {op}() can open none of that")
    kind, listener = ADOPTED_KINDS[entry.adopts_as]
    if listener != (op == "listen"):
        instead = "bind() (datagrams have no connections)" if op == "listen" else "listen()"
        raise ActivationError(f"{url}: {entry.label} is {entry.what}; open it with {instead}")
    if wanted is not None and wanted is not kind:
        raise ActivationError(
            f"{url}: {entry.label} is {entry.what}, a {kind.value} socket, not {wanted.value}; "
            f"pass kind={kind.value!r} or name a {wanted.value} socket"
        )
    return kind


def passed_kind(url: str) -> Kind:
    """The kind of the passed socket a ``systemd://`` or ``fd://`` URL names, without adopting it (:apue:`16.2`)."""
    scheme = split_scheme(url)[0]
    entry = passed_entry(scheme, parse_named_url(url, scheme).name, url)[1]
    if entry.adopts_as is None:
        raise ActivationError(f"{url}: {entry.label} is {entry.what}; it cannot be served")
    return ADOPTED_KINDS[entry.adopts_as][0]
