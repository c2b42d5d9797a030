"""Pages rendered once for the exact inputs they show, then served from memory.

The pages people reload all day (the reviewer's list, the ranking board) spent more time in
their templates than anywhere else. A page's HTML is a function of what the view read, the
language, the visitor the layout names (and the links their role gets), the session's CSRF
secret that the layout's forms carry, and the URL. When all of those are what they were last
time, so is the page; this module keeps the last renderings and hands them back.

The view passes what it read as a hashable ``data_key`` (it has read it already: nothing is
looked up to decide), or, when reading is itself the cost, a version that moves in the same
flush as every change to what the page shows (``calls.board_version``). Either way a change of
data is a different key, so nothing is invalidated by hand. A page that shows the time (an
"overdue" badge) puts what the time decides into its key, or says until when its rendering holds
(``valid_until``).

Not kept: a rendering with flashed messages (showing them consumes them, and a second visit must
not see them again). Kept per process, at most ``PAGE_MEMO_BYTES`` of HTML (least recently used
first out); a new process starts empty.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from threading import Lock
from typing import Any

from flask import current_app, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user

from incubator.database import utcnow

EXTENSION_KEY = "incubator_page_memo"
FLASHES_KEY = "_flashes"  # where Flask keeps flashed messages in the session
CSRF_SECRET_KEY = "csrf_token"  # where Flask-WTF keeps the session's CSRF secret


@dataclass(frozen=True)
class _Rendering:
    html: str
    valid_until: dt.datetime | None


class RenderedPages:
    """A bounded, thread-safe store of renderings, least recently used out first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, _Rendering] = OrderedDict()
        self._bytes = 0
        self._lock = Lock()

    def get(self, key: Hashable, now: dt.datetime) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.valid_until is not None and now >= entry.valid_until:
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return entry.html

    def put(self, key: Hashable, html: str, valid_until: dt.datetime | None) -> None:
        if len(html) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._remove(key)
            self._entries[key] = _Rendering(html, valid_until)
            self._bytes += len(html)
            while self._bytes > self.max_bytes:
                self._remove(next(iter(self._entries)))

    def _remove(self, key: Hashable) -> None:
        self._bytes -= len(self._entries.pop(key).html)

    def __len__(self) -> int:
        return len(self._entries)


def rendered_pages() -> RenderedPages:
    """This application's store (tests build many applications, each with its own)."""
    store = current_app.extensions.get(EXTENSION_KEY)
    if store is None:
        store = current_app.extensions.setdefault(
            EXTENSION_KEY, RenderedPages(current_app.config["PAGE_MEMO_BYTES"]))
    return store


def render_memoized(template: str, data_key: Hashable, *, valid_until: dt.datetime | None = None,
                    **context: Any) -> str:
    """``render_template(template, **context)``, or the same HTML rendered before for the same
    ``data_key`` (everything of ``context`` the page shows) and the same visitor, language, URL
    and CSRF secret. ``valid_until``: the moment this rendering stops being right however the
    data stands (the time decides something on it)."""
    return render_memoized_lazily(template, data_key, lambda: (context, valid_until))


Build = Callable[[], tuple[Mapping[str, Any], "dt.datetime | None"]]


def render_memoized_lazily(template: str, data_key: Hashable, build: Build) -> str:
    """``render_memoized`` for a page whose ``data_key`` is cheap (a version) but whose context
    is not: ``build()`` reads the context and its ``valid_until`` only when the page is
    rendered, not when it is served again."""
    if FLASHES_KEY in session or not current_app.config["PAGE_MEMO_BYTES"]:
        return render_template(template, **build()[0])
    key = (template, data_key, _visitor_key())
    store = rendered_pages()
    html = store.get(key, utcnow())
    if html is None:
        context, valid_until = build()
        html = render_template(template, **context)
        # The CSRF secret rendered into the forms: a first rendering may have just created it.
        store.put((template, data_key, _visitor_key()), html, valid_until)
    return html


def _visitor_key() -> Hashable:
    """What the layout shows of the visitor and the request, besides the page's own data: the
    name and the role's links, the language, the forms' CSRF secret, and the URL (the language
    form returns to it; links are built under the application root)."""
    # A second factor still due (the layout then hides the links) never reaches a kept page: the
    # second-factor gate (web/auth/two_factor.py) sends every other page to the code step first.
    if current_user.is_authenticated:
        person: tuple[Any, ...] = (current_user.get_id(), current_user.name, current_user.role)
    else:
        person = ()
    return (person, str(get_locale()), session.get(CSRF_SECRET_KEY), request.host_url, request.script_root,
            request.full_path)
