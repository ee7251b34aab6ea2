"""Argument checks made before any system call: timeouts, byte counts, receive buffers.

Each raises ``TypeError`` or ``ValueError`` with a message naming the
argument, what it got and what it takes, so a caller's mistake never
reaches the kernel as a terse ``OSError``.
"""

from __future__ import annotations

import math

from transports._compat import Buffer

#: The longest finite timeout (a year); Python's clocks overflow on much larger ones.
_MAX_TIMEOUT = 365 * 24 * 3600.0


def check_timeout(value: float | None) -> float | None:
    """Validate a timeout: ``None`` or a finite number of seconds >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"timeout must be >= 0 seconds or None, got {value!r}")
    if value > _MAX_TIMEOUT:
        # socket.settimeout would fail with OverflowError, after a socket exists.
        raise ValueError(
            f"timeout must be at most {_MAX_TIMEOUT:g} seconds, got {value!r}; pass None to wait forever"
        )
    return float(value)


def check_size(name: str, value: int) -> int:
    """Validate a byte count argument before any system call."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def check_room(buffer: Buffer, nbytes: int) -> None:
    """Raise a clear error for a ``recv_into`` size the socket module refused."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"recv_into: nbytes must be an int, got {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"recv_into: nbytes must be >= 0, got {nbytes}")
    with memoryview(buffer) as view:
        room = view.nbytes
        if view.readonly:
            raise TypeError(
                f"recv_into needs a writable buffer (a bytearray, a memoryview of one), got {buffer!r:.60}"
            )
    if nbytes > room:
        raise ValueError(
            f"recv_into: nbytes {nbytes} is larger than the {room}-byte buffer; pass nbytes=0 to use the whole buffer"
        )
