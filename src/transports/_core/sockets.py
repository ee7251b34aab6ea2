"""Setting up and adopting the sockets of every kind (:apue:`16.2`, :apue:`16.4`, :apue:`16.8`).

What the constructors of TCP, UDP and Unix transports share, sync and async:

* :func:`closing_on_error`: the steps after ``socket(2)`` (bind, connect,
  listen, options) run in one block that closes the new socket if any of
  them fails, and names the failed step and address in the error;
* :func:`connect_would_block`: the error of a ``timeout=0`` connect that
  could not complete at once;
* :func:`check_adoptable`: what ``from_socket`` refuses (and leaves open).
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from typing import Any

from transports._core.transport import SocketTransport
from transports.errors import WouldBlock, translate_os_error

__all__ = ["check_adoptable", "check_listening", "closing_on_error", "connect_would_block"]


@contextlib.contextmanager
def closing_on_error(sock: socket.socket, op: str, where: str, **fields: Any) -> Iterator[socket.socket]:
    """``with closing_on_error(sock, "bind", where):`` set *sock* up; on failure close it.

    An :class:`OSError` of a step becomes the library's error for *op* at
    *where* (*fields* such as ``network=`` and ``remote=`` go to
    :func:`~transports.errors.translate_os_error`); anything else
    (``KeyboardInterrupt`` ...) passes unchanged. Either way no socket is left open.
    """
    try:
        yield sock
    except OSError as exc:
        sock.close()
        raise translate_os_error(exc, op, where, **fields) from exc
    except BaseException:
        sock.close()
        raise


def connect_would_block(exc: OSError, where: str, why: str, hint: str = "") -> WouldBlock:
    """The error of a connect with ``timeout=0`` that could not complete at once (:apue:`16.8`).

    The socket is closed by then (nothing was connected), so the hint is to
    connect again, with a timeout, rather than to wait for readiness.
    """
    code = exc.errno if exc.errno is not None else errno.EAGAIN
    hint = hint or "connect with a timeout > 0 or None, then set transport.timeout = 0 for non-blocking I/O"
    return WouldBlock(
        f"connect to {where}: {why} and timeout=0 never waits ({errno.errorcode.get(code, code)}); {hint}",
        errno=code,
        op="connect",
        address=where,
    )


def check_adoptable(cls: type[SocketTransport[Any]], sock: object, *, connected: bool) -> None:
    """Refuse a socket ``cls.from_socket`` cannot honestly wrap: closed, or not connected when it must be.

    A refused socket is left open and still the caller's. Sockets of the
    wrong type, family or kind are left to the constructor, which says so.
    """
    if not isinstance(sock, socket.socket):
        return  # the constructor raises TypeError
    name = f"{cls.__name__}.from_socket"
    if sock.fileno() == -1:
        raise ValueError(f"{name}: the socket is closed; pass an open socket (it is not taken over)")
    if not connected or sock.family not in cls._families or sock.type != cls._kind.socket_type:
        return  # a wrong family or kind: the constructor names both
    try:
        sock.getpeername()
    except OSError as exc:
        if exc.errno not in (errno.ENOTCONN, errno.EINVAL):
            raise translate_os_error(exc, "getpeername", f"{cls.network}:(adopted socket)") from exc
        why = errno.errorcode.get(exc.errno, str(exc.errno))
    else:
        return
    listening = False
    accept_conn = getattr(socket, "SO_ACCEPTCONN", None)
    if accept_conn is not None:
        try:
            listening = bool(sock.getsockopt(socket.SOL_SOCKET, accept_conn))
        except OSError:  # pragma: no cover - every platform with the option answers it
            listening = False
    if listening:
        raise ValueError(
            f"{name}: the socket is listening, not connected; accept() connections on it "
            "and wrap those (it is not taken over)"
        )
    raise ValueError(
        f"{name}: the socket is not connected (getpeername: {why}); connect it first, "
        f"or use {cls.__name__}.connect (it is not taken over)"
    )


def check_listening(
    name: str, network: str, sock: object, families: tuple[int, ...], sock_type: int
) -> socket.socket:
    """Refuse a socket a listener's ``from_socket`` (*name*) cannot adopt; return it when it can.

    It must be a :class:`socket.socket`, open, of one of *families* and of
    *sock_type*, and listening (``SO_ACCEPTCONN``). A refused socket is
    left open and still the caller's.
    """
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{name}: expected a socket.socket, got {type(sock).__name__}")
    if sock.fileno() == -1:
        raise ValueError(f"{name}: the socket is closed; pass an open socket (it is not taken over)")
    if sock.family not in families or sock.type != sock_type:
        raise ValueError(
            f"{name}: a {network} listener needs a {socket.SocketKind(sock_type).name} socket of "
            f"{' or '.join(socket.AddressFamily(f).name for f in families)}, got "
            f"{sock.type.name} of {sock.family.name} (it is not taken over)"
        )
    try:
        listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError as exc:  # pragma: no cover - every platform with listeners answers it
        raise translate_os_error(exc, "getsockopt", f"{network}:(adopted socket)") from exc
    if not listening:
        raise ValueError(
            f"{name}: the socket is not listening; call sock.listen() first, or use the "
            f"class's listen() to make one (it is not taken over)"
        )
    return sock
