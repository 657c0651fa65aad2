"""MkDocs hooks: the course's shortcodes, nav checks and vendored browser files.

Shortcodes (each fails the build with the page, the problem and the fix when misused):

* ``[[outline]]``: the eighteen chapters, published ones linked, the rest marked upcoming;
* ``[[lab chNN/name]]``: the "Open the lab" button for ``notebooks/chNN/name.py``;
* ``[[labs-index]]``: every lab of every published chapter, with its exercises;
* ``[[api-reference]]``: the ``labs`` API from its docstrings (see ``course/apiref.py``).

Why hooks rather than a plugin package: they live beside the content they serve and need
no install step (the pattern ``squidfunk/mkdocs-material`` uses for its own docs).
"""

from __future__ import annotations

import html
import posixpath
import re
import shutil
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # mkdocs loads hooks by path; make `course` importable
    sys.path.insert(0, str(ROOT))

from course.notebooks import LabSourceError, discover_labs, parse_lab  # noqa: E402
from course.outline import CHAPTERS  # noqa: E402
from course.clojure_blocks import page_markdown as mark_clojure_blocks  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
LAB_RE = re.compile(r"\[\[lab (?P<name>[^\]\s]+)\]\]")
SHORTCODE_RE = re.compile(r"\[\[\s*(?P<code>[a-z][a-z-]*)(?: [^\]]*)?\]\]", re.I)  # [[Lab x]] is refused, not shown
KNOWN_SHORTCODES = {"outline", "lab", "labs-index", "api-reference", "exercise-catalogue"}

#: files the site serves itself (from npm packages) so that nothing loads from a CDN
VENDOR = {
    "assets/vendor/mermaid/mermaid.min.js": "mermaid/dist/mermaid.min.js",
    "assets/vendor/scittle/scittle.js": "scittle/dist/scittle.js",  # Run buttons, lazily
}

_published: set[int] = set()


def _nav_pages(nav) -> list[str]:
    pages: list[str] = []
    for item in nav or []:
        if isinstance(item, str):
            pages.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                if isinstance(value, str):
                    pages.append(value)
                else:
                    pages.extend(_nav_pages(value))
    return pages


def on_config(config, **kwargs):
    docs = Path(config["docs_dir"])
    pages = _nav_pages(config["nav"])
    missing = [p for p in pages if not (docs / p).is_file()]
    if missing:
        raise PluginError(
            "mkdocs.yml lists page(s) in the nav that do not exist: "
            + ", ".join(f"docs/{p}" for p in missing)
            + ".\n  fix: write the page, or remove it from the nav (an unwritten chapter "
            "is shown as upcoming on the landing page without a nav entry)."
        )
    _published.clear()
    by_page = {c.page: c for c in CHAPTERS}
    for page in pages:
        if page.startswith("chapters/") and page != "chapters/index.md":
            if page not in by_page:
                raise PluginError(
                    f"mkdocs.yml nav lists {page}, which is not a chapter of the outline.\n"
                    "  fix: name chapter pages as in course/outline.py, e.g. "
                    f"{CHAPTERS[0].page}"
                )
            _published.add(by_page[page].number)
    return config


def _labs_of(number: int) -> list:
    folder = NOTEBOOKS / f"ch{number:02d}"
    if not folder.is_dir():
        return []
    return [parse_lab(p, NOTEBOOKS) for p in discover_labs(folder)]


def _md_link(target: str, page) -> str:
    """A Markdown link from *page* to the docs file *target*, so mkdocs validates it."""
    return posixpath.relpath(target, posixpath.dirname(page.file.src_uri) or ".")


def _outline(page) -> str:
    rows = ["| # | Chapter | What you will be able to do | Status |", "|---|---|---|---|"]
    for c in CHAPTERS:
        if c.number in _published:
            link = _md_link(c.page, page)
            title, status = f"[{c.title}]({link})", "ready"
        else:
            title, status = c.title, "*upcoming*"
        rows.append(f"| {c.number} | {title} | {c.promise} | {status} |")
    return "\n".join(rows)


