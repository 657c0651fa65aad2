"""Nothing lost, nothing overwritten: names that collide or are odd, formula-like cells, old
notebook formats, untouched work and malformed notebooks, each graded as what it is."""

from __future__ import annotations

import csv
import json

import pytest

from course import grade as grader
from tests.grading import samples


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    base = tmp_path_factory.mktemp("records")
    notebooks = samples.write_labs(base)
    subs = base / "submissions"
    (subs / "resubmit").mkdir(parents=True)

    def put(rel: str, nb, student: str | None = None):
        if student is not None:
            nb["metadata"]["course"]["student"] = student
        (subs / rel).write_text(json.dumps(nb) if not isinstance(nb, str) else nb)

    put("ada.ipynb", samples.solved(notebooks))
    put("resubmit/ada.ipynb", samples.solved(notebooks))
    put("ada-2.ipynb", samples.solved(notebooks), student="ada-2")
    put("long.ipynb", samples.solved(notebooks), student="L" * 300)
    put("formula.ipynb", samples.solved(notebooks), student="=HYPERLINK(\"http://x\",\"y\")")
    put("untouched.ipynb", samples._nb(notebooks))
    bad_shape = samples.solved(notebooks)
    bad_shape["cells"][1]["source"] = {"not": "text"}
    put("bad-shape.ipynb", bad_shape)
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
          "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": [],
                                     "language": "python"}]}]}
    put("v3.ipynb", v3)
    out = base / "out"
    results = grader.grade(subs, out, lab=samples.LAB_NAME, timeout=10, jobs=2,
                           notebooks=notebooks, progress=lambda s: None)
    with (out / "gradebook.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {"rows": rows, "out": out, "results": results}


def test_every_submission_has_rows_and_its_own_feedback(records):
    """Same learner twice, a learner named like a suffix, a 300-character name: all kept."""
    subs = {r["submission"] for r in records["rows"]}
    assert {"ada.ipynb", "resubmit/ada.ipynb", "ada-2.ipynb", "long.ipynb"} <= subs
    files = sorted(p.name for p in (records["out"] / "feedback").iterdir())
    assert len(files) == len(records["results"]) == len(set(files))
    assert all(len(name) < 100 for name in files)


def test_formula_like_cells_are_written_as_text(records):
    students = {r["student"] for r in records["rows"]}
    assert "'=HYPERLINK(\"http://x\",\"y\")" in students
    assert not any(s.startswith("=") for s in students)


def test_untouched_work_is_not_attempted(records):
    rows = [r for r in records["rows"] if r["submission"] == "untouched.ipynb"]
    assert rows and {r["status"] for r in rows} == {"not-attempted"}


def test_a_malformed_cell_is_an_invalid_notebook_with_the_reason(records):
    rows = [r for r in records["rows"] if r["submission"] == "bad-shape.ipynb"]
    assert {r["status"] for r in rows} == {"invalid-notebook"}
    assert "source is neither text nor a list" in rows[0]["detail"]


def test_an_old_notebook_is_converted_not_refused(records):
    rows = [r for r in records["rows"] if r["submission"] == "v3.ipynb"]
    assert rows and "invalid-notebook" not in {r["status"] for r in rows}


def test_no_temporary_files_are_left(records):
    assert not [p for p in records["out"].rglob(".*.tmp")]
