"""The service manager's notification protocol: ``KEY=VALUE`` lines in one datagram to ``$NOTIFY_SOCKET`` (:apue:`17.2`, :apue:`17.4`).

A service of ``Type=notify`` tells systemd it is ready (``READY=1``),
reloading (``RELOADING=1``), stopping (``STOPPING=1``), alive
(``WATCHDOG=1``) or what it is doing (``STATUS=...``), and can hand it
descriptors to keep across a restart (``FDSTORE=1``, the descriptors riding
along as ``SCM_RIGHTS``, :apue:`17.4`). The message goes over our own
:class:`~transports.UnixDatagramTransport` to the socket named by
``NOTIFY_SOCKET``: a path, or a Linux abstract name written with a leading
``@``. :func:`check_state` is what both faces share; they differ only in how
the send waits.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from transports.addresses import UnixAddress
from transports.errors import AddressError
from transports.protocols import Fds  # at run time: the signature is read by the mirroring check and autodoc

if TYPE_CHECKING:
    from transports._handles import HasFileno

__all__ = ["NOTIFY_VARIABLE", "check_state", "notify", "notify_async", "notify_target"]

#: The variable systemd sets to the socket it reads notifications on.
NOTIFY_VARIABLE = "NOTIFY_SOCKET"

#: Keys whose only value is 1.
_ONE = frozenset({"READY", "STOPPING", "RELOADING", "FDSTORE", "FDSTOREREMOVE", "BARRIER"})
#: Keys whose value is a decimal number.
_NUMBERS = frozenset({"MAINPID", "ERRNO", "MONOTONIC_USEC", "WATCHDOG_USEC", "EXTEND_TIMEOUT_USEC"})


#: The longest notification systemd reads (its NOTIFY_BUFFER_MAX, which is PIPE_BUF).
NOTIFY_MAX = 4096


def _key_ok(key: str) -> bool:
    return (
        bool(key)
        and key.isascii()
        and key[0].isupper()
        and all(c.isupper() or c.isdigit() or c == "_" for c in key)
    )


def _check_value(key: str, value: str, line: str) -> None:
    if key in _ONE and value != "1":
        raise ValueError(f"notify: {line!r}: {key} takes only the value 1")
    if key in _NUMBERS and not (value.isascii() and value.isdigit()):
        raise ValueError(f"notify: {line!r}: {key} takes a decimal number")
    if key == "WATCHDOG" and value not in ("1", "trigger"):
        raise ValueError(f"notify: {line!r}: WATCHDOG takes 1 (alive) or 'trigger' (act as if it expired)")
    if key == "FDNAME" and (not value or len(value) > 255 or ":" in value or not value.isprintable()):
        raise ValueError(f"notify: {line!r}: an FDNAME has 1 to 255 printable characters and no ':'")


def check_state(state: str, fd_count: int) -> bytes:
    """The datagram for *state*, checked: newline-separated ``KEY=VALUE`` lines (:apue:`17.2`).

    Keys are upper case; the values of the keys systemd defines are checked
    (``READY=1``, a number for ``MAINPID`` and the ``*_USEC`` keys ...).
    ``RELOADING=1`` without ``MONOTONIC_USEC`` gets it added (the current
    ``CLOCK_MONOTONIC`` in microseconds), as systemd requires. Descriptors
    (*fd_count* of them) travel only with ``FDSTORE=1``, which needs at least
    one; ``FDNAME`` names them and needs ``FDSTORE=1`` or ``FDSTOREREMOVE=1``.
    A state that breaks a rule raises :class:`ValueError` saying which line.
    """
    if not isinstance(state, str):
        raise TypeError(f"notify: the state is a str of KEY=VALUE lines, got {type(state).__name__}")
    if "\0" in state:
        raise ValueError("notify: the state holds a NUL character; systemd reads text lines")
    lines = state.split("\n")
    if lines[-1] == "" and len(lines) > 1:
        lines.pop()  # one trailing newline is harmless
    found: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not _key_ok(key):
            raise ValueError(
                f"notify: {line!r} is not a KEY=VALUE line with an upper-case key; "
                "write e.g. 'READY=1' or 'STATUS=serving', one per line"
            )
        _check_value(key, value, line)
        found[key] = value
    if "RELOADING" in found and "MONOTONIC_USEC" not in found:
        lines.append(f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
    storing = "FDSTORE" in found
    if fd_count and not storing:
        raise ValueError("notify: descriptors travel only with FDSTORE=1 (systemd closes any sent otherwise)")
    if storing and not fd_count:
        raise ValueError("notify: FDSTORE=1 stores descriptors; pass them with fds=[...]")
    if "FDNAME" in found and not (storing or "FDSTOREREMOVE" in found):
        raise ValueError("notify: FDNAME names descriptors of FDSTORE=1 or FDSTOREREMOVE=1; add one of them")
    data = "\n".join(lines).encode("utf-8")
    if len(data) > NOTIFY_MAX:
        raise ValueError(
            f"notify: the state is {len(data)} bytes; systemd reads at most {NOTIFY_MAX} bytes of "
            "one notification and ignores a longer one; shorten it (a long STATUS=, say)"
        )
    return data


def notify_target(value: str) -> UnixAddress:
    """The address ``NOTIFY_SOCKET`` names: an absolute path, or ``@name`` for an abstract one (:apue:`17.2`)."""
    if value.startswith("@") and len(value) > 1:
        return UnixAddress(value[1:], abstract=True)
    if value.startswith("/"):
        return UnixAddress(value)
    raise AddressError(
        f"{NOTIFY_VARIABLE}={value!r}: expected an absolute path or an @abstract name "
        "(vsock: addresses of virtual machines are not supported)"
    )


def _prepare(state: str, fds: Fds) -> tuple[bytes, list[int | HasFileno], UnixAddress | None]:
    items = list(fds)
    data = check_state(state, len(items))
    value = os.environ.get(NOTIFY_VARIABLE)
    return data, items, (notify_target(value) if value else None)


def notify(state: str, *, fds: Fds = ()) -> bool:
    """Tell the service manager *state*: ``"READY=1"``, ``"STOPPING=1"``, ``"STATUS=..."``, ... (:apue:`17.2`, :apue:`17.4`).

    Sends one datagram of newline-separated ``KEY=VALUE`` lines to the
    socket named by ``$NOTIFY_SOCKET`` over a
    :class:`~transports.UnixDatagramTransport`, with *fds* (ints or objects
    with ``fileno()``) as ``SCM_RIGHTS`` for ``FDSTORE=1``. Returns True when
    sent, False when ``NOTIFY_SOCKET`` is unset (not started by systemd
    with ``Type=notify``, or ``NotifyAccess=`` does not cover this process):
    the same code runs under systemd and in a terminal. The state is checked
    first in both cases (``ValueError`` naming the line; see the "Running in
    production" chapter for the rules). A socket that cannot be reached
    raises the library's :class:`~transports.TransportError`.
    """
    data, items, target = _prepare(state, fds)
    if target is None:
        return False
    from transports.unix import UnixDatagramTransport

    with UnixDatagramTransport.connect(target) as conn:
        if items:
            conn.send_fds(data, items)
        else:
            conn.send(data)
    return True


async def notify_async(state: str, *, fds: Fds = ()) -> bool:
    """:func:`notify` for :mod:`transports.aio`: the same checks, the send waited on by the event loop (:apue:`17.2`, :apue:`16.8`)."""
    data, items, target = _prepare(state, fds)
    if target is None:
        return False
    from transports.aio.unix import UnixDatagramTransport

    async with await UnixDatagramTransport.connect(target) as conn:
        if items:
            await conn.send_fds(data, items)
        else:
            await conn.send(data)
    return True
