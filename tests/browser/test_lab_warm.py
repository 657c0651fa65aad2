"""Warming the lab's runtime while the learner reads a chapter (progress.js).

The chapter page fetches course-lab.json's "warm" list (Pyodide's core, its lock, the
start-up wheels) once it has been idle a few seconds: only from this site, only once per
browser, never on a connection that saves data, is slow or is cellular, never on a small
screen (where the lab first asks before downloading).
"""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import RequestLog, new_context

CHAPTER = "chapters/01-microservices-in-clojure/"
FAST = "window.courseLabWarmDelay = 0;"


def connection(**fields) -> str:
    return ("Object.defineProperty(navigator, 'connection', {configurable: true, get: () => ("
            + json.dumps(fields) + ")});")


def open_context(browser, base_url, script: str = FAST, **options):
    ctx = new_context(browser, **({"viewport": {"width": 1280, "height": 900}} | options))
    ctx.add_init_script(script)
    log = RequestLog(base_url)
    ctx.on("request", log.record)
    ctx.requests = log
    return ctx


def wait_settled(page) -> dict:
    page.wait_for_function("() => window.courseLabWarm && ['done', 'skipped', 'failed']"
                           ".includes(window.courseLabWarm.state)")
    return page.evaluate("window.courseLabWarm")


def other_chapter(site) -> str:
    for page in sorted((site / "chapters").glob("*/index.html")):
        if CHAPTER not in page.as_posix() + "/" and 'class="md-button md-button--primary lab-button"' in page.read_text():
            return page.parent.relative_to(site).as_posix() + "/"
    pytest.skip("no second chapter with a lab button")


def warm_urls(site) -> list[str]:
    return json.loads((site / "lite" / "course-lab.json").read_text())["warm"]


def test_warm_list_is_the_runtime_and_all_of_this_site(site):
    warm = warm_urls(site)
    assert any(p.endswith("pyodide.asm.wasm") for p in warm)
    assert any(p.endswith("python_stdlib.zip") for p in warm)
    assert any("/labs-" in p and p.endswith(".whl") for p in warm)
    for p in warm:
        assert "://" not in p and not p.startswith("/") and ".." not in p, p
        assert (site / "lite" / p).is_file(), p


def test_chapter_warms_the_runtime_once_and_only_from_this_site(browser, base_url, site):
    ctx = open_context(browser, base_url)
    try:
        page = ctx.new_page()
        page.goto(f"{base_url}/{CHAPTER}")
        state = wait_settled(page)
        assert state["state"] == "done", state
        wanted = {f"{base_url}/lite/{p}" for p in warm_urls(site)}
        assert set(state["fetched"]) == wanted
        assert not ctx.requests.outside
        assert wanted <= set(ctx.requests.urls)
        # reading on: another chapter page, a reload: nothing is fetched twice
        before = len(ctx.requests.urls)
        page.goto(f"{base_url}/{other_chapter(site)}")
        state = wait_settled(page)
        assert state == {"state": "skipped", "reason": "already warmed", "fetched": []}
        page.goto(f"{base_url}/{CHAPTER}")
        assert wait_settled(page)["reason"] == "already warmed"
        again = [u for u in ctx.requests.urls[before:] if u in wanted]
        assert again == []
    finally:
        ctx.close()


@pytest.mark.parametrize("why,script,options", [
    ("save-data", connection(saveData=True, effectiveType="4g"), {}),
    ("slow connection", connection(saveData=False, effectiveType="3g"), {}),
    ("cellular connection", connection(saveData=False, effectiveType="4g", type="cellular"), {}),
    ("small screen", "", {"viewport": {"width": 390, "height": 800}}),
])
def test_no_warming_on_metered_slow_or_small(browser, base_url, site, why, script, options):
    ctx = open_context(browser, base_url, FAST + script, **options)
    try:
        page = ctx.new_page()
        page.goto(f"{base_url}/{CHAPTER}")
        state = wait_settled(page)
        assert state["state"] == "skipped" and state["reason"] == why, state
        page.wait_for_timeout(1500)
        assert not any(u.endswith((".wasm", ".whl", "python_stdlib.zip")) for u in ctx.requests.urls)
    finally:
        ctx.close()


def test_pages_without_a_lab_button_do_not_warm(browser, base_url):
    ctx = open_context(browser, base_url)
    try:
        page = ctx.new_page()
        page.goto(f"{base_url}/")
        page.wait_for_timeout(2000)
        assert page.evaluate("window.courseLabWarm.state") == "idle"
        assert not any(u.endswith((".wasm", ".whl")) for u in ctx.requests.urls)
    finally:
        ctx.close()
