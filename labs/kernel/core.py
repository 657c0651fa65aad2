"""The simulation: one seeded, virtual-time world per run.

Usage::

    sim = labs.Simulation(seed=7)
    sim.service("orders", handle_orders, concurrency=8)
    sim.load("orders", rate=100, duration=10_000)
    result = sim.run()

**The determinism contract.** Same code + same seed ⇒ the same journal, byte for byte,
in CPython and in Pyodide (``result.journal_hash()`` proves it). To keep it:

- *Time* is SimPy's virtual clock, in **milliseconds** (floats): ``sim.now``/``ctx.now``.
  Nothing reads the wall clock, nothing sleeps, nothing uses threads.
- *Randomness* comes only from the run's named **streams** (:mod:`labs.kernel.streams`):
  ``sim.stream(name)`` is a ``random.Random`` seeded from SHA-256 of the run's seed and
  *name*, so each source of randomness has its own sequence (common random numbers). The
  kernel's names:

  ==================================  =====================================================
  ``load:<target>#k``                 arrivals (or think times) of the k-th load on target
  ``load:<target>#k:body``            the request bodies that load makes (``body(rng, i)``)
  ``load:<target>#k:trace``           the trace ids of the requests it starts
  ``load:<target>#k:userN``           user N's think times, for a closed load
  ``work:<service>``                  ``ctx.work(distribution)`` in that service
  ``service:<service>``               ``ctx.rng``: a handler's own draws
  ``retry:<caller>-><target>``        backoff jitter of that caller's retries to target
  ``link:<src>-><dst>``               loss, duplication, latency, reordering on that link
  ``fault:<kind>:<service>#k``        the k-th slow/flaky window of that kind on service
  ``ids``                             span ids (and trace ids not started by a load)
  ``sim``                             ``sim.rng``, for code with no better name
  ==================================  =====================================================

  Within a stream, draws happen in event order, which SimPy fixes as (time, priority,
  insertion order). Two designs run from the same seed therefore get exactly the same
  arrivals and request bodies, and adding a service, a link or a fault changes no other
  stream's draws. Parts added by chapters name their streams after themselves
  (``"traffic:registry"``).
- *Order* never depends on ``hash()`` or ``id()``: no iteration over sets; dicts are
  insertion-ordered; ties are broken by a sequence number.
- *Floats* go into the hash formatted explicitly (``%.6f``), so a last-bit difference in a
  platform's ``log`` cannot change it.

This is the only module that imports ``simpy``; everything else talks to the world through
a :class:`Simulation`.

**Speed** (a 10,000-request lab must run in well under a second in Pyodide, which is
CPython compiled to WebAssembly and about twice as slow). The library's own machinery does
not use SimPy processes: calls, handler executions, messages and load arrivals are chains
of plain callbacks (see :class:`labs.context._Call` and :class:`labs.service._Execution`),
and internal timers are bare :class:`_Timer` entries on SimPy's queue, processed by the
same loop as every other event. Handlers still ``yield`` ordinary SimPy events. The cycle
collector is paused while a run goes (see :func:`_gc_paused`). None of this changes the
determinism contract: order is still SimPy's (time, priority, insertion order).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from contextlib import contextmanager
from heapq import heappop, heappush
from random import Random
from typing import Any

import simpy

from .errors import ConfigError, DuplicateServiceError, _check_number, _unknown_service
from .faults import Faults
from .journal import Journal
from .load import ClosedLoad, OpenLoad
from .network import Network
from .result import Result
from .service import Service
from .streams import Streams

__all__ = ["Simulation"]

_NORMAL = 1   # SimPy's priority of ordinary events (simpy.events.NORMAL)


@contextmanager
def _gc_paused():
    """Pause Python's cycle collector while a run goes, then restore it as it was.

    Why: a run appends hundreds of thousands of journal tuples that all survive, and the
    collector would traverse them again and again (measured: ~15% of a 10,000-request run)
    although the simulation makes almost no cyclic garbage. Pausing it changes no result.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class _Timer:
    """A bare timer entry on SimPy's event queue: only what ``Environment.step`` reads.

    Why not ``env.timeout(d).callbacks.append(fn)``: internal timers (message deliveries,
    call timeouts, backoffs, arrivals) are most of a run's events, and nothing ever yields
    them, so they need neither a value nor the rest of the ``Event`` API. Ordering is
    SimPy's own: (time, priority, insertion id).
    """

    __slots__ = ("callbacks", "arg")
    _ok = True

    def __init__(self, fn: Callable[[Any], None], arg: Any) -> None:
        self.callbacks = [fn]
        self.arg = arg   # what the callback needs (instead of a closure per timer)


