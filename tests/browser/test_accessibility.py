"""Every page of the site passes axe-core with no serious or critical violation (issue 8).

Runs on every built page in the light and the dark theme, and on the lab page's own
toolbar (not on JupyterLite's internals). axe-core comes from npm (pinned in package.json;
until then `npm install --no-save axe-core@4.11.0`) and is injected into the page from
node_modules, so nothing is fetched from outside the site. Totals per page are printed.

Also: diagrams have text alternatives, the progress controls work from the keyboard, and
chapter pages are screenshotted at 375 px (build/screens/) for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import new_context

from tests.conftest import BUILD, ROOT

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SITE = ROOT / "site"
SKIP = {"404.html"}


def pages() -> list[str]:
    if not SITE.is_dir():
        return []
    out = []
    for html in sorted(SITE.rglob("index.html")):
        rel = html.relative_to(SITE)
        if rel.parts and rel.parts[0] in ("lite", "assets", "search"):
            continue
        out.append("/" if rel.parent == Path(".") else f"/{rel.parent.as_posix()}/")
    return out


def run_axe(page, include: str | None = None) -> list[dict]:
    if not AXE.is_file():
        pytest.fail("axe-core is missing: npm install --no-save axe-core@4.11.0 (then pin it in package.json)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    context = json.dumps(include) if include else "document"
    result = page.evaluate(
        f"""async () => {{
          const r = await axe.run({context}, {{ resultTypes: ['violations'] }});
          return r.violations.map(v => ({{ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }}));
        }}""")
    return result


def set_theme(page, scheme: str) -> None:
    """Material's palette: 'default' (light) or 'slate' (dark), as the toggle sets it."""
    page.evaluate(
        """(scheme) => {
          document.body.setAttribute('data-md-color-scheme', scheme);
          document.body.setAttribute('data-md-color-primary', 'indigo');
          document.body.setAttribute('data-md-color-accent', 'deep-orange');
        }""", scheme)
    page.wait_for_timeout(100)


SCHEMES = ("default", "slate")


@pytest.mark.parametrize("path", pages())
def test_page_has_no_serious_axe_violations(context, base_url, path):
    """Both themes on one load of the page: the light one, then the dark one, as the
    palette toggle switches them (one load instead of two: half this tier's page loads)."""
    page = context.new_page()
    page.goto(base_url + path)
    page.wait_for_load_state("networkidle")
    serious = {}
    for scheme in SCHEMES:
        page.emulate_media(color_scheme="dark" if scheme == "slate" else "light")
        set_theme(page, scheme)
        page.wait_for_timeout(300)
        violations = run_axe(page)
        serious[scheme] = [v for v in violations if v["impact"] in ("serious", "critical")]
        by_impact: dict[str, int] = {}
        for v in violations:
            by_impact[v["impact"]] = by_impact.get(v["impact"], 0) + len(v["nodes"])
        print(f"axe {path} [{scheme}]: {len(violations)} rules violated, by impact {by_impact}")
        for v in violations:
            print(f"    {v['impact']:9} {v['id']}: {v['help']} at {v['nodes'][:2]}")
    assert serious == {scheme: [] for scheme in SCHEMES}, json.dumps(serious, indent=1)
    assert context.requests.outside == []
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_lab_toolbar_has_no_serious_axe_violations(context, base_url, site, scheme):
    labs = json.loads((site / "lite" / "course-lab.json").read_text())["labs"]
    path = labs[sorted(labs)[0]]["path"]
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{base_url}/lite/notebooks/index.html?path={path}")
    page.wait_for_selector("#course-lab-bar button")
    violations = run_axe(page, "#course-lab-bar")
    print(f"axe lab toolbar [{scheme}]: {len(violations)} rules violated",
          [(v["id"], v["impact"]) for v in violations])
    assert [v for v in violations if v["impact"] in ("serious", "critical")] == []


