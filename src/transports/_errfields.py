"""The typed fields that say where an error happened (:apue:`16.5`).

Below :mod:`transports.errors` and every other value module: the address
fields are named by their shape (:class:`AddressLike`), not by importing
:mod:`transports.addresses`, which itself raises
:class:`~transports.AddressError`; so the value layer has no import circle.
"""

from __future__ import annotations

from typing import Protocol, TypedDict

__all__ = ["AddressLike", "Where"]


class AddressLike(Protocol):
    """What an error's ``local`` and ``remote`` fields hold (:apue:`16.3.2`).

    :class:`~transports.InetAddress`,
    :class:`~transports.UnixAddress` and
    :class:`~transports.NamedAddress` are such values.
    """

    def url(self, scheme: str = ...) -> str:
        """The address as a URL of *scheme*."""
        ...


class Where(TypedDict, total=False):
    """Where an error happened: the keywords every ``TransportError`` takes (:apue:`16.5`).

    Each becomes the error's field of the same name (``op`` as its verb).
    """

    op: str | None
    address: str | None
    network: str | None
    local: AddressLike | None
    remote: AddressLike | None
