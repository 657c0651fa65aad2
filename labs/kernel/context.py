"""What a handler sees: ``ctx`` — the clock, the rng, work, calls, logs and metrics.

A handler is a generator function ``handler(ctx, req)`` in SimPy's process style: it
``yield``s ``ctx.work(ms)`` to spend service time and ``yield``s ``ctx.call(...)`` to wait
for another service. Everything it records (logs, metrics, spans) carries the request's
trace id, which is how the course shows correlation across services.

``ctx.call`` composes the resilience parts in the order real clients do (Resilience4j's
decorator order): *bulkhead* around *retry* around *deadline/breaker/timeout* around the
single attempt. Each attempt is a client span; each retry is journaled with its backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from .distributions import Distribution
from .errors import ConfigError, DeadlineError, _check_number, _unknown_service
from .messages import Request, Response

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulation

__all__ = ["Context"]

_INF = float("inf")
_NUMBER = (int, float)   # exact types (not bool) that skip validation on the hot path


class Context:
    """Per-request handle given to handlers: ``ctx.work``, ``ctx.call``, ``ctx.log``, ``ctx.now``."""

    __slots__ = ("_sim", "service", "instance", "request", "trace_id", "span_id", "deadline")

    def __init__(self, sim: Simulation, service: str, instance: int, request: Request,
                 span_id: str) -> None:
        self._sim = sim
        self.service = service
        self.instance = instance
        self.request = request
        self.trace_id = request.trace_id
        self.span_id = span_id
        self.deadline = request.deadline

    @property
    def now(self) -> float:
        """Virtual time in ms (the same for every service: use :meth:`wall_clock` for skew)."""
        return self._sim._env._now

    @property
    def rng(self):
        """This service's own random stream, ``sim.stream("service:<name>")``: draw from it,
        never from the ``random`` module (so another service's draws never shift yours)."""
        return self._sim.stream("service:" + self.service)

    @property
    def traceparent(self) -> str:
        """W3C ``traceparent`` of this handler's span, as it would go on outgoing calls."""
        return f"00-{self.trace_id}-{self.span_id}-01"

    def wall_clock(self) -> float:
        """This service's *wall clock* (ms): virtual time plus any ``faults.clock_skew`` offset."""
        sim = self._sim
        return sim._env._now + sim.faults._skew(self.service, sim._env._now)

    def work(self, ms: float | Distribution):
        """Spend *ms* of service time (a number or a distribution); yield the result."""
        if isinstance(ms, Distribution):
            ms = ms.sample(self._sim.stream("work:" + self.service))
        elif not (type(ms) in _NUMBER and 0 <= ms < _INF):   # also refuses nan and inf
            _check_number("ctx.work(ms)", ms, low=0.0, finite=True,
                          fix="Pass the service time in ms, e.g. ctx.work(3.0).")
        return self._sim._env.timeout(ms)

    sleep = work

    def call(self, target: str, body: Any = None, timeout: float | None = None,
             deadline: float | None = None, retry=None, breaker=None, bulkhead=None,
             hedge: float | None = None, budget=None):
        """Call *target*; ``yield`` it to get a :class:`labs.Response` (never raises for remote errors).

        *timeout* (ms) bounds each attempt; *deadline* is an absolute virtual time that also
        travels to downstream calls (the tighter of yours and ``ctx.deadline`` wins); *retry*
        is a ``RetryPolicy``, *budget* a ``RetryBudget``, *breaker* a ``CircuitBreaker``,
        *bulkhead* a ``Bulkhead``; *hedge* (ms) sends a second copy if no answer came by then.
        """
        sim = self._sim
        if target not in sim.services:
            raise _unknown_service(target, sim.services)
        now = sim._env._now
        if deadline is not None:
            _check_number("deadline", deadline, fix="Pass an absolute time such as ctx.now + 200.")
            if deadline < now:
                raise DeadlineError(
                    f"deadline={deadline!r} is already in the past (now is {now!r} ms). A deadline is "
                    f"an absolute virtual time: pass ctx.now + budget, e.g. deadline=ctx.now + 200.")
            if self.deadline is not None:
                deadline = min(deadline, self.deadline)
        else:
            deadline = self.deadline
        if hedge is not None or not (timeout is None or type(timeout) in _NUMBER and 0 < timeout < _INF):
            _validate_call(timeout, hedge)   # the slow path, which also explains the mistake
        if retry is not None or breaker is not None or bulkhead is not None or budget is not None:
            _validate_parts(retry, breaker, bulkhead, budget)
        done = sim._env.event()
        _Call(sim, self.service, self.trace_id, self.span_id, target, body, timeout, deadline,
              retry, breaker, bulkhead, hedge, budget, partial(_fire, done))
        return done

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        """Write a structured log line; it carries this request's trace and span ids."""
        sim = self._sim
        data = tuple(sorted(fields.items()))
        if level != "info":
            data = tuple(sorted(data + (("level", level),)))
        sim.journal.add(sim._env._now, "log", self.service, "", self.trace_id, self.span_id, "",
                        0, 0, 0, 0.0, str(message), data)

    def count(self, name: str, n: float = 1) -> None:
        """Add *n* to counter *name* of this service (read it with ``metrics.counter``)."""
        self._metric(name, n, "counter")

    def observe(self, name: str, value: float) -> None:
        """Record one observation of *name* (read it with ``metrics.histogram(service, name)``)."""
        self._metric(name, value, "histogram")

    def _metric(self, name: str, value: float, kind: str) -> None:
        sim = self._sim
        sim.journal.add(sim._env._now, "metric", self.service, "", self.trace_id, self.span_id, "",
                        0, 0, 0, float(value), name, (("type", kind),))


def _fire(ev, value: Any) -> None:
    """Succeed *ev* and run its callbacks now, as ``Environment.step`` would when it came up.

    Why not ``ev.succeed(value)``: that schedules one more event per call just to resume the
    caller in the same instant. Running the callbacks here resumes it at once, in the
    order things happened; an event nobody waits for yet is simply already processed.
    """
    ev._ok = True
    ev._value = value
    callbacks, ev.callbacks = ev.callbacks, None
    for callback in callbacks:
        callback(ev)


def _validate_call(timeout: float | None, hedge: float | None) -> None:
    if timeout is not None:
        _check_number("timeout", timeout, low=0.0, low_open=True, finite=True,
                      fix="Pass the per-attempt timeout in ms, e.g. timeout=50, or None to wait forever.")
    if hedge is not None:
        _check_number("hedge", hedge, low=0.0, low_open=True,
                      fix="Pass the delay in ms after which a hedged copy is sent, e.g. hedge=20.")


# What each resilience part must offer (the kernel checks shapes, not classes, so it never
# imports the resilience layer): the wrong object fails here, not deep inside a run.
_PARTS = {
    "retry": (("max_attempts", "delay"), "labs.RetryPolicy(max_attempts=3, backoff=labs.Backoff.fixed(50))"),
    "breaker": (("acquire", "on_error", "on_success", "add_listener"),
                "labs.CircuitBreaker('payments', labs.BreakerConfig())"),
    "bulkhead": (("try_enter", "release"), "labs.Bulkhead(max_concurrent=10)"),
    "budget": (("can_retry", "record_request", "record_retry"), "labs.RetryBudget(ratio=0.1)"),
}
_CHECKED: set = set()


def _validate_parts(retry, breaker, bulkhead, budget) -> None:
    for what, part in (("retry", retry), ("breaker", breaker), ("bulkhead", bulkhead),
                       ("budget", budget)):
        if part is None or (what, type(part)) in _CHECKED:
            continue
        needs, example = _PARTS[what]
        missing = [n for n in needs if not hasattr(part, n)]
        if missing:
            raise ConfigError(f"ctx.call({what}=...) needs a {what} object such as {example}, got "
                              f"{part!r} (it has no {', '.join(missing)}).")
        _CHECKED.add((what, type(part)))


def _should_retry(retry, attempt: int, resp: Response) -> bool:
    if attempt >= retry.max_attempts:
        return False
    should = getattr(retry, "should_retry", None)
    if should is not None:
        return bool(should(attempt, resp))
    pred = getattr(retry, "retry_on", None)
    return (not resp.ok) if pred is None else bool(pred(resp))


def _watch(sim: Simulation, breaker) -> None:
    """Journal breaker state transitions as ``state`` events (once per breaker object).

    A breaker keeps its window and clock, so one used by another Simulation would carry that
    run's state (and its later virtual time) into this one: refused with the fix."""
    for b in sim._breakers:
        if b is breaker:
            return
    owner = getattr(breaker, "_labs_simulation", None)
    if owner is not None and owner is not sim:
        raise ConfigError(f"this breaker ({getattr(breaker, 'name', 'breaker')!r}) was already used "
                          "by another Simulation: its window and clock belong to that run. Build "
                          "a fresh CircuitBreaker for each run (e.g. in the function that builds "
                          "the world).")
    try:
        breaker._labs_simulation = sim
    except AttributeError:   # a breaker with __slots__: cannot be marked, nothing to check
        pass
    sim._breakers.append(breaker)
    name = getattr(breaker, "name", "breaker")

    def listener(now, event_name, from_state, to_state, _n=name):
        # Journal at the simulation's clock (a breaker may report a lazily computed, earlier
        # transition time; that goes in ``value`` so journal times never run backwards).
        sim.journal.add(sim._env._now, "state", str(_n), "", "", "", "", 0, 0, 0, float(now),
                        f"{from_state}->{to_state}", (("event", str(event_name)),))

    breaker.add_listener(listener)
    breaker.add_listener(lambda *_: _arm(sim, breaker))


def _arm(sim: Simulation, breaker) -> None:
    """Schedule the breaker's next *time-driven* transition (automatic OPEN → HALF_OPEN,
    the end of the HALF_OPEN maximum wait) so it is journaled when it is due, as
    Resilience4j's scheduler fires it, not at the next call. A stale timer (the breaker
    moved on meanwhile) finds nothing due and does nothing."""
    due = getattr(breaker, "next_transition_time", lambda: None)()
    if due is not None:
        def fire(_timer, _due=due):
            now = sim._env._now
            breaker.advance(_due if 0 < _due - now < 1e-6 else now)  # float rounding of now+delay

        sim._after(max(0.0, due - sim._env._now), fire)


class _Call:
    """One logical call with its retries, driven by callbacks; ends by calling *then(resp)*.

    Why callbacks and not a SimPy process: a process costs two scheduled events (start and
    end) and a generator resume per step, and a call is the hottest path of every lab (a
    10,000-request run makes tens of thousands). Here each step is a plain callback on the
    event that causes it (a reply, a timer, a backoff), so the only events are the ones
    that *mean* something in virtual time. The order of what happens inside one call is
    unchanged: deadline check, breaker, attempt (a client span), retry decision, backoff.
    """

    __slots__ = ("sim", "caller", "trace", "parent", "target", "body", "timeout", "deadline",
                 "retry", "breaker", "bulkhead", "hedge", "budget", "then", "key", "attempt",
                 "prev", "open", "t0", "span", "reason")

    def __init__(self, sim: Simulation, caller: str, trace: str, parent: str, target: str,
                 body: Any, timeout, deadline, retry, breaker, bulkhead, hedge, budget,
                 then: Callable[[Response], Any]) -> None:
        self.sim = sim
        self.caller = caller
        self.trace = trace
        self.parent = parent
        self.target = target
        self.body = body
        self.timeout = timeout
        self.deadline = deadline
        self.retry = retry
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.hedge = hedge
        self.budget = budget
        self.then = then
        self.key = key = sim._next_key()
        self.attempt = 0
        self.prev = 0.0
        self.open = 0      # the attempt whose answer we are waiting for (0: none)
        now = sim._env._now
        if bulkhead is not None and not bulkhead.try_enter(now):
            sim.journal.add(now, "reject", caller, target, trace, "", parent, 0, key, 503, 0.0,
                            "bulkhead full")
            then(Response(503, None, "bulkhead full", 0))
            return
        if breaker is not None:
            _watch(sim, breaker)
        if budget is not None:
            budget.record_request(now)
        self._next()

    def _next(self, _ev=None) -> None:
        """Start the next attempt (or answer without one: deadline passed, circuit open)."""
        sim = self.sim
        self.attempt += 1
        now = sim._env._now
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            sim.journal.add(now, "reject", self.caller, self.target, self.trace, "", self.parent,
                            0, self.key, 504, 0.0, "deadline exceeded")
            self._finish(Response(504, None, "deadline exceeded"))
        elif self.breaker is not None and not self.breaker.acquire(now):
            sim.journal.add(now, "reject", self.caller, self.target, self.trace, "", self.parent,
                            0, self.key, 503, 0.0, "circuit open")
            self._decide(Response(503, None, "circuit open"))
        else:
            self._start_attempt(now, deadline)

    def _start_attempt(self, now: float, deadline) -> None:
        """One attempt = one client span: send, and arm the timeout and the hedge timers."""
        sim = self.sim
        env = sim._env
        a = self.attempt
        self.open = a
        self.t0 = now
        self.span = span = sim._span_id()
        timeout = tmo = self.timeout
        if deadline is not None:
            left = deadline - now
            tmo = left if tmo is None or left < tmo else tmo
        sim.journal.add(now, "span.start", self.caller, self.target, self.trace, span, self.parent,
                        0, self.key, 0, 0.0, "client")
        self._send("request")
        if tmo is not None:
            self.reason = ("timeout" if timeout is not None and tmo == timeout
                           else "deadline exceeded")
            sim._after(tmo, self._expire, a)
        hedge = self.hedge
        if hedge is not None and (tmo is None or hedge < tmo):
            sim._after(hedge, self._hedge, a)

    # Timers and replies name the attempt they belong to; one that is no longer open is stale.
    def _expire(self, timer) -> None:
        if self.open == timer.arg:
            self._settle(Response(504, None, self.reason))

    def _hedge(self, timer) -> None:
        if self.open == timer.arg:
            self._send("hedge")

    def _reply(self, req: Request, resp: Response) -> None:
        """The server's answer to *req* (called by the network when the response arrives)."""
        if self.open == req.attempt:
            self._settle(resp)

    def _send(self, note: str) -> None:
        sim = self.sim
        req = Request(sim._next_msg(), self.key, self.body, self.caller, self.target, self.trace,
                      self.span, self.deadline, self.attempt, sim._env._now)
        sim.network._post(self.caller, self.target, note, self.trace, self.span, self.parent,
                          req.msg, self.key, 0, sim.services[self.target]._accept,
                          (req, self._reply))

    def _settle(self, resp: Response) -> None:
        """The open attempt got its answer (or timed out): end its span, tell the breaker."""
        self.open = 0
        sim = self.sim
        t = sim._env._now
        sim.journal.add(t, "span.end", self.caller, self.target, self.trace, self.span,
                        self.parent, 0, self.key, resp.status, t - self.t0, "client",
                        (("reason", resp.reason),) if resp.reason else ())
        breaker = self.breaker
        if breaker is not None:
            if resp.status >= 500 or resp.status == 0:
                breaker.on_error(t, t - self.t0)
            else:
                breaker.on_success(t, t - self.t0)
        self._decide(resp)

    def _decide(self, resp: Response) -> None:
        """Retry decision: give up with *resp*, or journal a retry and back off."""
        retry = self.retry
        if retry is None or not _should_retry(retry, self.attempt, resp):
            self._finish(resp)
            return
        sim = self.sim
        env = sim._env
        budget = self.budget
        if budget is not None and not budget.can_retry(env._now):
            sim.journal.add(env._now, "reject", self.caller, self.target, self.trace, "",
                            self.parent, 0, self.key, resp.status, 0.0, "retry budget exhausted")
            self._finish(resp)
            return
        delay = float(retry.delay(self.attempt, sim.stream(f"retry:{self.caller}->{self.target}"),
                                  self.prev))
        if self.deadline is not None and env._now + delay >= self.deadline:
            self._finish(resp)
            return
        sim.journal.add(env._now, "retry", self.caller, self.target, self.trace, "", self.parent,
                        0, self.key, resp.status, delay, resp.reason or str(resp.status))
        if budget is not None:
            budget.record_retry(env._now)
        self.prev = delay
        if delay > 0:
            sim._after(delay, self._next)
        else:
            self._next()

    def _finish(self, resp: Response) -> None:
        if self.bulkhead is not None:
            self.bulkhead.release(self.sim._env._now)
        resp.attempts = self.attempt
        self.then(resp)
