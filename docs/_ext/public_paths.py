"""Our Sphinx extension: every cross-reference lands on a public path.

api.rst documents each public name where users import it from
(``transports.TCPTransport``, ``transports.aio.TCPTransport``), not in the
module that defines it (``transports.tcp``, ``transports._core.owner``).
Type hints and some docstrings still name the defining module, because
that is what ``obj.__module__`` says. This extension:

* resolves a Python cross-reference that finds nothing, such as
  ``transports.tcp.TCPTransport.sendfile`` or the annotation
  ``transports.aio.protocols.Transport``, to the public path of the same
  object (``transports.TCPTransport.sendfile``, ``transports.aio.Transport``);
* resolves the ``typing_extensions`` names our hints use to the standard
  library names they back-port (``Buffer``, ``Protocol``, ``Self`` ...);
* gives a bare name in a hint ("Transport", left unevaluated under
  TYPE_CHECKING) the meaning it has in the module that wrote it, where
  Sphinx would find both ``transports.Transport`` and ``transports.aio.Transport``;
* shows what a private type alias stands for (``Literal['send', 'recv']``)
  where a hint names it (``Direction``);
* gives each entry the extra HTML ids that viewcode's "[docs]" links use;
* drops private classes (``transports._core.owner.SocketOwner``, mixins,
  ``Generic[T]``) from the "Bases:" line, keeping public ones.

:func:`public_paths` is the one map from object to public path; apue.py
uses it for the concept map's links.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from functools import cache
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.typing import stringify_annotation

# The modules whose __all__ is the public API, in order of preference: a name
# exported by two of them is documented under the first.
PUBLIC_MODULES = ("transports", "transports.aio", "transports.testing")

# Targets with no entry of their own, and the entry that stands in for each:
# typing_extensions back-ports (described in Python's own docs), and hint
# names that stay bare because they could not be evaluated.
STAND_INS = {
    "typing_extensions.Buffer": "collections.abc.Buffer",
    "typing_extensions.Protocol": "typing.Protocol",
    "typing_extensions.Self": "typing.Self",
    "typing_extensions.TypeAlias": "typing.TypeAlias",
    "typing_extensions.Never": "typing.Never",
    # ssl's session class is defined in the C module _ssl, and documented as ssl's.
    "_ssl.SSLSession": "ssl.SSLSession",
    # A hint the annotation evaluator could not resolve stays a bare name.
    "Buffer": "collections.abc.Buffer",
    # transports.registry's async factory hints, aliases made under TYPE_CHECKING.
    "AsyncTransport": "transports.aio.Transport",
    "AsyncListener": "transports.aio.Listener",
    # What an error's local and remote fields hold: a private protocol (so that
    # transports.errors need not import transports.addresses) that every
    # transports.Address satisfies.
    "transports._errfields.AddressLike": "transports.Address",
}


@cache
def public_paths() -> dict[int, str]:
    """id(object) -> its public dotted path: classes, functions and type aliases."""
    paths: dict[int, str] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not isinstance(obj, (int, float, str, bytes)):  # not a constant
                paths.setdefault(id(obj), f"{module_name}.{name}")  # tuples too: STREAM_CHECKS
    return paths


@cache
def private_aliases() -> dict[str, Any]:
    """Type aliases our modules define but do not export, by name and by dotted path.

    ``Direction = Literal["send", "recv"]`` has no entry of its own, so a hint
    that names it shows what it stands for instead.
    """
    import pkgutil

    import transports

    aliases: dict[str, Any] = {}
    for info in pkgutil.walk_packages(transports.__path__, "transports."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            is_alias = isinstance(value, typing.TypeAliasType) if hasattr(typing, "TypeAliasType") else False
            is_alias = is_alias or (typing.get_origin(value) is not None and not inspect.isclass(value))
            if is_alias and id(value) not in public_paths():
                aliases[f"{info.name}.{name}"] = value
                aliases.setdefault(name, value)
    return aliases


def _lookup(dotted: str) -> tuple[Any, list[str]] | None:
    """The object named by the longest importable prefix of *dotted*, and the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        rest = parts[cut:]
        # Walk attributes as long as they lead to a public class or function.
        found: tuple[Any, list[str]] | None = None
        for i, attr in enumerate(rest):
            obj = getattr(obj, attr, None)
            if obj is None:
                break
            if id(obj) in public_paths():
                found = (obj, rest[i + 1 :])
        return found
    return None


def _public_constant(target: str) -> str | None:
    """``transports.testing.base.PROMPT`` -> ``transports.testing.PROMPT``: the same object."""
    module_name, _, name = target.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    for public in PUBLIC_MODULES:
        module = importlib.import_module(public)
        if name in module.__all__ and getattr(module, name) is value and f"{public}.{name}" != target:
            return f"{public}.{name}"
    return None


