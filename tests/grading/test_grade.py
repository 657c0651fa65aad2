"""The grader on a crafted class: solved, unsolved, and every kind of bad submission."""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from course import grade as grader
from course.notebooks import parse_lab
from tests.grading import samples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def listener():
    """A real server on 127.0.0.1 that records every connection it accepts."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
                accepted.append(addr)
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join(2)
    srv.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, listener):
    """Grade the crafted class once, through the command line, as an instructor would."""
    port, accepted = listener
    base = tmp_path_factory.mktemp("class")
    notebooks = samples.write_labs(base)
    expected = samples.class_of(notebooks, base / "submissions", port=port)
    out = base / "out"
    start = time.perf_counter()
    proc = samples.grade_cli(base / "submissions", out, notebooks, timeout=3, wait=240)
    took = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    with (out / "gradebook.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    book = {(r["student"], r["exercise"]): r for r in rows}
    return {"expected": expected, "book": book, "rows": rows, "out": out, "stdout": proc.stdout,
            "took": took, "accepted": accepted, "notebooks": notebooks, "base": base}


def student_name(stem: str) -> str:
    return "Ada Lovelace" if stem == "renamed" else stem


def test_every_submission_gets_a_row_per_exercise(graded):
    students = {r["student"] for r in graded["rows"]}
    assert students == {student_name(s) for s in graded["expected"]}
    assert len(graded["rows"]) == 2 * len(graded["expected"])
    assert list(graded["rows"][0]) == grader.GRADEBOOK_FIELDS




def test_status_of_each_case_for_the_first_exercise(graded):
    wrong = {s: (graded["book"][(student_name(s), "ch42-double")]["status"], want)
             for s, want in graded["expected"].items()
             if graded["book"][(student_name(s), "ch42-double")]["status"] != want}
    assert not wrong, wrong


def test_status_of_each_case_for_the_second_exercise(graded):
    for stem, first in graded["expected"].items():
        want = samples.TOTAL.get(stem, first)
        row = graded["book"][(student_name(stem), "ch42-total")]
        assert row["status"] == want, (stem, row)


def test_points_are_all_or_nothing(graded):
    for row in graded["rows"]:
        full = row["status"] == "passed"
        assert float(row["points"]) == (float(row["max_points"]) if full else 0), row
    assert graded["book"][("solved", "ch42-double")]["max_points"] == "2"
    assert graded["book"][("solved", "ch42-total")]["points"] == "3"


def test_hidden_checks_decide(graded):
    # passes the public check of ch42-double, fails the hidden one
    row = graded["book"][("public-only", "ch42-double")]
    assert row["status"] == "failed" and row["detail"].startswith("1/2")


def test_a_bad_submission_costs_no_one_else(graded):
    # the run had a timeout, a crash, a flood and a memory hog, yet the others are intact
    for stem in ("solved", "renamed", "deleted-checks-solved", "no-kernelspec"):
        assert all(graded["book"][(student_name(stem), ex)]["status"] == "passed"
                   for ex in ("ch42-double", "ch42-total")), stem


def test_work_done_before_a_timeout_still_counts(graded):
    assert graded["book"][("infinite-loop", "ch42-double")]["points"] == "2"
    assert "longer than 3s" in graded["book"][("infinite-loop", "ch42-total")]["detail"]


def test_the_network_is_never_reached(graded):
    assert graded["accepted"] == [], "a submission connected to the test's server"
    assert "network" in graded["book"][("network", "ch42-total")]["status"]


def test_raw_socket_bypass_is_blocked_by_the_namespace(graded):
    """The sandbox's empty network namespace stops what the socket guard cannot see."""
    assert graded["book"][("raw-socket", "ch42-total")]["status"] == "network-blocked"


def test_progress_one_line_per_submission(graded):
    lines = [l for l in graded["stdout"].splitlines() if l.startswith("[")]
    assert len(lines) == len(graded["expected"])
    assert all("ETA" in l and "pts" in l for l in lines)
    assert "submission(s) in" in graded["stdout"]


def feedback_of(graded, student: str) -> str:
    """The one feedback file of *student* (named after the learner plus a hash of the path)."""
    found = sorted((graded["out"] / "feedback").glob(f"{student}-????????.md"))
    assert len(found) == 1, (student, found)
    return found[0].read_text()