def test_lab_start_dialog_on_a_phone_says_the_size_and_is_accessible(browser, base_url, site):
    labs = json.loads((site / "lite" / "course-lab.json").read_text())
    total_mb = round(labs["download"]["total"] / 1e6)
    path = labs["labs"][sorted(labs["labs"])[0]]["path"]
    ctx = new_context(browser, viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        page = ctx.new_page()
        page.goto(f"{base_url}/lite/notebooks/index.html?path={path}")
        dialog = page.get_by_role("dialog", name="Start this lab?")
        dialog.wait_for()
        assert f"about {total_mb} MB" in dialog.inner_text()
        page.wait_for_timeout(1500)
        assert page.locator(".jp-Notebook").count() == 0  # nothing started yet
        violations = run_axe(page, ".course-lab-gate")
        assert [v for v in violations if v["impact"] in ("serious", "critical")] == []
        out = BUILD / "screens"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "lab-start-375.png"))
        page.keyboard.press("Enter")  # the start button has the focus
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    finally:
        ctx.close()


def test_lab_buttons_show_the_download_size(context, base_url, site):
    labs = json.loads((site / "lite" / "course-lab.json").read_text())
    total_mb = round(labs["download"]["total"] / 1e6)
    page = context.new_page()
    for path in pages():
        page.goto(base_url + path)
        if page.locator("a.lab-button").count():
            page.wait_for_selector(".course-lab-size")
            assert f"about {total_mb} MB" in page.locator(".course-lab-size").first.inner_text()
            return
    pytest.fail("no page has a lab button: every chapter page should link its lab")


@pytest.mark.parametrize("scheme", ["default", "slate"])
def test_chapter_pages_at_phone_width(browser, base_url, scheme):
    """Screenshots at 375 px for a person to look at, and no sideways scrolling."""
    ctx = new_context(browser, viewport={"width": 375, "height": 812}, device_scale_factor=1)
    out = BUILD / "screens"
    out.mkdir(parents=True, exist_ok=True)
    try:
        page = ctx.new_page()
        for path in [p for p in pages() if p.startswith("/chapters/")] + ["/", "/start/progress/"]:
            page.goto(base_url + path)
            page.wait_for_load_state("networkidle")
            set_theme(page, scheme)
            name = (path.strip("/").replace("/", "_") or "home") + f"-{scheme}.png"
            page.screenshot(path=str(out / name), full_page=False)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            print(f"375px {path} [{scheme}]: horizontal overflow {overflow}px -> {out / name}")
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at 375 px"
    finally:
        ctx.close()


def test_diagrams_have_text_alternatives(context, base_url):
    page = context.new_page()
    found = measured = 0
    for path in pages():
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        for fig in page.locator(".md-typeset .mermaid").all():
            found += 1
            label = fig.evaluate("e => e.closest('figure.course-diagram')?.getAttribute('aria-label') || ''")
            assert label.startswith("Diagram: ") and len(label) > 15, (path, label)
            # readable: the diagram gets the text column's width (a shrink-to-fit figure once
            # left every diagram 300 px wide, with unreadable 6 px text)
            width, column, shown = fig.evaluate(
                "e => [e.getBoundingClientRect().width,"
                " e.closest('.md-typeset').getBoundingClientRect().width,"
                " e.getClientRects().length > 0]")
            if shown:   # (a diagram inside a closed <details> has no box until opened)
                measured += 1
                assert width >= 0.9 * column, (path, width, column)
    assert found >= 5 and measured >= 5
    print(f"{found} diagrams, each with a text alternative, each as wide as the text")


def test_progress_controls_work_from_the_keyboard(context, base_url):
    page = context.new_page()
    page.goto(base_url + "/start/progress/")
    page.wait_for_selector(".course-progress-actions")
    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(
            "() => { const e = document.activeElement; return (e.id === 'course-progress-import')"
            " ? 'import' : e.textContent.trim(); }"))
    assert "Export my progress" in reached
    assert "import" in reached
    assert "Reset my progress" in reached
    # Enter on a focused button acts
    page.locator("button", has_text="Export my progress").focus()
    with page.expect_download() as dl:
        page.keyboard.press("Enter")
    assert dl.value.suggested_filename.startswith("course-progress-")
