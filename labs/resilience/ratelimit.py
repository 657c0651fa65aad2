"""Token bucket rate limiter: a steady *rate* with room for a *burst*.

Why: a server (or a client being polite) must bound the work it accepts per unit of time,
but real traffic is bursty, so a strict "one every 1/rate seconds" limiter would reject
harmless bursts. A token bucket holds up to *burst* tokens, refills continuously at *rate*
tokens per second, and each request spends tokens; over any interval of length *t* it
grants at most ``burst + rate·t`` (the classic (σ, ρ) arrival-curve bound of network
calculus, and the algorithm behind e.g. Guava's and Envoy's limiters).

Resilience4j's own ``RateLimiter`` is a different, period-based design (``limitForPeriod``
permits per ``limitRefreshPeriod``); the bucket here is the simpler model the labs use.
Time is virtual milliseconds passed in as *now*; it must not go backwards.
"""

from __future__ import annotations

import math

try:  # The package's error hierarchy, once it lands; plain ValueError until then.
    from ..kernel.errors import ConfigError as _ConfigError  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the state of the package
    _ConfigError = ValueError  # type: ignore[misc,assignment]

__all__ = ["TokenBucket"]

# Tolerance for float round-off, so that waiting exactly time_until() always succeeds.
_EPS = 1e-9


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


class TokenBucket:
    """*rate* tokens per second, capacity *burst*; starts full.

    :meth:`try_take` spends tokens if there are enough, :meth:`available` reports the
    balance, and :meth:`time_until` says how many ms until *n* tokens will be there (so a
    simulator can delay a request instead of rejecting it).
    """

    def __init__(self, rate: float, burst: float) -> None:
        if not _is_num(rate) or not 0 < rate < math.inf:
            raise _ConfigError(
                f"rate={rate!r} is out of range: it must be a finite number of tokens per "
                "second > 0. Pass e.g. 100 for 100 requests/s."
            )
        if not _is_num(burst) or not 1 <= burst < math.inf:
            raise _ConfigError(
                f"burst={burst!r} is out of range: it must be a finite capacity >= 1 token. "
                "Pass e.g. the largest burst you accept at once."
            )
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = self.burst
        self._last = -math.inf
        self.granted = 0.0
        self.denied = 0

    def _refill(self, now: float) -> None:
        if not _is_num(now):
            raise _ConfigError(f"now={now!r} is not a number of virtual milliseconds.")
        if self._last == -math.inf:
            self._last = now
            return
        if now < self._last:
            raise _ConfigError(
                f"now={now} is earlier than the last time seen ({self._last}): virtual time "
                "must not go backwards."
            )
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate / 1000.0)
        self._last = now

    def _check_n(self, n: float) -> None:
        if not _is_num(n) or n <= 0:
            raise _ConfigError(f"n={n!r} is out of range: it must be a number of tokens > 0.")

    def available(self, now: float) -> float:
        """Tokens in the bucket at *now* (never more than *burst*)."""
        self._refill(now)
        return max(0.0, self._tokens)

    def try_take(self, now: float, n: float = 1) -> bool:
        """Spend *n* tokens at *now* if there are enough; False (and nothing spent) if not."""
        self._check_n(n)
        self._refill(now)
        if self._tokens + _EPS >= n:
            # Round-off may leave the balance a hair below 0; it is carried, not forgiven,
            # so the long-run bound burst + rate·t still holds.
            self._tokens -= n
            self.granted += n
            return True
        self.denied += 1
        return False

    def time_until(self, now: float, n: float = 1) -> float:
        """Milliseconds from *now* until *n* tokens are available: 0 if they are now,
        ``math.inf`` if *n* exceeds *burst* (it never will be)."""
        self._check_n(n)
        self._refill(now)
        if n > self.burst:
            return math.inf
        missing = n - self._tokens
        if missing <= _EPS:
            return 0.0
        return missing * 1000.0 / self.rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}/s, burst={self.burst})"
