"""The grader against a hostile class: each attack is a crafted submission, graded through the
command line with the real sandbox, and the test asserts its verdict and that nothing outside
that submission's sandbox changed (the project, the output folder, the classmates' files)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.grading import samples

ROOT = Path(__file__).resolve().parents[2]

# Each attack replaces the learner's `total` cell (the second exercise); `double` is solved.
ATTACKS = {
    # a detached process (double fork + setsid) waits for the grader to finish, then rewrites
    # the gradebook and the project's library
    "detached-rewriter": (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(6)\n"
        "        for p in {targets}:\n"
        "            try: open(p, 'a').write('HACKED')\n"
        "            except Exception: pass\n"
        "        os._exit(0)\n"
        "    os._exit(0)\n"
        "total = 6"),
    # edits the project's own labs/exercises.py and a classmate's notebook, right away
    "edits-library": (
        "for p in {targets}:\n"
        "    try: open(p, 'a').write('\\n# HACKED\\n')\n"
        "    except Exception as e: print('refused', p, e)\n"
        "total = 6"),
    # kills the grader for everyone
    "kills-grader": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ntotal = 6",
    # resets the per-cell clock with fake events on the inherited channel
    "fake-ready": (
        "import os, time, json\n"
        "for _ in range(40):\n"
        "    for fd in range(3, 12):\n"
        "        try: os.write(fd, b'{{\"event\": \"ready\"}}\\n')\n"
        "        except OSError: pass\n"
        "    time.sleep(0.5)\n"
        "total = 6"),
    # one huge line on the channel
    "huge-line": (
        "import os\nfor fd in range(3, 12):\n"
        "    try: os.write(fd, b'x' * 50_000_000)\n"
        "    except OSError: pass\n"
        "total = 6"),
    # a fork bomb whose children would outlive the run
    "fork-bomb": (
        "import os, time\nkids = 0\n"
        "try:\n"
        "    while kids < 10_000:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        kids += 1\n"
        "except OSError as e: print('stopped at', kids, e)\n"
        "total = 6 if kids < 10_000 else 0"),
    # joins the host's network namespace through the grader's pid
    "nsenter": (
        "import subprocess, os\n"
        "r = subprocess.run(['nsenter', '-t', str(os.getppid()), '-n', 'true'], capture_output=True)\n"
        "assert r.returncode != 0, 'nsenter worked'\n"
        "total = 6"),
    # reads files it must not see
    "reads-secrets": (
        "import os\n"
        "seen = [p for p in ('/etc/passwd', {project!r} + '/labs', {project!r} + '/README.md', {out!r}) if os.path.exists(p)]\n"
        "assert seen == [], seen\n"
        "total = 6"),
}


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, sandbox):
    base = tmp_path_factory.mktemp("hostile")
    notebooks = samples.write_labs(base)
    subs = base / "submissions"
    subs.mkdir()
    out = base / "out"
    victim = subs / "victim.ipynb"
    targets = [str(out / "gradebook.csv"), str(ROOT / "labs" / "observe" / "exercises.py"),
               str(victim)]
    for name, code in ATTACKS.items():
        nb = samples.solved(notebooks)
        samples._set(nb, "total", code.format(targets=targets, project=str(ROOT), out=str(out)))
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    victim.write_text(json.dumps(samples.solved(notebooks)))
    before = {"labs": _digest(ROOT / "labs"), "victim": victim.read_bytes()}
    start = time.perf_counter()
    proc = samples.grade_cli(subs, out, notebooks, timeout=5)
    took = time.perf_counter() - start
    time.sleep(8)   # longer than the detached rewriter waits
    with (out / "gradebook.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return {"proc": proc, "rows": rows, "out": out, "before": before, "victim": victim,
            "took": took, "book": {(r["student"], r["exercise"]): r for r in rows}}


def test_the_run_finishes_for_everyone(hostile):
    """Killing the grader is impossible: every submission, the victim too, has its rows."""
    assert hostile["proc"].returncode == 0, hostile["proc"].stderr
    students = {r["student"] for r in hostile["rows"]}
    assert students == set(ATTACKS) | {"victim"}


def test_nothing_outside_the_sandbox_changed(hostile):
    """The library, a classmate's notebook and the gradebook are untouched, also after the
    grader exited (the detached rewriter died with its namespace)."""
    assert _digest(ROOT / "labs") == hostile["before"]["labs"]
    assert hostile["victim"].read_bytes() == hostile["before"]["victim"]
    assert "HACKED" not in (hostile["out"] / "gradebook.csv").read_text()
    assert hostile["book"][("victim", "ch42-total")]["status"] == "passed"


@pytest.mark.parametrize("name, status", [
    ("edits-library", "passed"),      # every write is refused; the cell goes on
    ("detached-rewriter", "passed"),  # its child is killed with the namespace
    ("kills-grader", "error"),        # PermissionError: the grader is not even visible
    ("nsenter", "passed"),            # nsenter fails for an unprivileged user (asserted inside)
    ("reads-secrets", "passed"),      # /etc/passwd, the project and the output are not there
])
def test_contained_attacks_are_graded_as_what_they_are(hostile, name, status):
    """Attacks the sandbox contains: the learner's correct first answer still counts, and the
    attacking cell gets the verdict its own code earned."""
    assert hostile["book"][(name, "ch42-double")]["status"] == "passed"
    assert hostile["book"][(name, "ch42-total")]["status"] == status, \
        hostile["book"][(name, "ch42-total")]


def test_fake_ready_events_do_not_reset_the_clock(hostile):
    """A 20 s cell under --timeout 5 times out although it keeps writing 'ready' events."""
    row = hostile["book"][("fake-ready", "ch42-total")]
    assert row["status"] == "timeout", row


def test_a_huge_line_on_the_channel_ends_that_run_only(hostile):
    row = hostile["book"][("huge-line", "ch42-total")]
    assert row["status"] in ("output-limit", "crashed"), row
    assert hostile["book"][("huge-line", "ch42-double")]["status"] == "passed"


def test_a_fork_bomb_is_stopped_and_leaves_no_process(hostile):
    """The process limit holds inside the sandbox, and no sandbox process outlives the run."""
    row = hostile["book"][("fork-bomb", "ch42-total")]
    assert row["status"] in ("passed", "timeout", "crashed"), row
    left = subprocess.run(["pgrep", "-u", "61000,61001"], capture_output=True, text=True).stdout
    assert left.strip() == ""


def test_sandbox_cost_is_reported(hostile, capsys):
    """Not a timed assertion: the run's duration, for the closing note (see scripts/bench_grade)."""
    with capsys.disabled():
        print(f"\nhostile class of {len(ATTACKS) + 1}: graded in {hostile['took']:.1f}s")
    assert hostile["took"] > 0
