"""The in-memory transports, under their first name (:apue:`16.5`, :apue:`17.2`).

``memory://`` lives in :mod:`transports.testing.memory` and ``memorygram://``
in :mod:`transports.testing.memorygram`, next to the rest of the test kit;
this module re-exports their public names so that ``from transports.memory
import MemoryStreamTransport`` keeps working. New code may import either.
"""

from transports.testing import memory, memorygram
from transports.testing.memory import *  # noqa: F403  # the shim re-exports the two modules' __all__
from transports.testing.memorygram import *  # noqa: F403

__all__ = memory.__all__ + memorygram.__all__
