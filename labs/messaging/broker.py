"""An event log with Kafka's shape: topics, partitions, offsets, consumer groups, commits.

Usage::

    broker = labs.Broker(sim)
    broker.topic("order-placed", partitions=4)

    def orders(ctx, req):                       # a service handler that publishes
        meta = yield broker.produce(ctx, "order-placed", key=str(req.body["id"]),
                                    value=req.body)
        return {"status": "placed", "partition": meta.partition, "offset": meta.offset}

    def ship(ctx, record):                      # a consumer handler: same style
        reply = yield ctx.call("shipping", record.value, timeout=200)
        return reply                            # not ok -> retried, offset not committed

    group = broker.subscribe("order-placed", group="shipping-worker", handler=ship,
                             consumers=2)
    group.crash(member=0, at=2_000, restart_at=4_000)

**The model, and why.** Each partition is an append-only list; a record's *offset* is
its index. The partition of a keyed record is ``zlib.crc32(key bytes) % partitions``:
the same key always lands in the same partition, so records with one key keep their order.
(Kafka's default partitioner uses murmur2, so real partition numbers differ; the property
is the same. Python's ``hash()`` is randomized per process and would break replay.)
Records without a key use **sticky partitioning**, as Kafka's producer has since 2.4
(KIP-480; adaptive since 3.3, KIP-794): it fills a batch for one partition, then moves to
another. Here the producer sends *sticky_records* keyless records (default 16, standing
for one ``batch.size`` of small records) to one partition, then switches to a different
partition drawn from the stream ``broker:sticky:<broker name>:<topic>``. Keyless records
therefore arrive in runs per partition, with no order between partitions.

A *consumer group* shares a topic's partitions among its live members (range assignment
over sorted partitions and members: deterministic). Each member handles its partitions one
record at a time, in offset order. After handling a record the member advances its
*position*; every *commit_every* records it *commits* (a round trip to the broker). The
committed offset is the next offset the group will read after a failure. This is exactly
where duplicates come from: a member that crashes after handling a record but before its
commit is acknowledged loses its position; after the *rebalance_delay* (Kafka's session
timeout) another member takes the partition over from the last committed offset and
handles the record again. That is **at-least-once** delivery, the default; consumers must
be idempotent. With ``delivery="at-most-once"`` the member commits *before* handling, so a
crash loses the record instead of repeating it.

A handler that returns a non-ok :class:`labs.Response` (or raises, with
``handler_errors="500"``) leaves the record uncommitted; the member retries it after
*retry_backoff* ms. Until it succeeds, nothing behind it in that partition is handled, and
since a member handles one record at a time its other partitions wait too (head-of-line
blocking: the price of per-partition order). One *poison* record (one that can never
succeed) would stall its partition for ever, so ``subscribe(..., max_deliveries=N,
dead_letter="topic")`` gives up on a record after *N* failed deliveries: it is appended to
the *dead_letter* topic (same key, the value wrapped with the error) and the group moves
past it, as Kafka Connect's ``errors.deadletterqueue.topic.name`` or Spring Kafka's
``DeadLetterPublishingRecoverer`` do (the Kafka client itself has no dead-letter queue).

Reading a run: :func:`deliveries`, :func:`duplicates` and :func:`lag_over_time` compute
what a group handled, what it handled twice, and its lag over time from the journal.

Journal kinds written here: ``produce`` (msg = offset, key = partition, note = record key),
``consume`` (a delivery to a handler; status = how many times this group has had it),
``dead-letter`` (a record given up on; msg = offset, key = partition, status = deliveries),
``process`` (the handler finished; status 200 or its error), ``commit`` (msg = committed
offset, the next one to read), ``state`` (rebalances), plus ``span.start``/``span.end``
with kinds ``producer`` and ``consumer`` so a consumer's work joins the producer's trace.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..kernel.context import Context
from ..kernel.distributions import Distribution, Exponential, as_distribution
from ..kernel.errors import ConfigError, _check_int, _check_number

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation

from .consumer import ConsumerGroup

__all__ = ["Broker", "ConsumerGroup", "Record", "RecordMetadata", "deliveries", "duplicates",
           "lag_over_time", "partition_for"]


def partition_for(key: Any, partitions: int) -> int:
    """The partition of *key* among *partitions*: ``crc32(key bytes) % partitions``.

    *key* may be ``str`` (UTF-8), ``bytes`` or ``int`` (its decimal text). Stable across
    processes and runtimes, unlike ``hash()``.
    """
    if isinstance(key, bool) or not isinstance(key, (str, bytes, int)):
        raise ConfigError(f"a record key must be a str, bytes or int, got {key!r}. Use e.g. "
                          "key=str(order_id).")
    if isinstance(key, int):
        key = str(key)
    data = key.encode("utf-8") if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


@dataclass(frozen=True, slots=True)
class Record:
    """One record in a partition's log."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    timestamp: float           # virtual ms when the broker appended it
    producer: str = ""
    trace_id: str = ""
    span_id: str = ""          # the producer span: consumer spans are its children


