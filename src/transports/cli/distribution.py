"""Which installed distribution owns the ``transports`` package on disk (for ``transports --version``).

The import name ``transports`` is shared with an unrelated project on PyPI
that is also called ``transports``. pip installs both into the same
``site-packages/transports/`` folder without a word, the one installed last
overwrites the other's files, and uninstalling either removes files the
other needs. ``transports --version`` therefore names the distribution
(``typed-transports``) and warns when the RECORD of some other distribution
lists the ``transports/__init__.py`` that Python actually imported.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["DISTRIBUTION", "owners", "version_report"]

#: Our distribution's name on PyPI; the import name is ``transports``.
DISTRIBUTION = "typed-transports"


def owners(init_file: str | os.PathLike[str], path: Iterable[str] | None = None) -> list[str]:
    """The names of the distributions on *path* (default: ``sys.path``) whose RECORD lists *init_file*.

    Editable installs list a ``.pth`` file instead of the package's files,
    so an editable ``typed-transports`` owns nothing here; that is fine, the
    question is only whether somebody else claims the file.
    """
    target = _resolved(init_file)
    found: list[str] = []
    for dist in importlib.metadata.distributions(path=sys.path if path is None else list(path)):
        name = dist.metadata["Name"]
        if not name or name in found:  # a broken METADATA has no name
            continue
        for entry in dist.files or ():  # None when the RECORD is missing
            if entry.name == "__init__.py" and _resolved(str(dist.locate_file(entry))) == target:
                found.append(name)
                break
    return found


def _resolved(file: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(file)).resolve()


def version_report(
    version: str, init_file: str | os.PathLike[str], path: Iterable[str] | None = None
) -> tuple[str, str | None]:
    """The ``--version`` line, and a warning when another distribution owns *init_file* (else None)."""
    line = f"transports {version} (distribution {DISTRIBUTION}, {Path(init_file).resolve().parent})"
    others = [name for name in owners(init_file, path) if _normal(name) != _normal(DISTRIBUTION)]
    if not others:
        return line, None
    warning = (
        f"transports: warning: {Path(init_file).resolve()} also belongs to the distribution "
        f"{', '.join(repr(name) for name in others)}, an unrelated project with the same import name "
        f"'transports'; the two overwrite each other's files. Uninstall both "
        f"(pip uninstall {' '.join(others)} {DISTRIBUTION}), then reinstall only {DISTRIBUTION}."
    )
    return line, warning


def _normal(name: str) -> str:
    """A project name as PyPI compares them (PEP 503): case and ``-_.`` runs do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()
