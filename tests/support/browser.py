"""Headless browser tests with Playwright driving Debian's Chromium (pytest plugin module).

Load it with ``pytest_plugins = ["tests.support.browser"]`` (or ``-p tests.support.browser``).
Playwright's own browser downloads are not used (and do not work offline):
the browser is ``/usr/bin/chromium`` from ``apt-get install chromium``
(override the path with ``$CHROMIUM_EXECUTABLE``).  Never run ``playwright install``.

Fixtures
--------
``browser`` (session) -> ``playwright.sync_api.Browser``
    One headless Chromium for the whole run (~1.5 s to start).
``browser_context_args`` (function) -> ``dict``
    Keyword arguments for ``browser.new_context()``; ``{}`` by default.
    Override it in a conftest to set e.g. ``base_url``, ``locale="nb-NO"``
    or ``viewport``.
``page`` (function) -> ``playwright.sync_api.Page``
    A page in a fresh browser context (own cookies/storage) that is closed
    after the test.  Default timeout for waits/clicks is 10 s instead of
    Playwright's 30 s so a broken test fails quickly.

When Chromium is missing these fixtures fail the test with the reason (a run
must never skip browser tests silently); a developer without Chromium may set
``TESTS_ALLOW_MISSING_SERVICES=1`` to skip instead (``make test`` never sets it).

Helper
------
``serve_wsgi_in_thread(wsgi_app) -> ContextManager[str]``
    Serve any WSGI app with werkzeug on ``127.0.0.1`` and a free port in a
    daemon thread (threaded, so the browser may open several connections);
    yields the base URL without trailing slash (``"http://127.0.0.1:PORT"``)
    and shuts the server down on exit::

        with serve_wsgi_in_thread(app) as base_url:
            page.goto(base_url + "/login")

``assert_accessible(page) -> None``
    Run axe-core (bundled by the ``axe-playwright-python`` package, installed from PyPI with
    the test extras) on the page as it is now and fail on any WCAG 2.0/2.1 A or AA violation;
    also fail when the page scrolls sideways at the current viewport width.  Browser tests call
    it after each page load they want checked for certain.
``watch_accessibility(page) -> list[str]``
    From now on, every document the page loads runs axe-core (and the sideways-scroll check)
    on its own once loaded and reports back; returns the list that collects the problems, to be
    asserted empty at the end of the test (tests/e2e/conftest.py does so for every browser test).
    A page the test leaves before axe finished goes unreported, so tests that must check a page
    call ``assert_accessible`` as well.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

INSTALL_HINT = "install Debian's chromium: apt-get install chromium"

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# The first three are the product owner's required flags.  Playwright itself
# already adds --headless and --no-sandbox, but listing them keeps the launch
# headless and root-safe regardless of Playwright's defaults.  The rest stop
# Chromium from phoning home (the network here only reaches package
# registries, so those requests would just hang or log errors) and from
# trying to use a GPU that a CI machine does not have.
CHROMIUM_ARGS: list[str] = [
    "--headless",
    "--no-sandbox",  # Chromium's sandbox cannot run as root
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

PAGE_TIMEOUT_MS = 10_000


def chromium_executable() -> Path:
    return Path(os.environ.get("CHROMIUM_EXECUTABLE", DEFAULT_CHROMIUM))


def _unavailable(message: str) -> NoReturn:
    # Never a quiet skip; skipping is an explicit developer opt-out.
    if os.environ.get("TESTS_ALLOW_MISSING_SERVICES") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_executable()
    if not os.access(executable, os.X_OK):
        _unavailable(f"{executable} not found; {INSTALL_HINT}")
    # Imported lazily so merely loading this plugin never needs the driver.
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(executable),
            args=CHROMIUM_ARGS,
            timeout=60_000,  # a cold start on a loaded 2-core CI box can be slow
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


# Bootstrap turns its fades and slides off for readers who ask for reduced motion; without that,
# an accessibility scan could catch an alert half faded in and report its colours' contrast
# (seen once, passing on a rerun).
CONTEXT_DEFAULTS: dict[str, Any] = {"reduced_motion": "reduce"}


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {}


@pytest.fixture
def page(browser: Browser, browser_context_args: dict[str, Any]) -> Iterator[Page]:
    context = browser.new_context(**{**CONTEXT_DEFAULTS, **browser_context_args})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


WSGIApp = Callable[..., Any]


@contextmanager
def serve_wsgi_in_thread(wsgi_app: WSGIApp) -> Iterator[str]:
    """Serve ``wsgi_app`` on 127.0.0.1:<free port> until the block exits."""
    # Port 0 lets the kernel choose, so there is no find-then-bind race.
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    # A short poll interval makes shutdown() return within ~50 ms instead of
    # the default 0.5 s, which adds up with one server per test.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi-test-server-{server.server_port}",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# The rule sets axe tags for WCAG 2.0 and 2.1, levels A and AA (the service's target).
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


# The innermost elements that reach past the right edge of the window, to name in a failure.
WIDEST_ELEMENTS = """() => [...document.body.querySelectorAll('*')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && e.children.length === 0)
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + [...e.classList].join('.'))"""


@cache
def axe_source() -> str:
    """axe-core as shipped inside the axe-playwright-python wheel (no copy in this repository)."""
    return files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        lines.extend(f"    {node['target']}: {node['failureSummary']}" for node in violation["nodes"][:5])
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    """Fail on axe WCAG 2.1 A/AA violations and on sideways scrolling of the current page."""
    page.wait_for_load_state("load")
    # page.evaluate runs through the DevTools protocol, which the service's CSP
    # (script-src 'self') does not govern, unlike a <script> tag added to the page.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    options = json.dumps({"runOnly": {"type": "tag", "values": WCAG_AA_TAGS}, "resultTypes": ["violations"]})
    result = page.evaluate(f"() => axe.run(document, {options})")
    violations = result["violations"]
    assert not violations, f"axe found WCAG violations on {page.url}:\n{_describe(violations)}"
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], (
        f"{page.url} scrolls sideways: {widths[0]} px wide in a {widths[1]} px window; too wide: "
        + ", ".join(page.evaluate(WIDEST_ELEMENTS)))


# Runs in every document (an init script, which the page's CSP does not govern): axe once the
# page has loaded, then the sideways-scroll check, each problem reported through a binding.
_WATCH_SCRIPT = """
window.addEventListener('load', () => {
  const report = window.__reportAccessibility;
  axe.run(document, %(options)s).then(result => {
    for (const v of result.violations) {
      const nodes = v.nodes.slice(0, 5).map(n => '    ' + n.target + ': ' + n.failureSummary).join('\\n');
      report(location.href + ': ' + v.id + ' (' + v.impact + '): ' + v.help + '\\n' + nodes);
    }
    const width = document.documentElement.scrollWidth;
    if (width > window.innerWidth) {
      report(location.href + ' scrolls sideways: ' + width + ' px wide in a ' + window.innerWidth + ' px window');
    }
  }, error => report(location.href + ': axe failed: ' + error));
});
"""


def watch_accessibility(page: Page) -> list[str]:
    """Have every page load check itself with axe; the returned list collects what fails."""
    problems: list[str] = []
    page.expose_binding("__reportAccessibility", lambda _source, problem: problems.append(problem))
    options = json.dumps({"runOnly": {"type": "tag", "values": WCAG_AA_TAGS}, "resultTypes": ["violations"]})
    page.add_init_script(script=axe_source() + "\n" + _WATCH_SCRIPT % {"options": options})
    return problems
