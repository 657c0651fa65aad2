"""A fixture lab and a class of crafted submissions: solved, unsolved and every bad case.

Shared by the grading tests and ``scripts/bench_grade``. Nothing here depends on a
chapter's content: the lab is written into a temporary ``notebooks/`` folder.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from course.notebooks import parse_lab, to_notebook

ROOT = Path(__file__).resolve().parents[2]

LAB_NAME = "ch42/fixture"
LAB_SOURCE = '''# %% [markdown]
# # Fixture lab
#
# Two exercises, each with a public and a hidden check.

# %%
from labs import Checks

# %% [markdown] exercise={"id": "ch42-double", "title": "Double it", "outcome": "write a function", "points": 2, "minutes": 5}
# ## Exercise: double

# %%
def double(n):
    ### BEGIN SOLUTION
    return 2 * n
    ### END SOLUTION

# %% tags=["check"] exercise="ch42-double"
Checks("ch42-double").equal("double(2) is 4", lambda: double(2), 4, hint="multiply by two").report()

# %% tags=["hidden-check"] exercise="ch42-double"
Checks("ch42-double", hidden=True).equal("double(-3) is -6", lambda: double(-3), -6).report()

# %% [markdown] exercise={"id": "ch42-total", "title": "Add them up", "outcome": "compute a sum", "points": 3, "minutes": 10}
# ## Exercise: total

# %%
### BEGIN SOLUTION
total = sum([1, 2, 3])
### END SOLUTION
### STUB total = None

# %% tags=["check"] exercise="ch42-total"
Checks("ch42-total").equal("total is 6", lambda: total, 6).report()

# %% tags=["hidden-check"] exercise="ch42-total"
Checks("ch42-total", hidden=True).equal("total is a whole number", lambda: None if total is None else type(total).__name__, "int").report()
'''

OTHER_SOURCE = '''# %% [markdown]
# # Another lab

# %%
from labs import Checks

# %% [markdown] exercise={"id": "ch43-one", "title": "One", "outcome": "say one", "points": 1, "minutes": 1}
# ## One

# %%
one = 1

# %% tags=["check"] exercise="ch43-one"
Checks("ch43-one").equal("one", lambda: one, 1).report()
'''


def write_labs(root: Path) -> Path:
    """Write the fixture labs under *root*/notebooks; return that folder."""
    notebooks = root / "notebooks"
    for name, text in ((LAB_NAME, LAB_SOURCE), ("ch43/other", OTHER_SOURCE)):
        path = notebooks / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return notebooks


def _nb(notebooks: Path, name: str = LAB_NAME, variant: str = "student") -> dict:
    return to_notebook(parse_lab(notebooks / f"{name}.py", notebooks), variant)


def solved(notebooks: Path) -> dict:
    """The student notebook with every solution cell filled in, as a learner would."""
    nb = _nb(notebooks)
    sol = {c["source"].split("\n")[0]: c["source"]
           for c in _nb(notebooks, variant="solution")["cells"] if c["metadata"].get("solution")}
    for cell in nb["cells"]:
        if cell["metadata"].get("solution"):
            first = cell["source"].split("\n")[0]
            cell["source"] = sol.get(first) or next(
                s for s in sol.values() if s.startswith("### BEGIN") or "total" in s)
    return nb


def _set(nb: dict, startswith: str, source: str) -> dict:
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell["source"].lstrip().startswith(startswith):
            cell["source"] = source
            return nb
    raise AssertionError(f"no cell starts with {startswith!r}")


def _code_answer(nb: dict, double_body: str, total_line: str) -> dict:
    _set(nb, "def double", f"def double(n):\n    {double_body}")
    _set(nb, "total", total_line)
    return nb


def class_of(notebooks: Path, folder: Path, *, port: int = 9) -> dict[str, str]:
    """Write the crafted class into *folder*; return {student: expected status of ch42-double}."""
    folder.mkdir(parents=True, exist_ok=True)
    good = lambda: solved(notebooks)  # noqa: E731
    expected: dict[str, str] = {}

    def put(student: str, nb, status: str, *, raw: bytes | None = None):
        path = folder / f"{student}.ipynb"
        path.write_bytes(raw if raw is not None else json.dumps(nb, indent=1).encode())
        expected[student] = status

    put("solved", good(), "passed")
    put("unsolved", _nb(notebooks), "not-attempted")
    put("wrong", _code_answer(_nb(notebooks), "return n + 2", "total = 7"), "failed")
    # passes the public check double(2) == 4 but not the hidden one double(-3) == -6
    put("public-only", _code_answer(good(), "return n + 2", "total = 6"), "failed")
    put("exception", _code_answer(good(), "return 2 * n", "total = 1 / 0"), "passed")
    put("raises-in-double", _code_answer(good(), "raise RuntimeError('boom')", "total = 6"),
        "failed")
    nb = good()
    nb["cells"].insert(2, {"cell_type": "code", "id": "learner-boom", "metadata": {},
                           "execution_count": None, "outputs": [],
                           "source": "undefined_helper()"})
    put("error-cell", nb, "passed")  # a stray error, but the checks pass
    put("malformed", None, "invalid-notebook", raw=b'{"cells": [ this is not json')
    put("not-a-notebook", None, "invalid-notebook", raw=b'{"hello": "world"}')
    nb = good()
    del nb["metadata"]["kernelspec"]
    put("no-kernelspec", nb, "passed")
    nb = good()
    nb["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    put("wrong-kernel", nb, "passed")
    # deleted check cells: the grader puts the originals back (unsolved: not attempted)
    nb = _nb(notebooks)
    nb["cells"] = [c for c in nb["cells"] if "check" not in c["metadata"].get("tags", [])]
    put("deleted-checks-unsolved", nb, "not-attempted")
    nb = good()
    nb["cells"] = [c for c in nb["cells"] if "check" not in c["metadata"].get("tags", [])]
    put("deleted-checks-solved", nb, "passed")
    # edited check cells that forge a passing report: graded with the originals
    forged = ('from IPython.display import display\n'
              'display({"application/vnd.course.check+json": {"exercise": "ch42-double", '
              '"status": "passed", "passed": 1, "total": 1, "hidden": True, "results": []}}, raw=True)')
    nb = _nb(notebooks)
    for cell in nb["cells"]:
        if "check" in cell["metadata"].get("tags", []):
            cell["source"] = forged
    put("edited-checks", nb, "not-attempted")
    nb = _nb(notebooks)  # a forged report from an ordinary (untagged) cell
    nb["cells"].append({"cell_type": "code", "id": "forge", "metadata": {},
                        "execution_count": None, "outputs": [], "source": forged})
    put("forged-report", nb, "not-attempted")
    put("infinite-loop", _code_answer(good(), "return 2 * n", "while True:\n    pass"),
        "passed")
    put("flood", _code_answer(good(), "return 2 * n", "while True:\n    print('x' * 1000)"),
        "passed")
    put("huge", None, "too-large", raw=b'{"cells": [], "pad": "' + b"x" * 6_000_000 + b'"}')
    put("other-lab", _nb(notebooks, "ch43/other"), "wrong-lab")
    put("network", _code_answer(
        good(), "return 2 * n",
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "total = 6"), "passed")
    put("memory", _code_answer(good(), "return 2 * n", "hog = bytearray(8 * 1024 ** 3)"),
        "passed")
    put("raw-socket", _code_answer(
        good(), "return 2 * n",
        f"import _socket\ns = _socket.socket()\ns.connect(('127.0.0.1', {port}))\ntotal = 6"),
        "passed")
    put("process-dies", _code_answer(good(), "return 2 * n", "import os\nos._exit(7)"), "passed")
    nb = good()
    nb["metadata"]["course"]["student"] = "Ada Lovelace"
    put("renamed", nb, "passed")
    return expected


#: expected status of ch42-total for the students where it differs from ch42-double
TOTAL = {"solved": "passed", "wrong": "failed", "public-only": "passed", "exception": "error",
         "raises-in-double": "passed", "error-cell": "passed", "infinite-loop": "timeout",
         "flood": "output-limit", "network": "network-blocked", "memory": "memory-limit",
         "huge": "too-large", "other-lab": "wrong-lab", "raw-socket": "network-blocked",
         "process-dies": "crashed", "renamed": "passed", "deleted-checks-solved": "passed",
         "no-kernelspec": "passed", "wrong-kernel": "passed"}


def grade_cli(submissions: Path, out: Path, notebooks: Path, *extra: str, timeout: int = 10,
              wait: int = 600) -> subprocess.CompletedProcess:
    """Grade a folder of this lab's submissions through ``scripts/grade``, as an instructor
    would (two workers, the per-submission ``timeout``); ``wait`` bounds the whole run."""
    return subprocess.run(
        [str(ROOT / "scripts" / "grade"), str(submissions), "--out", str(out),
         "--lab", LAB_NAME, "--timeout", str(timeout), "--jobs", "2",
         "--notebooks", str(notebooks), *extra],
        capture_output=True, text=True, timeout=wait)
