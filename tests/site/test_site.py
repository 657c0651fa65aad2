"""The built site: strict pages, the outline, lab links, vendored files, and bad input."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from course.notebooks import discover_labs
from course.outline import CHAPTERS
from tests.conftest import ROOT

pytestmark = pytest.mark.site


def nav_chapters() -> list[str]:
    class Loader(yaml.SafeLoader):
        pass
    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda *a: None)
    Loader.add_constructor("!ENV", lambda *a: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    chapters = next(item["Chapters"] for item in config["nav"] if "Chapters" in item)
    return [p for p in chapters if p != "chapters/index.md"]


def test_every_nav_chapter_is_built(site):
    """Each chapter in the nav has its page in the site, with the standard's sections."""
    assert nav_chapters(), "no chapter is published"
    for page in nav_chapters():
        html = (site / page.replace(".md", "/index.html")).read_text()
        for section in ("What you will learn", "The problem", "The idea", "In Clojure",
                        "Try it in the lab", "Trade-offs and when not to", "Check yourself",
                        "Key takeaways"):
            assert section in html, f"{page} lacks the section {section!r}"


def test_landing_page_lists_all_eighteen_chapters(site):
    """The outline shows every chapter; unpublished ones are upcoming, not links."""
    html = (site / "index.html").read_text()
    published = {c.number for c in CHAPTERS if c.page in nav_chapters()}
    for c in CHAPTERS:
        assert c.title.replace("&", "&amp;") in html
        linked = f'href="chapters/{c.page[len("chapters/"):-3]}/"' in html
        assert linked == (c.number in published), c.title
    assert html.count("<td><em>upcoming</em></td>") == 18 - len(published)
    for c in CHAPTERS:
        if c.number not in published:
            assert not (site / c.page.replace(".md", "/index.html")).exists()


def test_every_lab_link_resolves_to_a_built_notebook(site):
    """Each "Open the lab" link points at a notebook the labs app serves."""
    links = []
    for page in site.rglob("*.html"):
        if "/lite/" in str(page):
            continue
        links += re.findall(r'href="([^"]*lite/notebooks/index\.html\?path=([^"]+))"', page.read_text())
    assert links, "no lab links found"
    for _href, path in links:
        assert (site / "lite" / "files" / path).is_file(), path
    for page in nav_chapters():
        html = (site / page.replace(".md", "/index.html")).read_text()
        assert 'class="md-button md-button--primary lab-button"' in html, page


def test_every_lab_is_in_the_labs_app(site):
    """Each lab source has its student notebook in the labs app, and no solution does."""
    for source in discover_labs(ROOT / "notebooks"):
        name = source.relative_to(ROOT / "notebooks").with_suffix(".ipynb")
        text = (site / "lite" / "files" / name).read_text()
        assert "BEGIN SOLUTION" not in text
        assert '"variant": "student"' in text


def test_site_serves_its_own_runtime_files(site):
    """Mermaid and Pyodide's core are files of the site; pages name no CDN."""
    assert (site / "assets/vendor/mermaid/mermaid.min.js").stat().st_size > 1_000_000
    from course.fingerprint import core_dir

    for name in ("pyodide.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"):
        assert (core_dir(site / "lite") / name).is_file()
    # anything the page *loads*: scripts, images, frames, stylesheets and preloads
    cdn = re.compile(r'(?:\ssrc="https?://|<link(?![^>]*rel="(?:canonical|alternate)")[^>]+href="https?://)')
    for page in site.glob("**/*.html"):
        if "/lite/" in str(page):
            continue
        assert not cdn.search(page.read_text()), page


# --- bad input: each fails the build with a message naming the file and the fix ---------

def copy_project(tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "mkdocs.yml"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("labs", "course", "notebooks", "docs"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "node_modules").symlink_to(ROOT / "node_modules")
    return dest


def mkdocs(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
                           str(project / "out")], cwd=project, capture_output=True, text=True)


def test_nav_chapter_without_a_page_fails_with_the_fix(tmp_path):
    """A chapter in the nav whose page is missing stops the build and says what to do."""
    project = copy_project(tmp_path)
    page = project / "docs" / nav_chapters()[0]
    page.unlink()
    result = mkdocs(project)
    assert result.returncode != 0
    assert f"docs/{nav_chapters()[0]}" in result.stderr
    assert "fix: write the page, or remove it from the nav" in result.stderr


def test_lab_link_to_a_missing_notebook_fails_with_the_fix(tmp_path):
    """[[lab ...]] naming a lab with no source stops the build and lists the real labs."""
    project = copy_project(tmp_path)
    page = project / "docs" / "start" / "how-the-labs-work.md"
    page.write_text(page.read_text() + "\n[[lab ch01/no-such-lab]]\n")
    result = mkdocs(project)
    assert result.returncode != 0
    assert "docs/start/how-the-labs-work.md" in result.stderr
    assert "notebooks/ch01/no-such-lab.py, which does not exist" in result.stderr
    assert "fix: use one of the existing labs" in result.stderr


def test_malformed_lab_source_fails_the_build_with_file_line_and_fix(tmp_path):
    """A lab source with a broken cell marker stops `course.build` at the notebooks step."""
    project = copy_project(tmp_path)
    bad = project / "notebooks" / "ch98" / "broken.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("# %% [markdown]\n# # Broken\n\n#%%\nprint('x')\n")
    result = subprocess.run([sys.executable, "-m", "course.build"], cwd=project,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{bad}:4: malformed cell marker" in result.stderr
    assert "fix: a cell starts with exactly '# %%'" in result.stderr
    assert "==> 3/5" not in result.stdout  # it stopped before building anything else


def test_api_reference_documents_every_public_name(site):
    """Each name in labs.__all__ has its own section on the generated reference page."""
    import labs

    html = (site / "reference" / "labs-api" / "index.html").read_text()
    for name in labs.__all__:
        assert f'id="{name}"' in html, name
