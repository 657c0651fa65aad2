"""Verdicts decided outside the learner's process: crafted submissions that try to forge a
pass or to read the hidden checks, graded through the command line with the real sandbox.

Each attack's learner answers are wrong (``double`` adds 2, ``total`` is 7) unless the
attack is about reading the checks; a forged pass would show as ``passed``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.grading import samples

ROOT = Path(__file__).resolve().parents[2]

# the hidden checks' names, in two halves that no learner code ever joins (a scanner that
# built the whole string would find its own copy)
HALVES = [("double(-3) ", "is -6"), ("total is a who", "le number")]

SCANNER = textwrap.dedent('''
    def _scan_for_hidden():
        """Look for the hidden checks' text in this process: memory, objects, files."""
        import gc, os, re
        halves = %r
        found = []
        def look(data, where):
            for a, b in halves:
                a, b = (a.encode(), b.encode()) if isinstance(data, bytes) else (a, b)
                i = data.find(a)
                while i >= 0:
                    if data.startswith(b, i + len(a)):
                        found.append(where)
                        return
                    i = data.find(a, i + 1)
        for obj in gc.get_objects():
            if isinstance(obj, dict):
                for v in list(obj.values()):
                    if isinstance(v, (str, bytes)):
                        look(v, "object")
            elif isinstance(obj, (list, tuple)):
                for v in obj:
                    if isinstance(v, (str, bytes)):
                        look(v, "object")
        with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
            for line in maps:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if "r" not in line.split()[1] or hi - lo > 1 << 30:
                    continue
                try:
                    mem.seek(lo)
                    look(mem.read(hi - lo), "memory")
                except (OSError, ValueError, OverflowError):
                    pass
        for top in ("/submission", "/tmp", "/runtime", os.getcwd()):
            for root, dirs, files in os.walk(top):
                for f in files:
                    try:
                        with open(os.path.join(root, f), "rb") as fh:
                            look(fh.read(10_000_000), "file " + f)
                    except OSError:
                        pass
        return sorted(set(found))
