"""Relaying an outbox by log tailing (change data capture), as Debezium's connector does.

A different algorithm from the polling relay (:mod:`labs.data.relay`): the connector never
queries or marks the outbox table; it reads the committed inserts from the database's log
(:meth:`LocalDatabase.changes`; Debezium reads PostgreSQL's WAL through the ``pgoutput``
logical decoding plug-in), keeps a position, retries each record until it is acknowledged,
and saves its position periodically, so a crash replays what it sent since
(at-least-once). The defaults are the real ones: Debezium's ``poll.interval.ms`` 500 ms
(``CommonConnectorConfig``), Kafka Connect's ``offset.flush.interval.ms`` 60,000 ms
(``WorkerConfig``), the producer's ``retry.backoff.ms`` 100 ms (``ProducerConfig``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kernel.errors import ConfigError, _check_number
from .outbox import LocalDatabase, Publisher

if TYPE_CHECKING:  # pragma: no cover
    from ..kernel.core import Simulation

__all__ = ["LogTailer", "start_log_tailing"]


class LogTailer:
    """Change data capture of the outbox: a connector that tails the database's log.

    Created by :func:`start_log_tailing`. *position* is how far it has published (the log
    position, PostgreSQL's LSN), *flushed* the position it last saved (Kafka Connect's
    source offset); *restarts* counts restarts after a crash.
    """

    def __init__(self, sim: Simulation, db: LocalDatabase, bus: Publisher, poll_interval: float,
                 flush_interval: float, retry_backoff: float, name: str) -> None:
        self._sim, self.db, self.bus, self.name = sim, db, bus, name
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self.retry_backoff = retry_backoff
        self.position = 0
        self.flushed = 0
        self.restarts = 0
        self._epoch = 0
        self._flushed_at = 0.0

    def __repr__(self) -> str:
        return (f"LogTailer({self.name!r}, position={self.position}, flushed={self.flushed}, "
                f"restarts={self.restarts})")

    def _flush(self, now: float) -> None:
        if now - self._flushed_at >= self.flush_interval:
            self.flushed, self._flushed_at = self.position, now

    def _tick(self, ctx, req):
        epoch = self._sim.services[self.name].instances[0].epoch
        if epoch != self._epoch:          # crashed since the last poll: resume from the offset
            self._epoch, self.position = epoch, self.flushed
            self._flushed_at = ctx.now
            self.restarts += 1
        self._flush(ctx.now)
        sent = 0
        for row in self.db.changes(self.position):
            while True:                   # the producer retries the same record until acked
                out = yield from self.bus.publish(ctx, row.aggregate_id, row.message())
                if out.ok:
                    break
                yield ctx.work(self.retry_backoff)
            self.position = row.id
            sent += 1
            self._flush(ctx.now)
        return {"sent": sent, "position": self.position}


def start_log_tailing(sim: Simulation, db: LocalDatabase, bus: Publisher, until: float = 10_000.0,
                      poll_interval: float = 500.0, flush_interval: float = 60_000.0,
                      retry_backoff: float = 100.0, name: str = "cdc-connector") -> LogTailer:
    """Relay the outbox by log tailing (CDC), as Debezium's connector does; a different
    algorithm from the polling relay, which queries the table and marks rows.

    The connector never queries the outbox table and never marks a row: it reads the
    committed inserts from the database's log (:meth:`LocalDatabase.changes`) after its
    *position*, and publishes each in log order. A failed publish is retried after
    *retry_backoff* ms until it is acknowledged (as Kafka's producer does; its
    ``retry.backoff.ms`` defaults to 100 ms), so a broker outage only delays, and a lost
    acknowledgement (the :class:`Publisher`'s model of a timeout after the append)
    duplicates. When it has nothing to send it checks again after
    *poll_interval* ms (Debezium's ``poll.interval.ms``, default 500 ms). Every
    *flush_interval* ms it saves its position (Kafka Connect's ``offset.flush.interval.ms``,
    default 60,000 ms); after ``sim.faults.crash(name, at, restart_at)`` it resumes from
    the last saved position, so the records since are published again (Debezium's
    documented at-least-once behaviour after a crash). Start it before ``sim.run()``.

    Sources: Debezium PostgreSQL connector documentation (``poll.interval.ms``);
    Apache Kafka documentation, Kafka Connect worker configs (``offset.flush.interval.ms``)
    and producer configs (``retry.backoff.ms``).
    """
    if getattr(sim, "_installed", False):
        raise ConfigError("start_log_tailing must be called before sim.run(): a connector is "
                          "deployed with the world, not from inside a running handler.")
    until = _check_number("until", until, low=0.0, low_open=True, fix="Tail until e.g. 10_000 ms.")
    poll_interval = _check_number("poll_interval", poll_interval, low=0.0, low_open=True,
                                  fix="Debezium's poll.interval.ms, e.g. poll_interval=500.")
    flush_interval = _check_number("flush_interval", flush_interval, low=0.0, low_open=True,
                                   fix="Kafka Connect's offset.flush.interval.ms, e.g. 60_000.")
    retry_backoff = _check_number("retry_backoff", retry_backoff, low=0.0, low_open=True,
                                  fix="The producer's retry.backoff.ms, e.g. retry_backoff=100.")
    tailer = LogTailer(sim, db, bus, poll_interval, flush_interval, retry_backoff, name)

    def tick(ctx, req):
        return (yield from tailer._tick(ctx, req))

    tick.__name__ = "cdc_tick"
    sim.service(name, tick, concurrency=1, queue=1)
    sim.load(name, rate=1000.0 / poll_interval, duration=until, arrivals="uniform")
    return tailer
