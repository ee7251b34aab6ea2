"""Names newer Pythons have in the standard library, taken from typing-extensions only where they are missing.

``collections.abc.Buffer`` (PEP 688) exists from Python 3.12; before that
``typing_extensions.Buffer`` stands in. Modules import ``Buffer`` from here,
so ``typing_extensions`` is loaded only on the Pythons that need it.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

__all__ = ["Buffer"]
