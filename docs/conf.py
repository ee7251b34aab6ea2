"""Sphinx configuration for the typed-transports documentation.

The package is expected to be installed (``pip install -e '.[docs]'``), so
autodoc imports it like any user would instead of patching ``sys.path``.
Only our own extensions, in ``docs/_ext``, are put on the path.
"""

import importlib
import re
import sys
from pathlib import Path

from transports._version import __version__

# Our own extensions: apue (the :apue: role, the concept map and the examples
# page), public_paths (cross-references land on the public paths api.rst
# documents), noindex_anchors (HTML anchors for :no-index: entries),
# markdown_subset (CHANGELOG.md and the README's table rendered on the site)
# and option_table (the socket options table, read from transports.options).
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "typed-transports"
author = "typed-transports developers"
copyright = "2026, typed-transports developers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.graphviz",
    "sphinx.ext.intersphinx",
    "public_paths",
    "apue",
    "noindex_anchors",
    "markdown_subset",
    "option_table",
]

# Links to Python's docs come from a vendored inventory: CI has no network, and
# a failed fetch would be a warning under -W. docs/_intersphinx/make_python_inv.py
# writes it from a table of the names we cite; add a row there when a Python
# name does not resolve.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(Path(__file__).parent / "_intersphinx" / "python.inv")),
}

exclude_patterns = ["_build"]

# Every cross-reference must resolve (the build runs with -W). The few that
# cannot are listed here, each with its reason.
nitpicky = True


