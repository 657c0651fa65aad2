"""Projections (read models), aggregates loaded as a fold, snapshots, and a fold checker.

Usage::

    def per_customer(state, event):               # a fold step: (state, event) -> state
        if event.type == "OrderPlaced":
            c = event.data["customer"]
            return {**state, c: state.get(c, 0) + 1}
        return state

    view = labs.Projection("orders-per-customer", per_customer, initial={})
    store.subscribe(view.name, view.handler(), work=2.0)     # fed, with lag, in a simulation
    view.rebuild(store)                                      # or: replay from position zero
    labs.projection_matches_fold(view, store)                # [] when it is right

**The model.** An aggregate's state *is* ``reduce(evolve, events, initial)``: the event
log is the truth, state is derived (Fowler, *Event Sourcing*, 2005; Young, *CQRS
Documents*, 2010). A :class:`Projection` is the same fold run by a subscriber into a read
model: it remembers the positions it was handed (``seen``, duplicates included) and its
checkpoint (``position``: the highest position applied). Because a subscription is
at-least-once (see :mod:`labs.data.eventstore`), a projection that is not idempotent
counts a redelivered event twice.

:func:`projection_matches_fold` is the invariant: the projection's state must equal the
fold of the *distinct* events it has seen, in position order, with the intended fold (the
projection's own step by default, or a reference fold you pass). When it does not, it
replays the projection's step over the delivery sequence, takes the shortest failing
prefix and then removes deliveries while the mismatch remains (delta debugging, Zeller
and Hildebrandt 2002), and reports that smallest counter-example.

:func:`load_aggregate` loads an aggregate by folding its stream; with a
:class:`Snapshots` store it starts from the newest snapshot and folds only the events
after it, and saves a new snapshot when it had to fold at least *every* events (a
threshold trigger, as Axon's ``EventCountSnapshotTriggerDefinition``). A snapshot is an
optimisation of reading, never a source of truth: delete them all and every state is
still the fold of the log.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..kernel.errors import ConfigError, _check_int
from ..observe.checkers import Violation
from .eventstore import EventStore, RecordedEvent

__all__ = ["Loaded", "Projection", "Snapshots", "fold", "load_aggregate",
           "projection_matches_fold", "smallest_mismatch"]

Step = Callable[[Any, RecordedEvent], Any]


def fold(step: Step, events: Sequence[RecordedEvent], initial: Any = None) -> Any:
    """``reduce(step, events, initial)``, on a deep copy of *initial* (Clojure's ``reduce``)."""
    state = copy.deepcopy(initial)
    for ev in events:
        state = step(state, ev)
    return state


class Projection:
    """A read model folded from the events a subscription hands it."""

    def __init__(self, name: str, step: Step, initial: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a projection needs a non-empty name, got {name!r}.")
        if not callable(step):
            raise ConfigError(f"step must be a function (state, event) -> state, got {step!r}.")
        self.name = name
        self.step = step
        self.initial = copy.deepcopy(initial)
        self.reset()

    def reset(self) -> None:
        """Forget everything: state back to *initial*, no events seen."""
        self.state = copy.deepcopy(self.initial)
        self.seen: list[int] = []
        self.position = -1
        self.applied_at: list[float] = []

    def __repr__(self) -> str:
        return (f"Projection({self.name!r}, at position {self.position}, {len(self.seen)} "
                f"deliveries)")

    def handle(self, event: RecordedEvent, t: float = 0.0) -> None:
        """Apply one delivered event (a redelivery is applied again: that is the danger)."""
        if not isinstance(event, RecordedEvent):
            raise ConfigError(f"a projection handles RecordedEvents, got {event!r}.")
        self.state = self.step(self.state, event)
        self.seen.append(event.position)
        self.applied_at.append(t)
        self.position = max(self.position, event.position)

    def handler(self, work: float = 0.0) -> Callable:
        """A subscription handler ``(ctx, event)`` that applies events to this projection."""
        proj = self

        def apply_event(ctx, event):
            if work:
                yield ctx.work(work)
            proj.handle(event, ctx.now)
            return {"position": event.position}

        apply_event.__name__ = f"project_{self.name.replace('-', '_')}"
        return apply_event

    def rebuild(self, store: EventStore, step: Step | None = None) -> Projection:
        """Throw the read model away and fold every event again from position zero
        (with a fixed *step* if given). Returns the projection."""
        if step is not None:
            if not callable(step):
                raise ConfigError(f"step must be a function (state, event) -> state, got {step!r}.")
            self.step = step
        self.reset()
        for ev in store.read_all(0):
            self.handle(ev)
        return self

    def lag(self, store: EventStore) -> int:
        """Events in *store* newer than this projection's checkpoint."""
        return store.last_position - self.position


def _check_view(view: Callable | None) -> Callable:
    if view is None:
        return lambda s: s
    if not callable(view):
        raise ConfigError(f"view must be a function state -> comparable value, got {view!r}.")
    return view


def smallest_mismatch(step: Step, deliveries: Sequence[RecordedEvent], reference: Step,
                      initial: Any = None, view: Callable | None = None
                      ) -> list[RecordedEvent] | None:
    """The smallest sub-sequence of *deliveries* on which folding with *step* differs from
    folding the distinct events in position order with *reference*; None if none differs."""
    view = _check_view(view)

    def fails(ds: Sequence[RecordedEvent]) -> bool:
        distinct = sorted({e.position: e for e in ds}.values(), key=lambda e: e.position)
        return view(fold(step, ds, initial)) != view(fold(reference, distinct, initial))

    # the shortest failing prefix, found incrementally
    state = copy.deepcopy(initial)
    ref = copy.deepcopy(initial)
    applied: dict[int, RecordedEvent] = {}
    prefix = None
    for i, ev in enumerate(deliveries):
        state = step(state, ev)
        if ev.position not in applied:
            if applied and ev.position < max(applied):
                applied[ev.position] = ev          # out of order: recompute the reference
                ref = fold(reference, sorted(applied.values(), key=lambda e: e.position), initial)
            else:
                applied[ev.position] = ev
                ref = reference(ref, ev)
        if view(state) != view(ref):
            prefix = list(deliveries[:i + 1])
            break
    if prefix is None:
        return None
    # delta debugging: drop chunks while it still fails, down to single deliveries
    chunk = max(1, len(prefix) // 2)
    while True:
        i, changed = 0, False
        while i < len(prefix):
            candidate = prefix[:i] + prefix[i + chunk:]
            if candidate and fails(candidate):
                prefix, changed = candidate, True
            else:
                i += chunk
        if chunk == 1 and not changed:
            return prefix
        chunk = max(1, chunk // 2)


def _describe(events: Sequence[RecordedEvent]) -> str:
    return ", ".join(f"#{e.position} {e.type}" for e in events)


def projection_matches_fold(projection: Projection, store: EventStore,
                            reference: Step | None = None, view: Callable | None = None
                            ) -> list[Violation]:
    """[] if *projection*'s state equals the fold of the distinct events it has seen.

    *reference* is the intended fold step (default: the projection's own step, which
    checks delivery: duplicates, gaps, order); *view* maps a state to what is compared
    (e.g. drop a checkpoint kept inside the state). On a mismatch, the one
    :class:`labs.checkers.Violation` names the smallest counter-example.
    """
    if not isinstance(projection, Projection):
        raise ConfigError(f"pass a labs.Projection, got {projection!r}.")
    ref = projection.step if reference is None else reference
    if not callable(ref):
        raise ConfigError(f"reference must be a fold step (state, event) -> state, got {ref!r}.")
    v = _check_view(view)
    distinct = sorted(set(projection.seen))
    expected = fold(ref, [store.event(p) for p in distinct], projection.initial)
    if v(projection.state) == v(expected):
        return []
    deliveries = [store.event(p) for p in projection.seen]
    small = smallest_mismatch(projection.step, deliveries, ref, projection.initial, view)
    if small is None:   # the step is not a pure function of (state, event): say so
        return [Violation("projection_matches_fold",
                          f"{projection.name}: state {v(projection.state)!r} differs from the "
                          f"fold of its {len(distinct)} events {v(expected)!r}, but replaying "
                          "its step agrees: is the step pure (no state outside its arguments)?")]
    distinct_small = sorted({e.position: e for e in small}.values(), key=lambda e: e.position)
    got = v(fold(projection.step, small, projection.initial))
    want = v(fold(ref, distinct_small, projection.initial))
    return [Violation("projection_matches_fold",
                      f"{projection.name}: after deliveries [{_describe(small)}] the projection "
                      f"holds {got!r}, but the fold of those events is {want!r} (whole run: "
                      f"{v(projection.state)!r} vs {v(expected)!r})",
                      t=small[-1].t)]


# -- aggregates and snapshots ----------------------------------------------------------------
@dataclass(frozen=True)
class Loaded:
    """An aggregate loaded from its stream: its *state*, *version*, and what it cost."""

    state: Any
    version: int          # the stream's last version folded in (-1: no events)
    events_read: int      # events folded to get here
    from_snapshot: int    # the snapshot's version it started from (-1: none)


class Snapshots:
    """Saved aggregate states, taken when a load had to fold at least *every* events."""

    def __init__(self, every: int = 100) -> None:
        self.every = _check_int("every", every, low=1,
                                fix="Take a snapshot after e.g. every=100 events folded.")
        self._saved: dict[str, tuple[int, Any]] = {}
        self.taken = 0

    def __repr__(self) -> str:
        return f"Snapshots(every={self.every}, {len(self._saved)} streams, {self.taken} taken)"

    def get(self, stream: str) -> tuple[int, Any] | None:
        """``(version, state)`` of the newest snapshot of *stream*, or None."""
        got = self._saved.get(stream)
        return None if got is None else (got[0], copy.deepcopy(got[1]))

    def save(self, stream: str, version: int, state: Any) -> None:
        """Keep *state* as *stream*'s state at *version*."""
        self._saved[stream] = (version, copy.deepcopy(state))
        self.taken += 1

    def clear(self) -> None:
        """Delete every snapshot (the log still holds the truth)."""
        self._saved.clear()


def load_aggregate(store: EventStore, stream: str, evolve: Step, initial: Any = None,
                   snapshots: Snapshots | None = None) -> Loaded:
    """Fold *stream* into its current state; start from a snapshot if *snapshots* has one."""
    if not callable(evolve):
        raise ConfigError(f"evolve must be a function (state, event) -> state, got {evolve!r}.")
    if snapshots is not None and not isinstance(snapshots, Snapshots):
        raise ConfigError(f"snapshots must be a labs.Snapshots, got {snapshots!r}.")
    start, state, since = -1, copy.deepcopy(initial), None
    if snapshots is not None:
        since = snapshots.get(stream)
        if since is not None:
            start, state = since
    events = store.read_stream(stream, from_version=start + 1)
    for ev in events:
        state = evolve(state, ev)
    version = start + len(events)
    if snapshots is not None and len(events) >= snapshots.every:
        snapshots.save(stream, version, state)
    return Loaded(state, version, len(events), start)


def _parity(seed: int) -> str:
    """A digest of a fold over random events, with duplicates, and its checker's answer."""
    import random

    rng = random.Random(seed)
    store = EventStore()
    for i in range(40):
        c = rng.choice(["ada", "bob", "cy"])
        store.append(f"order-{i}", [("OrderPlaced", {"customer": c})])

    def count(state, ev):
        c = ev.data["customer"]
        return {**state, c: state.get(c, 0) + 1}

    p = Projection("per-customer", count, {})
    for ev in store.read_all():
        p.handle(ev)
        if rng.random() < 0.1:
            p.handle(ev)
    found = projection_matches_fold(p, store)
    return f"{sorted(p.state.items())}|{found[0].message if found else 'ok'}"