def public_target(target: str) -> str | None:
    """The public spelling of *target*, or None when there is no other."""
    if target in STAND_INS:
        return STAND_INS[target]
    if not target.startswith("transports."):
        return None
    found = _lookup(target)
    if found is None:
        return _public_constant(target)
    obj, rest = found
    public = ".".join([public_paths()[id(obj)], *rest])
    return public if public != target else None


def _resolve(app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.TextElement) -> Any:
    if node.get("refdomain") != "py":
        return None
    alias = private_aliases().get(node["reftarget"])
    if alias is not None:
        text = stringify_annotation(alias, "smart")
        return nodes.literal(text, text)
    target = public_target(node["reftarget"])
    if target is None and node.get("py:module") and "." not in node["reftarget"]:
        # A bare name in a docstring: the name in the module that holds the docstring.
        target = public_target(f"{node['py:module']}.{node['reftarget']}")
    if target is None:
        return None
    domain = env.get_domain("py")
    node["reftarget"] = target
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], target, node, contnode)


@cache
def _imports(module_name: str) -> dict[str, str]:
    """Every name *module_name* imports, TYPE_CHECKING blocks included -> dotted path."""
    module = importlib.import_module(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    for statement in ast.walk(tree):
        if isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            for alias in statement.names:
                found[alias.asname or alias.name] = f"{statement.module}.{alias.name}"
    return found


def _viewcode_anchors(app: Sphinx, doctree: nodes.document) -> None:
    """Let viewcode's "[docs]" links find entries documented away from their module.

    ``sphinx.ext.viewcode`` links every name of a source file to one prefix:
    the module of the first entry it met from that file. transports/fdpass.py
    holds ``Credentials`` (documented as ``transports.Credentials``) and
    ``FdPassingMixin`` (``transports.fdpass.FdPassingMixin``), so one of the two
    links would miss. Each entry gets an extra HTML id under the defining
    module and under each public module (only ids no other entry has).
    """
    for signature in doctree.findall(addnodes.desc_signature):
        module_name, fullname = signature.get("module"), signature.get("fullname")
        if not (module_name and fullname):
            continue
        try:
            top = getattr(importlib.import_module(module_name), fullname.split(".")[0])
        except (ImportError, AttributeError):
            continue
        prefixes = [getattr(top, "__module__", None), *PUBLIC_MODULES]
        for prefix in prefixes:
            anchor = f"{prefix}.{fullname}"
            if prefix and anchor not in doctree.ids:
                signature["ids"].append(anchor)
                doctree.ids[anchor] = signature


def _ancestors(node: nodes.Node) -> list[nodes.Node]:
    found = []
    while node.parent is not None:
        node = node.parent
        found.append(node)
    return found


def _qualify_bare_hints(app: Sphinx, doctree: nodes.document) -> None:
    """Give a bare name in a hint ("Transport") the meaning it has in its own module.

    A hint Python could not evaluate (a name imported under TYPE_CHECKING, or
    one in an overload) stays a bare name, which Sphinx then looks for in every
    module: transports.Transport and transports.aio.Transport both match. The
    module that wrote the hint knows which one it imported.
    """
    for node in doctree.findall(addnodes.pending_xref):
        target = node.get("reftarget", "")
        if node.get("refdomain") != "py" or "." in target or not node.get("py:module"):
            continue
        owner: Any = importlib.import_module(node["py:module"])
        path = (node.get("py:class") or "").split(".")
        # The object whose entry holds the hint, when it is not a class: a function.
        entry = next((a for a in _ancestors(node) if isinstance(a, addnodes.desc)), None)
        signature = next(entry.findall(addnodes.desc_signature), None) if entry is not None else None
        if signature is not None and signature.get("module") == node["py:module"]:
            path = (signature.get("fullname") or "").split(".")
        for part in path:
            owner = getattr(owner, part, owner) if part else owner
        module_name = owner.__name__ if inspect.ismodule(owner) else getattr(owner, "__module__", "")
        if not module_name.startswith("transports"):
            continue
        dotted = _imports(module_name).get(target)
        public = public_target(dotted) if dotted else None
        if public:
            node["reftarget"] = public
            node["refspecific"] = False


def _public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """Keep the public bases: ours under a public name, and the standard library's."""
    kept = []
    for base in bases:
        module = getattr(base, "__module__", "")
        ours = id(base) in public_paths()
        if ours or (inspect.isclass(base) and module in ("builtins", "enum") and base is not object):
            kept.append(base)
        elif base is typing.Protocol or getattr(base, "__origin__", None) is typing.Protocol:
            kept.append(typing.Protocol)  # Protocol[T] would show a private TypeVar
    bases[:] = kept


def _drop_empty_bases(app: Sphinx, doctree: nodes.document) -> None:
    """Remove the "Bases:" line of a class left with no public base."""
    for paragraph in list(doctree.findall(nodes.paragraph)):
        if paragraph.astext().strip() == "Bases:":
            paragraph.parent.remove(paragraph)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", _resolve, priority=400)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("doctree-read", _drop_empty_bases)
    app.connect("doctree-read", _qualify_bare_hints)
    app.connect("doctree-read", _viewcode_anchors)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
