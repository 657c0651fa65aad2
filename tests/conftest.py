"""Shared fixtures: the built site and where it lives.

Tests of the built site never build it themselves: `scripts/test` builds once, then every
tier reads `site/` and `build/`. A missing build fails loudly with the command to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests explore new random cases on a developer's machine, and replay a fixed,
# derandomized set in CI (CI=true), so a red CI always reproduces and a green one is not luck
# of the draw. A failure found locally prints the example to add as an @example.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

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
