"""An event store: streams of immutable events, a global position, optimistic appends.

Usage::

    store = labs.EventStore(sim)                      # or EventStore() outside a simulation
    store.append("order-42", [("OrderPlaced", {"customer": "ada", "lines": [...]})],
                 expected_version=labs.NO_STREAM)    # -> 0, the stream's new version
    store.read_stream("order-42")                    # [RecordedEvent(...)]
    store.read_all(from_position=0)                  # every event, in global order

    projection_feed = store.subscribe("orders-per-customer", handler, work=2.0)

**The model, and why.** It follows KurrentDB (formerly EventStoreDB; docs "Appending
events", client API): a *stream* (one aggregate, e.g. ``order-42``) is an append-only
list of events; an event's *version* (KurrentDB: its *revision*) is its index in the
stream, from 0; its *position* is its index in the store's one global log (KurrentDB's
``$all``), so every event has a total order that projections can replay.

``append(stream, events, expected_version)`` is atomic: all events or none. The check
comes first, exactly as in KurrentDB's ``appendToStream`` with a stream state:

- an ``int`` *n*: the stream's last version must be *n* (so the writer saw every event);
- :data:`NO_STREAM` (``-1``): the stream must not exist yet;
- :data:`STREAM_EXISTS`: it must have at least one event;
- :data:`ANY` (the default, as in KurrentDB): no check at all: last writer wins.

A failed check raises :class:`WrongExpectedVersion` (KurrentDB's
``WrongExpectedVersionException``) and appends nothing. That is *optimistic
concurrency*: two writers who loaded the same version cannot both append; the second
must reload, decide again and retry.

**Subscriptions.** In a :class:`labs.Simulation`, :meth:`EventStore.subscribe` is a
*catch-up subscription to $all*: it starts at position 0 (or where its checkpoint is) and
then follows the log as it grows. The store pushes each event, in position order, to a
one-partition topic of its own :class:`labs.Broker` (constant 1 ms trips, so order is
kept), and each subscription is a consumer group on it; so a subscription has exactly the
broker's semantics: a *checkpoint* (committed offset) every *commit_every* events,
at-least-once redelivery after a crash between handling and checkpoint, and a *lag* that
grows when events arrive faster than *work* ms per event can handle them. KurrentDB's own
subscriptions also leave checkpoints to the client, so this is the honest shape.

Left out: stream metadata, deletion and truncation, ``$by_category`` system projections,
the two-part commit/prepare position (one integer here), and clustering.

**Upcasting** (:class:`Upcasters`): stored events are never rewritten; an old event
*schema* is upgraded on the way out, one step at a time (schema 1 → 2 → 3), by pure
functions registered per event type: the technique described by Greg Young, *Versioning
in an Event Sourced System* (Leanpub), and used by Axon's upcaster chains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..kernel.distributions import Constant, Distribution
from ..kernel.errors import ConfigError, _check_int

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation
    from ..messaging.consumer import ConsumerGroup

__all__ = ["ANY", "NO_STREAM", "STREAM_EXISTS", "EventStore", "RecordedEvent", "Upcasters",
           "WrongExpectedVersion"]

#: Expected version: the stream must not exist yet (KurrentDB ``StreamState.NoStream``).
NO_STREAM = -1
#: Expected version: no concurrency check (KurrentDB ``StreamState.Any``, the default).
ANY = "any"
#: Expected version: the stream must already have an event (``StreamState.StreamExists``).
STREAM_EXISTS = "stream-exists"

_TOPIC = "$all"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One stored event: a fact, in the past tense, that happened to one stream."""

    stream: str
    version: int          # index in its stream, from 0 (KurrentDB: revision)
    position: int         # index in the global log ($all), from 0
    type: str             # "OrderPlaced", "OrderCancelled", ...
    data: Mapping[str, Any] = field(default_factory=dict)
    schema: int = 1       # the version of this event type's shape (see Upcasters)
    t: float = 0.0        # virtual ms when it was appended

    def __repr__(self) -> str:
        return (f"RecordedEvent(#{self.position} {self.stream}@{self.version} {self.type}"
                f"{'' if self.schema == 1 else f' v{self.schema}'} {dict(self.data)!r})")


