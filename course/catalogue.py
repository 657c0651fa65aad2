"""The ``[[exercise-catalogue]]`` shortcode: every exercise of the course, from the sources.

The instructor page lists each exercise (chapter, id, title, outcome, points, estimated
time) with a link into the hosted lab. It is generated from ``notebooks/`` at build time,
so it cannot drift from the labs: add an exercise to a lab source and it appears here.
"""

from __future__ import annotations

import html
from pathlib import Path

from course.notebooks import LabSourceError, discover_labs, parse_lab
from course.outline import CHAPTERS

__all__ = ["render_catalogue", "exercises"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def exercises(notebooks: Path = NOTEBOOKS) -> list:
    """(lab, exercise) pairs of every lab source, in chapter and source order."""
    pairs = []
    for source in discover_labs(notebooks):
        lab = parse_lab(source, notebooks)
        pairs.extend((lab, ex) for ex in lab.exercises)
    return pairs


def _cell(text) -> str:
    return html.escape(str(text)).replace("|", "&#124;")


def render_catalogue(page, notebooks: Path = NOTEBOOKS) -> str:
    """A Markdown table of every exercise, with totals; links relative to *page*."""
    try:
        pairs = exercises(notebooks)
    except LabSourceError as err:
        from mkdocs.exceptions import PluginError
        raise PluginError(str(err)) from None
    if not pairs:
        return "*No exercises yet: the labs are being written.*"
    from mkdocs.utils import get_relative_url
    lite = get_relative_url("lite/notebooks/index.html", page.url) if page is not None else \
        "lite/notebooks/index.html"
    titles = {c.number: c.title for c in CHAPTERS}
    rows = ["| Chapter | Lab | Id | Exercise | Outcome | Points | Minutes |",
            "|---|---|---|---|---|--:|--:|"]
    for lab, ex in pairs:
        chapter = f"{lab.chapter}. {titles[lab.chapter]}" if lab.chapter in titles else \
            str(lab.chapter)
        link = (f'<a href="{lite}?path={html.escape(lab.name)}.ipynb" '
                f'data-lab="{html.escape(lab.name)}">{_cell(lab.title)}</a>')
        rows.append(f"| {_cell(chapter)} | {link} | `{ex.id}` | {_cell(ex.title)} | "
                    f"{_cell(ex.outcome)} | {ex.points} | {ex.minutes} |")
    labs = {lab.name for lab, _ in pairs}
    points = sum(ex.points for _, ex in pairs)
    minutes = sum(ex.minutes for _, ex in pairs)
    rows.append("")
    rows.append(f"{len(pairs)} exercises in {len(labs)} labs: {points} points, "
                f"about {minutes // 60} h {minutes % 60:02d} min of work.")
    return "\n".join(rows)
