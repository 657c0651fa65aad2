"""Tests of labs.broker: partitions, offsets, consumer groups, commits, redelivery, lag."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs.messaging.broker import Broker, deliveries, duplicates, lag_over_time, partition_for


def world(seed=1, partitions=3, n=30, rate=200.0, keys=5, **group):
    """A producer service fed by load, a topic, and one consumer group that records calls."""
    sim = labs.Simulation(seed=seed)
    broker = Broker(sim, latency=1.0)
    broker.topic("t", partitions=partitions)

    def producer(ctx, req):
        i = req.body["id"]
        meta = yield broker.produce(ctx, "t", key=f"k{i % keys}", value={"i": i})
        return {"offset": meta.offset, "partition": meta.partition}

    seen = []

    def handler(ctx, rec):
        yield ctx.work(2.0)
        seen.append((rec.partition, rec.offset, rec.value["i"]))
        return {"ok": True}

    sim.service("producer", producer, concurrency=64)
    sim.load("producer", rate=rate, duration=n * 1000.0 / rate, arrivals="uniform")
    group.setdefault("consumers", 2)
    g = broker.subscribe("t", group="g", handler=handler, **group)
    return sim, broker, g, seen


def test_partition_for_is_stable_crc32():
    """The partition is crc32 of the UTF-8 key bytes modulo the partition count."""
    assert partition_for("order-42", 8) == zlib.crc32(b"order-42") % 8
    assert partition_for(42, 8) == partition_for("42", 8)
    assert partition_for(b"x", 3) == zlib.crc32(b"x") % 3


def test_partition_for_rejects_bad_keys():
    """Keys must be str, bytes or int."""
    with pytest.raises(labs.ConfigError, match="key"):
        partition_for(1.5, 4)


def test_same_key_same_partition_and_offsets_count_up():
    """Records with one key land in one partition; offsets are 0, 1, 2, ... per partition."""
    sim, broker, g, seen = world(n=40)
    result = sim.run()
    for p in range(3):
        log = broker.log("t", p)
        assert [r.offset for r in log] == list(range(len(log)))
    by_key = {}
    for p in range(3):
        for r in broker.log("t", p):
            by_key.setdefault(r.key, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())
    assert sum(broker.end_offsets("t")) == len(result.requests) >= 39


def test_every_record_consumed_once_and_committed_without_faults():
    """No crash: every record handled exactly once; committed offsets reach the end; lag 0."""
    sim, broker, g, seen = world(n=40)
    result = sim.run()
    assert sorted((p, o) for p, o, _ in seen) == sorted(
        (p, o) for p in range(3) for o in range(broker.end_offsets("t")[p]))
    assert broker.committed("g") == broker.end_offsets("t")
    assert broker.lag("g") == 0
    assert duplicates(result, "g") == []
    assert lag_over_time(result, "t", "g")[-1][1] == 0.0


def test_range_assignment_is_sorted_and_deterministic():
    """Range assignment: 5 partitions over 2 members -> [0,1,2] and [3,4]."""
    sim = labs.Simulation(seed=0)
    broker = Broker(sim)
    broker.topic("t", partitions=5)
    g = broker.subscribe("t", "g", handler=lambda ctx, rec: None, consumers=2)
    assert g.assignment() == {"g-0": [0, 1, 2], "g-1": [3, 4]}


def test_more_consumers_than_partitions_leaves_some_idle():
    """A partition is owned by one member of a group: extra members get nothing."""
    sim = labs.Simulation(seed=0)
    broker = Broker(sim)
    broker.topic("t", partitions=2)
    g = broker.subscribe("t", "g", handler=lambda ctx, rec: None, consumers=3)
    assert g.assignment() == {"g-0": [0], "g-1": [1], "g-2": []}


def test_crash_moves_partitions_after_rebalance_delay():
    """A crashed member's partitions go to the live member after the session timeout."""
    sim, broker, g, seen = world(n=40, rate=50.0, rebalance_delay=100.0)
    g.crash(member=0, at=200.0)
    sim.run(until=250.0)
    assert g.assignment()["g-0"] == [0, 1]          # not yet noticed
    sim.run(until=400.0)
    assert g.assignment() == {"g-0": [], "g-1": [0, 1, 2]}


def test_crash_between_handling_and_commit_redelivers():
    """At-least-once: records handled but not committed before a crash are handled again."""
    # 600 records/s against ~3 ms per record: a backlog, so the member is always busy
    sim, broker, g, seen = world(n=60, rate=600.0, consumers=1, commit_every=10,
                                 rebalance_delay=50.0)
    g.crash(member=0, at=60.0, restart_at=120.0)
    result = sim.run()
    dups = duplicates(result, "g")
    assert dups, "expected duplicates after a crash with uncommitted progress"
    assert broker.committed("g") == broker.end_offsets("t")
    handled = {(p, o) for p, o, _ in seen}
    assert handled == {(p, o) for p in range(3) for o in range(broker.end_offsets("t")[p])}