def test_feedback_in_plain_words(graded):
    solved = feedback_of(graded, "solved")
    assert "Score: 5 of 5 points" in solved
    unsolved = feedback_of(graded, "unsolved")
    assert "Score: 0 of 5 points" in unsolved and "Hint: multiply by two" in unsolved
    # hidden checks are counted, never shown
    assert "double(-3)" not in unsolved and "Further checks the instructor ran: 0 of 1" in unsolved
    assert "was edited; it was graded with the original" in feedback_of(graded, "edited-checks")
    assert "was missing; the original was put back" in feedback_of(graded, "deleted-checks-unsolved")
    assert "not a readable Jupyter notebook" in feedback_of(graded, "malformed")
    assert "Score" in feedback_of(graded, "Ada_Lovelace")
    assert "ZeroDivisionError" in feedback_of(graded, "exception")


def test_grading_a_class_is_fast(graded):
    # one 3 s timeout plus ~25 submissions of a fraction of a second each, on 2 workers
    assert graded["took"] < 60


def test_unknown_lab_and_mixed_labs_without_lab_option(graded, tmp_path):
    notebooks = graded["notebooks"]
    subs = tmp_path / "subs"
    subs.mkdir()
    src = graded["base"] / "submissions"
    for stem in ("solved", "other-lab"):
        (subs / f"{stem}.ipynb").write_bytes((src / f"{stem}.ipynb").read_bytes())
    nb = json.loads((src / "solved.ipynb").read_text())
    nb["metadata"]["course"]["lab"] = "ch77/nope"
    (subs / "unknown.ipynb").write_text(json.dumps(nb))
    del nb["metadata"]["course"]
    (subs / "no-metadata.ipynb").write_text(json.dumps(nb))
    lines: list[str] = []
    results = grader.grade(subs, tmp_path / "out", notebooks=notebooks, progress=lines.append)
    by = {s.student: s for s in results}
    assert by["unknown"].status == "unknown-lab" and "ch77/nope" in by["unknown"].detail
    assert by["no-metadata"].status == "unknown-lab" and "--lab" in by["no-metadata"].detail
    assert by["other-lab"].lab == "ch43/other" and by["other-lab"].rows[0].status == "passed"
    assert [r.status for r in by["solved"].rows] == ["passed", "passed"]
    # --lab falls back for a notebook without metadata
    again = grader.grade(subs, tmp_path / "out2", notebooks=notebooks, lab=samples.LAB_NAME,
                         progress=lines.append)
    nometa = next(s for s in again if s.student == "no-metadata")
    assert [r.status for r in nometa.rows] == ["passed", "passed"]


def test_partial_credit_option(graded, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "p.ipynb").write_bytes(
        (graded["base"] / "submissions" / "public-only.ipynb").read_bytes())
    [sub] = grader.grade(subs, tmp_path / "out", notebooks=graded["notebooks"], partial=True,
                         progress=lambda s: None)
    assert sub.rows[0].exercise == "ch42-double" and sub.rows[0].points == 1.0  # 1 of 2 checks


def test_hidden_checks_go_right_after_the_public_ones(graded):
    lab = parse_lab(graded["notebooks"] / "ch42" / "fixture.py", graded["notebooks"])
    nb = samples.solved(graded["notebooks"])
    cells, notes = grader.build_grading_cells(lab, nb["cells"])
    roles = [(c["role"], c["exercise"]) for c in cells if c["role"] != "learner"]
    assert roles == [("check", "ch42-double"), ("hidden-check", "ch42-double"),
                     ("check", "ch42-total"), ("hidden-check", "ch42-total")]
    first = next(i for i, c in enumerate(cells) if c["role"] == "check")
    assert cells[first - 1]["source"].startswith("def double")
    assert not notes
    # a learner cell added between the exercise and its (deleted) check stays before it
    nb["cells"] = [c for c in nb["cells"] if "check" not in c["metadata"].get("tags", [])]
    nb["cells"].insert(4, {"cell_type": "code", "id": "mine", "metadata": {}, "source": "helper = 1"})
    cells, notes = grader.build_grading_cells(lab, nb["cells"])
    order = [c["source"][:10] for c in cells]
    assert order.index("helper = 1") < next(i for i, c in enumerate(cells) if c["role"] == "check")
    assert len(notes) == 2