def _lab_button(name: str, page) -> str:
    source = NOTEBOOKS / f"{name}.py"
    if not source.is_file():
        known = ", ".join(p.relative_to(NOTEBOOKS).with_suffix("").as_posix()
                          for p in discover_labs(NOTEBOOKS)) or "none yet"
        raise PluginError(
            f"docs/{page.file.src_uri}: [[lab {name}]] links to notebooks/{name}.py, "
            f"which does not exist.\n  fix: use one of the existing labs ({known}) or add "
            "the lab source."
        )
    try:
        lab = parse_lab(source, NOTEBOOKS)
    except LabSourceError as err:
        raise PluginError(str(err)) from None
    href = get_relative_url("lite/notebooks/index.html", page.url) + f"?path={name}.ipynb"
    title = html.escape(lab.title)
    return (
        f'<div class="lab-launch" data-lab="{html.escape(name)}">'
        f'<a class="md-button md-button--primary lab-button" href="{href}" '
        f'data-lab="{html.escape(name)}">Open the lab: {title}</a>'
        f'<span class="lab-note">Runs in your browser: Python in WebAssembly, nothing to install.'
        f"</span></div>"
    )


def _labs_index(page) -> str:
    out: list[str] = []
    for c in CHAPTERS:
        if c.number not in _published:
            continue
        labs = _labs_of(c.number)
        if not labs:
            continue
        link = _md_link(c.page, page)
        out.append(f"## {c.number}. {c.title}\n\nChapter: [{c.title}]({link})\n")
        for lab in labs:
            href = get_relative_url("lite/notebooks/index.html", page.url) + f"?path={lab.name}.ipynb"
            out.append(f'### {html.escape(lab.title)}\n\n<a class="md-button lab-button" '
                       f'href="{href}" data-lab="{lab.name}">Open the lab</a>\n')
            if lab.exercises:
                out.append("| Exercise | What it checks | Points | Minutes |\n|---|---|---|---|")
                for ex in lab.exercises:
                    out.append(f"| {ex.title} | {ex.outcome} | {ex.points} | {ex.minutes} |")
                out.append("")
    return "\n".join(out) or "No labs are published yet."


# Fenced code blocks and inline code: Clojure's `(let [[k v] pair] ...)` is code, not a shortcode.
CODE_RE = re.compile(r"^(?P<fence>[ \t]*(`{3,}|~{3,})).*?^(?P=fence)[ \t]*$|`[^`\n]+`", re.S | re.M)


def on_page_markdown(markdown: str, page, config, files, **kwargs):
    markdown = mark_clojure_blocks(markdown, page)  # Run buttons (course/clojure_blocks.py)
    for m in SHORTCODE_RE.finditer(CODE_RE.sub("", markdown)):
        if m.group("code") not in KNOWN_SHORTCODES:
            raise PluginError(
                f"docs/{page.file.src_uri}: unknown shortcode {m.group(0)!r}.\n"
                f"  fix: use one of {sorted(KNOWN_SHORTCODES)}, e.g. [[lab ch01/availability]]"
            )
    if "[[api-reference]]" in markdown:
        from course.apiref import render_reference
        markdown = markdown.replace("[[api-reference]]", render_reference())
    if "[[exercise-catalogue]]" in markdown:  # instructors' page (course/catalogue.py)
        from course.catalogue import render_catalogue
        markdown = markdown.replace("[[exercise-catalogue]]", render_catalogue(page))
    markdown = markdown.replace("[[outline]]", _outline(page))
    markdown = markdown.replace("[[labs-index]]", _labs_index(page))
    markdown = LAB_RE.sub(lambda m: _lab_button(m.group("name"), page), markdown)
    return markdown


def on_post_build(config, **kwargs):
    node_modules = ROOT / "node_modules"
    site = Path(config["site_dir"])
    for target, source in VENDOR.items():
        src = node_modules / source
        if not src.is_file():
            raise PluginError(
                f"{src} is missing, so the site cannot serve it itself.\n"
                "  fix: run `npm ci` in the project folder (scripts/install does it)."
            )
        dest = site / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
