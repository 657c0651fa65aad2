"""Fixtures of the grading tests."""

from __future__ import annotations

import pytest

from course.grade_sandbox import sandbox_problem


@pytest.fixture(scope="session")
def sandbox() -> None:
    """The grading sandbox (bubblewrap) must work: the tests that need it fail, never skip,
    without it, so a green CI always means the confinement was exercised."""
    problem = sandbox_problem()
    if problem:
        pytest.fail(f"the grading sandbox must run in CI: {problem}")
