"""A service's own database, the transactional outbox, a harness for its relay, crash
points, and a checker for lost and duplicated events.

Usage::

    db = labs.LocalDatabase(sim, "orders-db")
    with db.transaction() as tx:                         # one local transaction
        tx.insert("orders", order_id, row)
        tx.add_event("order", order_id, "OrderPlaced", row)     # the outbox row

    bus = labs.Publisher(sim, broker, "order-events", outages=[(2_000, 3_000)])
    labs.start_relay(sim, db, bus, step=my_relay, interval=100)   # your loop, every 100 ms

    labs.check_delivery(committed=ids, published=keys_in_log, applied=effects)

**The model, and why.** A :class:`LocalDatabase` is one service's database (database
per service): tables of rows plus an ``outbox`` table, and a :meth:`~LocalDatabase.transaction`
that commits all its writes or none. The *transactional outbox* (Richardson,
microservices.io, "Transactional outbox") inserts the event into the outbox "as part of
the local transaction", so the event exists exactly when the business change does. A
*relay* then turns outbox rows into records on the broker. The outbox row's ``id`` is the
event's identity downstream (Debezium's outbox event router also routes by the row's
``id``, ``aggregatetype`` and ``aggregateid`` columns); :meth:`OutboxRow.message` is the
record value.

**Polling relay.** :func:`start_relay` registers a relay as a service ticked every
*interval* ms (concurrency 1, so a slow tick delays the next instead of overlapping it)
and calls the *step* you give it once per poll; each poll is a query on the table
(:attr:`LocalDatabase.queries`). The library ships only :func:`naive_relay`, the first
version that marks rows before publishing them and loses events; writing the relay that
loses nothing is the lab's exercise. The harness gives the step views of the database
and publisher with crash points after each acknowledged publish and after each mark.

**Log tailing.** :func:`start_log_tailing` is change data capture, a different
algorithm: it never queries or marks the table, it reads the committed inserts from the
database's log (:meth:`LocalDatabase.changes`; Debezium reads PostgreSQL's WAL through
the ``pgoutput`` or ``decoderbufs`` logical decoding plug-in), keeps a position, retries
each record until it is acknowledged, and saves its position periodically, so a crash
replays what it sent since (at-least-once).

A :class:`Publisher` stands for the broker client. During an *outage* a publish waits
*timeout* ms and fails without appending (the broker is unreachable). With *ack_loss* the
record **is** appended but the acknowledgement is lost, so the caller sees a failure and
a retry appends it again: the classic producer duplicate (Kafka's idempotent producer
removes retries of one producer session, not those of an application that retries after
a timeout or a restart).

:class:`Crashes` injects *crash points*: ``crashes.point("after-commit")`` raises
:class:`Crashed` the *nth* time that step is reached, so the handler stops there as if its
process had died: what it committed stays committed, what it had not done is never done,
and the caller sees an error. :func:`smallest_failing_crash_point` tries crash points in
order and returns the first one whose run :func:`check_delivery` rejects.

Left out: isolation between concurrent transactions (commits are instantaneous and
serial, as with SERIALIZABLE), outbox cleanup, and the relay's own leader election.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kernel.errors import ConfigError, _check_int, _check_number, _check_probability
from ..observe.checkers import Violation

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation
    from ..messaging.broker import Broker

__all__ = ["CrashCounterexample", "Crashed", "Crashes", "LocalDatabase", "OutboxRow",
           "Published", "Publisher", "Transaction", "check_delivery",
           "smallest_failing_crash_point"]


class Crashed(Exception):
    """The process died at a crash point (raised by :meth:`Crashes.point`)."""


class Crashes:
    """Crash points: ``Crashes(("after-commit", 2))`` crashes the 2nd time that step runs."""

    def __init__(self, *points: tuple[str, int]) -> None:
        self.points: dict[str, set[int]] = {}
        for p in points:
            if (not isinstance(p, tuple) or len(p) != 2 or not isinstance(p[0], str)
                    or isinstance(p[1], bool) or not isinstance(p[1], int) or p[1] < 1):
                raise ConfigError(f"a crash point is (step, nth) with nth >= 1, e.g. "
                                  f"('after-commit', 2), got {p!r}.")
            self.points.setdefault(p[0], set()).add(p[1])
        self.hits: dict[str, int] = {}
        self.fired: list[tuple[str, int]] = []

    def __repr__(self) -> str:
        pts = [(s, n) for s, ns in self.points.items() for n in sorted(ns)]
        return f"Crashes({pts}, fired={self.fired})"

    def point(self, step: str) -> None:
        """Mark that *step* was reached; raise :class:`Crashed` if this is a crash point."""
        n = self.hits.get(step, 0) + 1
        self.hits[step] = n
        if n in self.points.get(step, ()):
            self.fired.append((step, n))
            raise Crashed(f"crashed at {step} #{n}")


NO_CRASHES = Crashes()


@dataclass
class OutboxRow:
    """One event waiting in (or already relayed from) the outbox table."""

    id: int                 # the event's identity downstream (a UUID in real tables)
    aggregate_type: str     # Debezium's aggregatetype: it picks the topic
    aggregate_id: str       # aggregateid: the record key, so one aggregate keeps its order
    type: str               # the event type, e.g. "OrderPlaced"
    payload: dict
    created_at: float
    published_at: float | None = None

    def message(self) -> dict:
        """The record value a relay publishes for this row (keyed by ``aggregate_id``)."""
        return {"event_id": self.id, "type": self.type, "aggregate_id": self.aggregate_id,
                "payload": self.payload, "created_at": self.created_at}


class Transaction:
    """Writes collected by :meth:`LocalDatabase.transaction`, applied together on commit."""

    def __init__(self, db: LocalDatabase) -> None:
        self._db = db
        self._rows: list[tuple[str, str, Any]] = []
        self._events: list[tuple[str, str, str, dict]] = []
        self.done = False

    def get(self, table: str, key: Any) -> Any:
        """A row as this transaction sees it (its own writes first), or None."""
        for t, k, row in reversed(self._rows):
            if t == table and k == key:
                return row
        return self._db.get(table, key)

    def insert(self, table: str, key: Any, row: Any) -> None:
        """Write *row* under *key* in *table* (insert or replace) when the transaction commits."""
        if not isinstance(table, str) or not table or table == "outbox":
            raise ConfigError(f"table must be a non-empty str other than 'outbox', got {table!r}; "
                              "use tx.add_event(...) for outbox rows.")
        self._rows.append((table, key, row))

    def add_event(self, aggregate_type: str, aggregate_id: Any, type: str, payload: Mapping) -> None:
        """Insert an outbox row: the event is published if and only if this commits."""
        for name, v in (("aggregate_type", aggregate_type), ("type", type)):
            if not isinstance(v, str) or not v:
                raise ConfigError(f"{name} must be a non-empty str, got {v!r}.")
        if not isinstance(payload, Mapping):
            raise ConfigError(f"payload must be a dict, got {payload!r}.")
        self._events.append((aggregate_type, str(aggregate_id), type, dict(payload)))

    def commit(self) -> list[int]:
        """Apply every write at once; return the new outbox row ids."""
        if self.done:
            raise ConfigError("this transaction is already finished; open a new one.")
        self.done = True
        return self._db._apply(self._rows, self._events)

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is None and not self.done:
            self.commit()
        self.done = True                  # an exception (a crash) rolls everything back
        return False


class LocalDatabase:
    """One service's database: tables, an outbox table, atomic local transactions."""

    def __init__(self, sim: Simulation | None = None, name: str = "db") -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"name must be a non-empty str, got {name!r}.")
        self._sim = sim
        self.name = name
        self.tables: dict[str, dict[Any, Any]] = {}
        self.outbox: list[OutboxRow] = []
        self.commits = 0
        self.queries = 0                  # outbox polls (the relay's load on the database)

    def __repr__(self) -> str:
        sizes = {t: len(r) for t, r in self.tables.items()}
        return (f"LocalDatabase({self.name!r}, tables={sizes}, outbox={len(self.outbox)} rows, "
                f"{len(self.unpublished(None, count=False))} unpublished)")

    def _now(self) -> float:
        return 0.0 if self._sim is None else self._sim.now

    def transaction(self) -> Transaction:
        """A new transaction; use it as ``with db.transaction() as tx:``."""
        return Transaction(self)

    def get(self, table: str, key: Any) -> Any:
        """The committed row under *key* in *table*, or None."""
        return self.tables.get(table, {}).get(key)

    def rows(self, table: str) -> dict[Any, Any]:
        """A copy of *table*'s committed rows."""
        return dict(self.tables.get(table, {}))

    def _apply(self, rows, events) -> list[int]:
        now = self._now()
        for table, key, row in rows:
            self.tables.setdefault(table, {})[key] = row
        ids = []
        for agg_type, agg_id, kind, payload in events:
            r = OutboxRow(len(self.outbox) + 1, agg_type, agg_id, kind, payload, now)
            self.outbox.append(r)
            ids.append(r.id)
        self.commits += 1
        if self._sim is not None:
            s = self._sim
            s.journal.add(now, "state", self.name, "", "", "", "", self.commits, len(rows), 200,
                          0.0, "commit", (("outbox", ",".join(map(str, ids))),))
        return ids

    def unpublished(self, limit: int | None = 100, count: bool = True) -> list[OutboxRow]:
        """Outbox rows not yet marked published, oldest first (at most *limit*)."""
        if count:
            self.queries += 1
        out = [r for r in self.outbox if r.published_at is None]
        return out if limit is None else out[:limit]

    def changes(self, since: int = 0) -> list[OutboxRow]:
        """The committed outbox inserts after log position *since*, in commit order: what a
        CDC connector reads from the database's log (not a query on the table). An outbox
        row's id is its log position here."""
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ConfigError(f"since must be a log position >= 0, got {since!r}.")
        return self.outbox[since:]

    def mark_published(self, row_id: int) -> None:
        """Mark outbox row *row_id* as published (its own small transaction)."""
        if isinstance(row_id, bool) or not isinstance(row_id, int) or not 1 <= row_id <= len(self.outbox):
            raise ConfigError(f"no outbox row with id {row_id!r}; ids are 1..{len(self.outbox)}.")
        row = self.outbox[row_id - 1]
        if row.published_at is None:
            row.published_at = self._now()


