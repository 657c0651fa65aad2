"""Load generators: open loop (arrivals at a rate) and closed loop (users who wait).

Why both: an *open* loop keeps sending at its rate whatever the latency, like traffic from
the internet, so queues and timeouts pile up when a service slows down; a *closed* loop
of *users* sends only after the previous answer plus a think time, so slowness lowers the
offered load instead (and hides overload). The gap between the two is a course topic.

Arrivals are Poisson by default: exponential gaps drawn from the load's own stream. A rate that
changes over time is a step *schedule* ``[(t, rate), ...]`` (t in ms from the load's
start); :class:`Burst` is a shorthand for one temporary step. At a step boundary the next
gap is redrawn, which is exact for Poisson arrivals because they have no memory.

Each client request is journaled as ``request.start``/``request.end`` (node ``"client"``)
and becomes one :class:`RequestOutcome` in ``result.requests``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .context import _Call, _validate_call
from .distributions import Distribution, as_distribution
from .errors import ConfigError, _check_int, _check_number

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulation

__all__ = ["Burst", "ClosedLoad", "OpenLoad", "RequestOutcome"]


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What one client saw: *outcome* is ``"ok"``, ``"error"``, ``"timeout"`` or ``"unfinished"``."""

    id: int
    service: str
    start: float
    end: float | None
    latency: float | None
    ok: bool
    status: int
    reason: str
    trace_id: str
    attempts: int

    @property
    def outcome(self) -> str:
        """One word for the outcome (a request still open when the run stopped is "unfinished")."""
        if self.end is None:
            return "unfinished"
        if self.ok:
            return "ok"
        return "timeout" if self.status == 504 else "error"


@dataclass(frozen=True)
class Burst:
    """During ``[at, at + length)`` ms (from the load's start) the rate becomes *rate* req/s."""

    at: float
    length: float
    rate: float

    def __post_init__(self) -> None:
        _check_number("Burst(at)", self.at, low=0.0, fix="Use a start time in ms >= 0.")
        _check_number("Burst(length)", self.length, low=0.0, low_open=True, fix="Use a length in ms > 0.")
        _check_number("Burst(rate)", self.rate, low=0.0, fix="Use a rate in requests/s >= 0.")

    def steps(self, base: float) -> list[tuple[float, float]]:
        """The step schedule this burst makes on top of a *base* rate."""
        return [(0.0, base), (self.at, self.rate), (self.at + self.length, base)]


def _schedule(rate, pattern, schedule) -> list[tuple[float, float]]:
    if schedule is not None:
        steps = []
        for i, item in enumerate(schedule):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ConfigError(f"schedule[{i}] must be a (t_ms, rate) pair, got {item!r}.")
            t = _check_number(f"schedule[{i}] time", item[0], low=0.0, finite=True,
                              fix="Times are ms >= 0.")
            r = _check_number(f"schedule[{i}] rate", item[1], low=0.0, finite=True,
                              fix="Rates are requests/s >= 0.")
            steps.append((t, r))
        if not steps or steps[0][0] != 0.0:
            steps.insert(0, (0.0, float(rate or 0.0)))
        if any(b[0] < a[0] for a, b in zip(steps, steps[1:])):
            raise ConfigError("schedule times must be in increasing order, e.g. [(0, 50), (5000, 200)].")
        return steps
    base = _check_number("rate", rate, low=0.0, finite=True,
                         fix="Pass requests per second, e.g. rate=100.")
    if pattern is not None:
        if not isinstance(pattern, Burst):
            raise ConfigError(f"pattern must be a labs.Burst(at, length, rate), got {pattern!r}; "
                              "for any other shape pass schedule=[(t_ms, rate), ...].")
        return pattern.steps(base)
    return [(0.0, base)]


class _Load:
    def __init__(self, sim: Simulation, target: str, duration: float, body, start: float,
                 timeout, budget, retry) -> None:
        self._sim = sim
        self.target = target
        if sim._installed:
            raise ConfigError("load was added after sim.run(): it would never start. Add every "
                              "load before the first run, or build a fresh Simulation.")
        self.duration = _check_number("duration", duration, low=0.0, low_open=True, finite=True,
                                      fix="Pass how long the load runs, in ms, e.g. duration=10_000.")
        self.start = _check_number("start", start, low=0.0, finite=True,
                                   fix="Pass a start time in ms >= 0.")
        if body is not None and not callable(body):
            raise ConfigError(f"body must be a function body(rng, i) -> dict, got {body!r}.")
        self.body = body
        _validate_call(timeout, None)
        self.timeout = timeout
        if budget is not None:
            _check_number("budget", budget, low=0.0, low_open=True,
                          fix="budget is the deadline in ms after each request starts, e.g. budget=500.")
        self.budget = budget
        self.retry = retry
        self.sent = 0
        # This load's own streams (see labs.kernel.core): "load:<target>#k", k counting the
        # loads already on that target, for arrivals/think times, bodies and trace ids.
        k = sum(1 for ld in sim._loads if ld.target == target)
        self.stream_name = name = f"load:{target}#{k}"
        self._rng = sim.stream(name)
        self._body_rng = sim.stream(name + ":body")
        self._trace_rng = sim.stream(name + ":trace")

    @property
    def end(self) -> float:
        """Virtual time when this load stops sending."""
        return self.start + self.duration

    def _request(self, then: Callable[[], Any] | None = None) -> None:
        """Send one client request, journaled as request.start/request.end; then *then()*."""
        sim = self._sim
        env = sim._env
        add = sim.journal.add
        i = self.sent
        self.sent += 1
        body = {"id": i} if self.body is None else self.body(self._body_rng, i)
        rid = sim._next_req()
        trace = sim._trace_id(self._trace_rng)
        now = env._now
        deadline = None if self.budget is None else now + self.budget
        target = self.target
        add(now, "request.start", "client", target, trace, "", "", rid, 0, 0, 0.0, "")

        def done(resp) -> None:
            t = env._now
            add(t, "request.end", "client", target, trace, "", "", rid, 0, resp.status, t - now,
                resp.reason, (("attempts", resp.attempts),))
            if then is not None:
                then()

        _Call(sim, "client", trace, "", target, body, self.timeout, deadline, self.retry, None,
              None, None, None, done)


