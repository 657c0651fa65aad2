"""Probability distributions for latencies, service times and think times (in ms).

Why our own instead of ``random.expovariate`` & co.: the course promises the same trace
byte for byte in CPython and in Pyodide, across Python versions. Each distribution here
draws only ``rng.random()`` from the run's own generator and applies a fixed, written-down
formula, so a draw never depends on how a given Python release implements a helper.
Every distribution is immutable, validates its parameters, and knows its ``mean``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from random import Random

from .errors import ConfigError, _check_number, _check_probability

__all__ = ["Constant", "Distribution", "Exponential", "LogNormal", "Mixture", "Normal",
           "Uniform", "as_distribution"]


class Distribution:
    """Base class: ``sample(rng) -> float`` (never negative) and a ``mean`` attribute."""

    __slots__ = ()
    mean: float

    def sample(self, rng: Random) -> float:  # pragma: no cover - abstract
        """Draw one value from *rng*."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))


class Constant(Distribution):
    """Always the same *value*: the easiest way to make a diagram readable."""

    __slots__ = ("value", "mean")

    def __init__(self, value: float) -> None:
        self.value = self.mean = _check_number("Constant(value)", value, low=0.0,
                                               fix="Latencies and durations cannot be negative.")

    def sample(self, rng: Random) -> float:
        """Return the constant (consumes no randomness)."""
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


class Uniform(Distribution):
    """Uniform between *lo* and *hi*: bounded jitter."""

    __slots__ = ("lo", "hi", "mean")

    def __init__(self, lo: float, hi: float) -> None:
        self.lo = _check_number("Uniform(lo)", lo, low=0.0, fix="Use lo >= 0.")
        self.hi = _check_number("Uniform(hi)", hi, low=self.lo, fix="Use hi >= lo.")
        self.mean = (self.lo + self.hi) / 2

    def sample(self, rng: Random) -> float:
        """Return ``lo + (hi - lo) * u``."""
        return self.lo + (self.hi - self.lo) * rng.random()

    def __repr__(self) -> str:
        return f"Uniform({self.lo!r}, {self.hi!r})"


class Exponential(Distribution):
    """Exponential with the given *mean*: memoryless gaps (Poisson arrivals), long-ish tails."""

    __slots__ = ("mean",)

    def __init__(self, mean: float) -> None:
        self.mean = _check_number("Exponential(mean)", mean, low=0.0,
                                  fix="Pass the average in milliseconds, e.g. Exponential(mean=2.0).")

    def sample(self, rng: Random) -> float:
        """Return ``-mean * ln(1 - u)`` (inverse transform)."""
        return -self.mean * math.log(1.0 - rng.random())

    def __repr__(self) -> str:
        return f"Exponential(mean={self.mean!r})"


class Normal(Distribution):
    """Normal(*mean*, *sd*) clipped below at *floor* (time cannot run backwards)."""

    __slots__ = ("mean", "sd", "floor")

    def __init__(self, mean: float, sd: float, floor: float = 0.0) -> None:
        self.mean = _check_number("Normal(mean)", mean, low=0.0, fix="Use a mean >= 0 ms.")
        self.sd = _check_number("Normal(sd)", sd, low=0.0, fix="Use a standard deviation >= 0.")
        self.floor = _check_number("Normal(floor)", floor, low=0.0, fix="Use floor >= 0.")

    def sample(self, rng: Random) -> float:
        """Box–Muller with two uniforms (the second normal is discarded: no hidden state)."""
        u1, u2 = rng.random(), rng.random()
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        return max(self.floor, self.mean + self.sd * z)

    def __repr__(self) -> str:
        return f"Normal({self.mean!r}, {self.sd!r}, floor={self.floor!r})"


class LogNormal(Distribution):
    """Log-normal given its *median* and *sigma*: the classic long-tailed service latency."""

    __slots__ = ("median", "sigma", "mean")

    def __init__(self, median: float, sigma: float) -> None:
        self.median = _check_number("LogNormal(median)", median, low=0.0, low_open=True,
                                    fix="Use the typical latency in ms, e.g. LogNormal(10, 0.5).")
        self.sigma = _check_number("LogNormal(sigma)", sigma, low=0.0,
                                   fix="sigma is the spread of ln(latency); 0.25-1.0 is typical.")
        self.mean = self.median * math.exp(self.sigma ** 2 / 2)

    def sample(self, rng: Random) -> float:
        """Return ``median * exp(sigma * z)`` with z from Box–Muller."""
        u1, u2 = rng.random(), rng.random()
        z = math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
        return self.median * math.exp(self.sigma * z)

    def __repr__(self) -> str:
        return f"LogNormal({self.median!r}, {self.sigma!r})"


class Mixture(Distribution):
    """A weighted mix ``[(p, dist), ...]``: e.g. 99% fast path, 1% slow garbage-collection path."""

    __slots__ = ("parts", "mean", "_cum")

    def __init__(self, parts: Sequence[tuple[float, Distribution]]) -> None:
        parts = list(parts)
        if not parts:
            raise ConfigError("Mixture(parts) needs at least one (probability, distribution) pair, "
                              "e.g. Mixture([(0.99, Constant(5)), (0.01, Constant(500))]).")
        total = 0.0
        cum = []
        for i, item in enumerate(parts):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ConfigError(f"Mixture(parts)[{i}] must be a (probability, distribution) pair, "
                                  f"got {item!r}.")
            p, d = item
            _check_probability(f"Mixture(parts)[{i}] probability", p)
            total += p
            cum.append(total)
            as_distribution(d, f"Mixture(parts)[{i}] distribution")
        if abs(total - 1.0) > 1e-9:
            raise ConfigError(f"Mixture(parts) probabilities must add up to 1, got {total!r}. "
                              "Adjust the weights so they sum to 1.")
        self.parts = tuple((float(p), as_distribution(d)) for p, d in parts)
        self._cum = tuple(cum)
        self.mean = sum(p * d.mean for p, d in self.parts)

    def sample(self, rng: Random) -> float:
        """Pick a part by one uniform draw, then sample it."""
        u = rng.random()
        for c, (_, d) in zip(self._cum, self.parts):
            if u < c:
                return d.sample(rng)
        return self.parts[-1][1].sample(rng)

    def __repr__(self) -> str:
        return f"Mixture({list(self.parts)!r})"


def as_distribution(value: object, name: str = "latency") -> Distribution:
    """Accept a :class:`Distribution` or a plain non-negative number (meaning ``Constant``)."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(name, value, low=0.0, fix=f"Pass a duration in ms >= 0 or a distribution "
                      f"such as labs.Exponential(mean=2.0) for {name}.")
        return Constant(value)
    raise ConfigError(f"{name} must be a number of ms or a labs distribution "
                      f"(Constant, Uniform, Exponential, Normal, LogNormal, Mixture), got {value!r}.")
