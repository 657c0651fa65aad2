"""Simulation testing: run an invariant over many seeds and fault schedules, find a failing
case, and shrink it to the smallest failing history.

Why: FoundationDB's engineers built their database to run inside a deterministic simulator
(one thread, simulated network, disks and clocks, seeded randomness) and spent most of their
testing effort there: millions of simulated runs with injected faults, each reproducible
from its seed (Will Wilson, "Testing Distributed Systems w/ Deterministic Simulation",
Strange Loop 2014; the FoundationDB SIGMOD 2021 paper, section on simulation testing). A
failure found on seed 4 711 is replayed exactly, as many times as needed, under a debugger.
This course's simulator is such a world, so the same method applies to the shop.

:func:`explore` draws, for each seed, a few random **fault plans** (crashes, slow and flaky
windows on the services you name; drawn from a ``random.Random`` derived from the seed, so
the search itself is reproducible), runs your world with each, and stops at the first run
your invariant rejects. :func:`shrink` then makes that case as small as it can while it
still fails, in the spirit of QuickCheck and test.check shrinking: it drops faults one at a
time, halves each fault window, moves each fault earlier, and halves then bisects the number
of requests (*size*).
What is left is usually one fault and a request or two: a history short enough to draw
with ``labs.viz.sequence`` and read.

A plan is a tuple of dicts, one per fault, in the shape of ``sim.faults``' methods:
``{"kind": "crash", "service": s, "at": t, "restart_at": t2}``, ``{"kind": "slow",
"service": s, "at": t, "until": t2, "extra": ms}``, ``{"kind": "flaky", "service": s,
"at": t, "until": t2, "error_rate": p}``; :func:`apply_plan` installs one on a simulation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any

from ..kernel.errors import ConfigError, _check_int, _check_number
from ..kernel.streams import stream_seed

__all__ = ["Case", "apply_plan", "explore", "random_plan", "shrink"]

_KINDS = ("crash", "slow", "flaky")


def _check_plan(plan: Any) -> tuple:
    if not isinstance(plan, (list, tuple)):
        raise ConfigError(f"a fault plan is a list of fault dicts, got {plan!r}.")
    for f in plan:
        if not isinstance(f, dict) or f.get("kind") not in _KINDS or "service" not in f:
            raise ConfigError(f"each fault is a dict with kind in {_KINDS} and a service, got {f!r}; "
                              "e.g. {'kind': 'slow', 'service': 'payments', 'at': 100, "
                              "'until': 300, 'extra': 200}.")
    return tuple(dict(f) for f in plan)


def apply_plan(sim, plan) -> None:
    """Install every fault of *plan* on *sim* (through ``sim.faults``)."""
    for f in _check_plan(plan):
        k, s = f["kind"], f["service"]
        if k == "crash":
            sim.faults.crash(s, at=f["at"], restart_at=f.get("restart_at"))
        elif k == "slow":
            sim.faults.slow(s, at=f["at"], until=f.get("until"), extra=f["extra"])
        else:
            sim.faults.flaky(s, at=f["at"], until=f.get("until"), error_rate=f["error_rate"])


def random_plan(rng: Random, services: Sequence[str], horizon: float, max_faults: int = 3,
                kinds: Sequence[str] = _KINDS) -> tuple:
    """A random fault plan: 0..*max_faults* faults on *services* within [0, *horizon*] ms."""
    if not isinstance(rng, Random):
        raise ConfigError("random_plan needs a random.Random (e.g. random.Random(seed)), never the "
                          "random module's globals.")
    if isinstance(services, str) or not services:
        raise ConfigError(f"services must be a non-empty list of service names, got {services!r}.")
    horizon = _check_number("horizon", horizon, low=0.0, low_open=True,
                            fix="Pass the length of the run's traffic in ms.")
    max_faults = _check_int("max_faults", max_faults, low=0, fix="Use e.g. max_faults=3.")
    bad = [k for k in kinds if k not in _KINDS]
    if bad or not kinds:
        raise ConfigError(f"kinds must be a non-empty subset of {_KINDS}, got {kinds!r}.")
    plan = []
    for _ in range(rng.randint(1 if max_faults else 0, max_faults)):
        kind = rng.choice(list(kinds))
        service = rng.choice(list(services))
        at = round(rng.uniform(0, horizon), 1)
        length = round(rng.uniform(0.05, 0.3) * horizon, 1)
        if kind == "crash":
            plan.append({"kind": "crash", "service": service, "at": at, "restart_at": at + length})
        elif kind == "slow":
            plan.append({"kind": "slow", "service": service, "at": at, "until": at + length,
                         "extra": round(rng.uniform(20, 400), 1)})
        else:
            plan.append({"kind": "flaky", "service": service, "at": at, "until": at + length,
                         "error_rate": round(rng.uniform(0.1, 0.6), 2)})
    return tuple(plan)


@dataclass
class Case:
    """One run: its *seed*, fault *plan*, *size* and what the invariant said (*violations*)."""

    seed: int
    plan: tuple
    size: int | None
    violations: list
    result: Any = field(repr=False, default=None)
    tried: int = 0

    def __str__(self) -> str:
        size = "" if self.size is None else f", size={self.size}"
        lines = [f"seed={self.seed}{size}, {len(self.plan)} fault(s), "
                 f"{len(self.violations)} violation(s), {self.tried} runs tried"]
        lines += [f"  fault: {f}" for f in self.plan]
        lines += [f"  violation: {v}" for v in self.violations[:5]]
        return "\n".join(lines)


class _Runner:
    def __init__(self, run: Callable, invariant: Callable) -> None:
        if not callable(run) or not callable(invariant):
            raise ConfigError("explore needs run(seed, plan[, size]) -> result and "
                              "invariant(result) -> list of violations (empty: it held).")
        params = inspect.signature(run).parameters
        self.sized = "size" in params
        d = params["size"].default if self.sized else None
        self.default_size = d if isinstance(d, int) and not isinstance(d, bool) else None
        self.run, self.invariant, self.tried = run, invariant, 0

    def __call__(self, seed: int, plan: tuple, size: int | None) -> Case:
        self.tried += 1
        res = self.run(seed, plan, size=size) if self.sized and size is not None else self.run(seed, plan)
        vs = self.invariant(res)
        if vs is None:
            raise ConfigError("the invariant returned None; return a list of violations "
                              "(empty when it held).")
        return Case(seed, plan, size, list(vs), res)


def explore(run: Callable, invariant: Callable, seeds: Iterable[int] = range(20),
            plans: int = 5, services: Sequence[str] = (), horizon: float = 1_000.0,
            max_faults: int = 3, kinds: Sequence[str] = _KINDS, size: int | None = None
            ) -> Case | None:
    """The first (seed, plan) whose run *invariant* rejects, or None if every run held.

    For each seed, the no-fault plan is tried first, then *plans* random plans drawn from a
    ``random.Random`` seeded from the seed and the name ``"verification:explore"``.
    *run(seed, plan)* (or *run(seed, plan, size=…)*) builds and runs the world.
    """
    plans = _check_int("plans", plans, low=0, fix="Use e.g. plans=5 random fault plans per seed.")
    runner = _Runner(run, invariant)
    if size is None:
        size = runner.default_size
    for seed in seeds:
        rng = Random(stream_seed(seed, "verification:explore"))
        candidates = [()] + [random_plan(rng, services, horizon, max_faults, kinds)
                             for _ in range(plans)] if services else [()]
        for plan in candidates:
            case = runner(seed, plan, size)
            if case.violations:
                case.tried = runner.tried
                return case
    return None


def shrink(run: Callable, invariant: Callable, case: Case, max_runs: int = 200) -> Case:
    """The smallest variant of *case* that still fails: fewer faults, shorter and earlier
    windows, fewer requests (if *run* takes ``size``). At most *max_runs* extra runs.

    Greedy, like test.check's shrinking: each step keeps a change only if the run still
    fails, so the result is a local minimum, not necessarily the global one.
    """
    if not isinstance(case, Case) or not case.violations:
        raise ConfigError("shrink needs a failing Case, as explore returns it.")
    max_runs = _check_int("max_runs", max_runs, low=1, fix="Use e.g. max_runs=200.")
    runner = _Runner(run, invariant)
    best = case

    def attempt(plan, size):
        nonlocal best
        if runner.tried >= max_runs:
            return False
        c = runner(best.seed, plan, size)
        if c.violations:
            best = c
            return True
        return False

    i = 0                                   # 1. drop faults one at a time
    while i < len(best.plan):
        if not attempt(best.plan[:i] + best.plan[i + 1:], best.size):
            i += 1
    for i in range(len(best.plan)):         # 2. halve each fault's window while it fails
        for _ in range(6):
            f = dict(best.plan[i])
            end_key = "restart_at" if f["kind"] == "crash" else "until"
            if f.get(end_key) is None or f[end_key] - f["at"] < 1.0:
                break
            f[end_key] = round(f["at"] + (f[end_key] - f["at"]) / 2, 3)
            if not attempt(best.plan[:i] + (f,) + best.plan[i + 1:], best.size):
                break
    for i in range(len(best.plan)):         # 3. move each fault earlier while it fails
        for _ in range(8):
            f = dict(best.plan[i])
            if f["at"] < 1.0:
                break
            shift = f["at"] / 2
            f["at"] = round(f["at"] - shift, 3)
            for end_key in ("restart_at", "until"):
                if f.get(end_key) is not None:
                    f[end_key] = round(f[end_key] - shift, 3)
            if not attempt(best.plan[:i] + (f,) + best.plan[i + 1:], best.size):
                break
    if runner.sized and best.size is not None:   # 4. halve, then bisect, the size
        lo, hi = 0, best.size
        while hi > 1 and attempt(best.plan, hi // 2):
            hi //= 2
        lo = hi // 2 if hi > 1 else 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if attempt(best.plan, mid):
                hi = mid
            else:
                lo = mid
    best.tried = case.tried + runner.tried
    return best


def _parity_text(seed: int) -> str:
    from ..kernel.core import Simulation
    from ..kernel.messages import Response

    def run(s, plan, size=20):
        sim = Simulation(seed=s)
        seen: dict = {}

        def orders(ctx, req):
            reply = yield ctx.call("payments", req.body, timeout=30)
            return reply.body if reply.ok else Response.error(503, "payments")

        def payments(ctx, req):
            yield ctx.work(5.0)
            seen[req.body["id"]] = seen.get(req.body["id"], 0) + 1
            return {"ok": True}

        sim.service("orders", orders)
        sim.service("payments", payments)
        apply_plan(sim, plan)
        sim.load("orders", rate=50, duration=size * 20, arrivals="uniform")
        res = sim.run()
        res.seen = seen
        return res

    def invariant(res):
        return [f"request {rid} failed" for rid, r in enumerate(res.requests) if not r.ok]

    case = explore(run, invariant, seeds=range(seed, seed + 5), plans=4,
                   services=["payments"], horizon=400, kinds=("crash", "slow"))
    if case is None:
        return "none"
    small = shrink(run, invariant, case)
    return f"{case}\n{small}"


def _parity(seed: int) -> str:
    """A digest of a small deterministic scenario (compared between CPython and Pyodide)."""
    from hashlib import sha256

    return sha256(_parity_text(seed).encode("utf-8")).hexdigest()
