"""Client-side load balancing: which of the listed instances gets the next call.

Each balancer chooses among the instance names a discovery view returned (see
:mod:`labs.traffic.discovery`) and counts the calls it has *outstanding* on each (sent, not
yet answered), because two of the policies need that count. The choice is made by the
client, with only what the client knows: a slow instance is visible only as calls that
stay outstanding longer.

- :class:`RoundRobin`: the next instance in turn (Envoy's ``ROUND_ROBIN`` with equal
  weights). The position is kept across calls and taken modulo the current list, so a
  list that changes size shifts the turn (a simplification).
- :class:`RandomChoice`: uniformly at random (Envoy's ``RANDOM``).
- :class:`LeastOutstanding`: the instance with the fewest outstanding calls, scanning all
  of them (AWS ALB's ``least_outstanding_requests``; Envoy's ``LEAST_REQUEST`` with
  ``selection_method: FULL_SCAN``). Ties go to the next one in round-robin order.
- :class:`PowerOfTwo`: draw two distinct instances at random and take the one with fewer
  outstanding calls; on a tie, the first drawn (Envoy's ``LEAST_REQUEST``, whose default
  ``choice_count`` is 2: Mitzenmacher's "power of two choices").

Randomness comes from the ``random.Random`` you pass (in a lab: a named stream,
``sim.stream("traffic:lb:orders")``), never from the ``random`` module's globals.

Sources: Envoy docs, *Load balancing: supported load balancers*, and
``least_request_lb.h``; M. Mitzenmacher, "The Power of Two Choices in Randomized Load
Balancing", IEEE TPDS 12(10), 2001; AWS, *Application Load Balancer target groups:
routing algorithm*.
"""

from __future__ import annotations

from random import Random

from ..kernel.errors import ConfigError

__all__ = ["Balancer", "LeastOutstanding", "PowerOfTwo", "RandomChoice", "RoundRobin"]


class Balancer:
    """Base class: ``pick(names)`` one of *names*; ``call(ctx, names, ...)`` picks and calls it."""

    name = "balancer"

    def __init__(self) -> None:
        self.outstanding: dict[str, int] = {}
        self.picked: dict[str, int] = {}

    def _choose(self, names: list[str]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def pick(self, names, exclude=()) -> str | None:
        """One of *names* (a list of instance names) not in *exclude*; None if none is left."""
        if isinstance(names, str):
            raise ConfigError(f"pick() takes a list of instance names, got the str {names!r}; "
                              "wrap it: pick([name]).")
        cands = [n for n in names if n not in exclude]
        if not cands:
            return None
        choice = cands[0] if len(cands) == 1 else self._choose(cands)
        self.picked[choice] = self.picked.get(choice, 0) + 1
        return choice

    def call(self, ctx, names, exclude=(), **call_options):
        """Pick an instance and ``ctx.call`` it; use as ``resp = yield from lb.call(ctx, names)``.

        Answers 503 "no endpoints" at once if nothing is left to pick. The call counts as
        outstanding on its instance until its answer (or its timeout) comes back. The
        response's ``service`` is the instance that was called (also for a timeout).
        """
        from ..kernel.messages import Response

        target = self.pick(names, exclude)
        if target is None:
            return Response(503, None, "no endpoints")
        out = self.outstanding
        out[target] = out.get(target, 0) + 1
        try:
            resp = yield ctx.call(target, **call_options)
        finally:
            out[target] -= 1
        if not resp.service:
            resp.service = target
        return resp


class RoundRobin(Balancer):
    """The next instance in turn."""

    name = "round robin"

    def __init__(self) -> None:
        super().__init__()
        self._next = 0

    def _choose(self, names: list[str]) -> str:
        choice = names[self._next % len(names)]
        self._next += 1
        return choice


def _rng(rng) -> Random:
    if not isinstance(rng, Random):
        raise ConfigError(f"rng must be a random.Random, got {rng!r}. In a lab pass a named "
                          "stream: sim.stream('traffic:lb:orders').")
    return rng


class RandomChoice(Balancer):
    """Uniformly at random, from *rng*."""

    name = "random"

    def __init__(self, rng: Random) -> None:
        super().__init__()
        self.rng = _rng(rng)

    def _choose(self, names: list[str]) -> str:
        return names[self.rng.randrange(len(names))]


class LeastOutstanding(Balancer):
    """The instance with the fewest outstanding calls (a full scan; ties in turn)."""

    name = "least outstanding"

    def __init__(self) -> None:
        super().__init__()
        self._next = 0

    def _choose(self, names: list[str]) -> str:
        n = len(names)
        start = self._next % n
        self._next += 1
        out = self.outstanding
        best = None
        best_count = 0
        for k in range(n):
            name = names[(start + k) % n]
            c = out.get(name, 0)
            if best is None or c < best_count:
                best, best_count = name, c
        return best


class PowerOfTwo(Balancer):
    """Two distinct instances at random; the one with fewer outstanding calls (tie: the first)."""

    name = "power of two choices"

    def __init__(self, rng: Random) -> None:
        super().__init__()
        self.rng = _rng(rng)

    def _choose(self, names: list[str]) -> str:
        rng = self.rng
        n = len(names)
        i = rng.randrange(n)
        j = rng.randrange(n - 1)
        if j >= i:
            j += 1
        a, b = names[i], names[j]
        out = self.outstanding
        return b if out.get(b, 0) < out.get(a, 0) else a


def _parity(seed: int) -> str:
    """Four balancers over three instances, one of them slow; the run's digest."""
    from ..kernel.core import Simulation
    from ..kernel.distributions import Exponential

    sim = Simulation(seed=seed)
    names = ["payments-1", "payments-2", "payments-3"]
    lbs = [RoundRobin(), RandomChoice(sim.stream("traffic:lb:random")), LeastOutstanding(),
           PowerOfTwo(sim.stream("traffic:lb:p2c"))]

    def payments(ctx, req):
        yield ctx.work(Exponential(mean=5.0))
        return {"ok": True}

    def orders(ctx, req):
        lb = lbs[req.body["id"] % 4]
        return (yield from lb.call(ctx, names, timeout=100))

    for n in names:
        sim.service(n, payments, concurrency=4)
    sim.faults.slow("payments-2", at=0.0, extra=30.0)
    sim.service("orders", orders, concurrency=64)
    sim.load("orders", rate=200, duration=2_000)
    return sim.run().journal_hash()
