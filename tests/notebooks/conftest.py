"""Each lab's solution version is executed once per test session and shared by the tests
that read it (its checks, and the figures its chapter page quotes)."""

from __future__ import annotations

import json

import pytest

from course.execute import execute
from course.notebooks import to_notebook

QUOTES_MARK = "labs-quotes:"
# Appended to the executed copy only: it prints what the lab recorded with labs.quote().
_READ_QUOTES = ("import json as _json\n"
                "from labs.observe.quotes import recorded as _recorded\n"
                f"print({QUOTES_MARK!r} + _json.dumps(_recorded()))")

_RUNS: dict[str, tuple] = {}


def run_solution(lab):
    """(executed notebook without the extra cell, {quote key: text}) for *lab*'s solution."""
    if lab.name not in _RUNS:
        nb = to_notebook(lab, "solution")
        nb["cells"].append({"cell_type": "code", "id": "read-quotes", "metadata": {},
                            "source": _READ_QUOTES, "outputs": [], "execution_count": None})
        node = execute(nb)
        extra = node.cells.pop()
        text = "".join(o.get("text", "") for o in extra.get("outputs", []))
        line = next((ln for ln in text.splitlines() if ln.startswith(QUOTES_MARK)), None)
        quotes = json.loads(line[len(QUOTES_MARK):]) if line else {}
        _RUNS[lab.name] = (node, quotes)
    return _RUNS[lab.name]


@pytest.fixture(scope="session")
def solution_run():
    return run_solution
