"""Run buttons under pure Clojure blocks, in Chromium, on the built site, offline.

Uses the writers' guide (docs/reference/writing-clojure-blocks.md), whose blocks are the
fixture: Run shows printed output, values and errors; it keeps working across Material's
instant navigation; Reset forgets the page's definitions; Scittle is fetched only on the
first Run, and no request leaves the origin.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import WAIT_MS

from tests.conftest import ROOT, SITE

pytestmark = pytest.mark.browser

GUIDE = "reference/writing-clojure-blocks/"


@pytest.fixture
def clj_site_url(site, base_url):
    """The built site on the shared test server (its sitemap follows the server's port)."""
    if not (site / GUIDE / "index.html").is_file():
        pytest.fail(f"site/{GUIDE}index.html is missing: run scripts/build first")
    if not (site / "assets/vendor/scittle/scittle.js").is_file():
        pytest.fail("site/assets/vendor/scittle/scittle.js is missing: run npm ci, then build")
    return base_url


@pytest.fixture
def clj_page(context, clj_site_url):
    page = context.new_page()
    page.requests = context.requests.urls
    yield page
    assert context.requests.outside == [], f"requests left the origin: {context.requests.outside}"


def output_of(page, n: int):
    return page.locator(".clj-run-output").nth(n)


def test_run_shows_values_output_and_errors_and_survives_instant_navigation(
        clj_page, clj_site_url, capsys):
    page = clj_page
    page.goto(f"{clj_site_url}/{GUIDE}")
    runs = page.locator("button.clj-run-button")
    # three pure blocks get a button; the JVM-only, the two `requires` (one run on Debian's
    # jars) and the EDN blocks do not
    assert runs.count() == 3
    assert page.locator("div.clj-static").count() == 4
    assert not any("scittle" in u for u in page.requests), "Scittle loaded before any Run"
    added = sum((ROOT / "docs/assets" / f).stat().st_size
                for f in ("javascripts/clojure-run.js", "stylesheets/clojure-run.css"))
    with capsys.disabled():
        print(f"\nbytes added to a page before any Run: {added} (script + stylesheet, "
              "uncompressed); Scittle itself: "
              f"{(SITE / 'assets/vendor/scittle/scittle.js').stat().st_size} on the first Run")

    # the output region is announced to screen readers
    out0 = output_of(page, 0)
    assert out0.get_attribute("aria-live") == "polite"

    # keyboard: focus the button and press Enter
    runs.nth(0).focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('.clj-run-output').textContent.includes('3097')",
        timeout=30_000)
    assert "⇒ 3097" in out0.inner_text()
    assert "⇒ {:paid 2, :new 1}" in out0.inner_text()
    assert sum("scittle.js" in u for u in page.requests) == 1

    runs.nth(1).click()
    out1 = output_of(page, 1)
    out1.filter(has_text="⇒ 3").wait_for(timeout=WAIT_MS)
    assert "reserved 2 book" in out1.inner_text()

    runs.nth(2).click()
    out2 = output_of(page, 2)
    out2.filter(has_text="insufficient funds").wait_for(timeout=WAIT_MS)
    text = out2.inner_text()
    assert "⇒ 70" in text and "ExceptionInfo: insufficient funds" in text
    assert out2.locator(".clj-run-error").count() == 1

    # instant navigation away and back: no reload, and Run still works
    page.evaluate("() => { window.__sameDocument = true; }")
    page.locator(".md-content a", has_text="reference pages").first.click()
    page.wait_for_url(lambda u: "writing-clojure-blocks" not in u, timeout=WAIT_MS)
    assert page.evaluate("() => window.__sameDocument === true"), "instant navigation is off"
    page.go_back()
    # back to the guide, maybe at the heading it was scrolled to (navigation.tracking puts
    # the anchor in the URL, so the URL may end in #a-pure-block)
    page.wait_for_url(lambda u: u.split("#")[0].endswith(GUIDE), timeout=WAIT_MS)
    page.locator("button.clj-run-button").first.wait_for(timeout=WAIT_MS)
    assert page.evaluate("() => window.__sameDocument === true"), "the page was fully reloaded"
    runs = page.locator("button.clj-run-button")
    assert runs.count() == 3  # not doubled by setting up twice
    runs.nth(1).click()
    output_of(page, 1).filter(has_text="⇒ 3").wait_for(timeout=WAIT_MS)
    assert sum("scittle.js" in u for u in page.requests) == 1  # loaded once

    # Reset: the definitions are gone, and Run starts afresh
    defined = "() => scittle.core.eval_string(\"(some? (resolve 'course.run0/stock))\")"
    assert page.evaluate(defined) is True
    page.locator("button.clj-reset-button").nth(1).click()
    assert "fresh namespace" in output_of(page, 1).inner_text()
    assert page.evaluate("() => scittle.core.eval_string(\"(some? (find-ns 'course.run0))\")") is False
    runs.nth(1).click()
    output_of(page, 1).filter(has_text="⇒ 3").wait_for(timeout=WAIT_MS)
    assert page.evaluate(
        "() => scittle.core.eval_string(\"(some? (resolve 'course.run1/stock))\")") is True


def test_every_runnable_block_of_the_site_runs_in_scittle_without_error(clj_page, clj_site_url):
    """nbb passing is the CI check; this shows Scittle agrees, page by page, in the browser."""
    page = clj_page
    pages = sorted({p.parent.relative_to(SITE).as_posix() for p in SITE.rglob("index.html")
                    if "clj-run" in p.read_text(encoding="utf-8")
                    and not p.relative_to(SITE).as_posix().startswith("lite/")})
    assert GUIDE.rstrip("/") in pages
    failures = []
    for rel in pages:
        page.goto(f"{clj_site_url}/{rel}/")
        buttons = page.locator("button.clj-run-button")
        for i in range(buttons.count()):
            page.locator("button.clj-reset-button").nth(i).click()
            buttons.nth(i).click()
            out = output_of(page, i)
            page.wait_for_function(
                "([el]) => el.getAttribute('aria-busy') === null && el.textContent.trim() "
                "&& !el.textContent.startsWith('Reset') && !el.textContent.startsWith('Load')",
                arg=[out.element_handle()], timeout=30_000)
            where = page.locator("div.clj-run").nth(i).get_attribute("data-clj-where")
            errors = out.locator(".clj-run-error").all_inner_texts()
            expected_throw = "throws" in page.locator("div.clj-run").nth(i).inner_text()
            if errors and not expected_throw:
                failures.append(f"{where}: {errors}")
    assert failures == []
