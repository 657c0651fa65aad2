"""The learner's notebook survives reloads, browser restarts and course updates (issue 8).

JupyterLite keeps the learner's copy of a lab in IndexedDB and then serves it instead of the
published one; the lab guard (course/lite_extras.py, lab-guard.js) notices a newer published
version, keeps the learner's copy as "name (my copy YYYY-MM-DD).ipynb" and opens the new one.

These tests serve a *copy* of the built site from a temporary folder, so that "publishing a
changed lab" can rewrite files without touching the real build, and keep one server (one
origin, so one IndexedDB) while the browser is closed and relaunched on the same profile.
"""

from __future__ import annotations

import datetime
import functools
import json
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from course.serve import Handler
from tests.browser.conftest import CHROMIUM_ARGS, WAIT_MS, RequestLog
from tests.browser.lite import run_all_cells

pytestmark = pytest.mark.browser

MARK = "# learner-edit-7f3a"


@pytest.fixture(scope="module")
def site_copy(site, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("site") / "site"
    shutil.copytree(site, dest)
    return dest


@pytest.fixture(scope="module")
def copy_url(site_copy):
    handler = functools.partial(Handler, directory=str(site_copy))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def lab(site_copy) -> dict:
    labs = json.loads((site_copy / "lite" / "course-lab.json").read_text())["labs"]
    assert labs, "no labs published"
    name = sorted(labs)[0]
    return {"name": name, **labs[name]}


class Profile:
    """A browser profile on disk: launch, close and relaunch it like a learner's browser."""

    def __init__(self, browser, user_data_dir: Path, origin: str):
        self.browser_type = browser.browser_type
        self.dir = user_data_dir
        self.origin = origin
        self.context = None

    def launch(self):
        self.context = self.browser_type.launch_persistent_context(
            str(self.dir), executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, accept_downloads=True)
        self.context.set_default_timeout(WAIT_MS)
        self.context.set_default_navigation_timeout(2 * WAIT_MS)
        self.context.requests = RequestLog(self.origin)
        self.context.on("request", self.context.requests.record)
        return self.context

    def close(self):
        if self.context:
            self.context.close()
            self.context = None


@pytest.fixture
def profile(browser, copy_url, tmp_path):
    prof = Profile(browser, tmp_path / "profile", copy_url)
    yield prof
    prof.close()


def open_lab(ctx, url: str, path: str):
    page = ctx.pages[0] if ctx.pages and ctx.pages[0].url == "about:blank" else ctx.new_page()
    page.goto(f"{url}/lite/notebooks/index.html?path={path}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector("#course-lab-bar")
    return page


MODEL_TEXT = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  if (!w || !w.context || !w.context.isReady) return null;
  return JSON.stringify(w.context.model.toJSON().cells.map(c => c.source));
}"""


def notebook_text(page) -> str:
    """The sources of every cell of the open notebook (the DOM only holds the visible ones)."""
    page.wait_for_function(f"() => ({MODEL_TEXT})() !== null", timeout=60_000)
    return json.loads(page.evaluate(MODEL_TEXT))  and "\n".join(json.loads(page.evaluate(MODEL_TEXT)))


def wait_text(page, needle: str, timeout_ms: int = 30_000) -> None:
    page.wait_for_function(
        f"() => {{ const t = ({MODEL_TEXT})(); return t !== null && t.includes({json.dumps(json.dumps(needle)[1:-1])}); }}",
        timeout=timeout_ms)


def edit_first_code_cell(page, text: str) -> None:
    page.locator(".jp-CodeCell .cm-content").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n" + text)


SAVED_CONTAINS = """async ([path, needle]) => {
  const name = 'JupyterLite Storage - ' + new URL('../', location.href).pathname;
  const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = rej; });
  try {
    const v = await new Promise(res => { const r = db.transaction('files').objectStore('files').get(path); r.onsuccess = () => res(r.result); });
    return !!v && JSON.stringify(v.content).includes(needle);
  } finally { db.close(); }
}"""

SAVED_KEYS = """async () => {
  const name = 'JupyterLite Storage - ' + new URL('../', location.href).pathname;
  const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = rej; });
  try {
    return await new Promise(res => { const r = db.transaction('files').objectStore('files').getAllKeys(); r.onsuccess = () => res(r.result); });
  } finally { db.close(); }
}"""


def wait_saved(page, path: str, needle: str, timeout_ms: int = 30_000) -> None:
    """Autosave (every few seconds) has written *needle* into the browser's copy."""
    for _ in range(timeout_ms // 500):
        if page.evaluate(SAVED_CONTAINS, [path, needle]):
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{needle!r} was not saved to the browser within {timeout_ms} ms")


def publish_new_version(site_copy: Path, lab: dict) -> str:
    """Rewrite the served lab as a newer course version; return a line only it contains."""
    new_line = "NEW IN THE UPDATED COURSE"
    path = site_copy / "lite" / "files" / lab["path"]
    nb = json.loads(path.read_text())
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "updated0001", "metadata": {},
                           "source": f"**{new_line}**"})
    nb["metadata"]["course"]["version"] = "updated-" + nb["metadata"]["course"]["version"]
    path.write_text(json.dumps(nb, indent=1))
    listing = site_copy / "lite" / "api" / "contents" / Path(lab["path"]).parent / "all.json"
    if listing.is_file():
        data = json.loads(listing.read_text())
        now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        for entry in data.get("content", []):
            if entry.get("path") == lab["path"]:
                entry["last_modified"] = now
                entry["size"] = path.stat().st_size
        listing.write_text(json.dumps(data, indent=1))
    return new_line


