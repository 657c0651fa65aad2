"""Tests of labs.data.outbox: local transactions, the relay harness and its crash points,
the naive relay, log tailing, the publisher's outages and lost acknowledgements, and the
delivery checker. A correct polling relay is the ch15-relay exercise's answer: it lives
here (``_reference_relay``), never in the library."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import (Broker, Crashed, Crashes, LocalDatabase, Publisher, check_delivery,
                  naive_relay, smallest_failing_crash_point, start_log_tailing, start_relay)
from labs.data import outbox


def test_transaction_is_atomic_and_an_exception_rolls_back():
    db = LocalDatabase(None, "orders-db")
    with db.transaction() as tx:
        tx.insert("orders", 1, {"id": 1})
        tx.add_event("order", 1, "OrderPlaced", {"id": 1})
        assert db.get("orders", 1) is None and tx.get("orders", 1) == {"id": 1}
    assert db.get("orders", 1) == {"id": 1} and [r.id for r in db.outbox] == [1]
    with pytest.raises(Crashed):
        with db.transaction() as tx:
            tx.insert("orders", 2, {"id": 2})
            tx.add_event("order", 2, "OrderPlaced", {"id": 2})
            Crashes(("inside", 1)).point("inside")
    assert db.get("orders", 2) is None and len(db.outbox) == 1 and db.commits == 1


def test_crash_points_fire_on_the_nth_hit_only():
    c = Crashes(("after-commit", 2))
    c.point("after-commit")
    with pytest.raises(Crashed, match="after-commit #2"):
        c.point("after-commit")
    c.point("after-commit")
    assert c.fired == [("after-commit", 2)]


def test_config_errors():
    sim = labs.Simulation(seed=1)
    broker = Broker(sim)
    broker.topic("t")
    db = LocalDatabase(sim)
    for bad in [lambda: Crashes(("x", 0)), lambda: Crashes("x"), lambda: LocalDatabase(None, ""),
                lambda: db.transaction().insert("outbox", 1, {}),
                lambda: db.transaction().add_event("", 1, "T", {}),
                lambda: db.transaction().add_event("a", 1, "T", [1]),
                lambda: db.mark_published(1),
                lambda: Publisher(sim, broker, "nope"),
                lambda: Publisher(sim, broker, "t", outages=[(5, 1)]),
                lambda: Publisher(sim, broker, "t", ack_loss=2),
                lambda: Publisher(sim, broker, "t", timeout=0),
                lambda: start_relay(sim, db, Publisher(sim, broker, "t"), step=naive_relay,
                                    interval=0),
                lambda: start_relay(sim, db, Publisher(sim, broker, "t"), step="relay"),
                lambda: start_relay(sim, db, Publisher(sim, broker, "t"), step=naive_relay,
                                    crashes=[("relay:after-mark", 1)]),
                lambda: start_log_tailing(sim, db, Publisher(sim, broker, "t"), poll_interval=0),
                lambda: start_log_tailing(sim, db, Publisher(sim, broker, "t"), flush_interval=-1),
                lambda: start_log_tailing(sim, db, Publisher(sim, broker, "t"), retry_backoff=0),
                lambda: db.changes(-1),
                lambda: smallest_failing_crash_point(lambda c: None, lambda r: [], steps=[])]:
        with pytest.raises(labs.ConfigError):
            bad()
    tx = db.transaction()
    tx.commit()
    with pytest.raises(labs.ConfigError, match="already finished"):
        tx.commit()


def _reference_relay(ctx, db, bus):
    """A correct polling relay (the exercise's answer; kept out of the library)."""
    for row in db.unpublished(50):
        sent = yield from bus.publish(ctx, row.aggregate_id, row.message())
        if not sent.ok:
            return
        db.mark_published(row.id)


def test_start_relay_needs_a_step_and_says_which():
    sim = labs.Simulation(seed=1)
    broker = Broker(sim)
    broker.topic("t")
    with pytest.raises(labs.ConfigError, match="step=labs.naive_relay"):
        start_relay(sim, LocalDatabase(sim), Publisher(sim, broker, "t"))


def test_no_library_function_is_a_correct_relay():
    """The library's relays fail the exercise: the naive one loses events in an outage, and
    log tailing cannot be started from inside a running relay (and never marks rows)."""
    assert not hasattr(labs, "relay_once") and not hasattr(outbox, "relay_once")
    db, logged, _ = world(outage=(100, 300), step=naive_relay)
    assert [v for v in check_delivery([r.id for r in db.outbox], logged)
            if v.message.startswith("lost")]

    def delegate(ctx, db, bus):
        start_log_tailing(ctx._sim, db._db, bus._bus)
        yield ctx.work(0)

    with pytest.raises(labs.ConfigError, match="before sim.run"):
        world(step=delegate, n=5)


def world(seed=1, outage=None, ack_loss=0.0, relay_crash=None, n=40, interval=20,
          step=_reference_relay, crashes=outbox.NO_CRASHES, tail=False, flush=50.0):
    sim = labs.Simulation(seed=seed, handler_errors="500")
    broker = Broker(sim, latency=1.0)
    broker.topic("e", partitions=2)
    db = LocalDatabase(sim, "orders-db")
    bus = Publisher(sim, broker, "e", outages=[outage] if outage else [], ack_loss=ack_loss)

    def place(ctx, req):
        yield ctx.work(1.0)
        with db.transaction() as tx:
            tx.insert("orders", req.body["id"], req.body)
            tx.add_event("order", req.body["id"], "OrderPlaced", req.body)
        return {}

    sim.service("orders", place, concurrency=8)
    sim.load("orders", rate=100, duration=n * 10, arrivals="uniform")
    if tail:
        start_log_tailing(sim, db, bus, until=n * 10 + 3000, poll_interval=interval,
                          flush_interval=flush)
    else:
        start_relay(sim, db, bus, step=step, interval=interval, until=n * 10 + 3000,
                    crashes=crashes)
    if relay_crash:
        sim.faults.crash("cdc-connector" if tail else "outbox-relay", at=relay_crash[0],
                         restart_at=relay_crash[1])
    sim.run()
    records = sorted((r for p in range(2) for r in broker.log("e", p)),
                     key=lambda r: (r.timestamp, r.partition, r.offset))
    return db, [r.value["event_id"] for r in records], bus


def test_outbox_survives_an_outage_and_lost_acks_lose_nothing():
    db, logged, bus = world(outage=(100, 300), ack_loss=0.2)
    ids = [r.id for r in db.outbox]
    found = check_delivery(ids, logged)
    assert not [v for v in found if not v.message.startswith("duplicated")]
    assert any(v.message.startswith("duplicated") for v in found)
    assert bus.failures > 0 and not db.unpublished(None, count=False)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.5), st.integers(0, 400),
       st.sampled_from(["relay:after-publish", "relay:after-mark"]), st.integers(1, 20))
