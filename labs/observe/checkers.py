"""Checkers: invariants over a run's journal, and a shrinker for counter-examples.

Why checkers read only the journal: like Jepsen's and Maelstrom's checkers, they judge
what *happened*, not what the code meant to do, so they catch bugs in handlers, in the
resilience setup and in the simulator alike. Each checker returns a list of
:class:`Violation` (empty = the property held) so that results compose with ``+``.

:func:`smallest_failing` searches seeds for a failing run, then shrinks it: if your
``make_and_run`` takes a ``size`` argument (number of requests, say), it halves and then
bisects *size* while the check still fails, and hands back the smallest run it found —
the one worth drawing with ``labs.viz.sequence``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Counterexample", "Violation", "every_request_answered", "journal_ordered",
           "no_duplicates_processed", "smallest_failing", "spans_closed", "standard"]


@dataclass(frozen=True)
class Violation:
    """One broken invariant: which *checker*, a plain *message*, and where (t, trace, event seq)."""

    checker: str
    message: str
    t: float = 0.0
    trace_id: str = ""
    seq: int = -1

    def __str__(self) -> str:
        where = f" (trace {self.trace_id[:8]}…)" if self.trace_id else ""
        return f"[{self.checker}] t={self.t:.3f} ms: {self.message}{where}"


def _rows(run: Any) -> list[tuple]:
    """Accept a Result, a tuple of Events, or raw rows."""
    rows = getattr(run, "rows", None)
    if rows is not None:
        return rows
    out = []
    for e in run:
        out.append(tuple(e) if isinstance(e, tuple) else (
            e.t, e.seq, e.kind, e.service, e.peer, e.trace_id, e.span_id, e.parent_id, e.msg,
            e.key, e.status, e.value, e.note, e.data))
    return out


def every_request_answered(run: Any) -> list[Violation]:
    """Every client request got exactly one answer (a timeout counts as an answer)."""
    starts: dict[int, tuple] = {}
    ends: dict[int, int] = {}
    out = []
    for r in _rows(run):
        if r[2] == "request.start":
            starts[r[8]] = r
        elif r[2] == "request.end":
            ends[r[8]] = ends.get(r[8], 0) + 1
            if ends[r[8]] > 1:
                out.append(Violation("every_request_answered", f"request {r[8]} answered twice",
                                     r[0], r[5], r[1]))
    for rid, r in starts.items():
        if rid not in ends:
            out.append(Violation("every_request_answered",
                                 f"request {rid} to {r[4]!r} never got an answer (no timeout set?)",
                                 r[0], r[5], r[1]))
    return out


def no_duplicates_processed(run: Any, service: str | None = None) -> list[Violation]:
    """No service completed the same logical call twice (retries/duplicates need idempotency)."""
    seen: dict[tuple[str, int], tuple] = {}
    out = []
    for r in _rows(run):
        if r[2] == "span.end" and r[12] == "server" and 200 <= r[10] < 400 and r[9]:
            if service is not None and r[3] != service:
                continue
            k = (r[3], r[9])
            if k in seen:
                out.append(Violation("no_duplicates_processed",
                                     f"{r[3]!r} processed call {r[9]} from {r[4]!r} again (first at "
                                     f"{seen[k][0]:.3f} ms): a retry or duplicate was not deduplicated",
                                     r[0], r[5], r[1]))
            else:
                seen[k] = r
    return out


def journal_ordered(run: Any) -> list[Violation]:
    """Journal times never decrease and ``seq`` counts 0, 1, 2, … (the clock only moves forward)."""
    out = []
    prev = float("-inf")
    for i, r in enumerate(_rows(run)):
        if r[0] < prev:
            out.append(Violation("journal_ordered", f"time went backwards ({prev} -> {r[0]})",
                                 r[0], r[5], r[1]))
        if r[1] != i:
            out.append(Violation("journal_ordered", f"seq {r[1]} at position {i}", r[0], r[5], r[1]))
        prev = r[0]
    return out


def spans_closed(run: Any) -> list[Violation]:
    """Every span that started also ended, with a non-negative duration."""
    open_: dict[tuple[str, str], tuple] = {}
    out = []
    for r in _rows(run):
        if r[2] == "span.start":
            open_[(r[5], r[6])] = r
        elif r[2] == "span.end":
            s = open_.pop((r[5], r[6]), None)
            if s is None or r[0] < s[0] or r[11] < 0:
                out.append(Violation("spans_closed", f"span {r[6]} ended without a valid start",
                                     r[0], r[5], r[1]))
    for r in open_.values():
        out.append(Violation("spans_closed", f"span {r[6]} of {r[3]!r} never ended", r[0], r[5], r[1]))
    return out


def standard(run: Any) -> list[Violation]:
    """The invariants every run should satisfy: ordered journal, closed spans, answers."""
    return journal_ordered(run) + spans_closed(run) + every_request_answered(run)


@dataclass
class Counterexample:
    """The smallest failing run found: its *seed*, *size* (if shrinkable) and *violations*."""

    seed: int
    size: int | None
    violations: list[Violation]
    result: Any = field(repr=False)
    tried: int = 0

    def __str__(self) -> str:
        size = "" if self.size is None else f", size={self.size}"
        head = f"counter-example: seed={self.seed}{size} ({len(self.violations)} violation(s), " \
               f"{self.tried} runs tried)"
        return "\n".join([head] + [f"  {v}" for v in self.violations[:5]])


def smallest_failing(make_and_run: Callable[..., Any], check: Callable[[Any], list[Violation]],
                     seeds: Iterable[int] = range(100), size: int | None = None
                     ) -> Counterexample | None:
    """Find a seed whose run *check* rejects, then shrink it; None if every seed passes.

    *make_and_run(seed)* builds and runs a simulation; if it also accepts ``size``, the
    search starts at *size* (or the parameter's default) and shrinks it toward 1.
    """
    params = inspect.signature(make_and_run).parameters
    shrinkable = "size" in params
    if shrinkable and size is None:
        d = params["size"].default
        size = d if isinstance(d, int) and d is not inspect.Parameter.empty else None
    tried = 0

    def attempt(seed: int, n: int | None):
        nonlocal tried
        tried += 1
        res = make_and_run(seed, size=n) if shrinkable and n is not None else make_and_run(seed)
        return res, list(check(res))

    for seed in seeds:
        res, vs = attempt(seed, size)
        if vs:
            break
    else:
        return None
    best = Counterexample(seed, size if shrinkable else None, vs, res)
    if shrinkable and size is not None:
        lo, hi = 0, size              # invariant: size hi fails; sizes <= lo assumed to pass
        while hi > 1:                 # halve while it still fails
            r2, v2 = attempt(seed, hi // 2)
            if not v2:
                lo = hi // 2
                break
            hi //= 2
            best = Counterexample(seed, hi, v2, r2)
        while hi - lo > 1:            # then bisect between the last pass and the last fail
            mid = (lo + hi) // 2
            r2, v2 = attempt(seed, mid)
            if v2:
                hi = mid
                best = Counterexample(seed, mid, v2, r2)
            else:
                lo = mid
    best.tried = tried
    return best