class WrongExpectedVersion(Exception):
    """An append's expected version did not match the stream: nothing was appended.

    ``stream``, ``expected`` and ``actual`` (the stream's last version, -1 if none) say
    what happened. Reload the stream, decide again, and retry (or give up).
    """

    def __init__(self, stream: str, expected: Any, actual: int) -> None:
        self.stream, self.expected, self.actual = stream, expected, actual
        want = {NO_STREAM: "no stream", STREAM_EXISTS: "an existing stream"}.get(
            expected, f"version {expected}")
        have = "no stream" if actual < 0 else f"version {actual}"
        super().__init__(f"wrong expected version on {stream!r}: expected {want}, but the "
                         f"stream is at {have}. Another writer appended first: reload the "
                         "stream, decide again and retry.")


def _event_tuple(item: Any) -> tuple[str, dict, int | None]:
    """Accept ("Type", {data}), ("Type", {data}, schema) or {"type":..., "data":..., "schema":...}."""
    if isinstance(item, Mapping):
        kind, data, schema = item.get("type"), item.get("data", {}), item.get("schema")
    elif isinstance(item, tuple) and len(item) in (2, 3):
        kind, data = item[0], item[1]
        schema = item[2] if len(item) == 3 else None
    else:
        raise ConfigError(f"an event must be (type, data), (type, data, schema) or a dict with "
                          f"'type' and 'data', got {item!r}. E.g. ('OrderPlaced', {{'customer': 'ada'}}).")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"an event type must be a non-empty str such as 'OrderPlaced', got {kind!r}.")
    if not isinstance(data, Mapping):
        raise ConfigError(f"event data must be a dict, got {data!r} for {kind!r}.")
    if schema is not None:
        _check_int("schema", schema, low=1, fix="Event schemas count from 1.")
    return kind, dict(data), schema


