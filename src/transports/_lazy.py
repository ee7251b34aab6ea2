"""Names a package loads on first use (PEP 562), so that importing the package stays cheap.

``transports`` and ``transports.testing`` re-export many names; most
programs use a few. Each keeps a table of name -> defining module (written
module by module with :func:`by_module`) and gets its module ``__getattr__``
and ``__dir__`` from :func:`lazy_names`: a name is imported when first asked
for, then kept as a plain global. A package that re-exports every public
name of one module (``transports`` and :mod:`transports.errors`) names that
module as the *fallback* instead of listing its names again: a name of the
package's ``__all__`` that the table does not list comes from there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["by_module", "lazy_names"]


def by_module(groups: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """The name -> module table of *groups*, which lists each module's names under it."""
    table: dict[str, str] = {}
    for module, names in groups.items():
        for name in names:
            if name in table:
                raise ValueError(f"{name!r} is listed under both {table[name]!r} and {module!r}")
            table[name] = module
    return table


def lazy_names(
    package: str,
    table: Mapping[str, str],
    namespace: dict[str, Any],
    *,
    fallback: str | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of *package*, whose *namespace* is its ``globals()``.

    A name of the package's ``__all__`` missing from *table* comes from the
    *fallback* module; any other unknown name is an ``AttributeError``
    without importing anything.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            if fallback is None or name not in namespace.get("__all__", ()):
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            module = fallback
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table, *namespace.get("__all__", ())})

    return __getattr__, __dir__