def _type_variables() -> list[str]:
    """The names of every TypeVar our modules define (T, AddrT, StreamT ...)."""
    import pkgutil
    from typing import TypeVar

    import transports

    names = set()
    for info in pkgutil.walk_packages(transports.__path__, "transports."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        names |= {name for name, value in vars(module).items() if isinstance(value, TypeVar)}
    return sorted(names)


# Private types that public signatures name. Each is a helper of its module, with
# no entry in the API reference; what a caller passes is in the prose.
nitpick_ignore = [
    # The **where keywords of every TransportError (op, address, network, local,
    # remote): a TypedDict; each keyword is an attribute documented on the error.
    ("py:class", "Where"),
    # send_fds() takes ints or "anything with fileno()": a one-method protocol.
    ("py:class", "transports._handles.HasFileno"),
    # The keyword-only _owned parameter of the Unix transports: set by listen()
    # and bind() for the socket file they made, never by a caller.
    ("py:class", "OwnedPath"),
    # The in-memory kit's internals, named by MemoryListener.connect_from() and
    # the async memory helpers: run_async() and the memory scheme's OpenArgs shape.
    ("py:class", "transports.testing._memstream.StreamCore"),
    ("py:class", "transports.testing.memory.OpenArgsLike"),
    ("py:class", "transports.testing._memory.Gate"),
    ("py:class", "Gate"),
    ("py:class", "transports.testing._memory.MemoryBase"),
    ("py:class", "transports._core.deadline.Deadline"),
    # The shared state of the two ends clogged() makes (CloggedEnd's constructor).
    ("py:class", "_Lockstep"),
]

nitpick_ignore_regex = [
    # Type variables (T, AddrT, StreamT ...): a hint such as "list[T]" links each
    # name, and a TypeVar has no entry to link to. What it stands for is in the
    # prose ("the address type of the transport").
    ("py:(class|obj)", rf"(transports\.[\w.]+\.)?({'|'.join(_type_variables())})"),
]

autodoc_typehints = "description"
autodoc_member_order = "bysource"
# Show defaults as written in the source: 0o600, not 384.
autodoc_preserve_defaults = True
# Every class lists all its public members, those it inherits from our private
# bases included; the members of the standard library's bases (int, tuple,
# Exception ...) are left to Python's docs. The "Bases:" line keeps public bases
# only (docs/_ext/public_paths.py).
autodoc_default_options = {
    "undoc-members": True,
    "inherited-members": "object,BaseException,OSError,int,str,tuple,Enum,Flag,IntFlag,Generic,Protocol",
    "show-inheritance": True,
}

# Docstrings use Google-style sections ("Attributes:", "Raises:" ...). Listing
# attributes as :ivar: fields keeps them from clashing with the entries that
# autodoc writes for the same attributes (duplicate object warnings).
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

# Diagrams are drawn at build time by Graphviz's `dot` (the graphviz system
# package: .ci/run and .readthedocs.yaml install it). SVG stays sharp at any
# zoom and keeps its text selectable; its white background stays readable
# in furo's dark mode too.
graphviz_output_format = "svg"
graphviz_dot_args = [
    "-Gfontname=sans-serif",
    "-Nfontname=sans-serif",
    "-Efontname=sans-serif",
]

html_theme = "furo"
html_title = f"typed-transports {release}"

# Examples in docstrings reach the doctest builder through autodoc with no
# module of their own, so every test starts with the package's public names
# plus those of each module documented in api.rst (keep the two lists alike).
_API_MODULES = [
    "addresses",
    "errors",
    "flags",
    "kinds",
    "options",
    "protocols",
    "tcp",
    "udp",
    "unix",
    "fdpass",
    "sendfile",
    "framing",
    "registry",
    "memory",
    "faults",
    "testing",
    "testing.checks",
    "aio",
]
doctest_global_setup = f"""
import importlib as _importlib
import transports
from transports import *
for _name in {_API_MODULES!r}:
    _module = _importlib.import_module("transports." + _name)
    # Never shadow a top-level name: transports.aio reuses them all for its async twins.
    globals().update({{_k: getattr(_module, _k) for _k in getattr(_module, "__all__", ()) if _k not in vars(transports)}})
"""


# The first line of a property docstring, kept by id of the line list between
# the two handlers below (autodoc passes the same list to every handler).
_first_lines: dict[int, str] = {}


def _before_napoleon(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    """Note a property whose first line is prose with a colon in it.

    Napoleon reads "Seconds a blocking call may wait: None forever" as "type:
    description" and makes a cross-reference to a type named "Seconds a
    blocking call may wait". Our property docstrings start with prose (the
    type is the return annotation), so such a line is put back after napoleon.
    """
    if what in ("property", "attribute", "data") and lines:
        head, colon, _ = lines[0].partition(":")
        if colon and " " in head.strip() and "`" not in head:
            _first_lines[id(lines)] = lines[0]


def _after_napoleon(app, what, name, obj, options, lines):  # type: ignore[no-untyped-def]
    first = _first_lines.pop(id(lines), None)
    if first is None:
        return
    head, _, rest = first.partition(":")
    wrong = f":type: {head.strip()}"
    if wrong in lines:
        at = lines.index(wrong)
        del lines[at - 1 if at and not lines[at - 1].strip() else at : at + 1]
    for i, line in enumerate(lines):
        if line.strip() and line.strip() == rest.strip():
            lines[i] = first
            break


def _octal_modes(app, what, name, obj, options, signature, return_annotation):  # type: ignore[no-untyped-def]
    """Show a file mode as written, 0o600, in overloads too.

    autodoc_preserve_defaults keeps a function's own defaults as written, but
    the signatures of its @overload variants come from the parsed source,
    which turns 0o600 into 384.
    """
    if signature and "mode" in signature:
        signature = re.sub(
            r"(\bmode: [^=,()]+= )(\d+)\b", lambda m: f"{m.group(1)}{int(m.group(2)):#o}", signature
        )
    return signature, return_annotation


def _octal_mode_defaults(app, doctree):  # type: ignore[no-untyped-def]
    """The same for the signature nodes of @overload variants, which never reach autodoc-process-signature."""
    from docutils import nodes
    from sphinx import addnodes

    for parameter in doctree.findall(addnodes.desc_parameter):
        names = [n.astext() for n in parameter.findall(addnodes.desc_sig_name)]
        if not names or names[0] != "mode":
            continue
        for default in parameter.findall(nodes.inline):
            if "default_value" in default.get("classes", ()) and default.astext().isdigit():
                default.children = [nodes.Text(f"{int(default.astext()):#o}")]


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-process-signature", _octal_modes)
    app.connect("doctree-read", _octal_mode_defaults)
    app.connect("autodoc-process-docstring", _before_napoleon, priority=400)
    app.connect("autodoc-process-docstring", _after_napoleon, priority=600)
