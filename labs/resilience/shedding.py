"""Load shedding: refuse work early and cheaply when a server is already full.

Why: an overloaded server that accepts everything serves *nobody* well; queues grow, every
request waits longer than its caller's deadline, and the work done is wasted (Google SRE
book, ch. 21 "Handling Overload" and ch. 22 "Addressing Cascading Failures": shed load,
bound queues, and drop requests that have waited too long). Rejecting the excess at once
keeps latency low for the requests that are admitted and tells callers to back off.

Two policies, both pure functions of what the simulator passes in:

* :class:`LoadShedder`: static limits on in-flight work, queue length and queue delay.
* :class:`CoDelPolicy`: Facebook's variant of CoDel (Nichols & Jacobson, "Controlling
  Queue Delay", ACM Queue 2012; Maurer, "Fail at Scale", ACM Queue 2015): if the queue
  has not been empty within the last *interval* ms it is a standing queue, so queued
  requests get only *target* ms before they are dropped; otherwise they get *interval* ms.
"""

from __future__ import annotations

import math

try:  # The package's error hierarchy, once it lands; plain ValueError until then.
    from ..kernel.errors import ConfigError as _ConfigError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the state of the package
    _ConfigError = ValueError  # type: ignore[misc,assignment]

__all__ = ["CoDelPolicy", "LoadShedder"]


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def _optional_limit(name: str, v: object, integer: bool) -> None:
    if v is None:
        return
    ok = isinstance(v, int) and not isinstance(v, bool) if integer else _is_num(v)
    if not ok or v < 0:  # type: ignore[operator]
        kind = "an integer >= 0" if integer else "a duration >= 0 ms"
        raise _ConfigError(
            f"{name}={v!r} is out of range: it must be {kind}, or None for no limit."
        )


class LoadShedder:
    """Admit a request only while the server is under every configured limit.

    *max_in_flight*: requests admitted and not yet finished (queued + executing);
    *max_queue*: requests waiting for a worker; *max_queue_delay*: how long (ms) the
    oldest queued request has waited. None disables a limit. A request is shed when
    ``in_flight >= max_in_flight``, ``queue_length >= max_queue`` or
    ``oldest_wait > max_queue_delay`` (checked in that order). :attr:`last_reason` is the
    name of the limit that shed the last request, or None if it was admitted;
    :attr:`shed_by_reason` counts sheds per limit.
    """

    REASONS = ("max_in_flight", "max_queue", "max_queue_delay")

    def __init__(
        self,
        max_in_flight: int | None = None,
        max_queue: int | None = None,
        max_queue_delay: float | None = None,
    ) -> None:
        _optional_limit("max_in_flight", max_in_flight, integer=True)
        _optional_limit("max_queue", max_queue, integer=True)
        _optional_limit("max_queue_delay", max_queue_delay, integer=False)
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.max_queue_delay = None if max_queue_delay is None else float(max_queue_delay)
        self.last_reason: str | None = None
        self.admitted = 0
        self.shed = 0
        self.shed_by_reason = {r: 0 for r in self.REASONS}

    def admit(
        self, now: float, queue_length: int, in_flight: int, oldest_wait: float = 0.0
    ) -> bool:
        """True to accept a request arriving at *now*; False to shed it (see
        :attr:`last_reason`)."""
        for name, v in (("queue_length", queue_length), ("in_flight", in_flight),
                        ("oldest_wait", oldest_wait)):
            if not _is_num(v) or v < 0:
                raise _ConfigError(f"{name}={v!r} must be a number >= 0.")
        reason: str | None = None
        if self.max_in_flight is not None and in_flight >= self.max_in_flight:
            reason = "max_in_flight"
        elif self.max_queue is not None and queue_length >= self.max_queue:
            reason = "max_queue"
        elif self.max_queue_delay is not None and oldest_wait > self.max_queue_delay:
            reason = "max_queue_delay"
        self.last_reason = reason
        if reason is None:
            self.admitted += 1
            return True
        self.shed += 1
        self.shed_by_reason[reason] += 1
        return False


class CoDelPolicy:
    """How long a queued request may wait, adapting to whether the queue is standing.

    Call :meth:`observe` whenever the queue length changes (at least when it becomes 0)
    and :meth:`should_drop` when a worker picks a request that has waited *waited* ms.
    Facebook's defaults are *target* = 5 ms and *interval* = 100 ms.
    """

    def __init__(self, target: float = 5.0, interval: float = 100.0) -> None:
        if not _is_num(target) or not 0 < target < math.inf:
            raise _ConfigError(f"target={target!r} is out of range: it must be a duration > 0 ms.")
        if not _is_num(interval) or not target <= interval < math.inf:
            raise _ConfigError(
                f"interval={interval!r} is out of range: it must be a duration >= target "
                f"({target} ms). Facebook uses 100 ms with a 5 ms target."
            )
        self.target = float(target)
        self.interval = float(interval)
        self._last_empty = 0.0  # time starts with an empty queue
        self.dropped = 0

    def observe(self, now: float, queue_length: int) -> None:
        """Tell the policy the queue length at *now*."""
        if queue_length == 0:
            self._last_empty = now

    def overloaded(self, now: float) -> bool:
        """True if the queue has not been empty within the last *interval* ms."""
        return self._last_empty < now - self.interval

    def timeout(self, now: float) -> float:
        """The longest a request may have queued: *target* when overloaded, else
        *interval*."""
        return self.target if self.overloaded(now) else self.interval

    def should_drop(self, now: float, waited: float) -> bool:
        """True if a request dequeued at *now* after *waited* ms should be dropped."""
        drop = waited > self.timeout(now)
        self.dropped += drop
        return drop
