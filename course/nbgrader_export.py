"""Export labs as nbgrader source notebooks, for instructors who grade with nbgrader.

Usage::

    python -m course.nbgrader_export [chNN/name ...] [--out nbgrader-course/source]

writes ``OUT/chNN/name.ipynb`` for each lab (all labs when none is named), so that each
chapter is an nbgrader *assignment*. In each notebook:

* a code cell with a solution region is an nbgrader solution cell; the region keeps the
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers nbgrader replaces with its stub
  (the course's ``### STUB`` lines are dropped: nbgrader writes its own);
* each exercise's checks become **one** autograded test cell worth the exercise's points,
  at the place of its (last) public check cell: the public checks, then the hidden checks
  between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. nbgrader grades by
  exceptions, so every check report is displayed and then asserted to have passed.

This matches the course's own rule (all of an exercise's checks pass: full points; else
none), so ``scripts/grade`` and nbgrader agree.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from course.notebooks import STUB, Lab, discover_labs, parse_lab, to_notebook

__all__ = ["export_lab", "asserting", "main"]

ROOT = Path(__file__).resolve().parent.parent
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def asserting(source: str, var: str = "_report") -> str:
    """*source* (a check cell ending with a report expression) made to raise on failure."""
    tree = ast.parse(source)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError("a check cell must end with the report expression, "
                         "e.g. Checks(...).equal(...).report()")
    last = tree.body[-1]
    lines = source.splitlines(keepends=True)
    offset = sum(len(l) for l in lines[:last.lineno - 1]) + len(
        lines[last.lineno - 1].encode()[:last.col_offset].decode())
    before, expr = source[:offset].rstrip(), ast.get_source_segment(source, last)
    return "\n".join(filter(None, [
        before,
        f"{var} = {expr}",
        "from IPython.display import display as _display",
        f"_display({var})",
        f'assert getattr({var}, "status", None) == "passed", str({var})',
    ]))


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": grade or not solution,
            "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = points
    return meta


def export_lab(lab: Lab) -> dict:
    """The nbgrader source notebook (nbformat JSON) of *lab*."""
    solution_nb = to_notebook(lab, "solution")
    sources = [c["source"] for c in solution_nb["cells"]]
    points = {ex.id: ex.points for ex in lab.exercises}
    public = {ex.id: [i for i, c in enumerate(lab.cells)
                      if "check" in c.tags and c.metadata["exercise"] == ex.id]
              for ex in lab.exercises}
    hidden = {ex.id: [i for i, c in enumerate(lab.cells)
                      if "hidden-check" in c.tags and c.metadata["exercise"] == ex.id]
              for ex in lab.exercises}
    cells = []
    n_solution = 0
    for i, cell in enumerate(lab.cells):
        base = dict(solution_nb["cells"][i])
        base["metadata"] = {k: v for k, v in base["metadata"].items() if k != "solution"}
        if cell.kind == "markdown":
            cells.append(base)
            continue
        ex = cell.metadata.get("exercise")
        if {"check", "hidden-check"} & set(cell.tags):
            if "check" not in cell.tags or i != public[ex][-1]:
                continue  # folded into the exercise's test cell
            body = "\n\n".join(asserting(sources[j], "_report") for j in public[ex])
            if hidden[ex]:
                body += "\n\n" + BEGIN_HIDDEN + "\n" + "\n\n".join(
                    asserting(sources[j], "_hidden_report") for j in hidden[ex]) + \
                    "\n" + END_HIDDEN
            base["source"] = body
            base["metadata"]["nbgrader"] = _meta(f"test-{ex}", solution=False, grade=True,
                                                 points=points[ex])
        elif cell.has_solution:
            n_solution += 1
            base["source"] = "\n".join(l for l in cell.source.splitlines()
                                       if not l.strip().startswith(STUB))
            base["metadata"]["nbgrader"] = _meta(f"solution-{n_solution}", solution=True,
                                                 grade=False)
        cells.append(base)
    meta = dict(solution_nb["metadata"])
    meta["kernelspec"] = KERNELSPEC
    meta["course"] = dict(meta["course"], variant="nbgrader-source")
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course.nbgrader_export",
                                description=__doc__.splitlines()[0])
    p.add_argument("labs", nargs="*", help="chNN/name (default: every lab)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "nbgrader" / "source")
    p.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    labs = {l.name: l for l in (parse_lab(s, args.notebooks)
                                for s in discover_labs(args.notebooks))}
    unknown = [n for n in args.labs if n not in labs]
    if unknown:
        print(f"unknown lab(s) {unknown}; the course has {sorted(labs)}", file=sys.stderr)
        return 2
    for name in args.labs or sorted(labs):
        path = args.out / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(export_lab(labs[name]), indent=1, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        print(f"{path}  ({len(labs[name].exercises)} graded exercise(s))")
    print(f"next: cd <course dir> && nbgrader generate_assignment <chNN> "
          f"(sources under {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
