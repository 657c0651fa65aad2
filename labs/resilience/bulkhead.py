"""Bulkhead: a cap on concurrent calls to one dependency (Resilience4j 2.4.0
``SemaphoreBulkhead``).

Why: without a cap, one slow dependency can absorb every worker a service has, and then
calls to *healthy* dependencies fail too. A bulkhead, like the watertight compartments it
is named after, confines the damage: at most *max_concurrent* calls are in progress at
once, and the rest are rejected (``BulkheadFullException`` in Resilience4j) or wait at most
*max_wait* ms for a slot.

Defaults are Resilience4j's ``BulkheadConfig``: ``maxConcurrentCalls`` 25 and
``maxWaitDuration`` 0 (reject at once). This class is a pure counter: a simulator that
supports waiting keeps the waiters in FIFO order (Resilience4j's semaphore is fair by
default), retries :meth:`Bulkhead.try_enter` when a slot is released, and gives up after
:attr:`Bulkhead.max_wait`, calling :meth:`Bulkhead.reject` to count it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

try:  # The package's error hierarchy, once it lands; plain ValueError until then.
    from ..kernel.errors import ConfigError as _ConfigError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the state of the package
    _ConfigError = ValueError  # type: ignore[misc,assignment]

__all__ = ["Bulkhead", "BulkheadMetrics"]

EventListener = Callable[[float, str], None]


@dataclass(frozen=True)
class BulkheadMetrics:
    """Resilience4j's ``Bulkhead.Metrics`` plus the counters the labs plot."""

    available_concurrent_calls: int
    max_allowed_concurrent_calls: int
    permitted: int
    rejected: int
    finished: int


class Bulkhead:
    """At most *max_concurrent* calls in progress; *max_wait* ms is how long a caller may
    wait for a slot (0 = reject immediately), which the simulator enforces.

    Events (Resilience4j's names) go to listeners added with :meth:`add_event_listener`
    as ``fn(now, event)`` with *event* in ``"CALL_PERMITTED"``, ``"CALL_REJECTED"``,
    ``"CALL_FINISHED"``.
    """

    def __init__(self, max_concurrent: int = 25, max_wait: float = 0) -> None:
        if not isinstance(max_concurrent, int) or isinstance(max_concurrent, bool) \
                or max_concurrent < 0:
            raise _ConfigError(
                f"max_concurrent={max_concurrent!r} is out of range: it must be an integer "
                ">= 0 (Resilience4j's maxConcurrentCalls). Pass e.g. 25."
            )
        bad = not isinstance(max_wait, (int, float)) or isinstance(max_wait, bool)
        if bad or math.isnan(max_wait) or max_wait < 0:
            raise _ConfigError(
                f"max_wait={max_wait!r} is out of range: it must be a duration >= 0 ms "
                "(Resilience4j's maxWaitDuration). 0 rejects at once."
            )
        self.max_concurrent = max_concurrent
        self.max_wait = float(max_wait)
        self.in_use = 0
        self.permitted = 0
        self.rejected = 0
        self.finished = 0
        self.peak_in_use = 0
        self._listeners: list[EventListener] = []

    @property
    def available(self) -> int:
        """Free slots right now."""
        return self.max_concurrent - self.in_use

    def add_event_listener(self, fn: EventListener) -> None:
        """Call ``fn(now, event)`` for every permitted, rejected and finished call."""
        self._listeners.append(fn)

    def _publish(self, now: float, event: str) -> None:
        for fn in list(self._listeners):
            fn(now, event)

    def try_enter(self, now: float) -> bool:
        """Take a slot if one is free. On False the caller either waits (if
        :attr:`max_wait` > 0, retrying when a slot frees) or gives up; an immediate
        rejection (``max_wait == 0``) is counted here."""
        if self.in_use < self.max_concurrent:
            self.in_use += 1
            self.permitted += 1
            self.peak_in_use = max(self.peak_in_use, self.in_use)
            self._publish(now, "CALL_PERMITTED")
            return True
        if self.max_wait == 0:
            self.reject(now)
        return False

    def reject(self, now: float) -> None:
        """Count a caller that gave up waiting (the simulator calls this after
        :attr:`max_wait`)."""
        self.rejected += 1
        self._publish(now, "CALL_REJECTED")

    def release(self, now: float) -> None:
        """Give back the slot of a finished call."""
        if self.in_use == 0:
            raise RuntimeError(
                "Bulkhead.release() was called with no call in progress: call it exactly "
                "once per try_enter() that returned True."
            )
        self.in_use -= 1
        self.finished += 1
        self._publish(now, "CALL_FINISHED")

    def metrics(self) -> BulkheadMetrics:
        """A snapshot of the counters."""
        return BulkheadMetrics(
            available_concurrent_calls=self.available,
            max_allowed_concurrent_calls=self.max_concurrent,
            permitted=self.permitted,
            rejected=self.rejected,
            finished=self.finished,
        )

    def __repr__(self) -> str:
        return f"Bulkhead(in_use={self.in_use}/{self.max_concurrent}, max_wait={self.max_wait})"
