"""The async face mirrors the sync one: every public signature is compared with its twin.

httpcore keeps its two faces honest with ``unasync --check``; we compose
instead (each aio object owns a sync one), so this test is the check. For each
name both :mod:`transports` and :mod:`transports.aio` export, every public
method, classmethod and property is compared: parameter names, kinds,
defaults and annotations (evaluated, with type variables resolved for the
concrete class and each sync class replaced by its aio twin). A coroutine
mirrors a sync method returning the same type; a method that never waits must
be a plain method on both faces. A member found on one face only must be
listed below with its reason, so that a method added to one face and
forgotten on the other fails here, under its own test id.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, Literal, NamedTuple, TypeVar, Union

import pytest

import transports
import transports.fdpass
from transports import aio

# -- what is compared ---------------------------------------------------------------------------------

#: Names both faces export: the classes are compared member by member.
COMMON = sorted(set(transports.__all__) & set(aio.__all__))
CLASSES = [name for name in COMMON if isinstance(getattr(transports, name), type)]
#: The module-level entry points (issue 14 item 3 is rewriting them).
ENTRY_POINTS = [name for name in COMMON if name not in CLASSES]

#: Sync classes exported without an aio twin, and why.
SYNC_ONLY_CLASSES = {
    "MemoryStreamTransport": "an in-process test double: its async twin is in transports.testing.aio_memory, not transports.aio",
    "MemoryDatagramTransport": "an in-process test double: its async twin is in transports.testing.aio_memory, not transports.aio",
    "MemoryListener": "an in-process test double: its async twin is in transports.testing.aio_memory, not transports.aio",
}

#: Dunder methods that belong to the public face (the others are Python's or typing's machinery).
DUNDERS = {
    "__init__",
    "__enter__",
    "__exit__",
    "__aenter__",
    "__aexit__",
    "__iter__",
    "__aiter__",
    "__anext__",
}
#: Members whose async twin has another name, compared as a pair (sync name: aio name).
RENAMED = {"__enter__": "__aenter__", "__exit__": "__aexit__"}

#: Members of the aio face that never wait, so they stay plain methods there; every other
#: aio method is a coroutine. Properties never wait and are not listed.
NEVER_WAITS = {
    "__init__",
    "cipher",
    "close",
    "disown",
    "fileno",
    "from_socket",
    "get_option",
    "getpeercert",
    "pair",
    "peer_credentials",
    "selected_alpn_protocol",
    "set_option",
    "shutdown",
    "socketpair",
    "version",
}

LISTENERS = ("Listener", "TCPListener", "UnixListener", "UnixSeqpacketListener", "TLSListener")
STREAMS = ("StreamTransport", "SendfileCapable", "TCPTransport", "UnixStreamTransport", "TLSTransport")

#: The framing wrappers, exported on both faces.
FRAMED = ("LineStream", "MessageStream")

#: Members found on one face only: (sync or aio, member) -> (the classes that have it, why).
ONE_FACE: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("sync", "__iter__"): ((*LISTENERS, *FRAMED), "sync iteration; the aio twin is __aiter__/__anext__"),
    ("aio", "__aiter__"): ((*LISTENERS, *FRAMED), "async iteration: the twin of the sync __iter__"),
    ("aio", "__anext__"): (
        (*LISTENERS, *FRAMED),
        "async iteration: the twin of the sync __iter__ (a generator there)",
    ),
    ("aio", "serve"): (
        ("Listener",),
        "the sync Listener protocol has no serve(): MemoryListener, which satisfies it, does not serve",
    ),
    ("aio", "aclose"): (
        (
            *LISTENERS[1:],
            *STREAMS[2:],
            "UDPTransport",
            "UnixDatagramTransport",
            "UnixSeqpacketTransport",
            *FRAMED,
        ),
        "async-only: the trio/anyio spelling of close(), for their AsyncResource",
    ),
    ("sync", "__init__"): (
        LISTENERS[1:4],
        "the sync constructor takes internal arguments (a wrap function, the owned path); "
        "both faces make listeners with listen()",
    ),
    ("aio", "last_bytes_sent"): (
        STREAMS,
        "async-only: a cancelled send_all/sendfile raises CancelledError, which cannot carry "
        "bytes_sent as the sync errors do",
    ),
}


def _one_face(face: str, cls_name: str, member: str) -> str | None:
    """The listed reason why *member* of *cls_name* exists on *face* only, or None."""
    entry = ONE_FACE.get((face, member))
    if entry is None or cls_name not in entry[0]:
        return None
    return entry[1]


#: Names the protocols import only for type checkers (an import cycle), needed to evaluate their annotations.
_LATE_NAMES = {"Credentials": transports.fdpass.Credentials, "ReceivedFds": transports.fdpass.ReceivedFds}

#: Each sync class and its aio twin: a sync annotation naming one is compared as the other.
TWINS: dict[Any, Any] = {getattr(transports, name): getattr(aio, name) for name in CLASSES}


# -- reading members ----------------------------------------------------------------------------------


class Member(NamedTuple):
    """One member as found in a class's MRO: the raw attribute and the class defining it."""

    owner: type
    raw: Any

    @property
    def kind(self) -> str:
        if isinstance(self.raw, property):
            return "property"
        if isinstance(self.raw, classmethod):
            return "classmethod"
        if isinstance(self.raw, staticmethod):
            return "staticmethod"
        if callable(self.raw):
            return "method"
        return "attribute"

    @property
    def function(self) -> Callable[..., Any]:
        raw = self.raw
        if isinstance(raw, classmethod | staticmethod):
            return typing.cast(Callable[..., Any], raw.__func__)
        return typing.cast(Callable[..., Any], raw)


