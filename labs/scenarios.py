"""Ready-made scenarios: small, complete worlds used by tests, benchmarks and chapters.

:func:`reference` is the *golden* scenario: a three-hop call chain (gateway → orders →
payments) with tracing, timeouts, retries with full-jitter backoff, a circuit breaker, a
flaky window and a crash. It exercises almost every path of the simulator, which is why
the team runs it in CPython and in Pyodide and compares ``journal_hash()``: if the two
runtimes disagree anywhere, this hash shows it.
"""

from __future__ import annotations

from .resilience.breaker import BreakerConfig, CircuitBreaker
from .kernel.core import Simulation
from .kernel.distributions import Exponential, LogNormal
from .kernel.messages import Response
from .kernel.result import Result
from .resilience.retry import Backoff, RetryPolicy

__all__ = ["build_reference", "parity_digests", "reference"]


def build_reference(seed: int = 7, requests: int = 300, rate: float = 100.0) -> Simulation:
    """Build (but do not run) the reference world; *requests* sets the load's length."""
    sim = Simulation(seed=seed)
    sim.network.latency = Exponential(mean=1.0)
    breaker = CircuitBreaker("payments", BreakerConfig(
        failure_rate_threshold=50.0, minimum_number_of_calls=10, sliding_window_size=20,
        wait_duration_in_open_state=500.0, permitted_number_of_calls_in_half_open_state=3))
    retry = RetryPolicy(max_attempts=3, backoff=Backoff.full_jitter(base=10, cap=200))

    def gateway(ctx, req):
        yield ctx.work(0.5)
        reply = yield ctx.call("orders", req.body, timeout=250)
        if not reply.ok:
            return Response.error(502, f"orders: {reply.reason or reply.status}")
        return reply.body

    def orders(ctx, req):
        yield ctx.work(LogNormal(2.0, 0.5))
        reply = yield ctx.call("payments", {"amount": req.body["amount"]}, timeout=50,
                               retry=retry, breaker=breaker)
        if not reply.ok:
            ctx.log("payment failed", order=req.body["id"], status=reply.status, level="warn")
            return Response.error(503, "payments unavailable")
        ctx.log("order placed", order=req.body["id"])
        return {"status": "placed", "order": req.body["id"]}

    def payments(ctx, req):
        yield ctx.work(Exponential(mean=4.0))
        ctx.count("charged", req.body["amount"])
        return {"charged": req.body["amount"]}

    sim.service("gateway", gateway, concurrency=32)
    sim.service("orders", orders, concurrency=16, queue=50)
    sim.service("payments", payments, concurrency=4, queue=20)
    duration = requests * 1000.0 / rate
    sim.load("gateway", rate=rate, duration=duration,
             body=lambda rng, i: {"id": i, "amount": 1 + int(rng.random() * 100)})
    sim.faults.flaky("payments", at=0.3 * duration, until=0.5 * duration, error_rate=0.6)
    sim.faults.crash("payments", at=0.65 * duration, restart_at=0.75 * duration)
    return sim


def reference(seed: int = 7, requests: int = 300) -> Result:
    """Run the reference scenario with *seed*; the same seed gives the same journal hash."""
    return build_reference(seed, requests).run()


def _parity(seed: int) -> str:
    """The kernel's parity digest: the reference scenario's journal hash."""
    return reference(seed=seed).journal_hash()


def parity_digests(seeds) -> dict[str, dict[str, str]]:
    """``{module: {seed: digest}}`` for every ``labs`` module that defines ``_parity(seed)``.

    Why: the same seed must give the same journal in CPython and in Pyodide. Each part a
    chapter adds defines a small ``_parity`` scenario in its own module; the browser test
    runs this function in both runtimes and compares the results, so a new part is covered
    without editing a shared list. Modules are visited in sorted order.
    """
    import importlib
    import pkgutil

    import labs

    out: dict[str, dict[str, str]] = {}
    for info in sorted(pkgutil.walk_packages(labs.__path__, "labs."), key=lambda i: i.name):
        module = importlib.import_module(info.name)
        fn = getattr(module, "_parity", None)
        if callable(fn):
            out[info.name] = {str(s): str(fn(s)) for s in seeds}
    return out