def test_at_most_once_loses_instead_of_repeating():
    """At-most-once commits before handling: a crash mid-handling loses the record, no repeats."""
    sim, broker, g, seen = world(n=60, rate=600.0, consumers=1, delivery="at-most-once",
                                 rebalance_delay=50.0)
    g.crash(member=0, at=61.0, restart_at=120.0)
    result = sim.run()
    assert duplicates(result, "g") == []
    handled = {(p, o) for p, o, _ in seen}
    everything = {(p, o) for p in range(3) for o in range(broker.end_offsets("t")[p])}
    assert handled <= everything and len(everything - handled) >= 1


def test_failed_record_is_retried_in_place_and_blocks_its_partition():
    """A non-ok reply is retried after the backoff; later records of the partition wait."""
    sim = labs.Simulation(seed=3)
    broker = Broker(sim, latency=0.5)
    broker.topic("t", partitions=1)
    tries = {"n": 0}
    order = []

    def handler(ctx, rec):
        if rec.offset == 1 and tries["n"] < 2:
            tries["n"] += 1
            return labs.Response.error(503, "downstream down")
        order.append(rec.offset)
        return {"ok": True}

    def producer(ctx, req):
        yield broker.produce(ctx, "t", key="same", value=req.body)
        return {}

    sim.service("p", producer)
    sim.load("p", rate=100, duration=50, arrivals="uniform")
    broker.subscribe("t", "g", handler=handler, retry_backoff=20.0)
    result = sim.run()
    assert order == list(range(broker.end_offsets("t")[0]))
    statuses = [d["status"] for d in deliveries(result, "g") if d["offset"] == 1]
    assert statuses == [503, 503, 200]


def test_two_groups_each_get_everything():
    """Publish-subscribe: each group reads the whole topic with its own offsets."""
    sim, broker, g, seen = world(n=20)
    other = []
    broker.subscribe("t", "audit", handler=lambda ctx, rec: other.append(rec.offset) or {})
    result = sim.run()
    assert broker.committed("audit") == broker.end_offsets("t") == broker.committed("g")
    assert len(other) == len(result.requests)


def test_consumer_span_joins_the_producer_trace():
    """The consumer span is a child of the producer span, in the request's trace."""
    sim, broker, g, seen = world(n=5)
    result = sim.run()
    tr = result.traces.get(result.requests[0].trace_id)
    kinds = {s.kind for s in tr.spans}
    assert {"producer", "consumer"} <= kinds
    prod = next(s for s in tr.spans if s.kind == "producer")
    assert any(c.kind == "consumer" for c in prod.children)


def test_journal_is_deterministic():
    """Same seed, same journal hash, crashes included."""
    def run():
        sim, broker, g, seen = world(seed=9, n=40, commit_every=3, rebalance_delay=40.0)
        g.crash(member=1, at=150.0, restart_at=260.0)
        return sim.run().journal_hash()
    assert run() == run()


def test_errors_say_what_to_fix():
    """Unknown topics, duplicate groups and bad parameters raise ConfigError."""
    sim = labs.Simulation(seed=0)
    broker = Broker(sim)
    with pytest.raises(labs.ConfigError, match="broker.topic"):
        broker.produce("x", "nope", key="k")
    broker.topic("t", partitions=2)
    with pytest.raises(labs.ConfigError, match="already exists"):
        broker.topic("t")
    with pytest.raises(labs.ConfigError, match="partitions"):
        broker.topic("u", partitions=0)
    broker.subscribe("t", "g", handler=lambda c, r: None)
    with pytest.raises(labs.ConfigError, match="already exists"):
        broker.subscribe("t", "g", handler=lambda c, r: None)
    with pytest.raises(labs.ConfigError, match="delivery"):
        broker.subscribe("t", "h", handler=lambda c, r: None, delivery="exactly-once")
    g = broker.groups["g"]
    with pytest.raises(labs.ConfigError, match="member"):
        g.crash(member=5, at=1.0)


crash_plans = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2),           # member
              st.floats(min_value=0.0, max_value=600.0),       # at
              st.floats(min_value=1.0, max_value=300.0)),      # down for
    max_size=3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000),
       partitions=st.integers(min_value=1, max_value=5),
       commit_every=st.integers(min_value=1, max_value=5),
       rate=st.sampled_from([100.0, 400.0]),
       crashes_g=crash_plans, crashes_h=crash_plans)