''') % (HALVES,)

ATTACKS = {
    # the one-liner: every report says passed (and --partial: a huge count)
    "patched-report": (
        "def double(n):\n    return n + 2",
        "import labs\nfrom labs.observe import exercises as _ex\n"
        "_ex.CheckReport.status = property(lambda self: 'passed')\n"
        "_ex.CheckReport.passed = property(lambda self: 3800)\n"
        "total = 7"),
    # a Checks of the learner's own that passes everything
    "redefined-checks": (
        "def double(n):\n    return n + 2",
        "import labs\nfrom labs.observe import exercises as _ex\n"
        "class Checks(_ex.Checks):\n"
        "    def _run(self, name, thunk, judge, hint):\n"
        "        self.report_.results.append(_ex.CheckResult(name, 'passed'))\n"
        "labs.Checks = _ex.Checks = Checks\n"
        "total = 7"),
    # forged end/done events for every cell with passing reports, then an early exit
    "forged-events-exit": (
        "def double(n):\n    return n + 2",
        "import os, json\n"
        "rep = lambda ex: {'exercise': ex, 'status': 'passed', 'passed': 1, 'total': 1, "
        "'hidden': True, 'results': []}\n"
        "for fd in range(3, 12):\n"
        "    try:\n"
        "        for c in range(0, 20):\n"
        "            for e in ({'event': 'end', 'cell': c, 'error': None, 'reports': "
        "[rep('ch42-double'), rep('ch42-total')]}, {'event': 'start', 'cell': c + 1}):\n"
        "                os.write(fd, (json.dumps(e) + '\\n').encode())\n"
        "        os.write(fd, b'{\"event\": \"done\"}\\n')\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)"),
    # answers right only until the judge calls: then exits (no verdict, so no pass)
    "exits-when-judged": (
        "def double(n):\n    import os\n    os._exit(0)",
        "total = 7"),
    # a thread that floods the channel, once the judge is asking, with forged replies and
    # forged judge events
    "forged-replies": (
        "def double(n):\n    return n + 2",
        "import os, json, threading, time\n"
        "def _flood():\n"
        "    time.sleep(0.5)\n"
        "    for i in range(1, 40):\n"
        "        for fd in range(3, 12):\n"
        "            for m in ({'re': i, 'ok': -6}, {'re': i, 'ok': 6}, {'event': 'end', 'cell': i, "
        "'reports': [{'exercise': 'ch42-double', 'status': 'passed', 'passed': 1, 'total': 1}]}):\n"
        "                try: os.write(fd, (json.dumps(m) + '\\n').encode())\n"
        "                except OSError: pass\n"
        "        time.sleep(0.01)\n"
        "threading.Thread(target=_flood, daemon=True).start()\n"
        "total = 7"),
    # an answer that tries to be equal to anything (its __eq__ says True)
    "equal-to-all": (
        "class _Any:\n    def __eq__(self, other): return True\n    __hash__ = object.__hash__\n"
        "def double(n):\n    return _Any()",
        "class _Int(int):\n    def __eq__(self, other): return True\n"
        "    __hash__ = int.__hash__\ntotal = _Int(7)"),
    # reads the judge's hidden-check source from its own process, its caller's frames and
    # its files, and raises with whatever it found (into the feedback, if it found any)
    "reads-hidden": (
        SCANNER + "\n_FOUND_AT_CELL = _scan_for_hidden()\n"
        "def double(n):\n"
        "    import sys, inspect\n"
        "    found = _scan_for_hidden() + _FOUND_AT_CELL\n"
        "    frames = [repr(f.frame.f_globals.get('__name__')) + str(f.code_context) "
        "for f in inspect.stack()]\n"
        "    if found:\n"
        "        raise RuntimeError('FOUND hidden source at ' + repr(found) + ' ' + repr(frames))\n"
        "    return 2 * n",
        "total = 6"),
}


@pytest.fixture(scope="module")
def judged(tmp_path_factory, sandbox):
    base = tmp_path_factory.mktemp("judge")
    notebooks = samples.write_labs(base)
    subs = base / "submissions"
    subs.mkdir()
    for name, (double, total) in ATTACKS.items():
        nb = samples.solved(notebooks)
        samples._set(nb, "def double", double)
        samples._set(nb, "total", total)
        (subs / f"{name}.ipynb").write_text(json.dumps(nb))
    (subs / "solved.ipynb").write_text(json.dumps(samples.solved(notebooks)))
    out = {}
    for mode in ("all", "partial"):
        out[mode] = base / f"out-{mode}"
        proc = samples.grade_cli(subs, out[mode], notebooks,
                                 *(["--partial"] if mode == "partial" else []))
        assert proc.returncode == 0, proc.stderr
    books = {}
    for mode, folder in out.items():
        with (folder / "gradebook.csv").open() as fh:
            books[mode] = {(r["student"], r["exercise"]): r for r in csv.DictReader(fh)}
    return {"books": books, "out": out}


FORGERS = ["patched-report", "redefined-checks", "forged-events-exit", "exits-when-judged",
           "forged-replies", "equal-to-all"]


@pytest.mark.parametrize("name", FORGERS)
def test_a_forged_pass_is_not_a_pass(judged, name):
    for exercise in ("ch42-double", "ch42-total"):
        row = judged["books"]["all"][(name, exercise)]
        assert row["status"] != "passed" and float(row["points"]) == 0, row
        assert "grader failed" not in row["detail"], row


@pytest.mark.parametrize("name", FORGERS)
def test_partial_credit_cannot_be_forged_either(judged, name):
    """--partial with a patched CheckReport.passed gave 3800/10 before the judge. Now each
    gets at most what its honest wrong answers earn: ``double`` adding 2 passes the public
    check double(2) == 4 and fails the hidden one (1 of 2 points); ``total = 7`` is a whole number but not 6 (1.5 of 3)."""
    for exercise, honest in (("ch42-double", 1.0), ("ch42-total", 1.5)):
        row = judged["books"]["partial"][(name, exercise)]
        assert float(row["points"]) <= honest and row["status"] != "passed", row


def test_the_solved_control_passes(judged):
    for exercise in ("ch42-double", "ch42-total"):
        assert judged["books"]["all"][("solved", exercise)]["status"] == "passed"


def test_hidden_source_never_reaches_the_sandbox(judged):
    """The learner's scan of its own memory, objects, frames and files (at cell time and
    while the judge calls it) finds no hidden check: its function answers, and passes."""
    row = judged["books"]["all"][("reads-hidden", "ch42-double")]
    assert row["status"] == "passed", row
    results = json.loads((judged["out"]["all"] / "results.json").read_text())
    mine = next(r for r in results if r["student"] == "reads-hidden")
    assert "FOUND" not in json.dumps(mine)
    for folder in judged["out"].values():
        for path in (folder / "feedback").glob("*.md"):
            text = path.read_text()
            assert "FOUND" not in text
            for a, b in HALVES:
                assert a + b not in text


def test_the_scanner_would_find_the_source_if_it_were_there(tmp_path):
    """Positive control: the same scan, in a process that holds the hidden text, finds it."""
    code = SCANNER + textwrap.dedent(f'''
        secret = "".join({list(HALVES[0])!r})
        import sys
        sys.exit(0 if "object" in _scan_for_hidden() and "memory" in _scan_for_hidden() else 1)
    ''')
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0
