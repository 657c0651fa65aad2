"""Exercise checks that speak plainly: what passed, what failed, and a hint.

A check cell in a lab builds a :class:`Checks` for one exercise, adds expectations, and
ends with ``checks.report()``. Each expectation is a *thunk* (a zero-argument callable) so
that a learner's missing or unfinished code is caught *inside* the check, never as a crash
of the cell: the student version of every lab must run top to bottom.

Three outcomes, because learners need to tell "I have not started" from "I am wrong":

* ``passed``: every expectation held;
* ``not-yet``: something the exercise asks for is still a stub (``...`` returning ``None``,
  ``NotImplementedError``, or an undefined name);
* ``failed``: the learner's code ran and gave a wrong answer, or raised.

The report renders as HTML in a notebook, as text in a console, and carries a JSON bundle
(MIME type :data:`CHECK_MIME`) that the grader and the site's progress tracker read.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Checks", "CheckReport", "CheckResult", "CHECK_MIME"]

#: MIME type of the machine-readable result; the grader and the site read it.
CHECK_MIME = "application/vnd.course.check+json"


class _NotYet(Exception):
    """Raised inside a check when the learner's answer is still a stub."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # "passed" | "failed" | "not-yet"
    detail: str = ""
    hint: str = ""


@dataclass
class CheckReport:
    exercise: str
    results: list[CheckResult] = field(default_factory=list)
    hidden: bool = False

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        if not self.results or statuses == {"passed"}:
            return "passed" if self.results else "not-yet"
        if "failed" in statuses:
            return "failed"
        return "not-yet"

    @property
    def passed(self) -> int:
        return sum(r.status == "passed" for r in self.results)

    def as_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "status": self.status,
            "passed": self.passed,
            "total": len(self.results),
            "hidden": self.hidden,
            "results": [r.__dict__ for r in self.results],
        }

    def __str__(self) -> str:
        head = {
            "passed": "All checks passed",
            "failed": "Some checks failed",
            "not-yet": "Not yet done",
        }[self.status]
        lines = [f"{self.exercise}: {head} ({self.passed}/{len(self.results)})"]
        for r in self.results:
            mark = {"passed": "✓", "failed": "✗", "not-yet": "…"}[r.status]
            lines.append(f"  {mark} {r.name}" + (f": {r.detail}" if r.detail else ""))
            if r.hint and r.status != "passed":
                lines.append(f"      hint: {r.hint}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"passed": "#1b7f3b", "failed": "#b3261e", "not-yet": "#7a5d00"}[self.status]
        rows = []
        for r in self.results:
            mark = {"passed": "✓", "failed": "✗", "not-yet": "…"}[r.status]
            hint = (f"<br><em>Hint:</em> {html.escape(r.hint)}"
                    if r.hint and r.status != "passed" else "")
            detail = f": {html.escape(r.detail)}" if r.detail else ""
            rows.append(f"<li><strong>{mark}</strong> {html.escape(r.name)}{detail}{hint}</li>")
        head = html.escape(str(self).splitlines()[0])
        return (f'<div class="course-check" data-exercise="{html.escape(self.exercise)}" '
                f'data-status="{self.status}" role="status">'
                f'<p style="color:{colour};font-weight:bold">{head}</p><ul>{"".join(rows)}</ul></div>')

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {
            "text/plain": str(self),
            "text/html": self._repr_html_(),
            CHECK_MIME: self.as_dict(),
        }


def _is_stub(value: Any) -> bool:
    return value is None or value is Ellipsis


class Checks:
    """The checks of one exercise.

    *exercise* is the stable id declared in the lab source (``ch01-…``). *hidden* marks
    an instructor-only set; it is reported like any other so the grader can read it.
    """

    def __init__(self, exercise: str, *, hidden: bool = False):
        if not isinstance(exercise, str) or not exercise:
            raise ValueError("exercise must be the exercise id, e.g. 'ch01-chain-availability'")
        self.report_ = CheckReport(exercise, hidden=hidden)

    def _run(self, name: str, thunk: Callable[[], Any], judge: Callable[[Any], str | None],
             hint: str) -> None:
        try:
            value = thunk()
            if _is_stub(value):
                raise _NotYet("your answer is still empty (it gave None)")
            problem = judge(value)
        except _NotYet as err:
            self.report_.results.append(CheckResult(name, "not-yet", str(err), hint))
            return
        except NotImplementedError:
            self.report_.results.append(
                CheckResult(name, "not-yet", "not implemented yet", hint))
            return
        except NameError as err:
            self.report_.results.append(CheckResult(
                name, "not-yet", f"{err}; run the exercise cell above first", hint))
            return
        except Exception as err:  # the learner's code raised: report it, never crash
            self.report_.results.append(
                CheckResult(name, "failed", f"raised {type(err).__name__}: {err}", hint))
            return
        status = "passed" if problem is None else "failed"
        self.report_.results.append(CheckResult(name, status, problem or "", hint))

    def true(self, name: str, thunk: Callable[[], Any], *, hint: str = "",
             because: str = "") -> "Checks":
        """Expect *thunk()* to be truthy; *because* explains a failure."""
        def judge(value):
            return None if value else (because or f"expected true, got {value!r}")
        self._run(name, thunk, judge, hint)
        return self

    def equal(self, name: str, thunk: Callable[[], Any], expected: Any, *, tol: float = 0.0,
              hint: str = "") -> "Checks":
        """Expect *thunk()* to equal *expected* (numbers within an absolute *tol*)."""
        if tol < 0:
            raise ValueError(f"tol must be >= 0, got {tol}")

        def judge(value):
            if isinstance(expected, (int, float)) and isinstance(value, (int, float)):
                ok = math.isclose(value, expected, rel_tol=0.0, abs_tol=tol)
            else:
                ok = value == expected
            return None if ok else f"expected {expected!r}, got {value!r}"
        self._run(name, thunk, judge, hint)
        return self

    def between(self, name: str, thunk: Callable[[], Any], low: float, high: float, *,
                hint: str = "") -> "Checks":
        """Expect *low* <= *thunk()* <= *high*."""
        if low > high:
            raise ValueError(f"low ({low}) must not exceed high ({high})")

        def judge(value):
            return None if low <= value <= high else f"expected between {low} and {high}, got {value!r}"
        self._run(name, thunk, judge, hint)
        return self

    def report(self) -> CheckReport:
        """The report; as the last expression of a cell it renders itself."""
        return self.report_

    def __repr__(self) -> str:
        return json.dumps(self.report_.as_dict())
