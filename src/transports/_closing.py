"""The context-manager half of "closed exactly once" (:apue:`16.2`), for both faces.

Every transport, listener and stream wrapper of ours closes itself at the
end of a ``with`` block (sync) or an ``async with`` block (aio); these two
mixins say so once.
"""

from __future__ import annotations

from typing import Self


class CloseOnExit:
    """``with obj:`` returns *obj* and calls ``obj.close()`` on the way out, whatever happened."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:  # closes whatever happened: the exception is not read
        self.close()


class CloseOnAsyncExit:
    """``async with obj:`` returns *obj* and calls ``obj.close()`` on the way out; ``aclose()`` beside ``close()``.

    The async face's half of "closed exactly once": closing never waits, so
    ``__aexit__`` is a plain ``close()``. An object with this and not
    :class:`CloseOnExit` satisfies the aio protocols only.
    """

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close, as :meth:`close` does, then let the tasks it woke run (:apue:`16.2`, :apue:`16.8`).

        The trio and anyio spelling, for code written against their
        ``AsyncResource``: the object is closed even when the caller is
        cancelled at that checkpoint.
        """
        self.close()
        from asyncio import sleep  # loaded already by whoever awaits this; not at import transports

        await sleep(0)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:  # as __exit__: the exception is not read
        self.close()
