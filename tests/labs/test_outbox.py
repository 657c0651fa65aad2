"""Tests of labs.data.outbox: local transactions, the outbox relay, the publisher's
outages and lost acknowledgements, crash points and the delivery checker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import (Broker, Crashed, Crashes, LocalDatabase, Publisher, check_delivery,
                  smallest_failing_crash_point, start_relay)
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
                lambda: start_relay(sim, db, Publisher(sim, broker, "t"), interval=0),
                lambda: smallest_failing_crash_point(lambda c: None, lambda r: [], steps=[])]:
        with pytest.raises(labs.ConfigError):
            bad()
    tx = db.transaction()
    tx.commit()
    with pytest.raises(labs.ConfigError, match="already finished"):
        tx.commit()


def world(seed=1, outage=None, ack_loss=0.0, relay_crash=None, n=40, interval=20):
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
    start_relay(sim, db, bus, interval=interval, until=n * 10 + 3000)
    if relay_crash:
        sim.faults.crash("outbox-relay", at=relay_crash[0], restart_at=relay_crash[1])
    sim.run()
    logged = [r.value["event_id"] for p in range(2) for r in broker.log("e", p)]
    return db, logged, bus


def test_outbox_survives_an_outage_and_lost_acks_lose_nothing():
    db, logged, bus = world(outage=(100, 300), ack_loss=0.2)
    ids = [r.id for r in db.outbox]
    found = check_delivery(ids, logged)
    assert not [v for v in found if not v.message.startswith("duplicated")]
    assert any(v.message.startswith("duplicated") for v in found)
    assert bus.failures > 0 and not db.unpublished(None, count=False)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.5), st.integers(0, 400))
def test_property_the_relay_never_loses_a_committed_event(seed, ack_loss, crash_at):
    """Whatever the outage, lost acks and relay crash: every committed row is published."""
    db, logged, _ = world(seed=seed, outage=(50, 250), ack_loss=ack_loss,
                          relay_crash=(crash_at, crash_at + 100), n=20)
    assert set(logged) == {r.id for r in db.outbox}


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
