"""The in-memory transports, under their first name (APUE 16.5 Data Transfer, 17.2 UNIX Domain Sockets).

``memory://`` lives in :mod:`transports.testing.memory` and ``memorygram://``
in :mod:`transports.testing.memorygram`, next to the rest of the test kit;
this module re-exports their public names so that ``from transports.memory
import MemoryStreamTransport`` keeps working. New code may import either.
"""

from __future__ import annotations

from transports.testing.memory import DEFAULT_CAPACITY, MemoryListener, MemoryStreamTransport
from transports.testing.memorygram import MemoryDatagramTransport

__all__ = [
    "DEFAULT_CAPACITY",
    "MemoryDatagramTransport",
    "MemoryListener",
    "MemoryStreamTransport",
]
