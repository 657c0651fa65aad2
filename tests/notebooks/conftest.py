"""Each lab's solution and student versions are executed once per test session, two kernels
at a time (CI has two cores), and shared by the tests that read them: the checks, and the
figures a chapter page quotes."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from course.execute import execute
from course.notebooks import discover_labs, parse_lab, to_notebook
from tests.conftest import ROOT

QUOTES_MARK = "labs-quotes:"
# Appended to the executed solution copy only: it prints what the lab recorded with labs.quote().
_READ_QUOTES = ("import json as _json\n"
                "from labs.observe.quotes import recorded as _recorded\n"
                f"print({QUOTES_MARK!r} + _json.dumps(_recorded()))")
WORKERS = max(1, min(2, os.cpu_count() or 1))

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_futures: dict[tuple[str, str], object] = {}


def _run(lab, variant: str):
    """(executed notebook, quotes) of *lab*'s *variant*; the quote cell is removed again."""
    nb = to_notebook(lab, variant)
    if variant == "solution":
        nb["cells"].append({"cell_type": "code", "id": "read-quotes", "metadata": {},
                            "source": _READ_QUOTES, "outputs": [], "execution_count": None})
    node = execute(nb)
    quotes: dict = {}
    if variant == "solution":
        extra = node.cells.pop()
        text = "".join(o.get("text", "") for o in extra.get("outputs", []))
        line = next((ln for ln in text.splitlines() if ln.startswith(QUOTES_MARK)), None)
        quotes = json.loads(line[len(QUOTES_MARK):]) if line else {}
    return node, quotes


def _start_all():
    """Queue every lab's solution, then every student version, on the pool (once)."""
    global _pool
    with _lock:
        if _pool is not None:
            return
        _pool = ThreadPoolExecutor(max_workers=WORKERS)
        labs = [parse_lab(p, ROOT / "notebooks") for p in discover_labs(ROOT / "notebooks")]
        for variant in ("solution", "student"):
            for lab in labs:
                _futures[(lab.name, variant)] = _pool.submit(_run, lab, variant)


def run_lab(lab, variant: str = "solution"):
    """(executed notebook, {quote key: text}) for *lab*'s *variant* (quotes: solution only)."""
    _start_all()
    key = (lab.name, variant)
    with _lock:
        if key not in _futures:   # a lab not under notebooks/ (a test's own fixture)
            _futures[key] = _pool.submit(_run, lab, variant)
    return _futures[key].result()


@pytest.fixture(scope="session")
def solution_run():
    return lambda lab: run_lab(lab, "solution")


@pytest.fixture(scope="session")
def student_run():
    return lambda lab: run_lab(lab, "student")


def pytest_sessionfinish(session, exitstatus):
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