@dataclass(frozen=True, slots=True)
class RecordMetadata:
    """What a producer learns when its record is acknowledged (Kafka's RecordMetadata)."""

    topic: str
    partition: int
    offset: int
    timestamp: float


class _Topic:
    __slots__ = ("name", "logs", "_sticky", "_left")

    def __init__(self, name: str, partitions: int) -> None:
        self.name = name
        self.logs: list[list[Record]] = [[] for _ in range(partitions)]
        self._sticky = -1      # the partition keyless records go to now (-1: none yet)
        self._left = 0         # keyless records left before switching


class Broker:
    """Topics of append-only partitions, consumer groups and their committed offsets.

    *latency* (ms, a number or a distribution; default ``Exponential(mean=1.0)``) is one
    trip between a client and the broker: a produce waits two (request and acknowledgement),
    a fetch and a commit one each. *sticky_records*: keyless records sent to one partition
    before the producer switches (sticky partitioning, see the module docstring).
    """

    def __init__(self, sim: Simulation, latency: Distribution | float | None = None,
                 name: str = "broker", sticky_records: int = 16) -> None:
        self._sim = sim
        self.name = name
        self.sticky_records = _check_int(
            "sticky_records", sticky_records, low=1,
            fix="Keyless records per partition before switching, e.g. 16 (1: a new partition "
                "for every record).")
        self.latency = Exponential(mean=1.0) if latency is None else as_distribution(
            latency, "broker latency")
        self.topics: dict[str, _Topic] = {}
        self.groups: dict[str, ConsumerGroup] = {}
        self._waiters: dict[str, list] = {}

    def __repr__(self) -> str:
        parts = ", ".join(f"{t.name}[{len(t.logs)}]" for t in self.topics.values())
        return f"Broker({self.name!r}, topics: {parts or 'none'}, groups: {list(self.groups)})"

    # -- topics and producing ------------------------------------------------------------
    def topic(self, name: str, partitions: int = 1) -> str:
        """Create topic *name* with *partitions* partitions (returns the name)."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"topic name must be a non-empty str, got {name!r}.")
        if name in self.topics:
            raise ConfigError(f"topic {name!r} already exists; create each topic once.")
        n = _check_int("partitions", partitions, low=1,
                       fix="A topic needs at least one partition, e.g. partitions=4.")
        self.topics[name] = _Topic(name, n)
        self._waiters[name] = []
        return name

    def _topic(self, name: str) -> _Topic:
        t = self.topics.get(name)
        if t is None:
            raise ConfigError(f"no topic named {name!r}. Create it first with "
                              f"broker.topic({name!r}, partitions=N); topics: {list(self.topics)}.")
        return t

    def partitions(self, topic: str) -> int:
        """Number of partitions of *topic*."""
        return len(self._topic(topic).logs)

    def log(self, topic: str, partition: int) -> list[Record]:
        """The records of one partition, in offset order (a copy)."""
        logs = self._topic(topic).logs
        if not isinstance(partition, int) or not 0 <= partition < len(logs):
            raise ConfigError(f"partition must be 0..{len(logs) - 1} for topic {topic!r}, "
                              f"got {partition!r}.")
        return list(logs[partition])

    def end_offsets(self, topic: str) -> list[int]:
        """The next offset of each partition (= how many records it holds)."""
        return [len(log) for log in self._topic(topic).logs]

    def produce(self, ctx: Context | str, topic: str, key: Any = None, value: Any = None):
        """Append a record to *topic*; ``yield`` it to get a :class:`RecordMetadata`.

        *ctx* is the producing handler's context (its trace continues into the consumers),
        or a plain name for a producer outside any request.
        """
        t = self._topic(topic)
        if key is None:
            partition = self._sticky_partition(t)
        else:
            partition = partition_for(key, len(t.logs))
        sim = self._sim
        if isinstance(ctx, Context):
            source, trace, parent = ctx.service, ctx.trace_id, ctx.span_id
        elif isinstance(ctx, str) and ctx:
            source, trace, parent = ctx, sim._trace_id(), ""
        else:
            raise ConfigError(f"produce needs the handler's ctx (or a producer name), got {ctx!r}.")
        return sim._env.process(self._produce(source, trace, parent, t, partition, key, value))

    def _sticky_partition(self, t: _Topic) -> int:
        """Kafka's sticky partitioner, simplified: stay on one partition for
        *sticky_records* keyless records, then switch to a different one."""
        n = len(t.logs)
        if t._left <= 0 or t._sticky < 0:
            rng = self._sim.stream(f"broker:sticky:{self.name}:{t.name}")
            choices = [p for p in range(n) if p != t._sticky] or [0]
            t._sticky = rng.choice(choices)
            t._left = self.sticky_records
        t._left -= 1
        return t._sticky

    def _dead_letter(self, topic: str, rec: Record, member: str, reason: str,
                     deliveries: int) -> None:
        """Append *rec* (given up on by a group) to dead-letter topic *topic*, at once."""
        sim = self._sim
        t = self._topic(topic)
        partition = rec.partition % len(t.logs)
        log = t.logs[partition]
        now = sim._env.now
        dl = Record(t.name, partition, len(log), rec.key,
                    {"value": rec.value, "error": reason, "topic": rec.topic,
                     "partition": rec.partition, "offset": rec.offset}, now, member,
                    rec.trace_id, rec.span_id)
        log.append(dl)
        sim.journal.add(now, "dead-letter", member, rec.topic, rec.trace_id, "", rec.span_id,
                        rec.offset, rec.partition, deliveries, 0.0, reason,
                        (("dead_letter", topic),))
        waiters = self._waiters[t.name]
        self._waiters[t.name] = []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()

    def _produce(self, source, trace, parent, t: _Topic, partition, key, value):
        sim = self._sim
        env = sim._env
        add = sim.journal.add
        span = sim._span_id()
        rng = sim.stream(f"broker:produce:{source}->{t.name}")   # this producer's own draws
        start = env.now
        add(start, "span.start", source, t.name, trace, span, parent, 0, 0, 0, 0.0, "producer")
        yield env.timeout(self.latency.sample(rng))
        log = t.logs[partition]
        rec = Record(t.name, partition, len(log), key, value, env.now, source, trace, span)
        log.append(rec)
        add(env.now, "produce", source, t.name, trace, span, parent, rec.offset, partition, 0, 0.0,
            "" if key is None else str(key))
        waiters = self._waiters[t.name]
        self._waiters[t.name] = []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()
        yield env.timeout(self.latency.sample(rng))
        add(env.now, "span.end", source, t.name, trace, span, parent, rec.offset, partition, 200,
            env.now - start, "producer")
        return RecordMetadata(t.name, partition, rec.offset, rec.timestamp)

    # -- consuming -----------------------------------------------------------------------
    def subscribe(self, topic: str, group: str, handler: Callable, consumers: int = 1,
                  commit_every: int = 1, delivery: str = "at-least-once",
                  retry_backoff: float = 50.0, rebalance_delay: float = 300.0,
                  work: Distribution | float = 0.0, max_deliveries: int | None = None,
                  dead_letter: str | None = None) -> ConsumerGroup:
        """Start consumer group *group* on *topic* with *consumers* members.

        *handler(ctx, record)* handles one record (a generator function like a service
        handler, or a plain function). *commit_every*: records handled per commit.
        *delivery*: ``"at-least-once"`` (commit after handling) or ``"at-most-once"``
        (commit before). *retry_backoff*: ms before a failed record is tried again.
        *rebalance_delay*: ms before a crashed member's partitions move (session timeout).
        *work*: extra ms each member spends per record before the handler (deserialising).
        *max_deliveries*: give up on a record after this many failed deliveries (None:
        retry for ever, and one poison record stalls its partition); *dead_letter*: the
        topic (created beforehand) that records given up on are appended to.
        (Kafka's own ``session.timeout.ms`` default is 45 s; labs shorten it.)
        """
        self._topic(topic)
        if max_deliveries is not None:
            _check_int("max_deliveries", max_deliveries, low=1,
                       fix="Pass e.g. 5, or None to retry a failing record for ever.")
        if dead_letter is not None:
            self._topic(dead_letter)
            if max_deliveries is None:
                raise ConfigError("dead_letter needs max_deliveries: after how many failed "
                                  "deliveries should a record go to the dead-letter topic?")
        if not isinstance(group, str) or not group:
            raise ConfigError(f"group must be a non-empty str, got {group!r}.")
        if group in self.groups:
            raise ConfigError(f"consumer group {group!r} already exists; one subscribe per group.")
        if not callable(handler):
            raise ConfigError(f"handler must be a function handler(ctx, record), got {handler!r}.")
        if delivery not in ("at-least-once", "at-most-once"):
            raise ConfigError(f"delivery must be 'at-least-once' or 'at-most-once', got {delivery!r}.")
        g = ConsumerGroup(
            self, topic, group, handler,
            _check_int("consumers", consumers, low=1, fix="A group needs at least one member."),
            _check_int("commit_every", commit_every, low=1,
                       fix="Commit after every record with commit_every=1."),
            delivery,
            _check_number("retry_backoff", retry_backoff, low=0.0, fix="Pass ms >= 0, e.g. 50."),
            _check_number("rebalance_delay", rebalance_delay, low=0.0,
                          fix="Pass ms >= 0 (Kafka's session timeout; e.g. 300)."),
            as_distribution(work, "work"), max_deliveries, dead_letter)
        self.groups[group] = g
        g._start()
        return g

    def committed(self, group: str) -> list[int]:
        """Committed offset of each partition for *group* (the next offset it will read)."""
        return list(self._group(group).committed)

    def lag(self, group: str) -> int:
        """Records produced but not yet committed by *group*, over all partitions, now."""
        g = self._group(group)
        return sum(e - c for e, c in zip(self.end_offsets(g.topic), g.committed))

    def _group(self, group: str) -> ConsumerGroup:
        g = self.groups.get(group)
        if g is None:
            raise ConfigError(f"no consumer group named {group!r}; groups: {list(self.groups)}.")
        return g

    def _wait(self, topic: str):
        ev = self._sim._env.event()
        self._waiters[topic].append(ev)
        return ev


def _rows(run: Any) -> list[tuple]:
    rows = getattr(run, "rows", None)
    if rows is None:
        raise ConfigError("pass a run result (sim.run()'s return value).")
    return rows


def deliveries(run: Any, group: str) -> list[dict]:
    """Every time *group* finished handling a record, in order: t, member, partition,
    offset, key, status, ``delivery`` (1 the first time, 2+ for a retry or redelivery) and
    the producer's ``trace_id``."""
    out, seen = [], {}
    for r in _rows(run):
        if r[2] == "process" and dict(r[13]).get("group") == group:
            k = (r[9], r[8])
            seen[k] = seen.get(k, 0) + 1
            out.append({"t": r[0], "member": r[3], "partition": r[9], "offset": r[8],
                        "key": r[12], "status": r[10], "delivery": seen[k], "trace_id": r[5]})
    return out


def duplicates(run: Any, group: str) -> list[tuple[int, int]]:
    """``(partition, offset)`` of records *group* handled successfully more than once, sorted."""
    ok: dict[tuple[int, int], int] = {}
    for d in deliveries(run, group):
        if 200 <= d["status"] < 400:
            k = (d["partition"], d["offset"])
            ok[k] = ok.get(k, 0) + 1
    return sorted(k for k, n in ok.items() if n > 1)


def lag_over_time(run: Any, topic: str, group: str, bucket: float = 100.0
                  ) -> list[tuple[float, float]]:
    """``[(t, lag)]``: records of *topic* produced minus committed by *group*, sampled at the
    end of every *bucket* ms (Kafka's consumer-lag metric, summed over partitions)."""
    _check_number("bucket", bucket, low=0.0, low_open=True, fix="Pass ms > 0, e.g. 100.")
    events = []
    for r in _rows(run):
        if r[2] == "produce" and r[4] == topic:
            events.append((r[0], r[9], r[8] + 1, None))
        elif r[2] == "commit" and r[4] == topic and dict(r[13]).get("group") == group:
            events.append((r[0], r[9], None, r[8]))
    if not events:
        return []
    end_of: dict[int, int] = {}
    done: dict[int, int] = {}
    out: list[tuple[float, float]] = []
    last = max(e[0] for e in events)
    t_next = bucket
    i = 0
    while t_next <= last + bucket:
        while i < len(events) and events[i][0] <= t_next:
            _, p, end, com = events[i]
            if end is not None:
                end_of[p] = max(end_of.get(p, 0), end)
            else:
                done[p] = max(done.get(p, 0), com)
            i += 1
        out.append((t_next, float(sum(end_of.values()) - sum(done.values()))))
        t_next += bucket
    return out
