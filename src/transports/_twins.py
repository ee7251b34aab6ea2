"""What the sync and async faces share besides their protocols: docstrings, and ``socketpair``'s choice (:apue:`16.8`).

An async member that does what its sync twin does, only waiting on the event
loop, says so in the same words. :func:`docs_from` gives it the twin's
docstring when the class is made, so the text is written once and Sphinx
(which reads ``__doc__`` at run time) still shows it in full on both faces.
:func:`pair_kind` is how both faces' ``socketpair`` read their *kind* argument.
Light on purpose: the scheme table uses it at ``import transports``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from transports.kinds import Kind

__all__ = ["KindName", "docs_from", "pair_kind"]

C = TypeVar("C", bound=type)

#: The kinds ``socketpair`` takes by name, besides :class:`~transports.Kind` itself.
KindName = Literal["stream", "datagram", "seqpacket"]


def pair_kind(kind: Kind | KindName) -> Kind:
    """The :class:`~transports.Kind` a ``socketpair`` *kind* argument names (:apue:`17.2`).

    A *kind* that names none raises :class:`ValueError` listing the names.
    """
    try:
        return kind if isinstance(kind, Kind) else Kind(kind)
    except ValueError:
        raise ValueError(
            f"socketpair kind must be 'stream', 'datagram' or 'seqpacket', got {kind!r}"
        ) from None


def _doc_of(member: Any) -> str | None:
    if member is None:
        return None
    doc = getattr(member, "__func__", member).__doc__
    return doc if isinstance(doc, str) else None


def docs_from(*twins: type) -> Callable[[C], C]:
    """Give each member of the decorated class that has no docstring the one of its namesake in *twins*.

    The first twin that has the name and a docstring wins. Methods,
    classmethods, staticmethods and properties are filled in; a member with
    a docstring of its own keeps it (say so where the async call differs).
    """

    def fill(cls: C) -> C:
        for name, member in vars(cls).items():
            if name.startswith("__") or _doc_of(member) is not None:
                continue
            doc = next((d for t in twins if (d := _doc_of(_defined(t, name))) is not None), None)
            if doc is None:
                continue
            if isinstance(member, property):
                if member.fget is not None:
                    member.fget.__doc__ = doc
                member.__doc__ = doc
            elif isinstance(member, classmethod | staticmethod):
                member.__func__.__doc__ = doc
                member.__doc__ = doc
            elif callable(member):
                member.__doc__ = doc
        return cls

    return fill


def _defined(cls: type, name: str) -> object:
    """*name* as defined in *cls* or the first base that defines it, undecorated (None if none does)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None
