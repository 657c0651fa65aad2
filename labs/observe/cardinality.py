"""Metric cardinality: how many time series a metric with labels really is.

Why: in Prometheus (and in any OpenTelemetry metrics backend) every distinct combination
of label values is its own time series, stored, indexed and queried separately. A label
whose values are unbounded (a customer id, an order id, a raw URL) multiplies a metric by
the number of values seen, and a *histogram* multiplies it again by its buckets. The
Prometheus documentation's advice is to keep label values bounded and to put unbounded
ones (ids) in logs or traces instead.

A classic Prometheus histogram exposes, per label set, one ``_bucket`` series per upper
bound plus ``le="+Inf"``, and ``_sum`` and ``_count``; with client_java's default bounds
(``Histogram.Builder.DEFAULT_CLASSIC_UPPER_BOUNDS``: .005, .01, .025, .05, .1, .25, .5, 1,
2.5, 5, 10 seconds) that is 11 + 1 + 2 = 14 series. A summary exposes one series per
configured quantile plus ``_sum`` and ``_count``. Counters and gauges are one series each
(``_created`` series are not counted here). Native histograms (stable since Prometheus
3.8) store buckets inside one series and are not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..kernel.errors import ConfigError

__all__ = ["DEFAULT_BUCKETS", "label_values", "series_count", "series_per_label_set"]

#: client_java's default classic histogram upper bounds, in seconds.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_KINDS = ("counter", "gauge", "histogram", "summary")


def series_per_label_set(kind: str = "counter", buckets: Sequence[float] = DEFAULT_BUCKETS,
                         quantiles: Sequence[float] = (0.5, 0.9, 0.99)) -> int:
    """Series one label combination costs: 1 (counter, gauge), buckets + 3 (histogram:
    the bounds, ``+Inf``, ``_sum``, ``_count``), quantiles + 2 (summary)."""
    if kind not in _KINDS:
        raise ConfigError(f"kind must be one of {_KINDS}, got {kind!r}.")
    if kind == "histogram":
        b = list(buckets)
        if not b or any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in b) \
                or b != sorted(set(b)):
            raise ConfigError(f"buckets must be increasing numbers (upper bounds), got {buckets!r}; "
                              "+Inf is added for you.")
        return len(b) + 3
    if kind == "summary":
        q = list(quantiles)
        if any(not isinstance(x, (int, float)) or not 0 <= x <= 1 for x in q):
            raise ConfigError(f"quantiles must be numbers in [0, 1], got {quantiles!r}.")
        return len(q) + 2
    return 1


def _check_labels(labels: Sequence[str]) -> list[str]:
    if isinstance(labels, str) or not all(isinstance(x, str) and x for x in labels):
        raise ConfigError(f"labels must be a list of label names, got {labels!r}; "
                          "e.g. ['service', 'route', 'status'].")
    return list(labels)


def label_values(samples: Iterable[Mapping[str, Any]], labels: Sequence[str]) -> dict[str, int]:
    """How many distinct values each label takes in *samples* (dicts of label -> value)."""
    labels = _check_labels(labels)
    seen: dict[str, set] = {k: set() for k in labels}
    for s in samples:
        for k in labels:
            seen[k].add(str(s.get(k, "")))
    return {k: len(v) for k, v in seen.items()}


def series_count(samples: Iterable[Mapping[str, Any]], labels: Sequence[str],
                 kind: str = "counter", buckets: Sequence[float] = DEFAULT_BUCKETS,
                 quantiles: Sequence[float] = (0.5, 0.9, 0.99)) -> int:
    """Series a metric with these *labels* creates from *samples* (one dict per observation).

    Distinct label combinations actually seen × :func:`series_per_label_set`. A missing
    label counts as the empty value, as in Prometheus.
    """
    labels = _check_labels(labels)
    per = series_per_label_set(kind, buckets, quantiles)
    combos = {tuple(str(s.get(k, "")) for k in labels) for s in samples}
    return len(combos) * per


def _parity_text(seed: int) -> str:
    from random import Random

    rng = Random(seed)
    samples = [{"service": rng.choice("abc"), "status": rng.choice(["200", "500"]),
                "customer": str(rng.randrange(500))} for _ in range(400)]
    return ",".join(str(series_count(samples, ls, kind)) for ls in
                    (["service"], ["service", "status"], ["service", "status", "customer"])
                    for kind in ("counter", "histogram"))


def _parity(seed: int) -> str:
    """A digest of a small deterministic scenario (compared between CPython and Pyodide)."""
    from hashlib import sha256

    return sha256(_parity_text(seed).encode("utf-8")).hexdigest()
