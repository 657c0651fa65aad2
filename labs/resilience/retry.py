"""Retries, done carefully: Resilience4j's retry policy, retry budgets and client-side
adaptive throttling (the waits between attempts are :mod:`labs.resilience.backoff`).

Why all four: a retry turns one failure into more load on a dependency that is probably
overloaded already. *Backoff* spreads retries out in time, *jitter* stops many clients
from retrying in lock-step (Marc Brooker, "Exponential Backoff And Jitter", AWS
Architecture Blog, 2015, and its simulator ``aws-samples/aws-arch-backoff-simulator``),
a per-request *attempt limit* bounds amplification (Resilience4j ``RetryConfig``), and a
per-client *retry budget* and *adaptive throttling* bound it across requests (Google SRE
book, ch. 21 "Handling Overload" and ch. 22 "Addressing Cascading Failures").

Everything here is a pure function of its arguments: times are virtual milliseconds passed
in as *now*, and randomness comes from the *rng* argument (a ``random.Random``).

Attempt numbering is the one :mod:`labs.resilience.backoff` describes (1 = the first retry).
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .backoff import Backoff, _check_attempt, _is_num, _num

from ..kernel.errors import ConfigError as _ConfigError

__all__ = ["AdaptiveThrottle", "RetryBudget", "RetryPolicy"]


def _default_retry_on(response: Any) -> bool:
    """Retry on exceptions and on responses that say ``ok = False``; keep anything else."""
    if isinstance(response, BaseException):
        return True
    return getattr(response, "ok", True) is False


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to call and how long to wait: Resilience4j's ``RetryConfig``.

    *max_attempts* **includes the first call** (Resilience4j's ``maxAttempts``; default 3,
    minimum 1, and 1 means "never retry"). *backoff* defaults to Resilience4j's fixed
    500 ms ``waitDuration``. *retry_on* is a predicate on the failed call's response;
    None retries on exceptions and on responses whose ``ok`` attribute is False.

    With attempts numbered from 1 (the original call), after call *attempt* fails the
    caller asks ``should_retry(attempt, response)`` and, if True, waits
    ``delay(attempt, rng, previous)`` — that wait precedes retry number *attempt*.
    """

    max_attempts: int = 3
    backoff: Backoff = Backoff.fixed(500)
    retry_on: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        m = self.max_attempts
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise _ConfigError(
                f"max_attempts={m!r} is out of range: it must be an integer >= 1. It counts "
                "the first call too (Resilience4j), so 3 means one call and two retries."
            )
        if not isinstance(self.backoff, Backoff):
            raise _ConfigError(
                f"backoff={self.backoff!r} is not a Backoff: use e.g. Backoff.fixed(500)."
            )
        if self.retry_on is not None and not callable(self.retry_on):
            raise _ConfigError(f"retry_on={self.retry_on!r} must be a callable or None.")

    def should_retry(self, attempt: int, response: Any) -> bool:
        """True if call number *attempt* (1 = the original call) failed with *response*
        in a retryable way and attempts remain."""
        _check_attempt(attempt)
        if attempt >= self.max_attempts:
            return False
        if getattr(response, "ok", False):
            # a success is never retried: *retry_on* only chooses among failures, as its
            # docstring promises (a predicate like `r.reason != "circuit open"` would
            # otherwise re-send every successful call)
            return False
        predicate = self.retry_on if self.retry_on is not None else _default_retry_on
        return bool(predicate(response))

    def delay(self, attempt: int, rng: random.Random, previous: float | None = None) -> float:
        """The wait before retry number *attempt* (see :meth:`Backoff.delay`)."""
        return self.backoff.delay(attempt, rng, previous)


class _SlidingCount:
    """Timestamps within the last *window* ms (entries at exactly ``now − window`` expire)."""

    __slots__ = ("window", "times")

    def __init__(self, window: float) -> None:
        self.window = window
        self.times: deque[float] = deque()

    def add(self, now: float) -> None:
        self.times.append(now)

    def count(self, now: float) -> int:
        horizon = now - self.window
        while self.times and self.times[0] <= horizon:
            self.times.popleft()
        return len(self.times)


def _check_now(obj: Any, now: object) -> float:
    if not _is_num(now):
        raise _ConfigError(f"now={now!r} is not a number of virtual milliseconds.")
    if now < obj._last_now:  # type: ignore[operator]
        raise _ConfigError(
            f"now={now} is earlier than the last time seen ({obj._last_now}): virtual time "
            "must not go backwards."
        )
    obj._last_now = now
    return float(now)  # type: ignore[arg-type]


