"""The shapes the scheme table is made of: what a factory is given, what it is, one row (:apue:`16.3.3`, :apue:`16.4`).

:mod:`transports.registry` documents and re-exports the public ones
(:class:`OpenArgs`, :class:`SchemeFactory`, :class:`AsyncSchemeFactory`,
:class:`SchemeInfo`); they live here, below both the registry and its
built-in rows (:mod:`transports._builtin_schemes`), so that neither imports
the other's insides. :class:`SchemeRow` is the table's own row.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from transports._twins import docs_from
from transports.addresses import Address
from transports.kinds import Kind

if TYPE_CHECKING:
    import ssl
    from typing import TypeAlias

    from transports.aio import protocols as aio_protocols
    from transports.options import OptionSetting
    from transports.protocols import Listener, Transport

    #: What the async factories make, named once for this module and the built-in rows.
    AsyncTransport: TypeAlias = aio_protocols.Transport
    AsyncListener: TypeAlias = aio_protocols.Listener[AsyncTransport]

__all__ = [
    "AddressParser",
    "AsyncSchemeFactory",
    "OpenArgs",
    "SchemeBase",
    "SchemeFactory",
    "SchemeInfo",
    "SchemeRow",
]


@attrs.frozen
class OpenArgs:
    """What the caller asked for besides the URL, passed to every factory (:apue:`16.4`).

    ``timeout`` and ``options`` apply to the new socket (:apue:`16.6`), ``backlog`` to ``listen``, ``mode`` to a Unix socket file
    (:apue:`17.3`). ``context`` and ``server_hostname`` are for TLS schemes only
    (``tls://`` ...): the :class:`ssl.SSLContext` to use and the name the
    server's certificate is checked against; the table refuses them for a
    scheme whose row does not take TLS settings.
    """

    timeout: float | None = None
    options: tuple[OptionSetting[Any], ...] = ()
    backlog: int = 128
    mode: int | None = 0o600
    context: ssl.SSLContext | None = None
    server_hostname: str | None = None


@runtime_checkable
class SchemeBase(Protocol):
    """What a factory of either face says about its scheme (:apue:`16.3.3`)."""

    @property
    def kind(self) -> Kind:
        """The kind of transport the scheme makes."""
        ...

    @property
    def description(self) -> str:
        """One line for listings."""
        ...


@runtime_checkable
class SchemeFactory(SchemeBase, Protocol):
    """Makes transports for one URL scheme, for the sync face (:apue:`16.4`).

    A factory that cannot do an operation (``listen`` on a connectionless
    scheme, say) raises :class:`~transports.AddressError` saying what
    to call instead. Optional attributes fill the rest of the scheme's row:
    ``async_factory`` (an :class:`AsyncSchemeFactory`, to serve
    :mod:`transports.aio` too), ``family`` (a :class:`socket.AddressFamily`)
    ``parse_address(url)`` (the URL's address, for :func:`~transports.registry.parse_address`)
    and ``tls`` (``True``: the factory takes :class:`OpenArgs`' ``context`` and
    ``server_hostname``; otherwise the table refuses them before calling it).
    """

    def connect(self, url: str, args: OpenArgs) -> Transport:
        """Connect to the URL's address."""
        ...

    def listen(self, url: str, args: OpenArgs) -> Listener[Transport]:
        """Listen at the URL's address."""
        ...

    def bind(self, url: str, args: OpenArgs) -> Transport:
        """Bind a connectionless transport to the URL's address."""
        ...


@runtime_checkable
@docs_from(SchemeFactory)
class AsyncSchemeFactory(SchemeBase, Protocol):
    """Makes :mod:`transports.aio` transports for one URL scheme (:apue:`16.4`, :apue:`16.8`).

    The async twin of :class:`SchemeFactory`: the same members, the three
    openers as coroutines returning the protocols of :mod:`transports.aio.protocols`.
    """

    async def connect(self, url: str, args: OpenArgs) -> AsyncTransport: ...

    async def listen(self, url: str, args: OpenArgs) -> AsyncListener: ...

    async def bind(self, url: str, args: OpenArgs) -> AsyncTransport: ...


@attrs.frozen
class SchemeInfo:
    """One row of :func:`~transports.schemes`: a scheme, its kind, where it comes from (:apue:`16.3.3`).

    ``origin`` is ``"builtin"``, ``"registered"`` (by
    :func:`~transports.register`) or ``"plugin <distribution> <version>"``;
    ``error`` says why a plugin could not be loaded (then ``kind`` is None).
    ``family`` is the socket address family the scheme resolves to (None
    when it is not a socket); ``sync`` and ``aio`` say which faces can open it.
    """

    name: str
    kind: Kind | None
    description: str
    origin: str
    error: str | None = None
    family: socket.AddressFamily | None = None
    sync: bool = True
    aio: bool = False


#: Parses a URL of one scheme into its address, without touching the network.
AddressParser = Callable[[str], Address]


@attrs.frozen
class SchemeRow:
    """One scheme of the table, with what opens it on each face (:apue:`16.3.3`)."""

    name: str
    kind: Kind
    description: str
    origin: str
    family: socket.AddressFamily | None = None
    parse: AddressParser | None = None
    sync: SchemeFactory | None = None
    aio: AsyncSchemeFactory | None = None
    #: Why there is no async factory, for the error message (" yet (...)").
    no_aio: str = ""
    #: Whether the factories take the TLS settings of :class:`OpenArgs` (``context``, ``server_hostname``).
    tls: bool = False

    def info(self) -> SchemeInfo:
        """The public view of this row, for :func:`~transports.schemes`."""
        return SchemeInfo(
            self.name,
            self.kind,
            self.description,
            self.origin,
            family=self.family,
            sync=self.sync is not None,
            aio=self.aio is not None,
        )
