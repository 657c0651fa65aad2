"""Execute generated notebooks in CPython with nbclient, and read their check reports.

This is how CI proves that every lab runs: the solution version must run with no error
and every check passing; the student version must run top to bottom without crashing,
with its checks saying "not yet" (a learner who runs an untouched lab sees guidance, not a
traceback). The grader reuses :func:`check_reports` to read results.

Run one lab by hand::

    python -m course.execute notebooks/ch01/availability.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course.notebooks import parse_lab, to_notebook

__all__ = ["execute", "check_reports", "errors", "main"]

ROOT = Path(__file__).resolve().parent.parent
CHECK_MIME = "application/vnd.course.check+json"


def execute(nb: dict, *, timeout: int = 120, cwd: Path = ROOT, allow_errors: bool = False):
    """Run *nb* (nbformat JSON) in a CPython kernel; return the executed notebook node."""
    node = nbformat.from_dict(nb)
    client = NotebookClient(
        node, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return node


def check_reports(node) -> list[dict]:
    """Every check report displayed by the notebook, in order."""
    found = []
    for cell in node.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if CHECK_MIME in data:
                found.append(dict(data[CHECK_MIME]))
    return found


def errors(node) -> list[str]:
    """Error outputs (ename: evalue) of an executed notebook."""
    return [f"{o['ename']}: {o['evalue']}" for c in node.cells for o in c.get("outputs", [])
            if o.get("output_type") == "error"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="lab sources under notebooks/")
    args = parser.parse_args(argv)
    failed = False
    for source in args.sources:
        lab = parse_lab(source, ROOT / "notebooks")
        for variant in ("solution", "student"):
            start = time.perf_counter()
            try:
                node = execute(to_notebook(lab, variant))
            except CellExecutionError as err:
                print(f"{lab.name} [{variant}]: ERROR\n{err}")
                failed = True
                continue
            reports = check_reports(node)
            took = time.perf_counter() - start
            statuses = [f"{r['exercise']}{'(hidden)' if r['hidden'] else ''}={r['status']}"
                        for r in reports]
            print(f"{lab.name} [{variant}] ran in {took:.1f}s; checks: {', '.join(statuses)}")
            want = "passed" if variant == "solution" else "not-yet"
            wrong = [r for r in reports if r["status"] != want]
            if wrong or (lab.exercises and not reports):
                print(f"  expected every check to be {want!r}: {wrong or 'no check reports'}")
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
