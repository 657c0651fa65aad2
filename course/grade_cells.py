"""The lab side of grading: load the course's labs and rebuild a submission for grading
(the learner's cells, every check cell replaced by the instructor's original, hidden
checks after the public ones). Used by :mod:`course.grade`."""

from __future__ import annotations

import ast
import builtins
import sys
from pathlib import Path

from course.notebooks import (BEGIN, END, STUB, Lab, LabSourceError, discover_labs,
                              parse_lab, to_notebook)


__all__ = ['build_grading_cells', 'build_judge_steps', 'load_labs']

CHECK_TAGS = {"check", "hidden-check"}


# --------------------------------------------------------------------------- the lab side

def load_labs(notebooks: Path) -> dict[str, Lab]:
    labs = {}
    for source in discover_labs(notebooks):
        try:
            lab = parse_lab(source, notebooks)
        except LabSourceError as err:
            print(f"warning: skipping a lab source with errors: {err}", file=sys.stderr)
            continue
        labs[lab.name] = lab
    return labs


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def build_grading_cells(lab: Lab, learner_cells: list[dict]) -> tuple[list[dict], list[str]]:
    """The cells to run: the learner's, with the instructor's check cells put in place.

    Returns (cells, notes); each cell is ``{"source", "role", "exercise"}`` with role
    ``learner``, ``check`` or ``hidden-check``. Placement of an exercise's checks: where the
    learner's copy of its check cell was; if deleted, just before the learner's copy of the
    lab cell that followed the checks in the source; failing that, just after the copy of
    the cell before them; failing that, at the end.
    """
    student = to_notebook(lab, "student")["cells"]
    solution = to_notebook(lab, "solution")["cells"]
    # source cell index -> student cell id (hidden checks have no student cell)
    sid: dict[int, str] = {}
    j = 0
    for i, cell in enumerate(lab.cells):
        if "hidden-check" in cell.tags:
            continue
        sid[i] = student[j]["id"]
        j += 1
    original = {i: solution[i]["source"] for i in range(len(lab.cells))}
    check_ids = {sid[i] for i, c in enumerate(lab.cells) if "check" in c.tags}
    original_by_id = {sid[i]: original[i] for i, c in enumerate(lab.cells) if "check" in c.tags}

    notes: list[str] = []
    kept: list[dict] = []
    learner_check_at: dict[str, int] = {}  # exercise -> position in kept
    for cell in learner_cells:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") or {}
        tags = set(meta.get("tags") or []) if isinstance(meta.get("tags"), list) else set()
        cid = cell.get("id")
        if tags & CHECK_TAGS or cid in check_ids:
            ex = meta.get("exercise")
            if cid in check_ids:
                ex = lab.cells[[i for i, s in sid.items() if s == cid][0]].metadata["exercise"]
                if _source(cell).strip() != original_by_id[cid].strip():
                    notes.append(f"The check cell of {ex} was edited; it was graded with "
                                 "the original check cell.")
            if isinstance(ex, str):
                learner_check_at.setdefault(ex, len(kept))
            continue
        kept.append({"source": _source(cell), "role": "learner", "exercise": None,
                     "id": cid})
    position_of_id = {c["id"]: k for k, c in enumerate(kept) if c["id"]}

    # consecutive check cells of the source form blocks
    blocks: list[list[int]] = []
    for i, cell in enumerate(lab.cells):
        if CHECK_TAGS & set(cell.tags):
            if blocks and blocks[-1][-1] == i - 1:
                blocks[-1].append(i)
            else:
                blocks.append([i])
    placed: list[tuple[int, int, list[dict]]] = []
    for order, block in enumerate(blocks):
        exercises = [lab.cells[i].metadata["exercise"] for i in block]
        at = None
        for ex in exercises:
            if ex in learner_check_at:
                at = learner_check_at[ex]
                break
        else:
            for ex in dict.fromkeys(exercises):
                if not any("check" in lab.cells[i].tags for i in block
                           if lab.cells[i].metadata["exercise"] == ex):
                    continue
                notes.append(f"The check cell of {ex} was missing; the original was put back.")
        if at is None:
            for n in range(block[-1] + 1, len(lab.cells)):
                if sid.get(n) in position_of_id:
                    at = position_of_id[sid[n]]
                    break
        if at is None:
            for p in range(block[0] - 1, -1, -1):
                if sid.get(p) in position_of_id:
                    at = position_of_id[sid[p]] + 1
                    break
        if at is None:
            at = len(kept)
        cells = [{"source": original[i], "exercise": lab.cells[i].metadata["exercise"],
                  "role": "hidden-check" if "hidden-check" in lab.cells[i].tags else "check",
                  "id": None, "src": i} for i in block]
        placed.append((at, order, cells))
    placed.sort(key=lambda t: (t[0], t[1]))
    out: list[dict] = []
    k = 0
    for at, _, cells in placed:
        out.extend(kept[k:at])
        k = max(k, at)
        out.extend(cells)
    out.extend(kept[k:])
    return out, notes