def test_order_per_partition_and_at_least_once_after_recovery(seed, partitions, commit_every,
                                                               rate, crashes_g, crashes_h):
    """Whatever the crashes (all restarted), for each of two groups: each partition's records
    are first handled in offset order, every record is handled at least once, and the group's
    committed offsets reach the end of every partition."""
    sim, broker, g, seen = world(seed=seed, partitions=partitions, n=40, rate=rate,
                                 consumers=3, commit_every=commit_every, rebalance_delay=30.0)
    seen_h = []

    def audit(ctx, rec):
        yield ctx.work(1.0)
        seen_h.append((rec.partition, rec.offset))
        return {}

    h = broker.subscribe("t", "h", handler=audit, consumers=2, commit_every=2,
                         rebalance_delay=20.0)
    for group, plan in ((g, crashes_g), (h, crashes_h)):
        for member, at, down in plan:
            group.crash(member=member % len(group.members), at=at, restart_at=at + down)
    result = sim.run()
    ends = broker.end_offsets("t")
    everything = {(p, o) for p in range(partitions) for o in range(ends[p])}
    for name in ("g", "h"):
        for p in range(partitions):
            firsts = []
            for d in deliveries(result, name):
                if d["partition"] == p and d["offset"] not in firsts:
                    firsts.append(d["offset"])
            assert firsts == list(range(ends[p])), (name, p)
        assert broker.committed(name) == ends
        assert broker.lag(name) == 0
    assert {(p, o) for p, o, _ in seen} == everything
    assert set(seen_h) == everything


@settings(max_examples=30, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=50),
       partitions=st.integers(min_value=1, max_value=16))
def test_partition_for_in_range_and_pure(keys, partitions):
    """Partitions are in range and depend only on the key."""
    for k in keys:
        p = partition_for(k, partitions)
        assert 0 <= p < partitions and p == partition_for(k, partitions)


def test_lag_grows_while_the_group_is_down_and_drains_after():
    """Consumer lag: rises while every member is down, back to zero after the restart."""
    sim, broker, g, seen = world(n=100, rate=100.0, rebalance_delay=50.0)
    g.crash(member=None, at=200.0, restart_at=600.0)
    result = sim.run()
    lag = dict(lag_over_time(result, "t", "g", bucket=100.0))
    assert lag[200.0] <= 3 and lag[600.0] >= 30
    assert lag_over_time(result, "t", "g", bucket=100.0)[-1][1] == 0.0


def _keyless(seed=1, sticky=4, n=40, partitions=3):
    sim = labs.Simulation(seed=seed)
    broker = Broker(sim, latency=1.0, sticky_records=sticky)
    broker.topic("t", partitions=partitions)
    parts = []

    def producer(ctx, req):
        meta = yield broker.produce(ctx, "t", value=req.body["id"])
        parts.append(meta.partition)
        return {}

    sim.service("producer", producer, concurrency=1, queue=1000)
    sim.load("producer", rate=100.0, duration=n * 10.0, arrivals="uniform")
    sim.run()
    return parts


def test_keyless_records_are_sticky_not_round_robin():
    """Kafka's sticky partitioner (KIP-480/794): runs of sticky_records to one partition,
    then a switch to a different partition; deterministic for a seed."""
    parts = _keyless()
    runs = [parts[i:i + 4] for i in range(0, len(parts), 4)]
    assert all(len(set(r)) == 1 for r in runs)
    assert all(a[0] != b[0] for a, b in zip(runs, runs[1:]))
    assert parts == _keyless()
    with pytest.raises(labs.ConfigError, match="sticky_records"):
        Broker(labs.Simulation(seed=1), sticky_records=0)


def test_poison_record_goes_to_the_dead_letter_topic_and_the_partition_moves_on():
    """Without max_deliveries a poison record stalls its partition for ever; with it, the
    record is parked in the dead-letter topic after N deliveries and the rest is handled."""
    for limit in (None, 3):
        sim = labs.Simulation(seed=2)
        broker = Broker(sim, latency=1.0)
        broker.topic("t", partitions=1)
        broker.topic("t.dlq", partitions=1)
        handled = []

        def producer(ctx, req):
            yield broker.produce(ctx, "t", key="k", value=req.body["id"])
            return {}

        def handler(ctx, rec):
            yield ctx.work(1.0)
            if rec.value == 3:
                return labs.Response.error(500, "cannot parse")
            handled.append(rec.value)
            return {}

        sim.service("producer", producer, concurrency=1, queue=100)
        sim.load("producer", rate=100.0, duration=100.0, arrivals="uniform")
        kw = {} if limit is None else {"max_deliveries": limit, "dead_letter": "t.dlq"}
        broker.subscribe("t", "g", handler, retry_backoff=10.0, **kw)
        result = sim.run(until=2_000)
        if limit is None:
            assert handled == [0, 1, 2]
            assert broker.log("t.dlq", 0) == []
        else:
            assert handled == [i for i in range(broker.end_offsets("t")[0]) if i != 3]
            dl = broker.log("t.dlq", 0)
            assert [r.value["value"] for r in dl] == [3] and dl[0].value["error"] == "cannot parse"
            rows = [r for r in result.rows if r[2] == "dead-letter"]
            assert len(rows) == 1 and rows[0][10] == limit
    with pytest.raises(labs.ConfigError, match="max_deliveries"):
        broker.subscribe("t", "g2", handler, dead_letter="t.dlq")
