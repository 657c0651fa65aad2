"""Lab sources → student and solution notebooks.

One source per lab, in the *percent* format (a plain ``.py`` file that reads well in any
editor and diffs cleanly). Every other form of the lab is generated from it:

* the **student** notebook: solutions replaced by stubs, hidden checks removed. It is the
  one published on the site and handed out in assignment packs;
* the **solution** notebook: solutions in place, public *and* hidden checks. It never goes
  on the public site; CI executes it and instructors grade with it.

The grammar, on purpose small enough to give precise errors::

    # %% [markdown]                         a Markdown cell; each line starts with "# "
    # %%                                    a code cell
    # %% tags=["check"] exercise="ch01-x"   metadata: key=<JSON value> pairs
    # %% [markdown] exercise={"id": "ch01-x", "title": "…", "outcome": "…", "points": 2, "minutes": 10}

Inside code cells, a solution is a region::

    ### BEGIN SOLUTION
    answer = 42
    ### END SOLUTION
    ### STUB answer = None

The student version drops the region and keeps the ``### STUB`` lines (without the
prefix); with no stub lines it gets ``...`` so that the cell still runs. Cells tagged
``hidden-check`` exist only in the solution version. Cells tagged ``check`` stay in both.

Why our own parser rather than jupytext: a learner-facing build must fail with the file,
the line and the fix, and must never silently turn a typo in a marker into prose.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Cell",
    "Exercise",
    "Lab",
    "LabSourceError",
    "parse_lab",
    "to_notebook",
    "discover_labs",
]

CELL_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
LOOKS_LIKE_MARKER = re.compile(r"^\s*#\s*%\s*%|^#%%|^# %(?!%)")
KEY = re.compile(r"\s*(?P<key>[A-Za-z_][A-Za-z0-9_-]*)=")
BEGIN, END, STUB = "### BEGIN SOLUTION", "### END SOLUTION", "### STUB"
KNOWN_TAGS = {"check", "hidden-check", "setup", "knob"}
EXERCISE_KEYS = {"id", "title", "outcome", "points", "minutes"}
KERNELSPEC = {"display_name": "Python (Pyodide)", "language": "python", "name": "python"}


class LabSourceError(ValueError):
    """A lab source that cannot become a notebook; the message names file, line and fix."""

    def __init__(self, path: Path | str, line: int, problem: str, fix: str):
        self.path, self.line, self.problem, self.fix = str(path), line, problem, fix
        super().__init__(f"{path}:{line}: {problem}\n  fix: {fix}")


@dataclass(frozen=True)
class Exercise:
    """An exercise a learner does and an instructor grades."""

    id: str
    title: str
    outcome: str
    points: int
    minutes: int
    lab: str  # lab path relative to notebooks/, e.g. "ch01/availability"
    line: int


@dataclass
class Cell:
    kind: str  # "code" or "markdown"
    source: str
    line: int  # line of the marker in the source file (1-based)
    metadata: dict = field(default_factory=dict)

    @property
    def tags(self) -> list[str]:
        return list(self.metadata.get("tags", []))

    @property
    def has_solution(self) -> bool:
        return self.kind == "code" and BEGIN in self.source


@dataclass
class Lab:
    path: Path
    name: str  # e.g. "ch01/availability"
    cells: list[Cell]
    exercises: list[Exercise]

    @property
    def chapter(self) -> int:
        m = re.match(r"ch(\d\d)", self.name)
        return int(m.group(1)) if m else 0

    @property
    def title(self) -> str:
        for cell in self.cells:
            if cell.kind == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("# "):
                        return line[2:].strip()
        return self.name


def discover_labs(root: Path) -> list[Path]:
    """Every lab source under *root* (``notebooks/``), in a stable order."""
    return sorted(p for p in root.rglob("*.py") if not p.name.startswith("_"))


def _parse_metadata(text: str, path: Path, line: int) -> dict:
    meta: dict = {}
    pos = 0
    decoder = json.JSONDecoder()
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = KEY.match(text, pos)
        if not m:
            raise LabSourceError(
                path, line, f"cannot read cell metadata at {text[pos:].strip()!r}",
                'write metadata as key=<JSON value>, e.g. tags=["check"] exercise="ch01-x"',
            )
        key = m.group("key")
        try:
            value, end = decoder.raw_decode(text, m.end())
        except json.JSONDecodeError as err:
            raise LabSourceError(
                path, line, f"the value of {key!r} is not valid JSON ({err.msg})",
                'quote strings with double quotes and lists as ["a", "b"]',
            ) from None
        meta[key] = value
        pos = end
    return meta


META_KEYS = {"tags", "exercise"}
# Anything that looks like a solution marker but is not exactly one: a typo here would
# publish the solution (the region would be copied to the student version as plain code).
NEAR_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)[\s_-]*SOLUTION\b|^\s*#+\s*STUB\b", re.I)
NEAR_LAB_LINK = re.compile(r"\[\[\s*lab\b", re.I)


def _check_metadata(meta: dict, kind: str, path: Path, line: int) -> None:
    unknown_keys = sorted(set(meta) - META_KEYS)
    if unknown_keys:
        raise LabSourceError(
            path, line, f"unknown cell metadata {unknown_keys}",
            f"use only {sorted(META_KEYS)} (e.g. tags=[\"hidden-check\"], not tag=)",
        )
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise LabSourceError(path, line, "tags must be a list of strings", 'write tags=["check"]')
    unknown = sorted(set(tags) - KNOWN_TAGS)
    if unknown:
        raise LabSourceError(
            path, line, f"unknown tag(s) {unknown}", f"use one of {sorted(KNOWN_TAGS)}"
        )
    if {"check", "hidden-check"} & set(tags):
        if kind != "code":
            raise LabSourceError(path, line, "a check cell must be code", "remove [markdown]")
        if not isinstance(meta.get("exercise"), str):
            raise LabSourceError(
                path, line, "a check cell must name its exercise",
                'add exercise="<id of the exercise it checks>" to the marker',
            )


def parse_lab(path: Path, root: Path | None = None) -> Lab:
    """Parse a lab source into cells and exercises, or raise :class:`LabSourceError`."""
    path = Path(path).resolve()
    if not path.is_file():
        raise LabSourceError(path, 0, "lab source not found", "check the path under notebooks/")
    if root is not None and Path(root).resolve() not in path.parents:
        raise LabSourceError(path, 0, f"lab source is not under {root}",
                             "put lab sources in notebooks/chNN/<name>.py")
    name = path.relative_to(Path(root).resolve()).with_suffix("").as_posix() if root else path.stem
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise LabSourceError(path, 0, f"the file is not UTF-8 ({err.reason} at byte {err.start})",
                             "save the lab source as UTF-8") from None
    cells: list[Cell] = []
    current: Cell | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if current.kind == "markdown":
            text = []
            for offset, raw in enumerate(body):
                if raw == "#":
                    text.append("")
                elif raw.startswith("# "):
                    text.append(raw[2:])
                else:
                    raise LabSourceError(
                        path, current.line + 1 + offset,
                        f"line {raw[:40]!r} in a Markdown cell does not start with '# '",
                        "prefix every Markdown line with '# ', or start a code cell with '# %%'",
                    )
            current.source = "\n".join(text)
        else:
            current.source = "\n".join(body)
        cells.append(current)

    for number, raw in enumerate(lines, start=1):
        m = CELL_MARKER.match(raw)
        if m:
            close()
            rest = m.group("rest")
            kind = "code"
            if rest.startswith(" [markdown]"):
                kind, rest = "markdown", rest[len(" [markdown]"):]
            elif rest.lstrip().startswith("["):
                raise LabSourceError(
                    path, number, f"unknown cell type in {raw!r}",
                    "use '# %% [markdown]' for prose or '# %%' for code",
                )
            elif rest and not rest.startswith(" "):
                raise LabSourceError(
                    path, number, f"malformed cell marker {raw!r}",
                    "write '# %%' followed by a space before any metadata",
                )
            meta = _parse_metadata(rest, path, number)
            _check_metadata(meta, kind, path, number)
            current, body = Cell(kind, "", number, meta), []
        elif LOOKS_LIKE_MARKER.match(raw):
            raise LabSourceError(
                path, number, f"malformed cell marker {raw!r}",
                "a cell starts with exactly '# %%' at the start of the line",
            )
        else:
            stripped = raw.strip()
            if NEAR_MARKER.match(raw) and stripped not in (BEGIN, END) and not stripped.startswith(STUB + " ") \
                    and stripped != STUB:
                raise LabSourceError(
                    path, number, f"{stripped!r} looks like a solution marker but is not one",
                    f"write exactly {BEGIN!r}, {END!r} or '{STUB} <code>' (three '#', upper case)",
                )
            if NEAR_LAB_LINK.search(raw) and not re.search(r"\[\[lab ch\d\d/[\w-]+\]\]", raw):
                raise LabSourceError(
                    path, number, f"{stripped[:60]!r} looks like a lab link but is not one",
                    "write [[lab chNN/name]] exactly, or remove the brackets",
                )
            if current is None:
                if raw.strip():
                    raise LabSourceError(
                        path, number, "text before the first cell marker",
                        "start the file with '# %% [markdown]' and the lab's title",
                    )
                continue
            body.append(raw)
    close()
    if not cells:
        raise LabSourceError(path, 1, "no cells", "start the file with '# %% [markdown]'")
    for cell in cells:
        if cell.kind == "code":
            _split_solution(cell, path)  # validates region markers
    exercises = _exercises(cells, path, name)
    return Lab(path, name, cells, exercises)


def _exercises(cells: list[Cell], path: Path, name: str) -> list[Exercise]:
    found: dict[str, Exercise] = {}
    for cell in cells:
        spec = cell.metadata.get("exercise")
        if cell.kind != "markdown" or spec is None:
            continue
        if not isinstance(spec, dict):
            raise LabSourceError(
                path, cell.line, "exercise metadata on a Markdown cell must be an object",
                'write exercise={"id": "ch01-x", "title": "…", "outcome": "…", "points": 2, "minutes": 10}',
            )
        missing = sorted(EXERCISE_KEYS - set(spec))
        if missing:
            raise LabSourceError(path, cell.line, f"exercise is missing {missing}",
                                 f"give every exercise all of {sorted(EXERCISE_KEYS)}")
        if not re.fullmatch(r"ch\d\d-[a-z0-9-]+", str(spec["id"])):
            raise LabSourceError(path, cell.line, f"exercise id {spec['id']!r} is not stable-looking",
                                 "use 'chNN-short-name', lowercase, e.g. 'ch01-chain-availability'")
        if spec["id"] in found:
            raise LabSourceError(path, cell.line, f"exercise id {spec['id']!r} used twice",
                                 "give each exercise its own id")
        for key in ("points", "minutes"):
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise LabSourceError(path, cell.line,
                                     f"{key} must be a positive whole number, got {value!r}",
                                     f'write "{key}": 2')
        for key in ("title", "outcome"):
            if not isinstance(spec[key], str) or not spec[key].strip():
                raise LabSourceError(path, cell.line, f"{key} must be a non-empty string",
                                     f'write "{key}": "…" in plain words')
        found[spec["id"]] = Exercise(
            spec["id"], spec["title"], spec["outcome"], spec["points"], int(spec["minutes"]),
            name, cell.line)
    ids = set(found)
    for cell in cells:
        if {"check", "hidden-check"} & set(cell.tags) and cell.metadata["exercise"] not in ids:
            raise LabSourceError(
                path, cell.line, f"check cell names unknown exercise {cell.metadata['exercise']!r}",
                f"use one of {sorted(ids) or 'the ids declared on exercise Markdown cells'}",
            )
    for ex in found.values():
        if not any(c.metadata.get("exercise") == ex.id and "check" in c.tags for c in cells):
            raise LabSourceError(path, ex.line, f"exercise {ex.id!r} has no public check cell",
                                 f'add a cell "# %% tags=[\\"check\\"] exercise=\\"{ex.id}\\""')
    return list(found.values())


def _split_solution(cell: Cell, path: Path) -> tuple[str, str]:
    """Return (student_source, solution_source) for a code cell."""
    student: list[str] = []
    solution: list[str] = []
    inside: int | None = None
    region_indent = ""
    region_stub: list[str] = []
    pending_stub: list[str] | None = None
    for offset, raw in enumerate(cell.source.splitlines()):
        number = cell.line + 1 + offset
        stripped = raw.strip()
        if stripped == BEGIN:
            if inside is not None:
                raise LabSourceError(path, number, "BEGIN SOLUTION inside another solution",
                                     f"close the region opened at line {inside} with {END!r}")
            inside, region_indent, region_stub = number, raw[: len(raw) - len(raw.lstrip())], []
            continue
        if stripped == END:
            if inside is None:
                raise LabSourceError(path, number, "END SOLUTION without a BEGIN",
                                     f"open the region with {BEGIN!r}")
            inside = None
            pending_stub = region_stub
            student.append(None)  # type: ignore[arg-type]  # placeholder, filled below
            continue
        if stripped.startswith(STUB):
            if inside is not None or pending_stub is None:
                raise LabSourceError(path, number, "### STUB line not right after a solution region",
                                     f"put stub lines directly after {END!r}")
            pending_stub.append(raw.replace(STUB + " ", "", 1).replace(STUB, "", 1))
            continue
        if re.match(r"###\s*(BEGIN|END|STUB)\b|###.*SOLUTI", stripped, re.I):
            raise LabSourceError(path, number, f"malformed solution marker {stripped!r}",
                                 f"write exactly {BEGIN!r} and {END!r}")
        if pending_stub is not None:
            _fill_stub(student, pending_stub, region_indent)
            pending_stub = None
        if inside is not None:
            solution.append(raw)
        else:
            student.append(raw)
            solution.append(raw)
    if inside is not None:
        raise LabSourceError(path, inside, "solution region never closed", f"add {END!r}")
    if pending_stub is not None:
        _fill_stub(student, pending_stub, region_indent)
    return "\n".join(student), "\n".join(solution)


def _fill_stub(student: list, stub: list[str], indent: str) -> None:
    at = student.index(None)
    lines = stub or [f"{indent}# Your code here.", f"{indent}..."]
    student[at:at + 1] = lines


def _cell_id(lab: str, index: int, variant: str) -> str:
    return hashlib.sha1(f"{lab}:{variant}:{index}".encode()).hexdigest()[:12]


def to_notebook(lab: Lab, variant: str) -> dict:
    """The nbformat-4.5 JSON of *lab* for *variant* ``"student"`` or ``"solution"``."""
    if variant not in ("student", "solution"):
        raise ValueError(f"variant must be 'student' or 'solution', not {variant!r}")
    cells = []
    for cell in lab.cells:
        tags = cell.tags
        if variant == "student" and "hidden-check" in tags:
            continue
        meta: dict = {}
        if tags:
            meta["tags"] = tags
        if "exercise" in cell.metadata:
            ex = cell.metadata["exercise"]
            meta["exercise"] = ex if isinstance(ex, str) else ex["id"]
        if cell.kind == "markdown":
            source = cell.source
        else:
            student, solution = _split_solution(cell, lab.path)
            source = student if variant == "student" else solution
            if cell.has_solution:
                meta["solution"] = True
        nb_cell = {"cell_type": cell.kind, "id": _cell_id(lab.name, len(cells), variant),
                   "metadata": meta, "source": source}
        if cell.kind == "code":
            nb_cell |= {"execution_count": None, "outputs": []}
        cells.append(nb_cell)
    body = json.dumps(cells, sort_keys=True)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": KERNELSPEC,
            "language_info": {"name": "python"},
            "course": {
                "lab": lab.name,
                "title": lab.title,
                "variant": variant,
                # changes whenever the published content changes; the site uses it to
                # notice that a learner's saved copy is older than the course
                "version": hashlib.sha256(body.encode()).hexdigest()[:16],
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
