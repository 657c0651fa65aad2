"""Driving a lab in JupyterLite's single-document view, as a learner would."""

from __future__ import annotations

ALL_RAN = """() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map(e => e.textContent.trim());
  return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
}"""


def run_all_cells(page, timeout_ms: int = 180_000) -> None:
    """Use the Run menu's "Run All Cells", then wait until every code cell has run."""
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.get_by_role("menuitem", name="Run").click()
    page.locator('li[data-command="runmenu:run-all"]').click()
    page.wait_for_function(ALL_RAN, timeout=timeout_ms)


def error_outputs(page) -> list[str]:
    """Tracebacks shown in the notebook."""
    return [e.inner_text()[:500] for e in
            page.query_selector_all('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            if "Traceback" in e.inner_text() or "Error" in e.inner_text()]


def check_statuses(page) -> list[tuple[str, str]]:
    """(exercise, status) of every check report the notebook shows."""
    return [(e.get_attribute("data-exercise"), e.get_attribute("data-status"))
            for e in page.query_selector_all(".course-check")]


def open_pyodide_harness(page, base_url: str, packages: str, timeout_ms: int = 180_000) -> None:
    """The test-only page with the site's own Pyodide and lock (pages/pyodide.html), loaded;
    a failure to load fails at once with the page's own message, not with a timeout."""
    page.goto(f"{base_url}/__tests__/pyodide.html?packages={packages}")
    page.wait_for_function("document.getElementById('status').textContent !== 'loading'",
                           timeout=timeout_ms)
    status = page.locator("#status").text_content()
    assert status == "ready", f"the Pyodide harness did not load: {status}"
