"""Every figure a chapter page quotes from its lab is what the lab produces at its defaults.

A page writes ``<span data-quote="LAB.KEY">2.3 s</span>``; the lab (``notebooks/chNN/LAB.py``)
records ``labs.quote("KEY", value, fmt)``. The span's text must equal the recorded text, so a
page cannot drift from its lab when the simulator or the lab changes.
"""

from __future__ import annotations

import html
import re

import pytest

from course.notebooks import discover_labs, parse_lab
from tests.conftest import ROOT

SPAN = re.compile(r'<span\s+data-quote="([^"]*)"[^>]*>(.*?)</span>', re.S)
PAGES = sorted((ROOT / "docs" / "chapters").glob("[0-9][0-9]-*.md"))
LABS = {lab.name: lab for lab in (parse_lab(p, ROOT / "notebooks")
                                  for p in discover_labs(ROOT / "notebooks"))}


def _quotes(page):
    return [(m.group(1), html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip(),
             page.read_text()[:m.start()].count("\n") + 1)
            for m in SPAN.finditer(page.read_text())]


def test_the_syntax_is_found():
    """The pattern finds a span written the documented way (so an empty result means none)."""
    assert SPAN.findall('x <span data-quote="lab.key_1">2.3 s</span> y') == [("lab.key_1", "2.3 s")]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_quoted_figures_match_the_lab(page, solution_run):
    chapter = page.name[:2]
    wrong = []
    for ref, text, line in _quotes(page):
        lab_name, _, key = ref.partition(".")
        lab = LABS.get(f"ch{chapter}/{lab_name}")
        if lab is None or not key:
            wrong.append(f"{page.name}:{line}: data-quote={ref!r} must be LAB.KEY with LAB one of "
                         f"{sorted(n.split('/')[1] for n in LABS if n.startswith('ch' + chapter))}")
            continue
        _, recorded = solution_run(lab)
        if key not in recorded:
            wrong.append(f"{page.name}:{line}: {lab.name} never records {key!r} with labs.quote() "
                         f"(it records {sorted(recorded)})")
        elif recorded[key] != text:
            wrong.append(f"{page.name}:{line}: the page says {text!r}, {lab.name} gives "
                         f"{recorded[key]!r} for {key!r}")
    assert wrong == []
