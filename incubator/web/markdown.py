"""Markdown written by managers, rendered for the public without letting any HTML through."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# html=False: raw HTML in the text is shown as text, never passed on. nh3 then keeps only the
# tags Markdown itself produces, so even a bug in the renderer cannot smuggle in a script.
_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
_ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "code", "pre", "blockquote", "h3", "h4", "h5",
                 "h6", "hr"}


def render_markdown(text: str | None) -> Markup:
    # Headings from the text start at level 3: the page's own h1/h2 keep their meaning.
    html = _renderer.render(text or "")
    html = html.replace("<h1>", "<h3>").replace("</h1>", "</h3>").replace("<h2>", "<h4>").replace("</h2>", "</h4>")
    clean = nh3.clean(html, tags=_ALLOWED_TAGS, attributes={"a": {"href"}}, url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 (sanitised by nh3 just above)
