"""The circuit breaker's sliding windows and metrics: Resilience4j's ``FixedSizeSlidingWindowMetrics``
(COUNT_BASED: the last N outcomes) and ``SlidingTimeWindowMetrics`` (TIME_BASED: N one-second
buckets), plus ``CircuitBreakerMetrics`` (the rates, -1 below the minimum number of calls).
Used by :class:`labs.CircuitBreaker`; semantics and sources in :mod:`labs.resilience.breaker`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .breaker import BreakerConfig

__all__ = ["BreakerMetrics"]


@dataclass(frozen=True)
class BreakerMetrics:
    """A snapshot of a breaker's window: Resilience4j's ``CircuitBreaker.Metrics``.

    *failure_rate* and *slow_call_rate* are percentages, or ``-1.0`` while fewer than the
    minimum number of calls are buffered (Resilience4j returns ``-1`` then too, so a
    dashboard can tell "no data yet" from "0 %").
    """

    failure_rate: float
    slow_call_rate: float
    number_of_buffered_calls: int
    number_of_failed_calls: int
    number_of_slow_calls: int
    number_of_slow_successful_calls: int
    number_of_slow_failed_calls: int
    number_of_successful_calls: int
    number_of_not_permitted_calls: int


class _Counts:
    """Totals of one aggregation (a bucket or a whole window)."""

    __slots__ = ("calls", "failed", "slow", "slow_failed")

    def __init__(self) -> None:
        self.calls = self.failed = self.slow = self.slow_failed = 0

    def add(self, failed: bool, slow: bool, sign: int = 1) -> None:
        self.calls += sign
        self.failed += sign * failed
        self.slow += sign * slow
        self.slow_failed += sign * (failed and slow)


class _CountWindow:
    """The last *size* outcomes (``FixedSizeSlidingWindowMetrics``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.outcomes: deque[tuple[bool, bool]] = deque()
        self.total = _Counts()

    def record(self, now: float, failed: bool, slow: bool) -> None:
        if self.size == 0:  # FORCED_OPEN and DISABLED use a window of size 0
            return
        if len(self.outcomes) == self.size:
            self.total.add(*self.outcomes.popleft(), sign=-1)
        self.outcomes.append((failed, slow))
        self.total.add(failed, slow)

    def snapshot(self, now: float) -> _Counts:
        return self.total


class _TimeWindow:
    """Outcomes of the last *size* epoch seconds (``SlidingTimeWindowMetrics``)."""

    def __init__(self, size_seconds: int) -> None:
        self.size = size_seconds
        self.buckets: deque[tuple[int, _Counts]] = deque()
        self.total = _Counts()

    def _evict(self, now: float) -> int:
        second = math.floor(now / 1000.0)
        while self.buckets and self.buckets[0][0] <= second - self.size:
            c = self.buckets.popleft()[1]
            self.total.calls -= c.calls
            self.total.failed -= c.failed
            self.total.slow -= c.slow
            self.total.slow_failed -= c.slow_failed
        return second

    def record(self, now: float, failed: bool, slow: bool) -> None:
        second = self._evict(now)
        if not self.buckets or self.buckets[-1][0] < second:
            self.buckets.append((second, _Counts()))
        # An outcome stamped earlier than the newest bucket (time never goes back in a
        # simulation, so this is only defensive) joins the newest bucket, as in Java.
        self.buckets[-1][1].add(failed, slow)
        self.total.add(failed, slow)

    def snapshot(self, now: float) -> _Counts:
        self._evict(now)
        return self.total


class _Metrics:
    """``CircuitBreakerMetrics``: a window plus thresholds and a not-permitted counter."""

    def __init__(self, config: BreakerConfig, size: int, window_type: str) -> None:
        self.config = config
        if window_type == "COUNT_BASED":
            self.window: _CountWindow | _TimeWindow = _CountWindow(size)
            self.minimum = min(config.minimum_number_of_calls, size)
        else:
            self.window = _TimeWindow(size)
            self.minimum = config.minimum_number_of_calls
        self.not_permitted = 0

    def _rates(self, c: _Counts) -> tuple[float, float]:
        if c.calls == 0 or c.calls < self.minimum:
            return -1.0, -1.0
        return c.failed * 100.0 / c.calls, c.slow * 100.0 / c.calls

    def record(self, now: float, failed: bool, duration_ms: float) -> tuple[bool, bool] | None:
        """Record an outcome; return (failure_exceeded, slow_exceeded), or None if below
        the minimum number of calls."""
        slow = duration_ms > self.config.slow_call_duration_threshold
        self.window.record(now, failed, slow)
        failure_rate, slow_rate = self._rates(self.window.snapshot(now))
        if failure_rate == -1.0:
            return None
        return (
            failure_rate >= self.config.failure_rate_threshold,
            slow_rate >= self.config.slow_call_rate_threshold,
        )

    def snapshot(self, now: float) -> BreakerMetrics:
        c = self.window.snapshot(now)
        failure_rate, slow_rate = self._rates(c)
        return BreakerMetrics(
            failure_rate=failure_rate,
            slow_call_rate=slow_rate,
            number_of_buffered_calls=c.calls,
            number_of_failed_calls=c.failed,
            number_of_slow_calls=c.slow,
            number_of_slow_successful_calls=c.slow - c.slow_failed,
            number_of_slow_failed_calls=c.slow_failed,
            number_of_successful_calls=c.calls - c.failed,
            number_of_not_permitted_calls=self.not_permitted,
        )