def test_property_the_harness_keeps_a_correct_relay_correct(seed, ack_loss, crash_at, point, nth):
    """Whatever the outage, lost acks, relay crash in time and crash point the harness
    injects: a correct relay publishes every committed row (the harness loses nothing)."""
    db, logged, _ = world(seed=seed, outage=(50, 250), ack_loss=ack_loss,
                          relay_crash=(crash_at, crash_at + 100), n=20,
                          crashes=Crashes((point, nth)))
    assert set(logged) == {r.id for r in db.outbox}


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.5), st.integers(0, 400))
def test_property_log_tailing_never_loses_and_keeps_order(seed, ack_loss, crash_at):
    """Log tailing through an outage, lost acks and a connector crash: every committed row
    is published, and the first copies reach the topic in commit order."""
    db, logged, _ = world(seed=seed, outage=(50, 250), ack_loss=ack_loss, tail=True,
                          relay_crash=(crash_at, crash_at + 100), n=20)
    assert set(logged) == {r.id for r in db.outbox}
    assert list(dict.fromkeys(logged)) == sorted(set(logged))


def test_crash_points_kill_the_step_between_publish_and_mark():
    """After-publish: the row is in the topic, not marked, so the next poll sends it again;
    after it fires, anything the dead step tries has no effect."""
    db, logged, _ = world(n=5, crashes=Crashes(("relay:after-publish", 2)))
    ids = [r.id for r in db.outbox]
    assert len(ids) >= 4 and sorted(logged) == sorted(ids + [2])
    assert not db.unpublished(None, count=False)
    tried = []

    def stubborn(ctx, db, bus):
        for row in db.unpublished(50):
            try:
                sent = yield from bus.publish(ctx, row.aggregate_id, row.message())
                db.mark_published(row.id)
            except Crashed:
                tried.append(row.id)
                try:
                    db.mark_published(row.id)      # a dead process cannot mark
                except Crashed:
                    tried.append("refused")
                return

    db, logged, _ = world(n=5, step=stubborn, crashes=Crashes(("relay:after-publish", 1)))
    assert tried == [1, "refused"] and logged.count(1) == 2