@dataclass(frozen=True)
class Published:
    """What a publish told its caller: ``ok``, the log ``offset`` (-1 if none), ``reason``."""

    ok: bool
    offset: int = -1
    reason: str = ""


class Publisher:
    """A broker client that can meet an outage or lose acknowledgements.

    *outages*: ``[(start, end), ...]`` virtual ms during which the broker is unreachable;
    *timeout*: ms a failed publish waits before it reports failure; *ack_loss*: chance
    that an appended record's acknowledgement is lost (drawn from the stream
    ``"data:publisher:<topic>"``).
    """

    def __init__(self, sim: Simulation, broker: Broker, topic: str,
                 outages: Sequence[tuple[float, float]] = (), timeout: float = 50.0,
                 ack_loss: float = 0.0) -> None:
        broker._topic(topic)
        self.broker, self.topic = broker, topic
        self.outages = []
        for w in outages:
            if not isinstance(w, tuple) or len(w) != 2:
                raise ConfigError(f"an outage is (start_ms, end_ms), got {w!r}.")
            a = _check_number("outage start", w[0], low=0.0)
            b = _check_number("outage end", w[1], low=a, low_open=True,
                              fix="An outage ends after it starts.")
            self.outages.append((a, b))
        self.timeout = _check_number("timeout", timeout, low=0.0, low_open=True,
                                     fix="Pass ms > 0, e.g. timeout=50.")
        self.ack_loss = _check_probability("ack_loss", ack_loss)
        self._rng = sim.stream(f"data:publisher:{topic}")
        self.attempts = 0
        self.failures = 0

    def down(self, t: float) -> bool:
        """True if the broker is unreachable at virtual time *t*."""
        return any(a <= t < b for a, b in self.outages)

    def publish(self, ctx, key: Any, value: Any):
        """Publish one record; use as ``sent = yield from bus.publish(ctx, key, value)``."""
        self.attempts += 1
        if self.down(ctx.now):
            yield ctx.work(self.timeout)
            self.failures += 1
            return Published(False, -1, "broker unavailable")
        meta = yield self.broker.produce(ctx, self.topic, key=key, value=value)
        if self.ack_loss and self._rng.random() < self.ack_loss:
            yield ctx.work(self.timeout)
            self.failures += 1
            return Published(False, meta.offset, "acknowledgement lost")
        return Published(True, meta.offset, "")