class EventStore:
    """Streams of events with a global position and optimistic-concurrency appends.

    *sim* (optional) gives events their virtual time and makes :meth:`subscribe` possible.
    *upcasters* (optional :class:`Upcasters`) upgrade old event schemas on every read;
    an event appended without an explicit schema gets the newest one they know.
    """

    def __init__(self, sim: Simulation | None = None, upcasters: Upcasters | None = None,
                 name: str = "event-store") -> None:
        if upcasters is not None and not isinstance(upcasters, Upcasters):
            raise ConfigError(f"upcasters must be a labs.Upcasters, got {upcasters!r}.")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"name must be a non-empty str, got {name!r}.")
        self._sim = sim
        self.name = name
        self.upcasters = upcasters
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[int]] = {}     # stream -> positions
        self._broker = None
        self.conflicts = 0                           # appends refused so far

    def __repr__(self) -> str:
        return f"EventStore({self.name!r}, {len(self._log)} events in {len(self._streams)} streams)"

    def __len__(self) -> int:
        return len(self._log)

    # -- writing -------------------------------------------------------------------------
    def version(self, stream: str) -> int:
        """The stream's last version (0 after one event); ``-1`` if it has no events."""
        return len(self._streams.get(stream, ())) - 1

    def append(self, stream: str, events: Iterable[Any], expected_version: Any = ANY) -> int:
        """Append *events* to *stream* atomically if *expected_version* matches; return the
        stream's new version. Raises :class:`WrongExpectedVersion` and appends nothing if not."""
        if not isinstance(stream, str) or not stream or stream.startswith("$"):
            raise ConfigError(f"stream must be a non-empty str not starting with '$', got "
                              f"{stream!r}. Name it after the aggregate, e.g. 'order-42'.")
        items = [_event_tuple(e) for e in events]
        if not items:
            raise ConfigError(f"append to {stream!r} needs at least one event.")
        current = self.version(stream)
        ok = expected_version == ANY
        if expected_version == NO_STREAM:
            ok = current == -1
        elif expected_version == STREAM_EXISTS:
            ok = current >= 0
        elif not ok:
            if isinstance(expected_version, bool) or not isinstance(expected_version, int) \
                    or expected_version < -1:
                raise ConfigError(
                    f"expected_version must be a version >= 0, labs.NO_STREAM, "
                    f"labs.STREAM_EXISTS or labs.ANY, got {expected_version!r}. Pass the version "
                    "you loaded the aggregate at.")
            ok = current == expected_version
        if not ok:
            self.conflicts += 1
            if self._sim is not None:
                s = self._sim
                s.journal.add(s.now, "state", self.name, stream, "", "", "", current, 0, 409, 0.0,
                              "append conflict", (("expected", str(expected_version)),))
            raise WrongExpectedVersion(stream, expected_version, current)
        t = 0.0 if self._sim is None else self._sim.now
        positions = self._streams.setdefault(stream, [])
        for kind, data, schema in items:
            if schema is None:      # new code writes the newest shape the upcasters know
                schema = 1 if self.upcasters is None else self.upcasters.latest(kind)
            ev = RecordedEvent(stream, len(positions), len(self._log), kind, data, schema, t)
            positions.append(ev.position)
            self._log.append(ev)
            if self._sim is not None:
                s = self._sim
                s.journal.add(t, "state", self.name, stream, "", "", "", ev.position, ev.version,
                              200, 0.0, f"append {kind}", ())
                if self._broker is not None:
                    self._broker.produce(self.name, _TOPIC, key=None, value=ev)
        return len(positions) - 1

    # -- reading -------------------------------------------------------------------------
    def _out(self, ev: RecordedEvent, upcast: bool) -> RecordedEvent:
        return self.upcasters.upcast(ev) if upcast and self.upcasters is not None else ev

    def read_stream(self, stream: str, from_version: int = 0, upcast: bool = True
                    ) -> list[RecordedEvent]:
        """The events of *stream* from *from_version* on, oldest first (upcast by default)."""
        _check_int("from_version", from_version, low=0, fix="Versions count from 0.")
        return [self._out(self._log[p], upcast) for p in self._streams.get(stream, ())[from_version:]]

    def read_all(self, from_position: int = 0, upcast: bool = True) -> list[RecordedEvent]:
        """Every event from global *from_position* on, in position order (upcast by default)."""
        _check_int("from_position", from_position, low=0, fix="Positions count from 0.")
        return [self._out(e, upcast) for e in self._log[from_position:]]

    def event(self, position: int, upcast: bool = True) -> RecordedEvent:
        """The event at global *position*."""
        if isinstance(position, bool) or not isinstance(position, int) \
                or not 0 <= position < len(self._log):
            raise ConfigError(f"position must be 0..{len(self._log) - 1}, got {position!r}.")
        return self._out(self._log[position], upcast)

    def streams(self) -> list[str]:
        """Stream names, in the order they were created."""
        return list(self._streams)

    @property
    def last_position(self) -> int:
        """The global position of the newest event (-1 when the store is empty)."""
        return len(self._log) - 1

    # -- subscriptions -------------------------------------------------------------------
    def subscribe(self, name: str, handler: Callable, work: Distribution | float = 0.0,
                  commit_every: int = 1, rebalance_delay: float = 300.0) -> ConsumerGroup:
        """A catch-up subscription to every event from position 0, in order.

        *handler(ctx, event)* gets each :class:`RecordedEvent` (upcast); it may ``yield``
        like a service handler. *work*: ms spent per event before the handler (writing the
        read model). *commit_every*: events per checkpoint. Returns the consumer group, so
        ``sub.crash(at=..., restart_at=...)`` injects a crash; read its lag with
        :meth:`lag` or ``labs.broker.lag_over_time(result, "$all", name)``.
        """
        if self._sim is None:
            raise ConfigError("subscribe needs a simulation: create the store with "
                              "labs.EventStore(sim).")
        if not callable(handler):
            raise ConfigError(f"handler must be a function handler(ctx, event), got {handler!r}.")
        if self._broker is None:
            from ..messaging.broker import Broker
            self._broker = Broker(self._sim, latency=Constant(1.0), name=self.name)
            self._broker.topic(_TOPIC, partitions=1)
            for ev in self._log:                          # events appended before: catch up
                self._broker.produce(self.name, _TOPIC, key=None, value=ev)
        store = self

        def on_record(ctx, record):
            return handler(ctx, store._out(record.value, True))

        on_record.__name__ = getattr(handler, "__name__", "handler")
        return self._broker.subscribe(_TOPIC, group=name, handler=on_record, consumers=1,
                                      commit_every=commit_every, rebalance_delay=rebalance_delay,
                                      work=work)

    def lag(self, name: str) -> int:
        """Events in the store that subscription *name* has not checkpointed yet, now."""
        if self._broker is None:
            raise ConfigError(f"no subscription named {name!r}: call store.subscribe first.")
        return len(self._log) - self._broker.committed(name)[0]


