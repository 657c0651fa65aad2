"""Every course lab through the judge: the built solution notebook (as a learner would hand
it in: no hidden checks) earns full marks, the student notebook earns nothing and reads
as not attempted. Slow (every lab, twice): one grading run for all of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course import grade
from course.notebooks import discover_labs, parse_lab, to_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
LABS = [parse_lab(p, NOTEBOOKS).name for p in discover_labs(NOTEBOOKS)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory, sandbox):
    subs = tmp_path_factory.mktemp("labs")
    for name in LABS:
        lab = parse_lab(NOTEBOOKS / f"{name}.py", NOTEBOOKS)
        for kind in ("solution", "student"):
            nb = to_notebook(lab, kind)
            nb["cells"] = [c for c in nb["cells"]
                           if "hidden-check" not in c["metadata"].get("tags", [])]
            (subs / f"{name.replace('/', '_')}-{kind}.ipynb").write_text(json.dumps(nb))
    results = grade.grade(subs, tmp_path_factory.mktemp("out"), jobs=2,
                          limits=grade.Limits(timeout=60), progress=lambda s: None)
    return {s.path.stem: s for s in results}


@pytest.mark.parametrize("name", LABS)
def test_the_solution_earns_full_marks_through_the_judge(graded, name):
    sub = graded[f"{name.replace('/', '_')}-solution"]
    bad = [(r.exercise, r.status, r.detail) for r in sub.rows if r.status != "passed"]
    assert not bad, (bad, sub.checks)
    assert sum(r.points for r in sub.rows) == sum(r.max_points for r in sub.rows)
    # every exercise with hidden checks was judged with them
    lab = parse_lab(NOTEBOOKS / f"{name}.py", NOTEBOOKS)
    hidden = {c.metadata["exercise"] for c in lab.cells if "hidden-check" in c.tags}
    assert hidden and all(any(rep.get("hidden") for rep in sub.checks[ex]) for ex in hidden)


@pytest.mark.parametrize("name", LABS)
def test_the_student_notebook_is_not_attempted(graded, name):
    sub = graded[f"{name.replace('/', '_')}-student"]
    assert {r.status for r in sub.rows} == {"not-attempted"}, [(r.exercise, r.status) for r in sub.rows]
    assert sum(r.points for r in sub.rows) == 0
