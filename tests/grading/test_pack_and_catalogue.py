"""Assignment packs and the instructors' exercise catalogue, on fixture labs."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from course import pack
from course.catalogue import render_catalogue
from tests.grading import samples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    return samples.write_labs(tmp_path_factory.mktemp("labs"))


def test_pack_by_chapter_through_the_script(notebooks, tmp_path):
    proc = subprocess.run([str(ROOT / "scripts" / "pack"), "--chapters", "42", "--out",
                           str(tmp_path), "--notebooks", str(notebooks),
                           "--site-url", "http://10.0.0.5:8000"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "chapters-42"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["README.md", "hidden-checks/ch42/fixture.json", "pack.json",
                     "solution/ch42/fixture.ipynb", "student/ch42/fixture.ipynb"]
    student = (folder / "student/ch42/fixture.ipynb").read_text()
    solution = (folder / "solution/ch42/fixture.ipynb").read_text()
    assert "2 * n" not in student and "hidden=True" not in student
    assert "2 * n" in solution and "hidden=True" in solution
    hidden = json.loads((folder / "hidden-checks/ch42/fixture.json").read_text())
    assert set(hidden["exercises"]) == {"ch42-double", "ch42-total"}
    assert "double(-3)" in hidden["exercises"]["ch42-double"]["hidden"][0]
    readme = (folder / "README.md").read_text()
    assert ("http://10.0.0.5:8000/lite/notebooks/index.html?path=ch42/fixture.ipynb"
            in readme)
    assert "`ch42-double`" in readme and "Total: 5 points." in readme
    assert "hidden=True" not in readme and "2 * n" not in readme
    with zipfile.ZipFile(tmp_path / "chapters-42.zip") as zf:
        names = zf.namelist()
        assert names == sorted(names) and names == [f"chapters-42/{f}" for f in files]
        assert {i.date_time for i in zf.infolist()} == {pack.ZIP_TIME}


def test_pack_by_exercise_and_default_site(notebooks, tmp_path):
    folder = pack.make_pack(tmp_path, exercises=["ch43-one", "ch42-total"], notebooks=notebooks)
    manifest = json.loads((folder / "pack.json").read_text())
    assert [l["lab"] for l in manifest["labs"]] == ["ch42/fixture", "ch43/other"]
    assert [e["id"] for e in manifest["labs"][0]["exercises"]] == ["ch42-total"]
    assert "http://127.0.0.1:8000/lite/notebooks/index.html?path=ch43/other.ipynb" in (
        folder / "README.md").read_text()


def test_pack_zip_is_reproducible(notebooks, tmp_path):
    a = pack.make_pack(tmp_path / "a", chapters=[42, 43], notebooks=notebooks, name="p")
    b = pack.make_pack(tmp_path / "b", chapters=[42, 43], notebooks=notebooks, name="p")
    za, zb = (a.parent / "p.zip").read_bytes(), (b.parent / "p.zip").read_bytes()
    assert za == zb and len(za) > 1000


@pytest.mark.parametrize("kwargs, message", [
    ({"exercises": ["ch42-nope"]}, "unknown exercise"),
    ({"chapters": [5]}, "no labs in chapter"),
    ({}, "choose --chapters"),
])
def test_pack_refuses_bad_selections(notebooks, tmp_path, kwargs, message):
    with pytest.raises(pack.PackError, match=message):
        pack.make_pack(tmp_path, notebooks=notebooks, **kwargs)


class _Page:
    url = "instructors/"


def test_catalogue_lists_every_exercise_from_the_sources(notebooks):
    table = render_catalogue(_Page(), notebooks)
    rows = [l for l in table.splitlines() if l.startswith("| ") and "`ch" in l]
    assert [r.split("`")[1] for r in rows] == ["ch42-double", "ch42-total", "ch43-one"]
    assert "| Double it | write a function | 2 | 5 |" in rows[0]
    assert 'href="../lite/notebooks/index.html?path=ch42/fixture.ipynb"' in rows[0]
    assert "3 exercises in 2 labs: 6 points" in table
    # a new exercise in a source appears without touching the page
    src = notebooks / "ch43" / "other.py"
    text = src.read_text()
    try:
        src.write_text(text + '\n# %% [markdown] exercise={"id": "ch43-two", "title": "Two", '
                       '"outcome": "say two", "points": 4, "minutes": 3}\n# ## Two\n\n# %%\n'
                       'two = 2\n\n# %% tags=["check"] exercise="ch43-two"\n'
                       'Checks("ch43-two").equal("two", lambda: two, 2).report()\n')
        assert "`ch43-two`" in render_catalogue(_Page(), notebooks)
    finally:
        src.write_text(text)


def test_built_instructors_page_has_the_catalogue(site, root):
    from course.catalogue import exercises
    import html
    import re
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "instructors" / "index.html").read_text()))
    assert "scripts/start --host 0.0.0.0" in page and "scripts/grade" in page
    assert "[[exercise-catalogue]]" not in page
    for lab, ex in exercises(root / "notebooks"):
        assert ex.id in page, ex.id


@pytest.mark.parametrize("name", [".", "..", "/tmp/x", "a/b", "../up", " ", "-rf"])
def test_pack_refuses_names_that_are_not_plain_folder_names(tmp_path, name):
    """--name . / .. / an absolute path would have deleted that folder; now it is refused
    and nothing outside the output folder is touched."""
    from course.pack import PackError, make_pack
    keep = tmp_path / "out" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("mine")
    with pytest.raises(PackError, match="not a plain folder name"):
        make_pack(tmp_path / "out", chapters=[1], name=name)
    assert keep.read_text() == "mine"


def test_pack_never_deletes_a_folder_it_did_not_make(tmp_path):
    """An existing folder of that name without our pack.json is left alone, with the fix."""
    from course.pack import PackError, make_pack
    theirs = tmp_path / "out" / "week-3"
    theirs.mkdir(parents=True)
    (theirs / "notes.md").write_text("the instructor's notes")
    with pytest.raises(PackError, match="not a pack made by scripts/pack"):
        make_pack(tmp_path / "out", chapters=[1], name="week-3")
    assert (theirs / "notes.md").read_text() == "the instructor's notes"
    # a pack it made itself is replaced, and no temporary folder is left behind
    make_pack(tmp_path / "out", chapters=[1], name="week-4")
    first = make_pack(tmp_path / "out", chapters=[1], name="week-4")
    assert (first / "pack.json").is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["week-3", "week-4", "week-4.zip"]
