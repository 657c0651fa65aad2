"""The polling relay of a transactional outbox: the harness that runs *your* relay, with
crash points, and the naive first relay that loses events.

:func:`start_relay` registers a relay as a service ticked every *interval* ms (one worker,
so a slow tick delays the next instead of overlapping it) and calls the *step* you give it
once per poll; each poll is a query on the outbox table (:attr:`LocalDatabase.queries`).
The library ships only :func:`naive_relay`, the version that marks rows before publishing
them; the relay that loses nothing is the chapter 15 lab's exercise. The harness hands the
step views of the database and the publisher with crash points after each acknowledged
publish and after each mark. The store, the publisher and the crash points are in
:mod:`labs.data.outbox`; log tailing, the other way to relay, in :mod:`labs.data.cdc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..kernel.errors import ConfigError, _check_int, _check_number
from ..kernel.messages import Response
from .outbox import NO_CRASHES, Crashed, Crashes, LocalDatabase, OutboxRow, Publisher

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation

__all__ = ["naive_relay", "start_relay"]


class _Life:
    """One relay tick's process: crash points fire here, and once it has died nothing it
    does afterwards has an effect (a dead process cannot publish or mark)."""

    __slots__ = ("crashes", "dead")

    def __init__(self, crashes: Crashes) -> None:
        self.crashes = crashes
        self.dead = False

    def check(self) -> None:
        if self.dead:
            raise Crashed("the relay process is dead; the next poll is a fresh process")

    def point(self, step: str) -> None:
        try:
            self.crashes.point(step)
        except Crashed:
            self.dead = True
            raise


class _RelayDatabase:
    """The database as :func:`start_relay`'s step sees it: reads and ``mark_published``,
    with the crash point ``"relay:after-mark"`` right after each mark."""

    def __init__(self, db: LocalDatabase, life: _Life) -> None:
        self._db, self._life = db, life

    def __repr__(self) -> str:
        return f"relay view of {self._db!r}"

    def unpublished(self, limit: int | None = 100) -> list[OutboxRow]:
        """Outbox rows not yet marked published, oldest first (at most *limit*): one query."""
        self._life.check()
        return self._db.unpublished(limit)

    def mark_published(self, row_id: int) -> None:
        """Mark outbox row *row_id* as published (its own small transaction)."""
        self._life.check()
        self._db.mark_published(row_id)
        self._life.point("relay:after-mark")

    def get(self, table: str, key: Any) -> Any:
        """The committed row under *key* in *table*, or None."""
        self._life.check()
        return self._db.get(table, key)

    def rows(self, table: str) -> dict[Any, Any]:
        """A copy of *table*'s committed rows."""
        self._life.check()
        return self._db.rows(table)

    @property
    def name(self) -> str:
        return self._db.name


class _RelayPublisher:
    """The publisher as :func:`start_relay`'s step sees it, with the crash point
    ``"relay:after-publish"`` right after each acknowledged publish."""

    def __init__(self, bus: Publisher, life: _Life) -> None:
        self._bus, self._life = bus, life
        self.topic = bus.topic

    def __repr__(self) -> str:
        return f"relay view of Publisher({self.topic!r})"

    def publish(self, ctx, key: Any, value: Any):
        """Publish one record; use as ``sent = yield from bus.publish(ctx, key, value)``."""
        self._life.check()
        out = yield from self._bus.publish(ctx, key, value)
        if out.ok:
            self._life.point("relay:after-publish")
        return out

    def down(self, t: float) -> bool:
        """True if the broker is unreachable at virtual time *t*."""
        return self._bus.down(t)


def naive_relay(ctx, db, bus, batch: int = 50):
    """The first relay many teams write, and why it is wrong: for each unpublished row
    (oldest first) it marks the row published, *then* publishes it; a failed publish is
    logged and the loop goes on with the next row.

    Marking first looks safe ("never send a row twice"), and on a calm day it publishes
    exactly what a correct relay publishes, at the same instants. But it is
    **at-most-once**: a publish that fails during a broker outage, or a crash between the
    mark and the publish (crash point ``"relay:after-mark"``), loses the event for good,
    and an order whose first event was lost can still get its later ones (a cancellation
    without the order). Use it as ``start_relay(sim, db, bus, step=naive_relay)``.
    """
    _check_int("batch", batch, low=1, fix="Publish up to e.g. batch=50 rows per poll.")
    sent = failed = 0
    for row in db.unpublished(batch):
        db.mark_published(row.id)                 # "claim" the row before sending it
        out = yield from bus.publish(ctx, row.aggregate_id, row.message())
        if out.ok:
            sent += 1
        else:
            failed += 1
            ctx.log("publish failed; moving on", row=row.id, reason=out.reason, level="warn")
    return {"sent": sent, "failed": failed}


def start_relay(sim: Simulation, db: LocalDatabase, bus: Publisher, step: Callable | None = None,
                interval: float = 100.0, until: float = 10_000.0,
                crashes: Crashes = NO_CRASHES, name: str = "outbox-relay") -> None:
    """Run a polling relay: every *interval* ms (until *until*) call *step(ctx, db, bus)*,
    as service *name* with one worker (a slow poll delays the next, never overlaps it).

    *step* is the relay's loop for one poll, a function or a generator function (it must
    ``yield from bus.publish(...)``); the library ships only :func:`naive_relay`, the broken
    first version. The step gets views of *db* (``unpublished``, ``mark_published``,
    ``get``, ``rows``) and of *bus* (``publish``, ``down``) with two crash points taken
    from *crashes*: ``"relay:after-publish"`` (after each acknowledged publish) and
    ``"relay:after-mark"`` (after each mark). When one fires the step's process dies
    there: :class:`Crashed` is raised into it, and anything it still tries in that poll
    raises again and has no effect; the next poll is a fresh process (a supervisor
    restarted it). ``sim.faults.crash(name, at, restart_at)`` crashes it in time instead.
    """
    if step is None:
        raise ConfigError("start_relay needs step=your relay function step(ctx, db, bus), e.g. "
                          "step=labs.naive_relay (the broken first version) or your own.")
    if not callable(step):
        raise ConfigError(f"step must be a function step(ctx, db, bus), got {step!r}.")
    interval = _check_number("interval", interval, low=0.0, low_open=True,
                             fix="The relay's polling interval in ms, e.g. interval=100.")
    until = _check_number("until", until, low=0.0, low_open=True, fix="Poll until e.g. 10_000 ms.")
    if not isinstance(crashes, Crashes):
        raise ConfigError(f"crashes must be a labs.Crashes(...), got {crashes!r}.")

    def tick(ctx, req):
        life = _Life(crashes)
        out = step(ctx, _RelayDatabase(db, life), _RelayPublisher(bus, life))
        if hasattr(out, "send"):
            out = yield from out
        if life.dead:                       # the step caught Crashed: the process is dead anyway
            return Response.error(500, "relay crashed")
        return out

    tick.__name__ = "relay_tick"
    sim.service(name, tick, concurrency=1, queue=1)
    sim.load(name, rate=1000.0 / interval, duration=until, arrivals="uniform")
