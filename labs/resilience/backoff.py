"""Backoff with jitter: how long to wait before each retry (AWS's formulas and Resilience4j's
``IntervalFunction``). The retry policy, budgets and throttling that use it are in
:mod:`labs.resilience.retry`.

*Backoff* spreads retries out in time and *jitter* stops many clients from retrying in
lock-step (Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015, and
its simulator ``aws-samples/aws-arch-backoff-simulator``). A delay is a pure function of
the attempt, the previous delay and the *rng* argument (a ``random.Random``).

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
from dataclasses import dataclass

from ..kernel.errors import ConfigError as _ConfigError

__all__ = ["Backoff"]

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
