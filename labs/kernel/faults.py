"""Fault injection, kept apart from services: crash, slow, flaky, partition, clock skew.

Why apart: a handler should read like production code; faults are what the *world* does
to it (Maelstrom's nemesis). Every fault is a time window in virtual ms and is journaled
as a ``fault`` event when it starts and when it ends, so diagrams and checkers can show
*why* something failed. Windows are declared before ``sim.run``; service names are
checked when the run starts (so you may declare faults before services).

- ``crash``: in-flight and queued requests are lost (callers time out); while down, new
  requests are refused at once (503 "connection refused" after one network trip).
- ``slow``: each request starting in the window first waits an extra delay *while holding
  its slot* (a GC pause or a cold cache), so slowness also causes queueing.
- ``flaky``: each request starting in the window fails with 500 "injected fault" with
  probability *error_rate*, before the handler runs.
- ``partition``: messages between the two groups are dropped (both directions).
- ``clock_skew``: shifts ``ctx.wall_clock()`` of one service; virtual time is unaffected.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .distributions import Distribution, as_distribution
from .errors import ConfigError, _check_number, _check_probability

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulation

__all__ = ["Faults"]

_INF = math.inf


class Faults:
    """The fault schedule of a simulation; ``sim.faults``."""

    def __init__(self, sim: Simulation) -> None:
        self._sim = sim
        self._windows: list[tuple] = []     # (kind, service, at, until, param)
        self._crashes: list[tuple] = []     # (service, at, restart_at, instance)
        self._skews: list[tuple] = []       # (service, at, until, offset)
        self._partitions: list[tuple] = []  # (a, b, at, until)

    def _window(self, what: str, at: float, until: float | None) -> tuple[float, float]:
        if self._sim._installed:
            raise ConfigError(f"faults.{what} was added after sim.run(): faults are scheduled when "
                              "the run starts, so it would never happen. Add every fault before "
                              "the first run, or build a fresh Simulation.")
        at = _check_number(f"{what}(at)", at, low=0.0, finite=True,
                           fix="Times are virtual ms from the start, >= 0.")
        if until is None:
            return at, _INF
        until = _check_number(f"{what}(until)", until, low=at, low_open=True,
                              fix=f"The fault must end after it starts (at={at!r}); use until=None "
                              "for 'until the end of the run'.")
        return at, until

    def crash(self, service: str, at: float, restart_at: float | None = None,
              instance: int | None = None) -> None:
        """Crash *service* (all instances, or one *instance*) at *at*; restart at *restart_at*."""
        a, b = self._window("crash", at, restart_at)
        self._crashes.append((service, a, b, instance))

    def slow(self, service: str, at: float, until: float | None = None,
             extra: Distribution | float = 100.0) -> None:
        """Add an *extra* delay (ms or distribution) to each request *service* starts in the window."""
        a, b = self._window("slow", at, until)
        self._windows.append(("slow", service, a, b, as_distribution(extra, "slow(extra)")))

    def flaky(self, service: str, at: float, until: float | None = None,
              error_rate: float = 0.5) -> None:
        """Fail each request *service* starts in the window with probability *error_rate*."""
        a, b = self._window("flaky", at, until)
        self._windows.append(("flaky", service, a, b, _check_probability("error_rate", error_rate)))

    def partition(self, group_a, group_b, at: float, until: float | None = None) -> None:
        """Drop every message between a node of *group_a* and a node of *group_b*."""
        a, b = self._window("partition", at, until)
        ga, gb = _group("group_a", group_a), _group("group_b", group_b)
        if set(ga) & set(gb):
            raise ConfigError(f"partition groups overlap on {sorted(set(ga) & set(gb))!r}: a node "
                              "cannot be on both sides. Remove it from one group.")
        self._partitions.append((ga, gb, a, b))

    def clock_skew(self, service: str, at: float = 0.0, offset: float = 0.0,
                   until: float | None = None) -> None:
        """Shift *service*'s ``ctx.wall_clock()`` by *offset* ms from *at* (virtual time unchanged)."""
        a, b = self._window("clock_skew", at, until)
        off = _check_number("offset", offset, fix="Pass a number of ms, e.g. offset=+500.")
        self._skews.append((service, a, b, off))

    # -- used by the simulation ----------------------------------------------------------
    def _services(self) -> list[tuple[str, str]]:
        """(what, service name) pairs to validate when the run starts."""
        out = [(f"faults.{k}", s) for k, s, *_ in self._windows]
        out += [("faults.crash", c[0]) for c in self._crashes]
        out += [("faults.clock_skew", s[0]) for s in self._skews]
        return out

    def _install(self) -> None:
        sim = self._sim
        env = sim._env
        add = sim.journal.add

        def at(t: float, fn) -> None:
            if t != _INF:
                env.timeout(max(0.0, t - env.now)).callbacks.append(lambda _e: fn())

        def mark(t: float, service: str, note: str) -> None:
            at(t, lambda: add(env.now, "fault", service, "", "", "", "", 0, 0, 0, 0.0, note))

        for kind, svc, a, b, _ in self._windows:
            mark(a, svc, f"{kind} start")
            mark(b, svc, f"{kind} end")
        for svc, a, b, inst in self._crashes:
            s = sim.services[svc]
            mark(a, svc, "crash")
            at(a, lambda s=s, inst=inst: s._crash(inst))
            mark(b, svc, "restart")
            at(b, lambda s=s, inst=inst: s._restart(inst))
        for svc, a, b, off in self._skews:
            mark(a, svc, f"clock skew {off:+g} ms")
            if b != _INF:
                mark(b, svc, "clock skew end")
        for ga, gb, a, b in self._partitions:
            label = f"partition {'+'.join(sorted(ga))} | {'+'.join(sorted(gb))}"
            mark(a, ",".join(sorted(ga)), label)
            mark(b, ",".join(sorted(ga)), label.replace("partition", "heal"))
            sim.network._partition(frozenset(ga), frozenset(gb), a, b)

    def _effects(self, service: str, now: float) -> tuple[float, bool]:
        """(extra delay, fail?) for a request *service* starts at *now*."""
        extra = 0.0
        fail = False
        for i, (kind, svc, a, b, p) in enumerate(self._windows):
            if svc == service and a <= now < b:
                if kind == "slow":
                    extra += p.sample(self._rng(i))
                elif kind == "flaky" and self._rng(i).random() < p:
                    fail = True
        return extra, fail

    def _rng(self, i: int):
        """Fault window *i*'s own stream, ``fault:<kind>:<service>#k``, where k counts the
        windows of that kind on that service before it (so adding a fault elsewhere changes
        none of this one's draws)."""
        kind, svc = self._windows[i][0], self._windows[i][1]
        k = sum(1 for w in self._windows[:i] if w[0] == kind and w[1] == svc)
        return self._sim.stream(f"fault:{kind}:{svc}#{k}")

    def _skew(self, service: str, now: float) -> float:
        total = 0.0
        for svc, a, b, off in self._skews:
            if svc == service and a <= now < b:
                total += off
        return total


def _group(name: str, group) -> tuple[str, ...]:
    if isinstance(group, str):
        group = [group]
    try:
        items = tuple(group)
    except TypeError:
        raise ConfigError(f"{name} must be a list of service names, got {group!r}.") from None
    if not items or not all(isinstance(g, str) for g in items):
        raise ConfigError(f"{name} must be a non-empty list of service names, got {group!r}.")
    return items
