"""Names newer Pythons have in the standard library, taken from typing-extensions only where they are missing.

``collections.abc.Buffer`` (PEP 688) exists from Python 3.12; before that
``typing_extensions.Buffer`` stands in. Modules import ``Buffer`` from here,
so ``typing_extensions`` is loaded only on the Pythons that need it;
``WritableBuffer`` is the name ``recv_into`` uses for what it fills.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

__all__ = ["Buffer", "WritableBuffer"]

#: What ``recv_into`` fills: a writable buffer. Typed as ``Buffer``, as
#: typeshed types its own ``WriteableBuffer``: no static type tells a read-only
#: buffer from a writable one (a ``memoryview`` of ``bytes`` is a memoryview
#: too), and a union of the writable builtins would refuse NumPy arrays. The
#: name says what is needed; a read-only buffer raises ``TypeError`` at run time.
WritableBuffer = Buffer
