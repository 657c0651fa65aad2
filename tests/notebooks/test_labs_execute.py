"""Every lab, generated and executed in CPython with nbclient (a real Jupyter kernel)."""

from __future__ import annotations

import json

import pytest

from course.execute import check_reports, errors
from course.notebooks import discover_labs, parse_lab, to_notebook
from tests.conftest import ROOT

LABS = [parse_lab(p, ROOT / "notebooks") for p in discover_labs(ROOT / "notebooks")]
IDS = [lab.name for lab in LABS]


def test_there_are_labs():
    """The course has labs to test (an empty list would make the tests below vacuous)."""
    assert len(LABS) >= 1


@pytest.mark.parametrize("lab", LABS, ids=IDS)
def test_built_notebooks_are_current(lab, built_notebooks):
    """What the site serves is exactly what the source generates today."""
    for variant in ("student", "solution"):
        built = json.loads((built_notebooks / variant / f"{lab.name}.ipynb").read_text())
        assert built == to_notebook(lab, variant)


def _solution_and_public_lines(lab) -> tuple[set[str], set[str]]:
    """Lines inside solution regions, and lines the source shows outside them."""
    inside_lines, outside_lines = set(), set()
    for cell in lab.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == "### BEGIN SOLUTION":
                inside = True
            elif line.strip() == "### END SOLUTION":
                inside = False
            elif "hidden-check" not in cell.tags:
                (inside_lines if inside else outside_lines).add(line)
    return inside_lines, outside_lines


@pytest.mark.parametrize("lab", LABS, ids=IDS)
def test_student_version_contains_no_solution(lab):
    """No solution line and no hidden check reaches the student version."""
    student = to_notebook(lab, "student")
    text = "\n".join(c["source"] for c in student["cells"])
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert not any("hidden-check" in c["metadata"].get("tags", []) for c in student["cells"])
    solution_lines, public_lines = _solution_and_public_lines(lab)
    student_lines = set(text.splitlines())
    # a solution line may legitimately also stand elsewhere in the lab (a `return out`)
    leaked = sorted(line for line in solution_lines - public_lines
                    if len(line.strip()) > 12 and line in student_lines)
    assert leaked == []
    hidden = [c.source for c in lab.cells if "hidden-check" in c.tags]
    assert all(h not in text for h in hidden)


@pytest.mark.parametrize("lab", LABS, ids=IDS)
def test_solution_runs_and_passes_every_check(lab, solution_run):
    """The solution version runs with no error, and every check (hidden too) passes."""
    node, _ = solution_run(lab)
    assert errors(node) == []
    reports = check_reports(node)
    assert {r["exercise"] for r in reports} == {e.id for e in lab.exercises}
    assert any(r["hidden"] for r in reports) or not lab.exercises
    failing = [r for r in reports if r["status"] != "passed"]
    assert failing == []


@pytest.mark.parametrize("lab", LABS, ids=IDS)
def test_student_runs_and_checks_say_not_yet(lab, student_run):
    """The untouched student version runs top to bottom; every check says 'not yet'."""
    node, _ = student_run(lab)
    assert errors(node) == []
    reports = check_reports(node)
    assert {r["exercise"] for r in reports} == {e.id for e in lab.exercises}
    assert all(not r["hidden"] for r in reports)
    assert [r for r in reports if r["status"] != "not-yet"] == []
