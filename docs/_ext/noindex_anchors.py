"""Give ``:no-index:`` API entries an HTML anchor, and nothing more.

A page may show an entry a second time with ``:no-index:`` (framing.rst
repeats two classes of the API reference), so that cross-references keep
going to the one in api.rst. Such entries get no ``id`` in the HTML, yet
``sphinx.ext.viewcode`` still links its "[docs]" buttons to them, and those links would lead nowhere (the link
check in docs/check_site.py found them). This adds the anchor only: the
entry is still not in the index and no cross-reference can resolve to it.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx


def _add_anchors(app: Sphinx, doctree: nodes.document) -> None:
    for signature in doctree.findall(addnodes.desc_signature):
        module, fullname = signature.get("module"), signature.get("fullname")
        if signature["ids"] or not (module and fullname):
            continue
        anchor = f"{module}.{fullname}"
        if anchor not in doctree.ids:
            signature["ids"].append(anchor)
            doctree.ids[anchor] = signature


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-read", _add_anchors)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
