"""Game days: a random fault schedule drawn from a named stream, applied with ``sim.faults``.

Why: a resilience configuration tuned against the one failure you rehearsed passes that
rehearsal and little else. A *game day* (the practice of injecting failures into a system on
purpose, on a schedule the defenders do not know: Jesse Robbins' GameDay at Amazon; Netflix's
Chaos Monkey and chaos engineering, Basiri et al., "Chaos Engineering", IEEE Software 33(3),
2016) tests the configuration against failures it was not tuned for. Here the schedule is
drawn from a seeded random stream, so an instructor can hold back a seed the learner has not
seen and still replay exactly the same day.

:func:`random_schedule` draws *count* fault windows over *duration* ms from a
``random.Random`` (pass ``sim.stream("gameday:...")`` or any seeded generator), each on one
of *services*, of one of *kinds*:

- ``slow``: every request the service starts in the window waits an extra *slow_ms* (drawn
  uniformly from the range) while holding its slot;
- ``flaky``: each request fails at once with probability *error_rate* (drawn from the range);
- ``crash``: the service is down (in-flight requests lost, new connections refused) and
  restarts at the end of the window.

Windows last between *min_length* and *max_length* ms and start after *quiet* ms (so every
day begins healthy). :meth:`FaultSchedule.apply` declares them with ``sim.faults``, which
journals each start and end. What this leaves out: network partitions and clock skew (the
kernel has both; add them to *kinds* in a later chapter), and correlated failures.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..kernel.errors import ConfigError, _check_int, _check_number

__all__ = ["FaultSchedule", "FaultWindow", "random_schedule"]

KINDS = ("slow", "flaky", "crash")


@dataclass(frozen=True)
class FaultWindow:
    """One fault: *kind* on *service* from *at* to *until* (ms), with its *param*.

    *param* is the extra delay in ms for ``slow``, the error rate for ``flaky``, and
    unused (0) for ``crash``.
    """

    kind: str
    service: str
    at: float
    until: float
    param: float = 0.0

    def describe(self) -> str:
        what = {"slow": f"+{self.param:.0f} ms", "flaky": f"{self.param:.0%} errors",
                "crash": "down"}[self.kind]
        return f"{self.at / 1000:6.1f}–{self.until / 1000:6.1f} s  {self.service:<10} {self.kind:<6} {what}"


@dataclass(frozen=True)
class FaultSchedule:
    """A list of :class:`FaultWindow`, sorted by start time."""

    windows: tuple[FaultWindow, ...]

    def apply(self, sim) -> None:
        """Declare every window with ``sim.faults`` (before ``sim.run``)."""
        for w in self.windows:
            if w.kind == "slow":
                sim.faults.slow(w.service, at=w.at, until=w.until, extra=w.param)
            elif w.kind == "flaky":
                sim.faults.flaky(w.service, at=w.at, until=w.until, error_rate=w.param)
            else:
                sim.faults.crash(w.service, at=w.at, restart_at=w.until)

    def active(self, t: float) -> list[FaultWindow]:
        """The windows in force at time *t*."""
        return [w for w in self.windows if w.at <= t < w.until]

    def describe(self) -> str:
        """One line per window, for a table in the lab."""
        return "\n".join(w.describe() for w in self.windows)

    def __len__(self) -> int:
        return len(self.windows)


def random_schedule(rng: random.Random, services: Sequence[str], duration: float,
                    count: int = 4, kinds: Sequence[str] = KINDS, quiet: float = 5_000.0,
                    min_length: float = 3_000.0, max_length: float = 10_000.0,
                    slow_ms: tuple[float, float] = (300.0, 2_000.0),
                    error_rate: tuple[float, float] = (0.2, 0.8)) -> FaultSchedule:
    """Draw a :class:`FaultSchedule` of *count* windows from *rng* (see the module docstring).

    The draws, in order, for each window: start, length, service, kind, parameter; so the
    same *rng* state always gives the same day.
    """
    if not isinstance(rng, random.Random):
        raise ConfigError(f"rng must be a random.Random (e.g. sim.stream('gameday:faults')), got "
                          f"{rng!r}.")
    services = list(services)
    if not services or not all(isinstance(s, str) and s for s in services):
        raise ConfigError(f"services must be a non-empty list of service names, got {services!r}.")
    kinds = list(kinds)
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise ConfigError(f"kinds must be a non-empty list drawn from {list(KINDS)}, got {kinds!r}.")
    duration = _check_number("duration", duration, low=0.0, low_open=True, fix="Pass ms > 0.")
    count = _check_int("count", count, low=0, fix="Use count=0 for a quiet day.")
    quiet = _check_number("quiet", quiet, low=0.0, fix="Pass ms >= 0 of healthy start.")
    lo = _check_number("min_length", min_length, low=0.0, low_open=True, fix="Pass ms > 0.")
    hi = _check_number("max_length", max_length, low=lo,
                       fix=f"max_length must be >= min_length ({lo!r}).")
    if quiet + hi >= duration:
        raise ConfigError(f"quiet ({quiet!r}) + max_length ({hi!r}) must be < duration "
                          f"({duration!r}) so that every window fits in the day.")
    for name, pair, low, high in (("slow_ms", slow_ms, 0.0, None), ("error_rate", error_rate, 0.0, 1.0)):
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ConfigError(f"{name} must be a (low, high) pair, got {pair!r}.")
        a = _check_number(f"{name}[0]", pair[0], low=low, high=high)
        _check_number(f"{name}[1]", pair[1], low=a, high=high, fix=f"{name} is (low, high), low <= high.")
    windows = []
    for _ in range(count):
        at = quiet + rng.random() * (duration - quiet - hi)
        length = lo + rng.random() * (hi - lo)
        service = services[rng.randrange(len(services))]
        kind = kinds[rng.randrange(len(kinds))]
        if kind == "slow":
            param = slow_ms[0] + rng.random() * (slow_ms[1] - slow_ms[0])
        elif kind == "flaky":
            param = error_rate[0] + rng.random() * (error_rate[1] - error_rate[0])
        else:
            param = 0.0
        windows.append(FaultWindow(kind, service, round(at, 3), round(at + length, 3),
                                   round(param, 3)))
    windows.sort(key=lambda w: (w.at, w.service, w.kind))
    return FaultSchedule(tuple(windows))


def _parity(seed: int) -> str:
    """A game day on a two-service chain: the journal's hash."""
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)

    def front(ctx, req):
        reply = yield ctx.call("back", req.body, timeout=300)
        return {"ok": reply.ok}

    def back(ctx, req):
        yield ctx.work(5.0)
        return {"ok": True}

    sim.service("front", front, concurrency=8)
    sim.service("back", back, concurrency=4)
    random_schedule(sim.stream("gameday:faults"), ["back"], 20_000, count=3).apply(sim)
    sim.load("front", rate=50, duration=20_000, arrivals="uniform")
    return sim.run().journal_hash()
