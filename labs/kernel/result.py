"""The result of a run: the journal and everything computed from it.

Why everything is *computed* (metrics, traces, logs, client outcomes): one source of truth.
A chart can never disagree with a checker, and a learner can always go back to the raw
events (``result.journal``) to see why a number is what it is.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from .journal import Event, Journal
from .load import RequestOutcome
from ..observe.metrics import Metrics, _percentile
from ..observe.tracing import Traces

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulation

__all__ = ["Result", "Summary"]


class Summary(dict):
    """A small dict of headline numbers that prints as an aligned two-column table."""

    def __str__(self) -> str:
        w = max((len(k) for k in self), default=0)
        lines = []
        for k, v in self.items():
            if isinstance(v, float):
                v = f"{v:.3f}"
            lines.append(f"{k.ljust(w)}  {v}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython
        p.text(str(self))


class Result:
    """What a run produced: ``journal``, ``requests``, ``metrics``, ``traces``, ``logs()``."""

    def __init__(self, sim: Simulation) -> None:
        self.seed = sim.seed
        #: Virtual time (ms) when the run stopped.
        self.end = sim.now
        self.services = tuple(sim.services)
        j = Journal()
        j._rows = list(sim.journal.rows)   # a snapshot: a later sim.run() does not change it
        self._j = j

    @property
    def journal(self) -> tuple[Event, ...]:
        """Every event of the run, in order, as frozen :class:`labs.Event` dataclasses."""
        return self._j.events()

    @property
    def rows(self) -> list[tuple]:
        """The journal as raw tuples in :class:`Event` field order (fast; do not mutate)."""
        return self._j.rows

    def journal_hash(self) -> str:
        """SHA-256 hex of the canonical journal: same seed and code, same hash, everywhere."""
        return self._j.hash()

    @cached_property
    def requests(self) -> list[RequestOutcome]:
        """One :class:`labs.RequestOutcome` per client request, in the order they started."""
        # One fast filtering pass (a comprehension) over a journal of ~26 rows per request.
        mine = [r for r in self._j.rows if r[2] == "request.start" or r[2] == "request.end"]
        ends = {r[8]: r for r in mine if r[2] == "request.end"}
        out = []
        for s in mine:
            if s[2] != "request.start":
                continue
            rid = s[8]
            e = ends.get(rid)
            if e is None:
                out.append(RequestOutcome(rid, s[4], s[0], None, None, False, 0, "", s[5], 0))
            else:
                attempts = dict(e[13]).get("attempts", 1)
                out.append(RequestOutcome(rid, s[4], s[0], e[0], e[11], 200 <= e[10] < 400, e[10],
                                          e[12], s[5], attempts))
        return out

    @cached_property
    def metrics(self) -> Metrics:
        """RED metrics, histograms, counters and time series computed from the journal."""
        return Metrics(self._j.rows)

    @cached_property
    def traces(self) -> Traces:
        """Span trees by trace id: ``traces.get(trace_id)``, ``traces.slowest(n)``."""
        return Traces(self._j.rows)

    def logs(self, service: str | None = None, trace_id: str | None = None,
             level: str | None = None) -> list[dict[str, Any]]:
        """Structured log lines (dicts with t, service, message, trace_id, span_id, fields)."""
        out = []
        for r in self._j.rows:
            if r[2] != "log" or (service is not None and r[3] != service) or (
                    trace_id is not None and r[5] != trace_id):
                continue
            d = {"t": r[0], "service": r[3], "message": r[12], "trace_id": r[5], "span_id": r[6]}
            d.update(r[13])
            d.setdefault("level", "info")
            if level is None or d["level"] == level:
                out.append(d)
        return out

    def summary(self) -> Summary:
        """Headline numbers: requests, outcomes, client latency percentiles, events."""
        reqs = self.requests
        lat = sorted(r.latency for r in reqs if r.latency is not None)
        counts = {"ok": 0, "error": 0, "timeout": 0, "unfinished": 0}
        for r in reqs:
            counts[r.outcome] += 1
        s = Summary(seed=self.seed, end_ms=self.end, requests=len(reqs))
        s.update(counts)
        s["p50_ms"] = _percentile(lat, 50)
        s["p99_ms"] = _percentile(lat, 99)
        s["events"] = len(self._j)
        return s

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<Result seed={s['seed']} requests={s['requests']} ok={s['ok']} "
                f"errors={s['error']} timeouts={s['timeout']} unfinished={s['unfinished']} "
                f"events={s['events']}>")
