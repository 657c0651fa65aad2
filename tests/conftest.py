"""Shared fixtures: the built site and where it lives.

Tests of the built site never build it themselves: `scripts/test` builds once, then every
tier reads `site/` and `build/`. A missing build fails loudly with the command to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
BUILD = ROOT / "build"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def site() -> Path:
    if not (SITE / "index.html").is_file() or not (SITE / "lite" / "jupyter-lite.json").is_file():
        pytest.fail("the site is not built: run scripts/build (scripts/test does it first)")
    return SITE


@pytest.fixture(scope="session")
def built_notebooks() -> Path:
    path = BUILD / "notebooks"
    if not (path / "student").is_dir():
        pytest.fail("notebooks are not built: run scripts/build (scripts/test does it first)")
    return path
