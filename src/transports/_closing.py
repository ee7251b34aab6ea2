"""The context-manager half of "closed exactly once" (:apue:`16.2`).

Every transport, listener and stream wrapper of ours closes itself at the
end of a ``with`` block; this one mixin says so once.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class CloseOnExit:
    """``with obj:`` returns *obj* and calls ``obj.close()`` on the way out, whatever happened."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
