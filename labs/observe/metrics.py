"""Metrics computed from the journal: RED, histograms, counters, time series.

Why RED (Rate, Errors, Duration): it is the per-service dashboard the course teaches
(Tom Wilkie's RED method). A service's numbers come from its *server spans*; the special
name ``"client"`` gives the client's view (``request.end`` events), which includes network
time, retries and rejections that the server never saw.

*Errors* counts every non-2xx/3xx answer (a 429 is an error to the client, too) plus
executions lost to a crash. Percentiles use the nearest-rank method on the exact values
(no buckets), so small runs give exact, explainable numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..kernel.errors import ConfigError

__all__ = ["Histogram", "Metrics", "Red", "percentile"]


def _percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for no values)."""
    if not sorted_values:
        return 0.0
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(k, len(sorted_values)) - 1]


def percentile(values, p: float) -> float:
    """The nearest-rank *p*-th percentile (0–100) of *values* (0.0 for no values).

    Nearest rank (the smallest value with at least *p* % of the values at or below it)
    is what latency dashboards usually mean by p99, and it is always a value that was
    really observed; every lab and every metric of this package uses this one definition,
    so a p99 means the same thing everywhere in the course.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 100:
        raise ConfigError(f"percentile p={p!r} is outside [0, 100]; "
                          "pass e.g. 50 for the median or 99 for p99")
    return _percentile(sorted(values), p)


@dataclass(frozen=True)
class Red:
    """Rate (req/s), error ratio, and duration percentiles (ms) of one service."""

    service: str
    count: int
    rate: float
    errors: float
    p50: float
    p90: float
    p99: float
    max: float

    def __getitem__(self, key: str):
        return getattr(self, key)

    def as_dict(self) -> dict:
        """The numbers as a plain dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Histogram:
    """Exact values (sorted) of one measure, with percentiles and equal-width buckets."""

    name: str
    values: tuple[float, ...]

    @property
    def count(self) -> int:
        """Number of values."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """Arithmetic mean (0.0 for no values)."""
        return sum(self.values) / len(self.values) if self.values else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile *p* in [0, 100]."""
        return _percentile(list(self.values), p)

    def buckets(self, n: int = 20) -> list[tuple[float, float, int]]:
        """*n* equal-width ``(lo, hi, count)`` buckets between the min and the max."""
        if not self.values:
            return []
        lo, hi = self.values[0], self.values[-1]
        width = (hi - lo) / n or 1.0
        counts = [0] * n
        for v in self.values:
            counts[min(n - 1, int((v - lo) / width))] += 1
        return [(lo + i * width, lo + (i + 1) * width, c) for i, c in enumerate(counts)]

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .viz import histogram
        return histogram(self)._repr_mimebundle_()


class Metrics:
    """All metrics of a run; ``result.metrics``."""

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows
        self._by: dict[str, list[tuple[float, float, int]]] | None = None

    def _durations(self) -> dict[str, list[tuple[float, float, int]]]:
        """service -> [(end t, duration, status)] from server spans and client requests."""
        if self._by is None:
            by: dict[str, list] = {}
            for r in self._rows:
                k = r[2]
                if (k == "span.end" and r[12] == "server") or k == "request.end":
                    name = "client" if k == "request.end" else r[3]
                    by.setdefault(name, []).append((r[0], r[11], r[10]))
            self._by = by
        return self._by

    def services(self) -> list[str]:
        """Names that have duration data, in order of first appearance."""
        return list(self._durations())

    def red(self, service: str) -> Red:
        """Rate, errors and duration of *service* (``"client"`` for the client's view)."""
        items = self._durations().get(service, [])
        if not items:
            return Red(service, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        first = min(t - d for t, d, _ in items)
        last = max(t for t, _, _ in items)
        window = last - first
        errs = sum(1 for _, _, s in items if not 200 <= s < 400)
        ds = sorted(d for _, d, _ in items)
        rate = len(items) / (window / 1000.0) if window > 0 else 0.0
        return Red(service, len(items), rate, errs / len(items), _percentile(ds, 50),
                   _percentile(ds, 90), _percentile(ds, 99), ds[-1])

    def histogram(self, service: str, metric: str = "duration") -> Histogram:
        """Values of *metric* for *service*: ``"duration"`` (ms) or a name given to ``ctx.observe``."""
        if metric == "duration":
            vals = [d for _, d, _ in self._durations().get(service, [])]
        else:
            vals = [r[11] for r in self._rows if r[2] == "metric" and r[3] == service and r[12] == metric]
        return Histogram(f"{service} {metric}", tuple(sorted(vals)))

    def counter(self, service: str, name: str = "requests") -> float:
        """Total of counter *name* of *service*.

        Built in: ``requests`` (handled), ``errors``, ``rejected``, ``retries``, ``timeouts``
        (client spans of *service* that ended 504), ``drops`` (messages *service* sent that were
        lost); any other name sums ``ctx.count(name, n)``.
        """
        rows = self._rows
        if name == "requests":
            return float(len(self._durations().get(service, [])))
        if name == "errors":
            return float(sum(1 for _, _, s in self._durations().get(service, []) if not 200 <= s < 400))
        if name == "rejected":
            return float(sum(1 for r in rows if r[2] == "reject" and r[3] == service))
        if name == "retries":
            return float(sum(1 for r in rows if r[2] == "retry" and r[3] == service))
        if name == "timeouts":
            return float(sum(1 for r in rows if r[2] == "span.end" and r[12] == "client"
                             and r[3] == service and r[10] == 504))
        if name == "drops":
            return float(sum(1 for r in rows if r[2] == "drop" and r[3] == service))
        return float(sum(r[11] for r in rows if r[2] == "metric" and r[3] == service and r[12] == name))

    def timeseries(self, service: str, metric: str = "rate", bucket: float = 1000.0
                   ) -> list[tuple[float, float]]:
        """``[(bucket start ms, value)]`` of *metric*: rate, errors, p50, p90, p99, mean, count.

        Requests fall in the bucket where they *ended*; empty buckets between the first and
        the last are included (value 0), so a chart shows gaps as gaps.
        """
        if not bucket > 0:
            from ..kernel.errors import ConfigError
            raise ConfigError(f"bucket must be > 0 ms, got {bucket!r}. Use e.g. bucket=1000.")
        known = ("rate", "errors", "p50", "p90", "p99", "mean", "count")
        if metric not in known:
            from ..kernel.errors import ConfigError
            raise ConfigError(f"metric must be one of {known}, got {metric!r}.")
        items = self._durations().get(service, [])
        if not items:
            return []
        groups: dict[int, list[tuple[float, int]]] = {}
        for t, d, s in items:
            groups.setdefault(int(t // bucket), []).append((d, s))
        out = []
        for b in range(min(groups), max(groups) + 1):
            g = groups.get(b, [])
            if metric == "rate":
                v = len(g) / (bucket / 1000.0)
            elif metric == "count":
                v = float(len(g))
            elif metric == "errors":
                v = sum(1 for _, s in g if not 200 <= s < 400) / len(g) if g else 0.0
            elif metric == "mean":
                v = sum(d for d, _ in g) / len(g) if g else 0.0
            else:
                v = _percentile(sorted(d for d, _ in g), float(metric[1:]))
            out.append((b * bucket, v))
        return out