# --------------------------------------------------------------------------- the judge's part

def _bound_names(tree: ast.AST) -> set[str]:
    """Names a top-level statement binds in the module's namespace."""
    out: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            stack.extend(node.decorator_list)   # not the body: its names are local
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            stack.extend(n.value for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    out.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.Global):
            out.update(node.names)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _changed_names(tree: ast.AST) -> set[str]:
    """Names whose value *tree* changes in place at top level: ``X[k] = v``, ``X.a = v``,
    ``X[k] += v``, ``X.update(...)`` (a learner who edits a structure the lab made)."""
    def base(node):
        while isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            break
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            targets = [node.func.value] if isinstance(node.func.value, (ast.Name, ast.Subscript,
                                                                         ast.Attribute)) else []
            targets = [ast.Subscript(value=t, slice=t) for t in targets]
        for t in targets:
            if isinstance(t, (ast.Subscript, ast.Attribute)) and base(t):
                out.add(base(t))
    return out


def _loaded_names(tree: ast.AST) -> set[str]:
    """The module-level names *tree* reads (in its own code or in functions, lambdas and
    comprehensions it defines, but not their local variables)."""
    import symtable
    try:
        table = symtable.symtable(ast.unparse(tree), "<cell>", "exec")
    except SyntaxError:
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    out: set[str] = set()
    stack = [table]
    while stack:
        t = stack.pop()
        for sym in t.get_symbols():
            if not sym.is_referenced():
                continue
            if t.get_type() == "module" or sym.is_global() or (
                    t.get_type() == "class" and not sym.is_free()):
                out.add(sym.get_name())
        stack.extend(t.get_children())
    # ``x += 1`` reads x too
    out |= {n.target.id for n in ast.walk(tree)
            if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    return out


def build_judge_steps(lab: Lab, cells: list[dict]) -> list[dict]:
    """What the judge runs for *lab*, in the source's order (see :mod:`course.judge`).

    Instructor cells (setup, knobs, and every check, public and hidden) run in the judge as
    the course wrote them. In a cell with a solution region, each top-level statement that
    touches the region is the learner's: the names it binds (in the solution and in the
    stub) are fetched from the sandbox; the cell's other statements run in the judge.

    The judge runs only what the checks need: going backwards from the checks, a
    statement of an instructor cell is kept when it is an import, binds a name a kept
    statement reads, or is anything but a plain definition (``def``, ``class``, ``name =
    value``) and reads such a name other than a builtin, a module or a function (a call, a
    loop or an assignment to an item or attribute may change it). A figure, a table or a
    run shown for the learner and used by no check is skipped."""
    at = {c["src"]: k for k, c in enumerate(cells) if c["role"] != "learner" and "src" in c}
    items: list[dict] = []   # statements: {"kind": run|bind|check, "source"|"names", ...}
    defined: set[str] = set(dir(builtins))   # names a statement cannot change by reading them
    instructor: set[str] = set()             # names the lab's own statements bind

    for i, cell in enumerate(lab.cells):
        if cell.kind != "code":
            continue
        if CHECK_TAGS & set(cell.tags):
            if i in at:
                items.append({"kind": "check", "source": cell.source, "cell": at[i]})
            continue
        lines = cell.source.splitlines()
        region: set[int] = set()   # 1-based lines inside a solution region, markers included
        stub: list[str] = []
        inside = False
        for n, line in enumerate(lines, start=1):
            bare = line.strip()
            if bare.startswith(BEGIN):
                inside = True
            if inside:
                region.add(n)
            if bare.startswith(END):
                inside = False
            if bare.startswith(STUB):
                region.add(n)
                indent = line[:len(line) - len(line.lstrip())]
                stub.append(indent + bare[len(STUB):].lstrip())
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:   # magics: the cell as one statement, always kept
            items.append({"kind": "run", "source": cell.source, "keep": True, "plain": False,
                          "binds": set(), "loads": set(), "src": i})
            continue
        for node in tree.body:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            span = set(range(first, (node.end_lineno or node.lineno) + 1))
            if span & region:
                names = _bound_names(node) | (_changed_names(node) - defined)
                # the lab's stateful objects the learner's code uses (an authorization
                # server, a store): the learner's code is given the judge's, as handles
                items.append({"kind": "bind", "names": names,
                              "inject": (_loaded_names(node) & instructor) - defined - names})
            else:
                plain = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                          ast.Import, ast.ImportFrom)) or (
                    isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
                        all(isinstance(x, (ast.Name, ast.Tuple, ast.List, ast.Starred))
                            for x in ast.walk(t) if isinstance(x, ast.expr))
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])))
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    defined.add(node.name)
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    defined.update(_bound_names(node))
                instructor.update(_bound_names(node))
                items.append({"kind": "run", "source": "\n".join(lines[first - 1:node.end_lineno]),
                              "binds": _bound_names(node), "loads": _loaded_names(node),
                              "plain": plain, "src": i,
                              "keep": isinstance(node, (ast.Import, ast.ImportFrom))})
        if stub:   # names a stub binds at top level (``### STUB answer = None``)
            try:
                names = set().union(*(_bound_names(n) for n in ast.parse(
                    "\n".join(x for x in stub if x == x.lstrip())).body))
            except SyntaxError:
                names = set()
            if names:
                items.append({"kind": "bind", "names": names})
    # backwards: what the checks need (again until nothing changes: a function may read a
    # name defined after it)
    needed: set[str] = set()
    kept: list[bool] = [False] * len(items)
    for item, n in zip(items, range(len(items))):
        if item["kind"] == "check":
            try:
                needed |= _loaded_names(ast.parse(item["source"]))
            except SyntaxError:
                pass
            kept[n] = True
        elif item["kind"] == "bind":
            kept[n] = True          # cheap: names only (and the learner's, always fetched)
    changed = True
    while changed:
        changed = False
        for j in range(len(items) - 1, -1, -1):
            item = items[j]
            if kept[j] or item["kind"] != "run":
                continue
            if item["keep"] or (item["binds"] & needed) or (
                    not item["plain"] and (item["loads"] - defined) & needed):
                kept[j] = changed = True
                needed |= item["loads"]
    steps: list[dict] = []
    for item, keep in zip(items, kept):
        if not keep:
            continue
        if item["kind"] == "check":
            steps.append({"kind": "run", "source": item["source"], "cell": item["cell"]})
        elif item["kind"] == "bind":
            if steps and steps[-1]["kind"] == "bind":
                steps[-1]["names"] = sorted(set(steps[-1]["names"]) | item["names"])
                steps[-1]["inject"] = sorted(set(steps[-1]["inject"]) | item.get("inject", set()))
            else:
                steps.append({"kind": "bind", "names": sorted(item["names"]),
                              "inject": sorted(item.get("inject", set()))})
        elif steps and steps[-1]["kind"] == "run" and steps[-1]["cell"] is None \
                and steps[-1]["src"] == item["src"]:   # one step per cell, as in a notebook
            steps[-1]["source"] += "\n" + item["source"]
        else:
            steps.append({"kind": "run", "source": item["source"], "cell": None,
                          "src": item["src"]})
    return steps
