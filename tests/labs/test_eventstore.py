"""Tests of labs.data.eventstore and labs.data.projection: appends, versions, positions,
subscriptions, upcasting, projections, the fold checker and snapshots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import (ANY, NO_STREAM, STREAM_EXISTS, EventStore, Projection, Snapshots, Upcasters,
                  WrongExpectedVersion, fold, load_aggregate, projection_matches_fold)
from labs.data import eventstore, projection


def count(state, ev):
    c = ev.data["customer"]
    return {**state, c: state.get(c, 0) + 1}


def test_versions_and_positions_count_from_zero():
    s = EventStore()
    assert s.version("order-1") == -1
    assert s.append("order-1", [("OrderPlaced", {"customer": "ada"})], NO_STREAM) == 0
    assert s.append("order-2", [("OrderPlaced", {"customer": "bob"})]) == 0
    assert s.append("order-1", [("OrderPaid", {}), ("OrderShipped", {})], 0) == 2
    assert [(e.stream, e.version, e.position) for e in s.read_all()] == [
        ("order-1", 0, 0), ("order-2", 0, 1), ("order-1", 1, 2), ("order-1", 2, 3)]
    assert [e.type for e in s.read_stream("order-1", from_version=1)] == ["OrderPaid", "OrderShipped"]
    assert s.last_position == 3 and len(s) == 4 and s.streams() == ["order-1", "order-2"]


def test_wrong_expected_version_appends_nothing_and_says_why():
    s = EventStore()
    s.append("order-1", [("OrderPlaced", {"customer": "ada"})], NO_STREAM)
    with pytest.raises(WrongExpectedVersion, match="expected version 3, but the stream is at version 0") as e:
        s.append("order-1", [("OrderPaid", {}), ("OrderShipped", {})], 3)
    assert (e.value.stream, e.value.expected, e.value.actual) == ("order-1", 3, 0)
    with pytest.raises(WrongExpectedVersion, match="expected no stream"):
        s.append("order-1", [("OrderPaid", {})], NO_STREAM)
    with pytest.raises(WrongExpectedVersion, match="an existing stream"):
        s.append("order-9", [("OrderPaid", {})], STREAM_EXISTS)
    assert len(s) == 1 and s.conflicts == 3
    assert s.append("order-1", [("OrderPaid", {})], ANY) == 1
    assert s.append("order-1", [("OrderShipped", {})], STREAM_EXISTS) == 2


def test_config_errors():
    s = EventStore()
    for bad in [lambda: s.append("", [("A", {})]), lambda: s.append("$all", [("A", {})]),
                lambda: s.append("x", []), lambda: s.append("x", ["A"]),
                lambda: s.append("x", [("", {})]), lambda: s.append("x", [("A", [1])]),
                lambda: s.append("x", [("A", {})], expected_version="3"),
                lambda: s.append("x", [("A", {})], expected_version=True),
                lambda: s.append("x", [("A", {}, 0)]), lambda: s.read_all(-1),
                lambda: s.event(0), lambda: s.subscribe("p", lambda c, e: None),
                lambda: EventStore(upcasters=object()), lambda: Projection("", count),
                lambda: Projection("p", 3), lambda: Snapshots(every=0),
                lambda: Upcasters().register("A", 0, dict),
                lambda: Upcasters().register("A", 1, dict).register("A", 1, dict),
                lambda: load_aggregate(s, "x", None)]:
        with pytest.raises(labs.ConfigError):
            bad()


def test_upcasters_chain_and_new_events_get_the_newest_schema():
    up = (Upcasters().register("OrderPlaced", 1, lambda d: {"customer": d["customer"], "sku": d["item"]})
          .register("OrderPlaced", 2, lambda d: {**d, "qty": 1}))
    s = EventStore(upcasters=up)
    s.append("order-1", [("OrderPlaced", {"customer": "ada", "item": "mug"}, 1)])
    s.append("order-2", [("OrderPlaced", {"customer": "bob", "sku": "lamp", "qty": 2})])
    old, new = s.read_all()
    assert old.data == {"customer": "ada", "sku": "mug", "qty": 1} and old.schema == 3
    assert new.schema == 3 and new.data["qty"] == 2
    assert s.read_all(upcast=False)[0].data == {"customer": "ada", "item": "mug"}


def test_subscription_lags_then_catches_up_and_redelivers_after_a_crash():
    sim = labs.Simulation(seed=3)
    s = EventStore(sim)
    s.append("order-0", [("OrderPlaced", {"customer": "ada"})])     # before: caught up too
    view = Projection("per-customer", count, {})

    def place(ctx, req):
        yield ctx.work(1.0)
        s.append(f"order-{req.body['id'] + 1}", [("OrderPlaced", {"customer": "bob"})], NO_STREAM)
        return {}

    sim.service("orders", place, concurrency=4)
    sim.load("orders", rate=400, duration=250, arrivals="uniform")
    sub = s.subscribe(view.name, view.handler(), work=5.0, commit_every=5)
    sub.crash(at=120, restart_at=160)
    result = sim.run()
    lag = labs.broker.lag_over_time(result, "$all", view.name, bucket=50)
    assert max(v for _, v in lag) > 5 and s.lag(view.name) == 0
    assert sorted(set(view.seen)) == list(range(len(s)))
    assert len(view.seen) > len(s)                                 # at-least-once
    found = projection_matches_fold(view, s)
    assert found and "#" in found[0].message


def test_checker_finds_the_single_event_a_buggy_fold_mishandles():
    s = EventStore()
    for i in range(30):
        s.append(f"order-{i}", [("OrderPlaced", {"customer": "ada"})])
    s.append("order-3", [("OrderCancelled", {"customer": "ada"})])

    def right(st_, ev):
        return {**st_, "n": st_.get("n", 0) + (1 if ev.type == "OrderPlaced" else -1)}

    def buggy(st_, ev):
        return {**st_, "n": st_.get("n", 0) + (1 if ev.type == "OrderPlaced" else 0)}

    p = Projection("n", buggy, {}).rebuild(s)
    found = projection_matches_fold(p, s, reference=right)
    assert len(found) == 1 and "[#30 OrderCancelled]" in found[0].message
    assert projection_matches_fold(Projection("n", right, {}).rebuild(s), s, reference=right) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["ada", "bob", "cy"]), min_size=1, max_size=25),
       st.lists(st.integers(0, 24), max_size=8))
def test_property_checker_agrees_with_dedup(customers, dups):
    """A projection that is handed duplicates is flagged exactly when the duplicates
    change its state, and the counter-example is one event delivered twice."""
    s = EventStore()
    for i, c in enumerate(customers):
        s.append(f"order-{i}", [("OrderPlaced", {"customer": c})])
    p = Projection("p", count, {})
    extra = sorted({d for d in dups if d < len(customers)})
    for ev in s.read_all():
        p.handle(ev)
        if ev.position in extra:
            p.handle(ev)
    found = projection_matches_fold(p, s)
    assert bool(found) == bool(extra)
    if extra:
        assert "OrderPlaced, #" in found[0].message and found[0].message.count("#") >= 2
    assert p.state == fold(count, s.read_all() + [s.event(x) for x in extra], {})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=0, max_size=60), st.integers(1, 10))
def test_property_snapshots_never_change_the_state(qtys, every):
    s = EventStore()
    for q in qtys:
        s.append("stock-mug", [("StockReceived", {"qty": q})])

    def evolve(n, ev):
        return n + ev.data["qty"]

    snaps = Snapshots(every=every)
    for _ in range(3):
        got = load_aggregate(s, "stock-mug", evolve, 0, snaps)
        assert got.state == sum(qtys) and got.version == len(qtys) - 1
    assert load_aggregate(s, "stock-mug", evolve, 0, snaps).events_read < every or not qtys
    snaps.clear()
    assert load_aggregate(s, "stock-mug", evolve, 0, snaps).events_read == len(qtys)


def test_same_seed_same_digest():
    assert eventstore._parity(5) == eventstore._parity(5)
    assert projection._parity(5) == projection._parity(5)
    assert eventstore._parity(5) != eventstore._parity(6)
