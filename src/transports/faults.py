"""The fault-injecting wrapper, under its first name (:apue:`16.5`).

:class:`~transports.testing.FaultyTransport`, :class:`~transports.testing.Faults` and :class:`~transports.testing.Passthrough` live in
:mod:`transports.testing.faults`, next to the rest of the test kit; this
module re-exports them so that ``from transports.faults import
FaultyTransport`` keeps working. New code may import either.
"""

from transports.testing import faults
from transports.testing.faults import *  # noqa: F403  # the shim re-exports exactly that module's __all__

__all__ = faults.__all__
