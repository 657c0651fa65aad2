"""Every published lab, run as a learner runs it: in JupyterLite, in Chromium, offline."""

from __future__ import annotations

import json

import pytest

from course.notebooks import discover_labs, parse_lab
from tests.browser.lite import check_statuses, error_outputs, open_pyodide_harness, run_all_cells
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

LABS = [parse_lab(p, ROOT / "notebooks") for p in discover_labs(ROOT / "notebooks")]


def test_chapter_one_lab_button_opens_and_runs_the_lab_offline(context, base_url):
    """Chapter 1 → Open the lab → Run All: outputs as expected, nothing from another origin."""
    page = context.new_page()
    page.goto(f"{base_url}/chapters/01-microservices-in-clojure/")
    button = page.locator("a.lab-button").first
    assert button.get_attribute("data-lab") == "ch01/availability"
    button.click()
    page.wait_for_url("**/lite/notebooks/index.html?path=ch01/availability.ipynb")
    run_all_cells(page)
    assert error_outputs(page) == []
    lab = parse_lab(ROOT / "notebooks/ch01/availability.py", ROOT / "notebooks")
    statuses = check_statuses(page)
    assert {ex for ex, _ in statuses} == {e.id for e in lab.exercises}
    assert all(status == "not-yet" for _, status in statuses), statuses
    # the pictures render: a Vega-Lite chart and a Mermaid diagram
    assert page.locator(".jp-RenderedVegaCommon5, .vega-embed").count() >= 1
    assert page.locator(".jp-RenderedMermaid img, .jp-RenderedMermaid svg").count() >= 1
    # the kernel's wheels came from this site, requested by the kernel's worker
    assert any(u.endswith(".whl") and "/labs-" in u for u in context.requests.urls)
    assert context.requests.outside == []


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_student_lab_runs_in_pyodide_without_error(warm_context, base_url, lab):
    """The published (student) version runs top to bottom; its checks say 'not yet'."""
    context = warm_context
    page = context.new_page()
    page.goto(f"{base_url}/lite/notebooks/index.html?path={lab.name}.ipynb")
    run_all_cells(page)
    assert error_outputs(page) == []
    statuses = check_statuses(page)
    assert sorted({ex for ex, _ in statuses}) == sorted(e.id for e in lab.exercises)
    assert all(status == "not-yet" for _, status in statuses), statuses
    assert context.requests.outside == []
    page.close()


RUN_NOTEBOOK = """
import json
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shown, errors = [], []
shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
shell.displayhook.write_format_data = lambda data, md=None: shown.append(data)
for index, source in enumerate(json.loads(CELLS)):
    result = shell.run_cell(source, store_history=False)
    if not result.success:
        errors.append(f"cell {index}: {result.error_in_exec or result.error_before_exec!r}")
MIME = "application/vnd.course.check+json"
json.dumps({"errors": errors, "checks": [d[MIME] for d in shown if MIME in d]})
"""


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_solution_lab_passes_every_check_in_pyodide(warm_context, base_url, built_notebooks, lab):
    """The solution version, public and hidden checks, passes in the site's own Pyodide."""
    context = warm_context
    nb = json.loads((built_notebooks / "solution" / f"{lab.name}.ipynb").read_text())
    cells = [c["source"] for c in nb["cells"] if c["cell_type"] == "code"]
    page = context.new_page()
    open_pyodide_harness(page, base_url, "labs,ipython")
    out = json.loads(page.evaluate(
        "([code, cells]) => { window.pyodide.globals.set('CELLS', cells); return runPython(code); }",
        [RUN_NOTEBOOK, json.dumps(cells)]))
    assert out["errors"] == []
    assert {c["exercise"] for c in out["checks"]} == {e.id for e in lab.exercises}
    assert all(c["status"] == "passed" for c in out["checks"]), out["checks"]
    assert context.requests.outside == []
    page.close()