class Upcasters:
    """Functions that upgrade an old event schema to the next one, chained on read.

    ``register("OrderPlaced", 1, fn)``: *fn(data) -> data* turns schema-1 data into
    schema 2. :meth:`upcast` applies every step from the event's schema to the newest
    registered one, returning a new :class:`RecordedEvent` (the stored one is unchanged).
    """

    def __init__(self) -> None:
        self._steps: dict[str, dict[int, Callable[[dict], dict]]] = {}

    def register(self, event_type: str, from_schema: int, fn: Callable[[dict], dict]) -> Upcasters:
        """Register *fn* upgrading *event_type* from *from_schema* to ``from_schema + 1``."""
        if not isinstance(event_type, str) or not event_type:
            raise ConfigError(f"event_type must be a non-empty str, got {event_type!r}.")
        _check_int("from_schema", from_schema, low=1, fix="Schemas count from 1.")
        if not callable(fn):
            raise ConfigError(f"an upcaster must be a function data -> data, got {fn!r}.")
        steps = self._steps.setdefault(event_type, {})
        if from_schema in steps:
            raise ConfigError(f"an upcaster for {event_type!r} from schema {from_schema} is "
                              "already registered; register each step once.")
        steps[from_schema] = fn
        return self

    def latest(self, event_type: str) -> int:
        """The newest schema of *event_type* the chain reaches (1 with no upcasters)."""
        steps = self._steps.get(event_type, {})
        n = 1
        while n in steps:
            n += 1
        return max([n] + [k + 1 for k in steps])

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        """*event* at the newest schema (the same object if there is nothing to do)."""
        steps = self._steps.get(event.type)
        if not steps or event.schema not in steps:
            if steps and event.schema < self.latest(event.type):
                raise ConfigError(f"no upcaster for {event.type!r} from schema {event.schema}: "
                                  f"register one with upcasters.register({event.type!r}, "
                                  f"{event.schema}, fn).")
            return event
        data, schema = dict(event.data), event.schema
        while schema in steps:
            data = steps[schema](dict(data))
            if not isinstance(data, Mapping):
                raise ConfigError(f"the upcaster of {event.type!r} from schema {schema} returned "
                                  f"{data!r}; it must return the new data dict.")
            schema += 1
        return replace(event, data=dict(data), schema=schema)


def _parity(seed: int) -> str:
    """A digest of a small run: writers with conflicts and a lagging subscription."""
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)
    store = EventStore(sim)
    rng = sim.stream("data:eventstore:parity")
    seen: list[int] = []

    def writer(ctx, req):
        stream = f"sku-{req.body['id'] % 3}"
        v = store.version(stream)
        yield ctx.work(rng.uniform(0.5, 3.0))
        try:
            store.append(stream, [("StockReserved", {"qty": 1})], expected_version=v)
        except WrongExpectedVersion:
            return {"status": "conflict"}
        return {"status": "ok"}

    def follow(ctx, event):
        seen.append(event.position)

    sim.service("writer", writer, concurrency=4)
    sim.load("writer", rate=200, duration=200)
    store.subscribe("follower", follow, work=2.0)
    result = sim.run()
    return f"{result.journal_hash()}:{len(store)}:{store.conflicts}:{len(seen)}"
