"""The lab source format: what a writer gets right, and the errors for what they get wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course.notebooks import LabSourceError, parse_lab, to_notebook

GOOD = '''# %% [markdown]
# # A lab
#
# Prose.

# %%
from labs import Checks

# %% [markdown] exercise={"id": "ch99-double", "title": "Double", "outcome": "write a function", "points": 2, "minutes": 5}
# ## Exercise

# %%
def double(n):
    ### BEGIN SOLUTION
    return 2 * n  # the secret answer
    ### END SOLUTION

# %%
### BEGIN SOLUTION
LIMIT = 10
### END SOLUTION
### STUB LIMIT = None  # choose a limit

# %% tags=["check"] exercise="ch99-double"
Checks("ch99-double").equal("doubles 2", lambda: double(2), 4).report()

# %% tags=["hidden-check"] exercise="ch99-double"
Checks("ch99-double", hidden=True).equal("doubles -3", lambda: double(-3), -6).report()
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notebooks" / "ch99" / "lab.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_parses_cells_exercises_and_title(tmp_path):
    """A well-formed source gives its cells, its exercise and its title."""
    lab = parse_lab(write(tmp_path, GOOD), tmp_path / "notebooks")
    assert lab.name == "ch99/lab"
    assert lab.title == "A lab"
    assert [c.kind for c in lab.cells] == ["markdown", "code", "markdown", "code", "code", "code", "code"]
    assert [e.id for e in lab.exercises] == ["ch99-double"]
    assert lab.exercises[0].points == 2


def test_student_version_has_no_solution_and_no_hidden_check(tmp_path):
    """Solutions become stubs and hidden checks disappear from the student version."""
    lab = parse_lab(write(tmp_path, GOOD), tmp_path / "notebooks")
    text = json.dumps(to_notebook(lab, "student"))
    assert "secret answer" not in text and "LIMIT = 10" not in text
    assert "BEGIN SOLUTION" not in text and "hidden" not in text
    assert "LIMIT = None  # choose a limit" in text
    assert "    # Your code here.\\n    ..." in text


def test_solution_version_keeps_solutions_and_hidden_checks_without_markers(tmp_path):
    """The solution version has the code and both check sets, and no region markers."""
    lab = parse_lab(write(tmp_path, GOOD), tmp_path / "notebooks")
    nb = to_notebook(lab, "solution")
    text = json.dumps(nb)
    assert "secret answer" in text and "hidden=True" in text
    assert "BEGIN SOLUTION" not in text and "STUB" not in text
    assert nb["metadata"]["kernelspec"]["name"] == "python"


def test_generation_is_deterministic(tmp_path):
    """The same source gives byte-identical notebooks, cell ids included."""
    path = write(tmp_path, GOOD)
    a = to_notebook(parse_lab(path, tmp_path / "notebooks"), "student")
    b = to_notebook(parse_lab(path, tmp_path / "notebooks"), "student")
    assert json.dumps(a) == json.dumps(b)


def test_version_changes_when_content_changes(tmp_path):
    """The published version id follows the student content."""
    path = write(tmp_path, GOOD)
    before = to_notebook(parse_lab(path, tmp_path / "notebooks"), "student")["metadata"]["course"]["version"]
    path.write_text(GOOD.replace("Prose.", "Better prose."))
    after = to_notebook(parse_lab(path, tmp_path / "notebooks"), "student")["metadata"]["course"]["version"]
    assert before != after


@pytest.mark.parametrize("broken, line, words", [
    (GOOD.replace("# %% tags=[\"check\"]", "#%% tags=[\"check\"]"), 24, "malformed cell marker"),
    (GOOD.replace("# %% tags=[\"check\"]", "# %%tags=[\"check\"]"), 24, "malformed cell marker"),
    (GOOD.replace("# %% [markdown]\n# # A lab", "# %% [md]\n# # A lab"), 1, "unknown cell type"),
    (GOOD.replace('tags=["check"]', "tags=[check]"), 24, "not valid JSON"),
    (GOOD.replace('tags=["check"]', 'tags=["chek"]'), 24, "unknown tag"),
    (GOOD.replace("# Prose.", "Prose."), 4, "does not start with '# '"),
    (GOOD.replace("    ### END SOLUTION\n", "", 1), 14, "never closed"),
    (GOOD.replace("### BEGIN SOLUTION\nLIMIT", "### BEGIN SOLUTON\nLIMIT"), 19, "malformed solution marker"),
    (GOOD.replace('exercise="ch99-double"\nChecks("ch99-double").equal', 'exercise="ch99-dbl"\nChecks("ch99-double").equal'),
     24, "unknown exercise"),
    ("print('hi')\n" + GOOD, 1, "before the first cell marker"),
    # near-misses that would otherwise publish a solution or a hidden check
    (GOOD.replace("    ### BEGIN SOLUTION\n", "    ## BEGIN SOLUTION\n", 1), 14, "looks like a solution marker"),
    (GOOD.replace("### END SOLUTION\n### STUB", "#### END SOLUTION\n### STUB"), 21, "looks like a solution marker"),
    (GOOD.replace("### STUB LIMIT", "### stub LIMIT"), 22, "looks like a solution marker"),
    (GOOD.replace('# %% tags=["hidden-check"]', '# %% tag=["hidden-check"]'), 27, "unknown cell metadata"),
    (GOOD.replace('"points": 2', '"points": true'), 9, "points must be a positive whole number"),
    (GOOD.replace('"minutes": 5', '"minutes": 0'), 9, "minutes must be a positive whole number"),
    (GOOD.replace("# Prose.", "# [[Lab ch01/x]]"), 4, "looks like a lab link"),
])
def test_malformed_sources_name_the_file_line_and_fix(tmp_path, broken, line, words):
    """Each mistake fails with the file, the line, what is wrong, and how to fix it."""
    path = write(tmp_path, broken)
    with pytest.raises(LabSourceError) as info:
        parse_lab(path, tmp_path / "notebooks")
    err = info.value
    assert err.path == str(path.resolve())
    assert err.line == line
    assert words in err.problem
    assert err.fix
    assert f"{path.resolve()}:{line}:" in str(err) and "fix:" in str(err)


def test_exercise_without_a_public_check_is_an_error(tmp_path):
    """An exercise that learners cannot check is a writing mistake."""
    text = GOOD.split('# %% tags=["check"]')[0]
    with pytest.raises(LabSourceError, match="no public check cell"):
        parse_lab(write(tmp_path, text), tmp_path / "notebooks")


def test_missing_source_is_an_error(tmp_path):
    """A path that is not there says so."""
    with pytest.raises(LabSourceError, match="not found"):
        parse_lab(tmp_path / "nope.py")


def test_a_source_that_is_not_utf8_is_named(tmp_path):
    """A lab saved in another encoding fails with the file and the fix, not a traceback."""
    path = write(tmp_path, GOOD)
    path.write_bytes(GOOD.replace("Prose.", "Pros\u00e9.").encode("latin-1"))
    with pytest.raises(LabSourceError, match="not UTF-8"):
        parse_lab(path, tmp_path / "notebooks")