class Simulation:
    """A seeded, virtual-time world: services, a network, load, faults and one journal."""

    def __init__(self, seed: int = 0, handler_errors: str = "raise") -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed must be an int, got {seed!r}. Use e.g. Simulation(seed=7).")
        if handler_errors not in ("raise", "500"):
            raise ConfigError(f"handler_errors must be 'raise' (show the traceback) or '500' (answer "
                              f"500 and log it), got {handler_errors!r}.")
        self.seed = seed
        #: The run's named random streams (see :mod:`labs.kernel.streams`): ``sim.stream(name)``.
        self.stream = Streams(seed)
        #: The stream for code that has no better name for its draws ("sim").
        self.rng = self.stream("sim")
        self._ids = self.stream("ids")   # span ids, and trace ids not started by a load
        #: What a Python exception in a handler does: ``"raise"`` it or answer ``500``.
        self.handler_errors = handler_errors
        self._env = env = simpy.Environment()
        self._queue = env._queue
        self._eid = env._eid
        self.journal = Journal()
        self.network = Network(self)
        self.faults = Faults(self)
        self.services: dict[str, Service] = {}
        self._loads: list[OpenLoad | ClosedLoad] = []
        self._breakers: list = []
        self._installed = False
        self._msg = self._key = self._req = 0

    @property
    def now(self) -> float:
        """Virtual time in ms."""
        return self._env.now

    # -- building the world --------------------------------------------------------------
    def service(self, name: str, handler: Callable, concurrency: int = 8, queue: int = 100,
                instances: int = 1, rate_limit=None, shedder=None,
                drop_expired: bool = False) -> Service:
        """Register *handler* as service *name* (see :mod:`labs.service` for the model)."""
        if name in self.services:
            raise DuplicateServiceError(f"a service named {name!r} is already registered. Service "
                                        "names must be unique; pick another name or register it once "
                                        "with instances=N for replicas.")
        svc = Service(self, name, handler, concurrency, queue, instances, rate_limit, shedder,
                      drop_expired)
        self.services[name] = svc
        return svc

    def load(self, target: str, rate: float | None = None, duration: float = 10_000,
             body: Callable[[Any, int], Any] | None = None, pattern=None, schedule=None,
             start: float = 0.0, timeout: float | None = None, budget: float | None = None,
             retry=None, arrivals: str = "poisson") -> OpenLoad:
        """Open-loop load on *target*: *rate* req/s for *duration* ms (see :mod:`labs.load`).

        *body(rng, i)* makes the i-th request body (default ``{"id": i}``); *timeout* (ms) is
        the client's per-attempt timeout; *budget* (ms) sets each request's deadline.
        """
        ld = OpenLoad(self, target, rate, duration, body, pattern, schedule, start, timeout, budget,
                      retry, arrivals)
        self._loads.append(ld)
        return ld

    def closed_load(self, target: str, users: int = 10, think=100.0, duration: float = 10_000,
                    body: Callable[[Any, int], Any] | None = None, start: float = 0.0,
                    timeout: float | None = None, budget: float | None = None,
                    retry=None) -> ClosedLoad:
        """Closed-loop load: *users* each send, wait, think (ms or distribution), repeat."""
        ld = ClosedLoad(self, target, users, think, duration, body, start, timeout, budget, retry)
        self._loads.append(ld)
        return ld

    # -- running -------------------------------------------------------------------------
    def _install(self) -> None:
        names = self.services
        for ld in self._loads:
            if ld.target not in names:
                raise _unknown_service(ld.target, names, "load target")
        for what, svc in self.faults._services():
            if svc not in names:
                raise _unknown_service(svc, names, f"service in {what}")
        for a, b in list(self.network._links):
            for n in (a, b):
                if n != "client" and n not in names:
                    raise _unknown_service(n, names, "service in network.link")
        for ga, gb, *_ in self.faults._partitions:
            for n in ga + gb:
                if n != "client" and n not in names:
                    raise _unknown_service(n, names, "service in faults.partition")
        self.faults._install()
        for ld in self._loads:
            ld._begin()
        self._installed = True

    def run(self, until: float | None = None, drain: float = 60_000.0) -> Result:
        """Run the world and return a :class:`Result` (you may call ``run`` again to go on).

        With *until* (ms) the run stops at that virtual time. Without it, the run goes on
        until nothing is left to happen, but at most *drain* ms after the last load stops
        (a request waiting forever, with no timeout, would otherwise never end the run).
        """
        if not self._installed:
            self._install()
        env = self._env
        if until is not None:
            _check_number("until", until, low=env.now, low_open=True,
                          fix=f"until is an absolute virtual time in ms after now ({env.now!r}).")
            with _gc_paused():
                self._drain(until, inclusive=False)
                env.run(until=until)   # SimPy stops *before* NORMAL events at `until`
        else:
            _check_number("drain", drain, low=0.0, fix="Pass a time in ms >= 0.")
            cap = max([ld.end for ld in self._loads] + [env.now]) + drain
            with _gc_paused():
                self._drain(cap)
            if env.peek() != math.inf and env.now < cap:
                env.run(until=cap)
        return Result(self)

    def _drain(self, cap: float, inclusive: bool = True) -> None:
        """Process every event up to time *cap* (or before it): ``Environment.step`` inlined."""
        env = self._env
        queue = self._queue
        while queue and (queue[0][0] <= cap if inclusive else queue[0][0] < cap):
            env._now, _, _, event = heappop(queue)
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)   # as Environment.step does
                exc.__cause__ = event._value
                raise exc

    def _after(self, delay: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Call ``fn(timer)`` *delay* ms from now; ``timer.arg`` is *arg* (see :class:`_Timer`)."""
        heappush(self._queue, (self._env._now + delay, _NORMAL, next(self._eid), _Timer(fn, arg)))

    # -- ids (all drawn in event order, so they are part of the deterministic trace) -----
    def _trace_id(self, rng: Random | None = None) -> str:
        return "%032x" % ((rng or self._ids).getrandbits(128) or 1)

    def _span_id(self) -> str:
        return "%016x" % (self._ids.getrandbits(64) or 1)

    def _next_msg(self) -> int:
        self._msg += 1
        return self._msg

    def _next_key(self) -> int:
        self._key += 1
        return self._key

    def _next_req(self) -> int:
        self._req += 1
        return self._req

    def __repr__(self) -> str:
        return (f"Simulation(seed={self.seed}, now={self.now:.3f} ms, services="
                f"{list(self.services)}, events={len(self.journal)})")
