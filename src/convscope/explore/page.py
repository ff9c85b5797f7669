"""Render the explore page: the HTML template with its CSS, its JavaScript and the data inlined,
so the one file works offline from a file:// URL (no CDN, no server)."""
from __future__ import annotations

import html
import json
from importlib import resources

SCRIPTS = ("common.js", "arithmetic.js", "playground.js", "pgnumbers.js", "unit.js", "views.js", "maps.js",
           "overview.js", "activations.js", "forward.js", "backward.js", "inputs.js", "model.js")  # model.js last: it starts the page


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def written_here(path) -> bool:
    """Whether the file at `path` is a page `render` wrote: it starts as the template does, up to its
    title (read from the file's first bytes only)."""
    template = _static("page.html")
    head = template[:template.index("$TITLE")].encode("utf-8")
    with open(path, "rb") as f:
        return f.read(len(head)) == head


def render(data: dict) -> str:
    """The page's HTML for `page_data(...)`'s dict."""
    # "</" inside a script element would end it early; JSON allows the escaped form
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    parts = {"$CSS": _static("explore.css"), "$JS": "\n".join(_static(n) for n in SCRIPTS),
             "$TITLE": html.escape(str(data["title"])), "$DATA": payload}
    page = _static("page.html")
    for key in ("$CSS", "$JS", "$TITLE", "$DATA"):  # data last: it may contain the other markers
        page = page.replace(key, parts[key])
    return page