def check_delivery(committed: Iterable[Any], published: Iterable[Any],
                   applied: Mapping[Any, int] | None = None) -> list[Violation]:
    """Lost, phantom and duplicated events, and downstream effects not applied exactly once.

    *committed*: ids of the business changes that exist (the source of truth);
    *published*: the id carried by every record in the topic (repeats included);
    *applied*: id -> how many times a consumer applied its effect (optional).
    """
    done = list(dict.fromkeys(committed))
    counts: dict[Any, int] = {}
    for k in published:
        counts[k] = counts.get(k, 0) + 1
    out: list[Violation] = []
    have = set(done)
    for k in done:
        n = counts.get(k, 0)
        if n == 0:
            out.append(Violation("check_delivery", f"lost: {k!r} was committed but never published"))
        elif n > 1:
            out.append(Violation("check_delivery", f"duplicated: {k!r} is in the topic {n} times"))
    for k in counts:
        if k not in have:
            out.append(Violation("check_delivery", f"phantom: {k!r} was published but never committed"))
    if applied is not None:
        for k in done:
            n = applied.get(k, 0)
            if n != 1:
                what = "never applied" if n == 0 else f"applied {n} times"
                out.append(Violation("check_delivery", f"downstream: {k!r} {what}"))
    return out


@dataclass
class CrashCounterexample:
    """The first crash point (in the order tried) whose run broke delivery."""

    point: tuple[str, int]
    violations: list[Violation]
    result: Any = field(repr=False)
    tried: int = 0

    def __str__(self) -> str:
        head = (f"smallest failing crash point: {self.point[0]} #{self.point[1]} "
                f"({len(self.violations)} violation(s), {self.tried} crash points tried)")
        return "\n".join([head] + [f"  {v.message}" for v in self.violations[:5]])


