"""Every check of the conformance kit under one name (:apue:`16.5`, :apue:`14.7`).

The checks live by layer: the vocabulary in :mod:`transports.testing.base`
(:class:`~transports.testing.ContractViolation`,
:class:`~transports.testing.NotApplicable`, the time limits), the
checks every pair runs in :mod:`transports.testing.pair` and
:mod:`transports.testing.lifecycle`, and those of one layer, with its list
and its ``run_*`` function, in :mod:`transports.testing.stream`,
:mod:`transports.testing.message` and :mod:`transports.testing.listener`.
This module re-exports the public names of all six, so ``from
transports.testing.checks import check_waitall`` keeps working::

    from transports.testing import checks
    checks.check_close_twice(my_pair_factory)
"""

from transports.testing import base, lifecycle, listener, message, pair, stream
from transports.testing.base import *  # noqa: F403  # each layer's __all__, re-exported whole
from transports.testing.lifecycle import *  # noqa: F403
from transports.testing.listener import *  # noqa: F403
from transports.testing.message import *  # noqa: F403
from transports.testing.pair import *  # noqa: F403
from transports.testing.stream import *  # noqa: F403

__all__ = (
    base.__all__ + lifecycle.__all__ + listener.__all__ + message.__all__ + pair.__all__ + stream.__all__
)