def _machinery(owner: type) -> bool:
    """Whether *owner* is Python's or typing's (object, Generic, Protocol), not ours."""
    return owner.__module__ in ("builtins", "typing", "typing_extensions", "abc")


def members(cls: type) -> dict[str, Member]:
    """The public members of *cls*: names without a leading underscore, and the face's dunders."""
    found: dict[str, Member] = {}
    for name in dir(cls):
        if name.startswith("_") and name not in DUNDERS:
            continue
        for owner in cls.__mro__:
            if name in vars(owner):
                if not _machinery(owner):
                    found[name] = Member(owner, vars(owner)[name])
                break
    return found


def typevar_bindings(cls: type, seed: dict[Any, Any]) -> dict[Any, Any]:
    """What each type variable of *cls*'s generic bases stands for in *cls* (unbound ones: *seed* or themselves)."""
    bindings: dict[Any, Any] = {}

    def walk(klass: type, env: dict[Any, Any]) -> None:
        for var, value in env.items():
            if isinstance(bindings.get(var, var), TypeVar):
                bindings[var] = value
        for base in vars(klass).get("__orig_bases__", klass.__bases__):
            origin = typing.get_origin(base)
            if origin is None:
                if isinstance(base, type) and not _machinery(base):
                    walk(base, {})
                continue
            if _machinery(origin):
                continue
            args = [substitute(arg, {**bindings, **env}, {}) for arg in typing.get_args(base)]
            walk(origin, dict(zip(origin.__parameters__, args, strict=True)))

    walk(cls, {var: seed.get(var, var) for var in getattr(cls, "__parameters__", ())})
    return bindings


#: One type variable per (name, bound, constraints, variance), standing for a method's own variables
#: (``get_option``'s ``T``) so that the same-looking variable of each face compares equal.
_CANONICAL: dict[tuple[Any, ...], Any] = {}


def _canonical(var: Any) -> Any:
    key = (var.__name__, var.__bound__, var.__constraints__, var.__covariant__, var.__contravariant__)
    return _CANONICAL.setdefault(key, var)


