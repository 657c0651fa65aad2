"""The lab side of grading: load the course's labs and rebuild a submission for grading
(the learner's cells, every check cell replaced by the instructor's original, hidden
checks after the public ones). Used by :mod:`course.grade`."""

from __future__ import annotations

import sys
from pathlib import Path

from course.notebooks import Lab, LabSourceError, discover_labs, parse_lab, to_notebook


__all__ = ['build_grading_cells', 'load_labs']

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
                  "id": None} for i in block]
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


