"""Browser fixtures: the built site served on 127.0.0.1, and Debian's Chromium.

Playwright drives the system's `/usr/bin/chromium` (never a downloaded browser). Every
request from a page, its workers and service workers is recorded, so a test can prove
that nothing left the origin.
"""

from __future__ import annotations

import functools
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from course.serve import Handler

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--disable-dev-shm-usage",
]
PAGES = Path(__file__).resolve().parent / "pages"


class _TestHandler(Handler):
    """The site as built, plus test-only pages under /__tests__/ (never part of the site)."""

    def translate_path(self, path):
        if path.startswith("/__tests__/"):
            return str(PAGES / path[len("/__tests__/"):].split("?")[0])
        return super().translate_path(path)


@pytest.fixture(scope="session")
def base_url(site):
    handler = functools.partial(_TestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is missing: run scripts/install --test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class RequestLog:
    """Every URL requested by a browser context, and which of them left the origin."""

    def __init__(self, origin: str):
        self.origin = origin
        self.urls: list[str] = []

    def record(self, request) -> None:
        self.urls.append(request.url)

    @property
    def outside(self) -> list[str]:
        return [u for u in self.urls
                if not u.startswith((self.origin + "/", "data:", "blob:", "about:"))]


#: The limit for any one wait on a page condition (ms).
WAIT_MS = 90_000


def new_context(browser, **options):
    """A browser context with generous limits: CI is a busy 2-core machine, and every wait in
    these tests is on a condition, so a longer limit only costs time when something is broken."""
    ctx = browser.new_context(**options)
    ctx.set_default_timeout(WAIT_MS)
    ctx.set_default_navigation_timeout(2 * WAIT_MS)
    return ctx


def _logged_context(browser, base_url):
    ctx = new_context(browser, viewport={"width": 1280, "height": 900})
    log = RequestLog(base_url)
    ctx.on("request", log.record)
    ctx.requests = log
    return ctx


@pytest.fixture
def context(browser, base_url):
    """A fresh context per test (an empty cache: what a first-time learner sees)."""
    ctx = _logged_context(browser, base_url)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def warm_context(browser, base_url):
    """One context for a module's tests, as one learner opening lab after lab: the lab app
    and Pyodide come from the browser's cache after the first (every request is still
    recorded, so each test can assert that none left the origin)."""
    ctx = _logged_context(browser, base_url)
    yield ctx
    ctx.close()
