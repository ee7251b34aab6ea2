"""Sphinx configuration for the typed-transports documentation.

The package is expected to be installed (``pip install -e '.[docs]'``), so
autodoc imports it like any user would instead of patching ``sys.path``.
Only our own extensions, in ``docs/_ext``, are put on the path.
"""

import sys
from pathlib import Path

from transports._version import __version__

# Our own extensions: apue (the :apue: role, the concept map and the examples
# page), noindex_anchors (HTML anchors for the :no-index: aio entries),
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
    "apue",
    "noindex_anchors",
    "markdown_subset",
    "option_table",
]

# Intersphinx is left out on purpose: it fetches inventories over the network,
# which CI does not have, and a failed fetch would be a warning under -W.

exclude_patterns = ["_build"]
nitpicky = False

autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {
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