def smallest_failing_crash_point(make_and_run: Callable[[Crashes], Any],
                                 check: Callable[[Any], list[Violation]],
                                 steps: Sequence[str], max_nth: int = 5
                                 ) -> CrashCounterexample | None:
    """Crash at each point in order (nth = 1, 2, ... and, for each, *steps* in order); return
    the first whose run *check* rejects, or None. *make_and_run(crashes)* runs one world."""
    if not steps or not all(isinstance(s, str) for s in steps):
        raise ConfigError(f"steps must be a list of crash-point names, got {steps!r}.")
    _check_int("max_nth", max_nth, low=1, fix="Try e.g. max_nth=5 occurrences of each step.")
    tried = 0
    for nth in range(1, max_nth + 1):
        for step in steps:
            tried += 1
            crashes = Crashes((step, nth))
            res = make_and_run(crashes)
            found = list(check(res))
            if found:
                return CrashCounterexample((step, nth), found, res, tried)
    return None


def _parity(seed: int) -> str:
    """A digest of a small run of the naive relay and a log tailer with an outage, lost
    acknowledgements and a connector crash."""
    from ..kernel.core import Simulation
    from ..messaging.broker import Broker
    from .cdc import start_log_tailing
    from .relay import naive_relay, start_relay

    sim = Simulation(seed=seed, handler_errors="500")
    broker = Broker(sim, latency=1.0)
    broker.topic("order-events", partitions=2)
    db = LocalDatabase(sim, "orders-db")
    bus = Publisher(sim, broker, "order-events", outages=[(100, 200)], ack_loss=0.2)

    def place(ctx, req):
        yield ctx.work(1.0)
        with db.transaction() as tx:
            tx.insert("orders", req.body["id"], {"id": req.body["id"]})
            tx.add_event("order", req.body["id"], "OrderPlaced", {"id": req.body["id"]})
        return {"ok": True}

    sim.service("orders", place)
    sim.load("orders", rate=100, duration=300)
    start_relay(sim, db, bus, step=naive_relay, interval=20, until=600)
    db2 = LocalDatabase(sim, "cdc-db")
    with db2.transaction() as tx:
        for i in range(5):
            tx.add_event("order", i % 2, "OrderPlaced", {"id": i})
    cdc = start_log_tailing(sim, db2, bus, until=600, poll_interval=30, flush_interval=50)
    sim.faults.crash("cdc-connector", at=150, restart_at=250)
    result = sim.run()
    logged = [r.value["event_id"] for p in range(2) for r in broker.log("order-events", p)]
    found = check_delivery([r.id for r in db.outbox], logged)
    return f"{result.journal_hash()}:{len(logged)}:{len(found)}:{cdc.restarts}"
