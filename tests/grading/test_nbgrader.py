"""The labs work with the real nbgrader: generate, autograde a solved and an unsolved copy.

Needs ``nbgrader==0.9.6`` in ``.venv-nbgrader`` (``scripts/install --test`` makes it from
``requirements/nbgrader.txt``), or the path of an ``nbgrader`` executable in ``$NBGRADER``. The lab is the course's first lab with
exercises, or the fixture lab while no chapter has landed one.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from course.nbgrader_export import BEGIN_HIDDEN, asserting, export_lab
from course.notebooks import discover_labs, parse_lab
from tests.grading import samples

ROOT = Path(__file__).resolve().parents[2]


def _nbgrader() -> str | None:
    # nbgrader lives in its own venv (requirements/nbgrader.txt): beside the build, its
    # JupyterLab extension would be shipped to learners by `jupyter lite build`.
    for candidate in (os.environ.get("NBGRADER"), str(ROOT / ".venv-nbgrader/bin/nbgrader")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _lab(tmp_path):
    for source in discover_labs(ROOT / "notebooks"):
        lab = parse_lab(source, ROOT / "notebooks")
        if lab.exercises:
            return lab
    notebooks = samples.write_labs(tmp_path / "labs")
    return parse_lab(notebooks / f"{samples.LAB_NAME}.py", notebooks)


def test_asserting_raises_on_a_failed_report():
    src = 'from labs import Checks\nx = 3\nChecks("ch01-x").equal("x is 2", lambda: x, 2).report()'
    with pytest.raises(AssertionError, match="x is 2"):
        exec(compile(asserting(src), "<check>", "exec"), {})
    exec(compile(asserting(src.replace("x = 3", "x = 2")), "<check>", "exec"), {})
    with pytest.raises(ValueError):
        asserting("x = 1")


def test_export_marks_cells_as_nbgrader_expects(tmp_path):
    lab = _lab(tmp_path)
    nb = export_lab(lab)
    graded = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    assert [c["metadata"]["nbgrader"]["grade_id"] for c in graded] == [
        f"test-{ex.id}" for ex in lab.exercises]
    assert [c["metadata"]["nbgrader"]["points"] for c in graded] == [
        ex.points for ex in lab.exercises]
    hidden_sources = [c.source for c in lab.cells if "hidden-check" in c.tags]
    for src in hidden_sources:  # every hidden check sits inside a hidden-tests region
        assert any(BEGIN_HIDDEN in c["source"] and src.splitlines()[-1].strip()[:40] in
                   c["source"].split(BEGIN_HIDDEN, 1)[1] for c in graded)
    solutions = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert solutions and all("### BEGIN SOLUTION" in c["source"] and "### STUB" not in
                             c["source"] for c in solutions)
    assert all(c["metadata"]["nbgrader"]["schema_version"] == 3 for c in graded + solutions)


def test_real_nbgrader_scores_solved_full_and_unsolved_zero(tmp_path):
    exe = _nbgrader()
    if exe is None:
        pytest.fail("nbgrader is not installed: run scripts/install --test "
                    "(it creates .venv-nbgrader from requirements/nbgrader.txt)")
    lab = _lab(tmp_path)
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'course'\nc.Execute.timeout = 120\n")
    name = lab.name.replace("/", "-") + ".ipynb"
    source = export_lab(lab)
    (course / "source" / "ps1" / name).write_text(json.dumps(source))
    # nbgrader runs `alembic` from PATH, and its kernel must import the course's `labs`
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(tmp_path),
               PATH=f"{Path(exe).parent}{os.pathsep}{os.environ.get('PATH', '')}")

    def nbgrader(*args):
        proc = subprocess.run([exe, *args], cwd=course, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    nbgrader("generate_assignment", "ps1", "--force")
    release = json.loads((course / "release" / "ps1" / name).read_text())
    text = json.dumps(release)
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    solutions = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in source["cells"]
                 if c["metadata"].get("nbgrader", {}).get("solution")}
    solved = json.loads(json.dumps(release))
    for cell in solved["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell["source"] = solutions[gid]
    for student, nb in (("solved", solved), ("unsolved", release)):
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        (folder / name).write_text(json.dumps(nb))
    nbgrader("autograde", "ps1", "--force")
    nbgrader("export", "--to", str(tmp_path / "grades.csv"))
    with (tmp_path / "grades.csv").open() as fh:
        scores = {r["student_id"]: r for r in csv.DictReader(fh)}
    total = sum(ex.points for ex in lab.exercises)
    assert float(scores["solved"]["max_score"]) == total
    assert float(scores["solved"]["score"]) == total, scores["solved"]
    assert float(scores["unsolved"]["score"]) == 0, scores["unsolved"]