def substitute(annotation: Any, bindings: dict[Any, Any], twins: dict[Any, Any]) -> Any:
    """*annotation* with type variables replaced by *bindings* and classes by their *twins*.

    A variable not bound by the class (a method's own) becomes the canonical variable of its shape.
    """
    if isinstance(annotation, TypeVar):
        if annotation in bindings:
            return substitute(bindings[annotation], {}, twins)
        return _canonical(annotation)
    if isinstance(annotation, list):  # the parameter list of a Callable
        return [substitute(item, bindings, twins) for item in annotation]
    if isinstance(annotation, type) and annotation in twins:
        return twins[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or not args or origin is Literal:
        return annotation
    new = tuple(substitute(arg, bindings, twins) for arg in args)
    if origin in (Union, types.UnionType):
        return Union[new]  # noqa: UP007 - rebuilds a union of any arity
    if origin in twins:
        origin = twins[origin]
    if origin is collections.abc.Callable:
        return collections.abc.Callable[new]
    return origin[new[0] if len(new) == 1 else new]


def signature(function: Callable[..., Any]) -> inspect.Signature:
    """*function*'s signature with every annotation evaluated (the modules use postponed annotations)."""
    namespace = {**_LATE_NAMES, **getattr(function, "__globals__", {})}
    return inspect.signature(function, eval_str=True, globals=namespace)


def show(annotation: Any) -> str:
    """*annotation* as written in the source, for the messages."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return " | ".join(show(arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        name = annotation.__qualname__
        return name if annotation.__module__ == "builtins" else f"{annotation.__module__}.{name}"
    return inspect.formatannotation(annotation)


class Face(NamedTuple):
    """How one face's class sees its members: its type variable bindings and its twin map."""

    name: str
    bindings: dict[Any, Any]
    twins: dict[Any, Any]

    def parameters(self, function: Callable[..., Any]) -> list[tuple[str, str, Any, Any]]:
        """Name, kind, default and annotation of each public parameter (``_private`` ones are internal)."""
        return [
            (p.name, p.kind.description, p.default, self.annotation(p.annotation))
            for p in signature(function).parameters.values()
            if not p.name.startswith("_")
        ]

    def returns(self, function: Callable[..., Any]) -> Any:
        return self.annotation(signature(function).return_annotation)

    def annotation(self, annotation: Any) -> Any:
        return substitute(annotation, self.bindings, self.twins)


def _faces(name: str) -> tuple[type, type, Face, Face]:
    sync_cls, aio_cls = getattr(transports, name), getattr(aio, name)
    # A generic protocol's own type variables stand for each other across the faces.
    seed = dict(
        zip(getattr(sync_cls, "__parameters__", ()), getattr(aio_cls, "__parameters__", ()), strict=True)
    )
    sync = Face("sync", typevar_bindings(sync_cls, seed), TWINS)
    async_ = Face("aio", typevar_bindings(aio_cls, {}), {})
    return sync_cls, aio_cls, sync, async_


def awaited(annotation: Any) -> Any:
    """A sync callback type ``Callable[P, R]`` as its aio twin takes it: ``Callable[P, Awaitable[R]]``.

    The aio face awaits the callbacks it is given (``serve``'s handler), as its methods are awaited.
    """
    if typing.get_origin(annotation) is not collections.abc.Callable:
        return annotation
    params, result = typing.get_args(annotation)
    callable_: Any = collections.abc.Callable  # subscripted with values read at run time
    awaitable: Any = collections.abc.Awaitable
    return callable_[[*params], awaitable[result]]


def compare_functions(
    where: str, sync_face: Face, sync_fn: Callable[..., Any], aio_face: Face, aio_fn: Callable[..., Any]
) -> list[str]:
    """Every difference between a sync function and its aio twin, one line each."""
    drifts: list[str] = []
    sync_params, aio_params = sync_face.parameters(sync_fn), aio_face.parameters(aio_fn)
    sync_names, aio_names = [p[0] for p in sync_params], [p[0] for p in aio_params]
    if sync_names != aio_names:
        drifts.append(f"{where}: parameters {sync_names} in sync, {aio_names} in aio")
    aio_by_name = {p[0]: p for p in aio_params}
    for name, kind, default, annotation in sync_params:
        if name not in aio_by_name:
            continue
        _, aio_kind, aio_default, aio_annotation = aio_by_name[name]
        if kind != aio_kind:
            drifts.append(f"{where}({name}): {kind} in sync, {aio_kind} in aio")
        if default != aio_default or type(default) is not type(aio_default):
            drifts.append(f"{where}({name}): default {default!r} in sync, {aio_default!r} in aio")
        if annotation != aio_annotation and awaited(annotation) != aio_annotation:
            drifts.append(
                f"{where}({name}): annotated {show(annotation)} in sync, {show(aio_annotation)} in aio"
            )
    sync_ret, aio_ret = sync_face.returns(sync_fn), aio_face.returns(aio_fn)
    if sync_ret != aio_ret:
        drifts.append(f"{where}: returns {show(sync_ret)} in sync, {show(aio_ret)} in aio")
    return drifts


def compare_members(name: str, sync_member: str) -> list[str]:
    """Every difference between ``transports.<name>.<sync_member>`` and its aio twin."""
    _, aio_cls, sync_face, aio_face = _faces(name)
    aio_member = RENAMED.get(sync_member, sync_member)
    ours = members(getattr(transports, name))[sync_member]
    theirs = members(aio_cls)[aio_member]
    where = f"{name}.{aio_member}"
    if ours.kind != theirs.kind:
        return [f"{where}: a {ours.kind} in sync, a {theirs.kind} in aio"]
    if ours.kind == "attribute":  # a class constant such as ``network``: the same value on both faces
        same = ours.raw == theirs.raw and type(ours.raw) is type(theirs.raw)
        return [] if same else [f"{where}: {ours.raw!r} in sync, {theirs.raw!r} in aio"]
    if ours.kind == "property":
        drifts = compare_functions(where, sync_face, ours.raw.fget, aio_face, theirs.raw.fget)
        if (ours.raw.fset is None) != (theirs.raw.fset is None):
            drifts.append(f"{where}: settable in {'sync' if ours.raw.fset else 'aio'} only")
        elif ours.raw.fset is not None:
            drifts += compare_functions(
                f"{where}.setter", sync_face, ours.raw.fset, aio_face, theirs.raw.fset
            )
        return drifts
    drifts = compare_functions(where, sync_face, ours.function, aio_face, theirs.function)
    if inspect.iscoroutinefunction(ours.function):
        drifts.append(f"{where}: a coroutine on the sync face")
    waits = inspect.iscoroutinefunction(theirs.function)
    if aio_member in NEVER_WAITS and waits:
        drifts.append(f"{where}: never waits, yet a coroutine in aio (keep it a plain method)")
    if aio_member not in NEVER_WAITS and not waits:
        drifts.append(f"{where}: a plain method in aio; make it a coroutine, or list it in NEVER_WAITS")
    return drifts


# -- the parameters: one test id per member ----------------------------------------------------------


def _pairs() -> Iterator[tuple[str, str]]:
    for name in CLASSES:
        sync_names = set(members(getattr(transports, name)))
        aio_names = set(members(getattr(aio, name)))
        for member in sorted(sync_names):
            if RENAMED.get(member, member) in aio_names:
                yield name, member


def _one_sided() -> Iterator[tuple[str, str, str]]:
    for name in CLASSES:
        sync_names = set(members(getattr(transports, name)))
        aio_names = set(members(getattr(aio, name)))
        twinned = {RENAMED.get(member, member) for member in sync_names}
        for member in sorted(sync_names):
            if RENAMED.get(member, member) not in aio_names:
                yield "sync", name, member
        for member in sorted(aio_names - twinned):
            yield "aio", name, member


PAIRS = list(_pairs())
ONE_SIDED = list(_one_sided())


@pytest.mark.parametrize(("name", "member"), PAIRS, ids=[f"{n}.{m}" for n, m in PAIRS])
def test_member_mirrors_its_sync_twin(name: str, member: str) -> None:
    drifts = compare_members(name, member)
    assert not drifts, "\n".join(drifts)


@pytest.mark.parametrize(
    ("face", "name", "member"), ONE_SIDED, ids=[f"{f}-only-{n}.{m}" for f, n, m in ONE_SIDED]
)
def test_member_on_one_face_only_is_listed(face: str, name: str, member: str) -> None:
    other = "aio" if face == "sync" else "sync"
    assert _one_face(face, name, member) is not None, (
        f"{name}.{member} exists in {face} but not in {other}: add its twin, "
        f"or list ({face!r}, {member!r}) in ONE_FACE with the reason"
    )


@pytest.mark.parametrize(("face", "member"), sorted(ONE_FACE), ids=[f"{f}-{m}" for f, m in sorted(ONE_FACE)])
def test_every_listed_one_face_member_still_is(face: str, member: str) -> None:
    """A listing that no longer applies (the twin was added) is removed, so the list stays true."""
    classes, _ = ONE_FACE[face, member]
    for name in classes:
        assert (face, name, member) in ONE_SIDED, f"{name}.{member} is no longer on the {face} face only"


def test_the_faces_are_compared_at_all() -> None:
    """The comparison finds the kinds, their members and the entry points (a broken walk would pass everything)."""
    assert {
        "TCPTransport",
        "TCPListener",
        "UDPTransport",
        "UnixStreamTransport",
        "UnixListener",
        "UnixDatagramTransport",
        "UnixSeqpacketTransport",
        "UnixSeqpacketListener",
        "Transport",
        "Listener",
    } <= set(CLASSES)
    assert set(ENTRY_POINTS) == {"bind", "connect", "listen", "notify", "socketpair"}
    assert ("TCPTransport", "connect") in PAIRS
    assert ("UnixListener", "__enter__") in PAIRS
    assert ("UnixDatagramTransport", "send_fds") in PAIRS
    assert ("UDPTransport", "max_message_size") in PAIRS


def test_type_variables_are_resolved_for_the_concrete_class() -> None:
    """``accept`` returns TransportT in sync and ConnT in aio: both resolve to the twin classes."""
    _, _, sync_face, aio_face = _faces("UnixListener")
    sync_ret = sync_face.returns(members(transports.UnixListener)["accept"].function)
    aio_ret = aio_face.returns(members(aio.UnixListener)["accept"].function)
    assert sync_ret is aio_ret is aio.UnixStreamTransport
    _, _, sync_face, aio_face = _faces("UDPTransport")
    assert (
        sync_face.returns(members(transports.UDPTransport)["local_address"].raw.fget)
        is transports.InetAddress
    )
    assert (
        aio_face.returns(members(aio.UDPTransport)["remote_address"].raw.fget)
        == transports.InetAddress | None
    )


def test_a_drift_is_reported() -> None:
    """The comparison itself catches each kind of drift, on a pair of made-up twins."""

    class Sync:
        def send(self, data: bytes, flags: int = 0, *, address: str | None = None) -> int:
            raise NotImplementedError

        def close(self) -> None:
            raise NotImplementedError

    class Drifted:
        async def send(self, data: bytes, flag: int = 1, address: str = "") -> bytes:
            raise NotImplementedError

    sync, async_ = Face("sync", {}, {}), Face("aio", {}, {})
    drifts = compare_functions("X.send", sync, Sync.send, async_, Drifted.send)
    assert any("parameters" in d and "'flag'" in d for d in drifts)
    assert any("(address): keyword-only in sync, positional or keyword in aio" in d for d in drifts)
    assert any("(address): default None in sync, '' in aio" in d for d in drifts)
    assert any("(address): annotated str | None in sync, str in aio" in d for d in drifts)
    assert any("returns int in sync, bytes in aio" in d for d in drifts)
    assert compare_functions("X.close", sync, Sync.close, async_, Sync.close) == []


def test_every_sync_transport_class_has_an_aio_twin_or_a_reason() -> None:
    """A new sync kind is mirrored in aio, or listed in SYNC_ONLY_CLASSES with the reason."""
    sync_kinds = {
        name
        for name in transports.__all__
        if isinstance(getattr(transports, name), type)
        and any(hasattr(getattr(transports, name), attr) for attr in ("recv", "accept", "recv_message"))
    }
    assert sync_kinds - set(CLASSES) == set(SYNC_ONLY_CLASSES)
    assert set(aio.__all__) <= set(transports.__all__), "an aio name with no sync twin"


# -- the module-level entry points ----------------------------------------------------------------------


def _entry_drifts(name: str) -> list[str]:
    sync_fn, aio_fn = getattr(transports, name), getattr(aio, name)
    sync, async_ = Face("sync", {}, TWINS), Face("aio", {}, {})
    drifts = compare_functions(name, sync, sync_fn, async_, aio_fn)
    waits = inspect.iscoroutinefunction(aio_fn)
    if waits == (name in NEVER_WAITS):
        drifts.append(f"aio.{name}: {'a coroutine' if waits else 'a plain function'}, against NEVER_WAITS")
    sync_overloads, aio_overloads = typing.get_overloads(sync_fn), typing.get_overloads(aio_fn)
    if len(sync_overloads) != len(aio_overloads):
        drifts.append(f"{name}: {len(sync_overloads)} overloads in sync, {len(aio_overloads)} in aio")
    for index, (ours, theirs) in enumerate(zip(sync_overloads, aio_overloads, strict=False)):
        drifts += compare_functions(f"{name} overload {index}", sync, ours, async_, theirs)
    return drifts


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_point_mirrors_its_sync_twin(name: str) -> None:
    drifts = _entry_drifts(name)
    assert not drifts, "\n".join(drifts)