class OpenLoad(_Load):
    """Open-loop load: arrivals at a rate (req/s), whatever the service does; ``sim.load(...)``."""

    def __init__(self, sim: Simulation, target: str, rate: float | None = None, duration: float = 10_000,
                 body: Callable[[Any, int], Any] | None = None, pattern: Burst | None = None,
                 schedule: Sequence[tuple[float, float]] | None = None, start: float = 0.0,
                 timeout: float | None = None, budget: float | None = None, retry=None,
                 arrivals: str = "poisson") -> None:
        super().__init__(sim, target, duration, body, start, timeout, budget, retry)
        if rate is None and schedule is None:
            raise ConfigError("sim.load needs rate= (requests/s) or schedule=[(t_ms, rate), ...].")
        self.steps = _schedule(rate, pattern, schedule)
        if arrivals not in ("poisson", "uniform"):
            raise ConfigError(f"arrivals must be 'poisson' or 'uniform', got {arrivals!r}.")
        self.arrivals = arrivals

    # Arrivals are a chain of timer callbacks (no SimPy process: see labs.context._Call).
    def _begin(self) -> None:
        sim = self._sim
        env = sim._env
        if self.start > env._now:
            sim._after(self.start - env._now, self._first)
        else:
            self._first()

    def _first(self, _ev=None) -> None:
        self._t0 = self._sim._env._now
        self._idx = 0
        self._tick()

    def _tick(self, _ev=None) -> None:
        """Schedule the next arrival (or the next step of the schedule, or stop)."""
        sim = self._sim
        env = sim._env
        rel = env._now - self._t0
        steps = self.steps
        idx = self._idx
        while idx + 1 < len(steps) and steps[idx + 1][0] <= rel:
            idx += 1
        self._idx = idx
        rate = steps[idx][1]
        nxt = steps[idx + 1][0] if idx + 1 < len(steps) else math.inf
        if rate <= 0:
            if nxt < self.duration:
                sim._after(nxt - rel, self._tick)
            return
        gap = 1000.0 / rate
        if self.arrivals == "poisson":
            gap *= -math.log(1.0 - self._rng.random())
        if rel + gap >= nxt and nxt < self.duration:
            # memoryless: redraw at the new rate
            sim._after(nxt - rel, self._tick)
        elif rel + gap < self.duration:
            sim._after(gap, self._arrive)

    def _arrive(self, _ev) -> None:
        self._tick()      # draw the next gap first, then this request's body and ids
        self._request()


class ClosedLoad(_Load):
    """Closed-loop load: *users* who each send, wait for the answer, think, repeat."""

    def __init__(self, sim: Simulation, target: str, users: int = 10,
                 think: Distribution | float = 100.0, duration: float = 10_000,
                 body: Callable[[Any, int], Any] | None = None, start: float = 0.0,
                 timeout: float | None = None, budget: float | None = None, retry=None) -> None:
        super().__init__(sim, target, duration, body, start, timeout, budget, retry)
        self.users = _check_int("users", users, low=1, fix="Use users=1 or more.")
        self.think = as_distribution(think, "think")

    # Each user is a chain of callbacks: think, request, (answer) think, request, ...
    def _begin(self) -> None:
        sim = self._sim
        env = sim._env
        if self.start > env._now:
            sim._after(self.start - env._now, self._users)
        else:
            self._users()

    def _users(self, _ev=None) -> None:
        sim = self._sim
        # each user thinks from its own stream, so a user's think times do not depend on
        # how fast the others were answered
        self._user_rngs = [sim.stream(f"{self.stream_name}:user{u}") for u in range(self.users)]
        for u in range(self.users):
            self._think(u)   # stagger the first requests

    def _think(self, u: int) -> None:
        self._sim._after(self.think.sample(self._user_rngs[u]), self._next, u)

    def _next(self, timer) -> None:
        if self._sim._env._now < self.end:
            u = timer.arg
            self._request(lambda: self._think(u))
