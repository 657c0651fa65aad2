"""Progress without a server (issue 8): chapters read, labs run, checks passed, in the browser.

The site and the labs share one origin, so the lab pages write check results into the same
localStorage entry the site reads. Export → import on "another device" (a fresh context),
bad files give a clear message, reset asks first. Storage failures are said, not hidden.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import WAIT_MS, new_context

from tests.browser.lite import check_statuses, run_all_cells

pytestmark = pytest.mark.browser

PROGRESS = "() => JSON.parse(localStorage.getItem('course-progress') || 'null')"


def first_chapter(page, base_url) -> str:
    page.goto(base_url + "/chapters/")
    href = page.evaluate(
        "() => [...document.querySelectorAll('.md-typeset table a[href]')]"
        ".map(a => a.href).find(h => /\\/chapters\\/\\d+-/.test(h))")
    assert href, "no published chapter linked from the chapter list"
    return href


def test_reading_a_chapter_is_recorded_and_shown_on_the_lists(context, base_url):
    page = context.new_page()
    href = first_chapter(page, base_url)
    number = str(int(href.rstrip("/").split("/")[-1].split("-")[0]))
    page.goto(href)
    page.wait_for_function(PROGRESS.replace("() =>", "() => !!") + "?.chapters?.['" + number + "']")
    assert not page.evaluate(PROGRESS)["chapters"][number].get("read")
    page.keyboard.press("End")  # scroll to the end of the chapter
    page.mouse.wheel(0, 100000)
    page.wait_for_function(f"() => !!({PROGRESS})().chapters['{number}'].read", timeout=WAIT_MS)
    for where in ("/", "/chapters/"):
        page.goto(base_url + where)
        row = page.locator(f'tr[data-chapter="{number}"]')
        row.locator(".course-badge--read").wait_for()
        summary = page.locator(".course-summary")
        assert "1 of" in summary.inner_text() and "chapters read" in summary.inner_text()
        print(f"{where}: {summary.inner_text()}")


def test_checks_in_a_lab_are_recorded_and_shown(context, base_url, site):
    manifest = json.loads((site / "lite" / "course-lab.json").read_text())
    name = sorted(manifest["labs"])[0]
    lab = manifest["labs"][name]
    page = context.new_page()
    page.goto(f"{base_url}/lite/notebooks/index.html?path={lab['path']}")
    run_all_cells(page)
    statuses = dict(check_statuses(page))
    assert statuses, "the lab shows no check report"
    page.wait_for_function(f"() => Object.keys(({PROGRESS})()?.exercises || {{}}).length >= {len(statuses)}")
    progress = page.evaluate(PROGRESS)
    for ex, status in statuses.items():
        assert progress["exercises"][ex]["status"] == status
        assert progress["exercises"][ex]["lab"] == name
        assert progress["exercises"][ex]["time"]
    assert progress["labs"][name]["ran"]
    page.goto(base_url + "/start/progress/")
    table = page.locator("table.course-progress-exercises")
    for ex, status in statuses.items():
        assert status in table.locator(f'tr[data-exercise="{ex}"]').inner_text()
    assert "1 lab run" in page.locator(".course-summary-line").inner_text()
    print("lab checks recorded:", statuses)


def test_export_import_on_another_device_merges_and_reset_asks(browser, base_url, tmp_path):
    one = new_context(browser, accept_downloads=True)
    two = new_context(browser, accept_downloads=True)
    try:
        a = one.new_page()
        a.goto(base_url + "/start/progress/")
        a.evaluate("""() => { const p = window.courseProgress.load();
          p.chapters['1'] = {visited: '2026-11-01T10:00:00.000Z', read: '2026-11-01T10:20:00.000Z'};
          p.exercises['ch01-demo'] = {status: 'passed', time: '2026-11-02T09:00:00.000Z',
                                      passed: '2026-11-02T09:00:00.000Z', lab: 'ch01/demo'};
          window.courseProgress.save(p); }""")
        a.reload()
        a.wait_for_selector(".course-progress-actions")
        with a.expect_download() as dl:
            a.get_by_role("button", name="Export my progress").click()
        exported = tmp_path / dl.value.suggested_filename
        dl.value.save_as(exported)
        assert json.loads(exported.read_text())["format"] == "course-progress"

        b = two.new_page()
        b.goto(base_url + "/start/progress/")
        b.evaluate("""() => { const p = window.courseProgress.load();
          p.chapters['2'] = {visited: '2026-11-03T10:00:00.000Z', read: '2026-11-03T10:30:00.000Z'};
          p.exercises['ch01-demo'] = {status: 'failed', time: '2026-11-01T08:00:00.000Z', lab: 'ch01/demo'};
          window.courseProgress.save(p); }""")
        b.reload()
        b.wait_for_selector(".course-progress-actions")
        status = b.locator(".course-progress-status")

        # bad files: a clear message, nothing changed
        before = b.evaluate(PROGRESS)
        for name, body, says in [
            ("notes.json", "this is not json", "not a JSON file"),
            ("other.json", json.dumps({"hello": 1}), "not a progress export from this course"),
            ("future.json", json.dumps({"format": "course-progress", "version": 99}), "newer version"),
        ]:
            bad = tmp_path / name
            bad.write_text(body)
            b.set_input_files("#course-progress-import", str(bad))
            b.wait_for_function("(s) => document.querySelector('.course-progress-status').textContent.includes(s)", arg=says)
            assert "Nothing was changed" in status.inner_text()
            print("bad file:", status.inner_text())
        assert b.evaluate(PROGRESS) == before

        # the real export: merged, not replaced
        b.set_input_files("#course-progress-import", str(exported))
        b.wait_for_function("() => document.querySelector('.course-progress-status').textContent.startsWith('Imported')")
        merged = b.evaluate(PROGRESS)
        assert merged["chapters"]["1"]["read"] and merged["chapters"]["2"]["read"]
        assert merged["exercises"]["ch01-demo"]["status"] == "passed"  # the later result wins
        print("import:", b.locator(".course-progress-status").inner_text())

        # reset asks first; dismissing keeps everything
        b.once("dialog", lambda d: d.dismiss())
        b.get_by_role("button", name="Reset my progress").click()
        b.wait_for_function("() => document.querySelector('.course-progress-status').textContent.includes('Nothing was reset')")
        assert b.evaluate(PROGRESS)["chapters"].get("1")
        b.once("dialog", lambda d: d.accept())
        b.get_by_role("button", name="Reset my progress").click()
        b.wait_for_function("() => document.querySelector('.course-progress-status').textContent.includes('was reset')")
        assert b.evaluate(PROGRESS) is None
    finally:
        one.close()
        two.close()


def test_site_without_storage_says_so_and_keeps_working(context, base_url):
    """localStorage full or disabled: a visible message on pages, and progress still works."""
    context.add_init_script(
        "Storage.prototype.setItem = function () {"
        " throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); };")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    href = first_chapter(page, base_url)
    page.goto(href)
    notice = page.locator(".course-storage-notice")
    notice.wait_for()
    assert notice.is_visible() and "not being saved" in notice.inner_text()
    print("site without storage says:", notice.inner_text().splitlines()[0])
    page.goto(base_url + "/start/progress/")
    page.locator(".course-storage-notice").wait_for()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export my progress").click()
    assert json.loads(Path(dl.value.path()).read_text())["format"] == "course-progress"
    # search still works (the page is alive)
    assert page.locator(".md-search__input").count() == 1
    assert errors == []
