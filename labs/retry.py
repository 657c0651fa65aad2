"""Retries, done carefully: backoff with jitter, Resilience4j's retry policy, retry budgets
and client-side adaptive throttling.

Why all four: a retry turns one failure into more load on a dependency that is probably
overloaded already. *Backoff* spreads retries out in time, *jitter* stops many clients
from retrying in lock-step (Marc Brooker, "Exponential Backoff And Jitter", AWS
Architecture Blog, 2015, and its simulator ``aws-samples/aws-arch-backoff-simulator``),
a per-request *attempt limit* bounds amplification (Resilience4j ``RetryConfig``), and a
per-client *retry budget* and *adaptive throttling* bound it across requests (Google SRE
book, ch. 21 "Handling Overload" and ch. 22 "Addressing Cascading Failures").

Everything here is a pure function of its arguments: times are virtual milliseconds passed
in as *now*, and randomness comes from the *rng* argument (a ``random.Random``).

Attempt numbering, used throughout: ``attempt`` is **1 for the first retry** (the second
call), 2 for the second retry, and so on. The AWS formulas use ``n = attempt``, as the AWS
simulator does (its client increments ``attempt`` before calling ``backoff(attempt)``), so
the first retry's ceiling is ``base·2``. Resilience4j's ``IntervalFunction`` is applied to
the same ``attempt`` but uses ``initial·multiplier^(attempt−1)``, so its first retry waits
``initial``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

try:  # The package's error hierarchy, once it lands; plain ValueError until then.
    from .errors import ConfigError as _ConfigError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the state of the package
    _ConfigError = ValueError  # type: ignore[misc,assignment]

__all__ = ["AdaptiveThrottle", "Backoff", "RetryBudget", "RetryPolicy"]

_KINDS = ("fixed", "exponential", "full_jitter", "equal_jitter", "decorrelated",
          "resilience4j_exponential_random")


def _num(name: str, v: object, ok: bool, accepted: str, fix: str) -> None:
    bad = not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)
    if bad or not ok:
        raise _ConfigError(f"{name}={v!r} is out of range: it must be {accepted}. {fix}")


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def _check_attempt(attempt: object) -> int:
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise _ConfigError(
            f"attempt={attempt!r} is out of range: it must be an integer >= 1 "
            "(1 is the first retry)."
        )
    return attempt


@dataclass(frozen=True)
class Backoff:
    """How long to wait before a retry. Build one with a constructor, then call
    :meth:`delay`.

    ============================================  ===========================================
    constructor                                   delay before retry ``attempt`` (n = attempt)
    ============================================  ===========================================
    ``Backoff.fixed(ms)``                         ``ms``
    ``Backoff.exponential(base, cap, mult)``      ``min(cap, base·mult^n)``
    ``Backoff.full_jitter(base, cap)``            ``uniform(0, min(cap, base·2^n))``
    ``Backoff.equal_jitter(base, cap)``           ``v/2 + uniform(0, v/2)``, ``v`` as above
    ``Backoff.decorrelated(base, cap)``           ``min(cap, uniform(base, previous·3))``
    ``Backoff.resilience4j_exponential_random``   Resilience4j ``ofExponentialRandomBackoff``
    ============================================  ===========================================

    The first four jitter formulas are Brooker's (AWS); he found full jitter does the least
    work and decorrelated jitter finishes soonest among them. Decorrelated jitter needs the
    previous delay: pass it as *previous* (None means "no previous delay", taken as *base*,
    as the AWS simulator initialises ``sleep = base``).

    ``resilience4j_exponential_random`` is **not** AWS full jitter: it spreads the
    exponential value ``v = initial·multiplier^(attempt−1)`` by ± ``randomization_factor``
    around ``v`` (never down to 0), exactly as Resilience4j's ``IntervalFunctionCompanion.
    randomize`` does: ``v − f·v + random()·(2·f·v + 1)``, truncated to whole ms, then capped
    at *max* (the ``+ 1`` is Resilience4j's and is kept for fidelity).
    """

    kind: str
    base: float
    cap: float = math.inf
    multiplier: float = 2.0
    randomization_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise _ConfigError(
                f"kind={self.kind!r} is not a backoff kind: build one with Backoff.fixed(...), "
                "Backoff.exponential(...), Backoff.full_jitter(...), Backoff.equal_jitter(...), "
                "Backoff.decorrelated(...) or Backoff.resilience4j_exponential_random(...)."
            )

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def fixed(cls, ms: float) -> Backoff:
        """The same wait before every retry (Resilience4j's default is 500 ms)."""
        _num("ms", ms, _is_num(ms) and 0 <= ms < math.inf, "a finite duration >= 0 ms",
             "Pass e.g. 500.")
        return cls("fixed", float(ms), float(ms), 1.0)

    @classmethod
    def exponential(cls, base: float, cap: float, multiplier: float = 2.0) -> Backoff:
        """``min(cap, base·multiplier^attempt)``: no jitter, so clients stay in lock-step."""
        cls._check_base_cap(base, cap)
        _num("multiplier", multiplier, _is_num(multiplier) and multiplier >= 1.0,
             "a number >= 1.0", "1.0 gives a fixed delay; 2.0 doubles each retry.")
        return cls("exponential", float(base), float(cap), float(multiplier))

    @classmethod
    def full_jitter(cls, base: float, cap: float) -> Backoff:
        """``uniform(0, min(cap, base·2^attempt))`` (Brooker's "Full Jitter")."""
        cls._check_base_cap(base, cap)
        return cls("full_jitter", float(base), float(cap))

    @classmethod
    def equal_jitter(cls, base: float, cap: float) -> Backoff:
        """``v/2 + uniform(0, v/2)`` with ``v = min(cap, base·2^attempt)``."""
        cls._check_base_cap(base, cap)
        return cls("equal_jitter", float(base), float(cap))

    @classmethod
    def decorrelated(cls, base: float, cap: float) -> Backoff:
        """``min(cap, uniform(base, previous·3))`` (Brooker's "Decorrelated Jitter")."""
        cls._check_base_cap(base, cap)
        return cls("decorrelated", float(base), float(cap), 3.0)

    @classmethod
    def resilience4j_exponential_random(
        cls,
        initial: float = 500,
        multiplier: float = 1.5,
        randomization_factor: float = 0.5,
        max: float | None = None,  # noqa: A002 - Resilience4j's parameter name
    ) -> Backoff:
        """Resilience4j's ``IntervalFunction.ofExponentialRandomBackoff(initial, multiplier,
        randomizationFactor[, maxInterval])``; defaults 500 ms, 1.5, 0.5, no cap."""
        _num("initial", initial, _is_num(initial) and 1 <= initial < math.inf,
             "a finite duration >= 1 ms", "Resilience4j rejects intervals under 1 ms.")
        _num("multiplier", multiplier, _is_num(multiplier) and multiplier >= 1.0,
             "a number >= 1.0", "Resilience4j's default is 1.5.")
        _num("randomization_factor", randomization_factor,
             _is_num(randomization_factor) and 0 <= randomization_factor < 1,
             "in [0, 1)", "0.5 spreads each delay over ±50 %.")
        cap = math.inf if max is None else max
        _num("max", cap, _is_num(cap) and cap >= 1, "a duration >= 1 ms, or None for no cap",
             "Pass e.g. 30_000.")
        return cls("resilience4j_exponential_random", float(initial), float(cap),
                   float(multiplier), float(randomization_factor))

    @staticmethod
    def _check_base_cap(base: float, cap: float) -> None:
        _num("base", base, _is_num(base) and 0 < base < math.inf, "a finite duration > 0 ms",
             "Pass e.g. 100.")
        _num("cap", cap, _is_num(cap) and cap >= base, f"a duration >= base ({base} ms)",
             "cap bounds every delay; use math.inf for no cap.")

    # -- delays -----------------------------------------------------------------------
    def ceiling(self, attempt: int) -> float:
        """The largest delay :meth:`delay` can return for this *attempt* (for decorrelated
        jitter, the cap)."""
        n = _check_attempt(attempt)
        k = self.kind
        if k == "fixed":
            return self.base
        if k in ("exponential", "full_jitter", "equal_jitter"):
            return self._expo(n)
        if k == "decorrelated":
            return self.cap
        v = self._r4j_interval(n)
        return min(self.cap, float(math.floor(v + self.randomization_factor * v + 1)))

    def _expo(self, n: int) -> float:
        # min(cap, base·mult^n) without overflowing for large n.
        try:
            v = self.base * self.multiplier**n
        except OverflowError:
            return self.cap
        return min(self.cap, v)

    def _r4j_interval(self, attempt: int) -> float:
        # IntervalFunction.of(initial, x -> (long) (x * multiplier)): truncates each step.
        v = self.base
        for _ in range(attempt - 1):
            v = float(math.floor(v * self.multiplier))
            if v > 1e300:
                return math.inf
        return v

    def delay(self, attempt: int, rng: random.Random, previous: float | None = None) -> float:
        """The wait in ms before retry number *attempt* (1 = first retry), drawing any
        randomness from *rng*. *previous* is the previous delay (used only by
        decorrelated jitter)."""
        n = _check_attempt(attempt)
        k = self.kind
        if k == "fixed":
            return self.base
        if k == "exponential":
            return self._expo(n)
        if k == "full_jitter":
            return rng.uniform(0.0, self._expo(n))
        if k == "equal_jitter":
            v = self._expo(n)
            return v / 2 + rng.uniform(0.0, v / 2)
        if k == "decorrelated":
            prev = self.base if previous is None else previous
            if not _is_num(prev) or prev < 0:
                raise _ConfigError(f"previous={previous!r} must be a delay >= 0 ms, or None.")
            return min(self.cap, rng.uniform(self.base, prev * 3))
        # resilience4j_exponential_random
        v = self._r4j_interval(n)
        if math.isinf(v):
            return self.cap
        delta = self.randomization_factor * v
        lo, hi = v - delta, v + delta
        randomized = lo + rng.random() * (hi - lo + 1)
        return min(self.cap, float(math.floor(randomized)))


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