def test_edit_survives_reload_restart_and_course_update(profile, copy_url, site_copy, lab):
    path = lab["path"]
    ctx = profile.launch()
    page = open_lab(ctx, copy_url, path)
    edit_first_code_cell(page, MARK)
    wait_saved(page, path, MARK)

    # 1. reload: the edit is still there
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    assert MARK in notebook_text(page), (page.locator("#course-lab-bar").inner_text(), page.evaluate(SAVED_KEYS))
    print("reload: edit kept")

    # 2. close the browser, relaunch it on the same profile: still there
    profile.close()
    ctx = profile.launch()
    page = open_lab(ctx, copy_url, path)
    assert MARK in notebook_text(page)
    print("browser restart: edit kept")

    # 3. the course publishes a changed lab; the learner comes back
    profile.close()
    new_line = publish_new_version(site_copy, lab)
    ctx = profile.launch()
    page = open_lab(ctx, copy_url, path)
    wait_text(page, new_line)
    text = notebook_text(page)
    assert new_line in text and MARK not in text  # the new version is open...
    bar = page.locator("#course-lab-bar")
    assert "This lab was updated on the site" in bar.inner_text()
    stem = Path(path).stem
    copy_name = f"{stem} (my copy {datetime.date.today().isoformat()}).ipynb"
    assert copy_name in bar.inner_text()
    keys = page.evaluate(SAVED_KEYS)
    copy_path = str(Path(path).parent / copy_name)
    assert copy_path in keys, keys
    # ...and the learner's work is one click away, unchanged
    page.get_by_role("link", name=copy_name).first.click()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_text(page, MARK)
    assert new_line not in notebook_text(page)
    assert "This is your kept copy" in page.locator("#course-lab-bar").inner_text()
    print("course update: learner's copy kept as", copy_name, "and the new version opens")

    # 4. reopening the lab does not ask again, and the kept copy stays listed
    page = open_lab(ctx, copy_url, path)
    assert new_line in notebook_text(page)
    page.get_by_text("Your kept copies").click()
    assert page.get_by_role("link", name=copy_name).is_visible()
    assert ctx.requests.outside == []


def test_download_is_one_click_and_reset_keeps_a_backup(profile, copy_url, lab):
    path = lab["path"]
    ctx = profile.launch()
    page = open_lab(ctx, copy_url, path)
    edit_first_code_cell(page, MARK + " before reset")
    wait_saved(page, path, "before reset")

    # Download my notebook: one click, the learner's current notebook, edits included
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download my notebook").click()
    saved = Path(dl.value.path()).read_text()
    assert dl.value.suggested_filename == Path(path).name
    assert "before reset" in saved and json.loads(saved)["nbformat"] == 4
    print("download: one click,", dl.value.suggested_filename)

    # Reset: asks first; cancelling changes nothing
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="Reset this lab").click()
    page.wait_for_timeout(500)
    assert "before reset" in notebook_text(page)

    # Reset, confirmed: the published version opens, the learner's work is kept as a backup
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Reset this lab").click()
    page.wait_for_selector("text=The lab was reset to the published version", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    assert "before reset" not in notebook_text(page)
    keys = page.evaluate(SAVED_KEYS)
    backups = [k for k in keys if "(backup " in k]
    assert len(backups) == 1, keys
    print("reset: published version restored, backup kept as", backups[0])


def test_toolbar_is_reachable_by_keyboard(context, base_url, lab):
    page = context.new_page()
    page.goto(f"{base_url}/lite/notebooks/index.html?path={lab['path']}")
    page.wait_for_selector("#course-lab-bar button")
    page.keyboard.press("Tab")
    focused = []
    for _ in range(4):
        focused.append(page.evaluate("() => document.activeElement.textContent.trim()"))
        page.keyboard.press("Tab")
    assert "← Course" in focused
    assert "Download my notebook" in focused and "Reset this lab" in focused


BLOCK_STORAGE = """
(() => {
  const quota = () => { throw new DOMException('The quota has been exceeded.', 'QuotaExceededError'); };
  try { Object.defineProperty(window, 'indexedDB', { get: () => undefined, configurable: true }); } catch (e) {}
  try { Storage.prototype.setItem = quota; } catch (e) {}
})();
"""


def test_lab_without_storage_says_so_and_still_runs(context, base_url, lab):
    """Private mode / storage disabled: a plain message, memory storage, and the lab runs."""
    context.add_init_script(BLOCK_STORAGE)
    page = context.new_page()
    page.goto(f"{base_url}/lite/notebooks/index.html?path={lab['path']}")
    message = page.locator(".course-lab-msg--warn").first
    message.wait_for(timeout=30_000)
    assert "not saving files" in message.inner_text()
    assert message.is_visible()
    print("no storage, lab page says:", message.inner_text())
    run_all_cells(page)
    assert page.locator(".course-check").count() >= 1
    assert context.requests.outside == []


def test_lab_with_full_local_storage_still_records_nothing_silently(context, base_url, lab):
    """localStorage full (quota): the lab still saves notebooks, and says progress is not kept."""
    context.add_init_script(
        "Storage.prototype.setItem = function () {"
        " throw new DOMException('full', 'QuotaExceededError'); };")
    page = context.new_page()
    page.goto(f"{base_url}/lite/notebooks/index.html?path={lab['path']}")
    message = page.locator(".course-lab-msg--warn").first
    message.wait_for(timeout=30_000)
    assert "progress" in message.inner_text()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    print("localStorage full, lab page says:", message.inner_text())