def test_naive_relay_marks_first_so_a_crash_after_the_mark_loses_the_row():
    db, logged, _ = world(n=5, step=naive_relay, crashes=Crashes(("relay:after-mark", 3)))
    ids = [r.id for r in db.outbox]
    assert len(ids) >= 4 and sorted(logged) == [i for i in ids if i != 3]
    assert not db.unpublished(None, count=False)
    found = smallest_failing_crash_point(
        lambda c: world(n=5, step=naive_relay, crashes=c),
        lambda res: [v for v in check_delivery([r.id for r in res[0].outbox], res[1])
                     if not v.message.startswith("duplicated")],
        steps=["relay:after-publish", "relay:after-mark"], max_nth=2)
    assert found.point == ("relay:after-mark", 1)


def test_naive_relay_is_at_most_once_in_an_outage():
    db, logged, bus = world(outage=(100, 300), ack_loss=0.2, step=naive_relay)
    found = [v.message.split(":")[0] for v in check_delivery([r.id for r in db.outbox], logged)]
    assert "lost" in found and "duplicated" not in found and bus.failures > 0


def test_log_tailing_reads_the_log_not_the_table_and_replays_after_a_crash():
    db, logged, _ = world(n=30, tail=True, relay_crash=(150, 200), flush=1000.0)
    n = len(db.outbox)
    assert db.queries == 0 and len(db.unpublished(None, count=False)) == n >= 25
    assert set(logged) == set(range(1, n + 1)) and len(logged) > n     # replayed from 0
    assert db.changes(28) == db.outbox[28:] and db.changes(0) == db.outbox


def test_log_tailing_must_start_before_the_run():
    sim = labs.Simulation(seed=1)
    broker = Broker(sim)
    broker.topic("t")
    sim.run(until=1.0)
    with pytest.raises(labs.ConfigError, match="before sim.run"):
        start_log_tailing(sim, LocalDatabase(sim), Publisher(sim, broker, "t"))


def test_check_delivery_names_lost_duplicated_phantom_and_downstream():
    found = [v.message for v in check_delivery([1, 2, 3], [1, 1, 3, 9], {1: 1, 3: 2})]
    assert found == ["duplicated: 1 is in the topic 2 times", "lost: 2 was committed but never published",
                     "phantom: 9 was published but never committed", "downstream: 2 never applied",
                     "downstream: 3 applied 2 times"]


def test_smallest_failing_crash_point_tries_in_order():
    calls = []

    def run(crashes):
        calls.append(dict(crashes.points))
        return crashes

    def check(c):
        return [labs.checkers.Violation("x", "bad")] if "b" in c.points and 2 in c.points["b"] else []

    got = smallest_failing_crash_point(run, check, steps=["a", "b"], max_nth=3)
    assert got.point == ("b", 2) and got.tried == 4
    assert smallest_failing_crash_point(run, lambda c: [], steps=["a"], max_nth=2) is None


def test_same_seed_same_digest():
    assert outbox._parity(3) == outbox._parity(3)
    assert outbox._parity(3) != outbox._parity(4)
