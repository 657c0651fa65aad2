"""A consumer group: members sharing a topic's partitions, their positions and commits.

Created by :meth:`labs.Broker.subscribe`; the model (range assignment, commit every N
records, at-least-once redelivery after a crash, head-of-line blocking on a failing
record) is described in :mod:`labs.messaging.broker`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from ..kernel.context import Context
from ..kernel.distributions import Distribution
from ..kernel.errors import ConfigError, LabsError, _check_number
from ..kernel.messages import Request, Response, _to_response

if TYPE_CHECKING:  # pragma: no cover
    from .broker import Broker, Record

__all__ = ["ConsumerGroup"]


class _Member:
    __slots__ = ("index", "name", "up", "epoch", "assigned", "positions", "pending", "current")

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name
        self.up = True
        self.epoch = 0
        self.assigned: list[int] = []
        self.positions: dict[int, int] = {}
        self.pending: dict[int, int] = {}    # records handled since the last commit
        self.current: tuple | None = None    # (trace, span, parent, started, partition, offset)



class ConsumerGroup:
    """Members sharing a topic's partitions; created by :meth:`Broker.subscribe`."""

    def __init__(self, broker: Broker, topic: str, name: str, handler: Callable, consumers: int,
                 commit_every: int, delivery: str, retry_backoff: float,
                 rebalance_delay: float, work: Distribution, max_deliveries: int | None = None,
                 dead_letter: str | None = None) -> None:
        self.broker = broker
        self.topic = topic
        self.name = name
        self.handler = handler
        self.commit_every = commit_every
        self.delivery = delivery
        self.retry_backoff = retry_backoff
        self.rebalance_delay = rebalance_delay
        self.work = work
        self.max_deliveries = max_deliveries
        self.dead_letter = dead_letter
        self.members = [_Member(i, f"{name}-{i}") for i in range(consumers)]
        self.committed = [0] * broker.partitions(topic)
        self.generation = 0
        self._delivered: dict[tuple[int, int], int] = {}

    def __repr__(self) -> str:
        return (f"ConsumerGroup({self.name!r} on {self.topic!r}, members={len(self.members)}, "
                f"generation={self.generation}, committed={self.committed})")

    # -- assignment ----------------------------------------------------------------------
    def assignment(self) -> dict[str, list[int]]:
        """Current partitions of each member (an empty list for a member that is down)."""
        return {m.name: list(m.assigned) for m in self.members}

    def _rebalance(self) -> None:
        """Range-assign sorted partitions to live members in index order; journal it."""
        sim = self.broker._sim
        live = [m for m in self.members if m.up]
        n = len(self.committed)
        self.generation += 1
        new: dict[int, list[int]] = {m.index: [] for m in self.members}
        if live:
            per, extra = divmod(n, len(live))
            p = 0
            for i, m in enumerate(live):
                take = per + (1 if i < extra else 0)
                new[m.index] = list(range(p, p + take))
                p += take
        for m in self.members:
            keep = set(new[m.index])
            for p in m.assigned:
                if p not in keep and m.up:
                    self._commit_now(m, p)          # a graceful revocation commits what it has
            m.positions = {p: m.positions.get(p, self.committed[p]) if p in m.assigned
                           else self.committed[p] for p in new[m.index]}
            m.pending = {p: m.pending.get(p, 0) if p in m.assigned else 0 for p in new[m.index]}
            m.assigned = new[m.index]
        text = ";".join(f"{m.name}:{','.join(map(str, m.assigned))}" for m in self.members)
        sim.journal.add(sim.now, "state", self.name, self.topic, "", "", "", self.generation, 0,
                        0, 0.0, f"rebalance generation {self.generation}",
                        (("assignment", text),))
        waiters = self.broker._waiters[self.topic]
        self.broker._waiters[self.topic] = []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()

    def _commit_now(self, m: _Member, p: int) -> None:
        sim = self.broker._sim
        pos = m.positions.get(p, self.committed[p])
        if pos > self.committed[p]:
            self.committed[p] = pos
            sim.journal.add(sim.now, "commit", m.name, self.topic, "", "", "", pos, p, 0, 0.0,
                            "", (("group", self.name),))
        m.pending[p] = 0

    # -- running -------------------------------------------------------------------------
    def _start(self) -> None:
        self._rebalance()
        for m in self.members:
            self.broker._sim._env.process(self._loop(m, m.epoch))

    def _alive(self, m: _Member, epoch: int) -> bool:
        return m.up and m.epoch == epoch

    def _next(self, m: _Member) -> tuple[int, int] | None:
        """The next (partition, offset) for *m*: the assigned partition furthest behind."""
        logs = self.broker.topics[self.topic].logs
        best = None
        for p in m.assigned:
            pos = m.positions[p]
            if pos < len(logs[p]):
                behind = len(logs[p]) - pos
                if best is None or behind > best[0]:
                    best = (behind, p, pos)
        return None if best is None else (best[1], best[2])

    def _loop(self, m: _Member, epoch: int):
        broker = self.broker
        sim = broker._sim
        env = sim._env
        add = sim.journal.add
        logs = broker.topics[self.topic].logs
        rng = sim.stream(f"consumer:{self.name}:{m.name}")   # this member's fetches and work
        while self._alive(m, epoch):
            nxt = self._next(m)
            if nxt is None:
                todo = [p for p in m.assigned if m.pending.get(p, 0) > 0]
                if todo:                          # caught up: commit what is still pending
                    yield env.timeout(broker.latency.sample(rng))
                    if not self._alive(m, epoch):
                        return
                    for p in todo:
                        if p in m.assigned:
                            self._commit_now(m, p)
                    continue
                yield broker._wait(self.topic)
                continue
            p, off = nxt
            gen = self.generation
            yield env.timeout(broker.latency.sample(rng))          # fetch
            if not self._alive(m, epoch) or p not in m.assigned or m.positions.get(p) != off:
                continue
            rec = logs[p][off]
            if self.delivery == "at-most-once":
                m.positions[p] = off + 1
                yield env.timeout(broker.latency.sample(rng))
                if not self._alive(m, epoch) or p not in m.assigned:
                    continue
                self._commit_now(m, p)
            n = self._delivered.get((p, off), 0) + 1
            self._delivered[(p, off)] = n
            span = sim._span_id()
            start = env.now
            add(start, "consume", m.name, self.topic, rec.trace_id, span, rec.span_id, off, p, n,
                0.0, "" if rec.key is None else str(rec.key), (("group", self.name),))
            add(start, "span.start", m.name, self.topic, rec.trace_id, span, rec.span_id, off, p,
                0, 0.0, "consumer")
            m.current = (rec.trace_id, span, rec.span_id, start, p, off)
            w = self.work.sample(rng)
            if w > 0:
                yield env.timeout(w)
            resp = None
            if self._alive(m, epoch):
                resp = yield from self._handle(m, epoch, rec, span)
            if resp is None or not self._alive(m, epoch):
                return                                             # crashed while handling
            m.current = None
            add(env.now, "span.end", m.name, self.topic, rec.trace_id, span, rec.span_id, off, p,
                resp.status, env.now - start, "consumer",
                (("reason", resp.reason),) if resp.reason else ())
            add(env.now, "process", m.name, self.topic, rec.trace_id, span, rec.span_id, off, p,
                resp.status, env.now - start, "" if rec.key is None else str(rec.key),
                (("group", self.name),))
            if self.delivery == "at-most-once":
                continue                                           # already committed: done
            if not resp.ok:
                if self.max_deliveries is None or n < self.max_deliveries:
                    if self.retry_backoff > 0:
                        yield env.timeout(self.retry_backoff)
                    continue                                       # same offset again
                # given up: park it in the dead-letter topic (if any) and move past it
                if self.dead_letter is not None:
                    broker._dead_letter(self.dead_letter, rec, m.name,
                                        resp.reason or str(resp.status), n)
                else:
                    add(env.now, "dead-letter", m.name, self.topic, rec.trace_id, "",
                        rec.span_id, off, p, n, 0.0, resp.reason or str(resp.status),
                        (("dead_letter", ""),))
            if p not in m.assigned or gen != self.generation and m.positions.get(p) != off:
                continue                                           # revoked meanwhile
            m.positions[p] = off + 1
            m.pending[p] = m.pending.get(p, 0) + 1
            if m.pending[p] >= self.commit_every:
                pos = m.positions[p]
                yield env.timeout(broker.latency.sample(rng))  # the commit round trip
                if not self._alive(m, epoch):
                    return
                if p in m.assigned and pos > self.committed[p]:
                    self.committed[p] = pos
                    add(env.now, "commit", m.name, self.topic, "", "", "", pos, p, 0, 0.0, "",
                        (("group", self.name),))
                    m.pending[p] = 0

    def _handle(self, m: _Member, epoch: int, rec: Record, span: str):
        """Drive the handler like a service does; return its Response (None if crashed)."""
        sim = self.broker._sim
        req = Request(rec.offset, rec.partition, rec.value, self.topic, m.name, rec.trace_id,
                      rec.span_id, None, self._delivered[(rec.partition, rec.offset)], rec.timestamp)
        ctx = Context(sim, self.name, m.index, req, span)
        try:
            out = self.handler(ctx, rec)
        except LabsError:
            raise
        except Exception as e:  # noqa: BLE001
            out = self._error(ctx, e)
        if type(out) is GeneratorType:
            gen = out
            value: Any = None
            exc: BaseException | None = None
            while True:
                try:
                    ev = gen.send(value) if exc is None else gen.throw(exc)
                except StopIteration as stop:
                    out = stop.value
                    break
                except LabsError:
                    raise
                except Exception as e:  # noqa: BLE001
                    out = self._error(ctx, e)
                    break
                exc = None
                try:
                    value = yield ev
                except Exception as e:  # noqa: BLE001
                    value, exc = None, e
                if not self._alive(m, epoch):
                    gen.close()
                    return None
        return _to_response(out)

    def _error(self, ctx: Context, e: Exception) -> Response:
        if self.broker._sim.handler_errors == "raise":
            raise e
        ctx.log(f"handler error: {type(e).__name__}: {e}", level="error")
        return Response(500, None, f"handler error: {type(e).__name__}")

    # -- faults --------------------------------------------------------------------------
    def crash(self, member: int | None = None, at: float = 0.0,
              restart_at: float | None = None) -> None:
        """Crash one *member* (or all) at *at* ms; restart it at *restart_at* (None: never).

        The crashed member's position and uncommitted work are lost. Its partitions move to
        the live members after *rebalance_delay* ms, starting from the committed offsets.
        """
        if member is not None and (isinstance(member, bool) or not isinstance(member, int)
                                   or not 0 <= member < len(self.members)):
            raise ConfigError(f"member must be 0..{len(self.members) - 1} or None (all), got "
                              f"{member!r}.")
        at = _check_number("crash(at)", at, low=0.0, fix="Times are virtual ms from the start.")
        if restart_at is not None:
            restart_at = _check_number("restart_at", restart_at, low=at, low_open=True,
                                       fix="Restart after the crash, or None for never.")
        env = self.broker._sim._env
        targets = self.members if member is None else [self.members[member]]

        def later(t: float, fn) -> None:
            env.timeout(max(0.0, t - env.now)).callbacks.append(lambda _e: fn())

        later(at, lambda: self._crash(targets))
        if restart_at is not None:
            later(restart_at, lambda: self._restart(targets))

    def _crash(self, targets: list[_Member]) -> None:
        sim = self.broker._sim
        now = sim.now
        add = sim.journal.add
        for m in targets:
            if not m.up:
                continue
            m.up = False
            m.epoch += 1
            add(now, "fault", m.name, "", "", "", "", 0, 0, 0, 0.0, "crash")
            if m.current is not None:
                trace, span, parent, started, p, off = m.current
                add(now, "span.end", m.name, self.topic, trace, span, parent, off, p, 0,
                    now - started, "consumer", (("reason", "crashed"),))
                m.current = None
            m.positions = {}
            m.pending = {}
        # the group notices after the session timeout, then moves the partitions
        sim._env.timeout(self.rebalance_delay).callbacks.append(lambda _e: self._rebalance())

    def _restart(self, targets: list[_Member]) -> None:
        sim = self.broker._sim
        for m in targets:
            if m.up:
                continue
            m.up = True
            m.epoch += 1
            m.assigned = []
            sim.journal.add(sim.now, "fault", m.name, "", "", "", "", 0, 0, 0, 0.0, "restart")
        self._rebalance()
        for m in targets:
            sim._env.process(self._loop(m, m.epoch))


# -- reading a run's journal ---------------------------------------------------------------