class RetryBudget:
    """A per-client cap on retries as a fraction of requests (Finagle's ``RetryBudget``;
    the SRE book's "per-client retry budget", ch. 22).

    A per-request limit (``max_attempts = 3``) still lets a client triple its load when a
    dependency fails hard; a budget bounds the *extra* load to about *ratio* of it. Within
    the last *window* ms, a retry is allowed while::

        retries + 1 <= ratio · requests + min_retries_per_second · window / 1000

    The second term is Finagle's reserve, so a client with little traffic can still retry.
    Call :meth:`record_request` once per *original* request (not for retries), and
    :meth:`record_retry` for each retry actually sent (or use :meth:`try_retry`).
    """

    def __init__(
        self, ratio: float = 0.1, min_retries_per_second: float = 10, window: float = 10_000
    ) -> None:
        _num("ratio", ratio, _is_num(ratio) and 0 <= ratio < math.inf, "a number >= 0",
             "0.1 allows retries worth 10 % of requests (SRE book).")
        _num("min_retries_per_second", min_retries_per_second,
             _is_num(min_retries_per_second) and 0 <= min_retries_per_second < math.inf,
             "a number >= 0", "0 disables the reserve.")
        _num("window", window, _is_num(window) and 0 < window < math.inf,
             "a finite duration > 0 ms", "Finagle's default is 10_000 ms.")
        self.ratio = float(ratio)
        self.min_retries_per_second = float(min_retries_per_second)
        self.window = float(window)
        self._requests = _SlidingCount(self.window)
        self._retries = _SlidingCount(self.window)
        self._last_now = -math.inf
        self.denied = 0

    def record_request(self, now: float) -> None:
        """Count one original request at *now*."""
        self._requests.add(_check_now(self, now))

    def record_retry(self, now: float) -> None:
        """Count one retry sent at *now*."""
        self._retries.add(_check_now(self, now))

    def allowance(self, now: float) -> float:
        """How many retries the window allows in total at *now*."""
        _check_now(self, now)
        return (self.ratio * self._requests.count(now)
                + self.min_retries_per_second * self.window / 1000.0)

    def can_retry(self, now: float) -> bool:
        """True if one more retry at *now* stays within the budget (records nothing)."""
        return self._retries.count(now) + 1 <= self.allowance(now) + 1e-9

    def try_retry(self, now: float) -> bool:
        """:meth:`can_retry`, and if allowed, :meth:`record_retry`; counts denials."""
        if self.can_retry(now):
            self.record_retry(now)
            return True
        self.denied += 1
        return False


class AdaptiveThrottle:
    """Client-side adaptive throttling (Google SRE book, ch. 21 "Handling Overload").

    The client remembers, over the last *window* ms (two minutes in the book), how many
    requests the application attempted and how many the backend accepted, and rejects a new
    request locally with probability::

        max(0, (requests − k · accepts) / (requests + 1))

    so an overloaded backend stops paying even the cost of saying no. *k* = 2 lets about
    twice as many requests through as are being accepted; lower *k* is more aggressive.

    Protocol, per request: call :meth:`should_reject`. If it returns True the request was
    rejected locally and **has already been counted** as an attempted request (the book
    counts local rejections in *requests*, which is what keeps throttling on while the
    backend is down) — do not call :meth:`record` for it. Otherwise send the request and
    call :meth:`record` with *accepted* = whether the backend accepted it.
    """

    def __init__(self, k: float = 2.0, window: float = 120_000) -> None:
        _num("k", k, _is_num(k) and 0 < k < math.inf, "a number > 0",
             "The SRE book suggests 2.0; 1.1 is aggressive.")
        _num("window", window, _is_num(window) and 0 < window < math.inf,
             "a finite duration > 0 ms", "The SRE book uses two minutes (120_000 ms).")
        self.k = float(k)
        self.window = float(window)
        self._requests = _SlidingCount(self.window)
        self._accepts = _SlidingCount(self.window)
        self._last_now = -math.inf
        self.rejected_locally = 0

    def requests(self, now: float) -> int:
        """Requests attempted within the window at *now* (including local rejections)."""
        _check_now(self, now)
        return self._requests.count(now)

    def accepts(self, now: float) -> int:
        """Requests the backend accepted within the window at *now*."""
        _check_now(self, now)
        return self._accepts.count(now)

    def reject_probability(self, now: float) -> float:
        """``max(0, (requests − k·accepts) / (requests + 1))`` at *now*."""
        r, a = self.requests(now), self.accepts(now)
        return max(0.0, (r - self.k * a) / (r + 1))

    def should_reject(self, now: float, rng: random.Random) -> bool:
        """Draw from *rng*; True means "reject locally" (and the request is counted)."""
        p = self.reject_probability(now)
        if rng.random() < p:
            self._requests.add(now)
            self.rejected_locally += 1
            return True
        return False

    def record(self, now: float, accepted: bool) -> None:
        """Count one request that was sent at or before *now*, and whether the backend
        *accepted* it."""
        _check_now(self, now)
        self._requests.add(now)
        if accepted:
            self._accepts.add(now)
