"""ch09's observation parts: span attributes, correlated logs, head/tail sampling, cardinality."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs import ConfigError, HeadSampler, TailSampler, cardinality, logs, sampling, spans


def _world(seed=3, gold=0.3, slow_ms=200.0, fail=0.0, rate=50, duration=2_000):
    sim = labs.Simulation(seed=seed)
    tiers = sim.stream("test:tiers")
    errors = sim.stream("test:errors")

    def front(ctx, req):
        ctx.log("front start", order=req.body["id"])
        reply = yield ctx.call("back", req.body, timeout=1_000)
        if not reply.ok:
            ctx.log("front failed", level="error")
            return labs.Response.error(502, "back failed")
        return reply.body

    def back(ctx, req):
        spans.annotate(ctx, **{"customer.tier": req.body["tier"]})
        slow = req.body["tier"] == "gold" and ctx.instance == 1
        yield ctx.work(slow_ms if slow else 2.0)
        if errors.random() < fail:
            return labs.Response.error(500, "boom")
        ctx.log("back done")
        return {"ok": True}

    sim.service("front", spans.instrument(front))
    sim.service("back", spans.instrument(back, team="payments"), instances=2)
    sim.load("front", rate=rate, duration=duration,
             body=lambda _r, i: {"id": i, "tier": "gold" if tiers.random() < gold else "std"})
    return sim.run()


@pytest.fixture(scope="module")
def run():
    return _world(fail=0.05)


# -- spans -----------------------------------------------------------------------------
def test_span_rows_join_attributes_to_server_spans(run):
    rows = spans.span_rows(run)
    server = [r for r in rows if r["kind"] == "server"]
    client = [r for r in rows if r["kind"] == "client"]
    assert server and client
    assert all(r["attributes"]["service.name"] == r["service"] for r in server)
    assert all(r["attributes"]["service.instance.id"].startswith(r["service"] + "-") for r in server)
    assert all(r["attributes"] == {} for r in client)
    back = spans.span_rows(run, kind="server", service="back")
    assert {r["attributes"]["team"] for r in back} == {"payments"}
    assert {r["attributes"]["customer.tier"] for r in back} == {"gold", "std"}
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)


def test_slow_spans_share_the_planted_attributes(run):
    back = spans.span_rows(run, kind="server", service="back")
    slow = [r for r in back if r["duration"] > 100]
    assert slow and all(r["attributes"]["customer.tier"] == "gold" and
                        r["attributes"]["service.instance.id"] == "back-1" for r in slow)


def test_annotate_and_instrument_reject_bad_input():
    with pytest.raises(ConfigError, match="primitives"):
        spans._check_attributes({"customer": {"id": 1}})
    with pytest.raises(ConfigError, match="ctx"):
        spans.annotate(None, tier="gold")
    with pytest.raises(ConfigError, match="handler"):
        spans.instrument(42)
    with pytest.raises(ConfigError, match="kind"):
        spans.span_rows(_world(duration=100), kind="internal")


# -- logs ------------------------------------------------------------------------------
def test_correlated_joins_one_trace_across_services(run):
    tid = run.requests[0].trace_id
    lines = logs.correlated(run, tid)
    assert {d["service"] for d in lines} == {"front", "back"}
    assert all(d["trace_id"] == tid for d in lines)
    assert [d["t"] for d in lines] == sorted(d["t"] for d in lines)
    assert all(d["message"] != spans.ATTRIBUTES_MESSAGE for d in lines)
    parsed = json.loads(logs.to_json(lines[0]))
    assert parsed["trace_id"] == tid and parsed["message"] == "front start"


def test_by_trace_partitions_every_line(run):
    groups = logs.by_trace(run)
    total = sum(len(v) for v in groups.values())
    assert total == len([d for d in run.logs() if d["message"] != spans.ATTRIBUTES_MESSAGE])
    errors = logs.by_trace(run, level="error")
    assert all(d["level"] == "error" for v in errors.values() for d in v)


def test_logs_reject_bad_input(run):
    with pytest.raises(ConfigError, match="32-hex"):
        logs.correlated(run, "abc")
    with pytest.raises(ConfigError, match="level"):
        logs.by_trace(run, level="fatal")
    with pytest.raises(ConfigError, match="one log line"):
        logs.to_json("x")


# -- sampling --------------------------------------------------------------------------
def test_head_sampler_follows_otel_bounds():
    assert HeadSampler(1.0).bound == (1 << 63) - 1
    assert HeadSampler(0.0).bound == -(1 << 63)
    # Long.MIN_VALUE in the low 64 bits: Math.abs keeps it negative, so it is sampled
    # unless the ratio is 0 (the comment in TraceIdRatioBasedSampler.java).
    tid = "0" * 16 + "8" + "0" * 15
    assert HeadSampler(0.5).keep(tid) and not HeadSampler(0.0).keep(tid)
    low = "0" * 31 + "1"
    assert HeadSampler(0.001).keep(low)
    high = "f" * 16 + "7" + "f" * 15        # low half = Long.MAX_VALUE: never below the bound
    assert not HeadSampler(1.0).keep(high)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, (1 << 128) - 1), min_size=1, max_size=50),
       st.floats(0, 1), st.floats(0, 1))
def test_head_sampling_is_monotone_in_the_ratio(ids, a, b):
    """A trace kept at some ratio is kept at every larger ratio (the bound only grows)."""
    lo, hi = sorted((a, b))
    tids = ["%032x" % (i or 1) for i in ids]
    kept_lo = {t for t in tids if HeadSampler(lo).keep(t)}
    kept_hi = {t for t in tids if HeadSampler(hi).keep(t)}
    assert kept_lo <= kept_hi


def test_head_sampler_keeps_about_its_ratio(run):
    import random
    rng = random.Random(5)
    tids = ["%032x" % rng.getrandbits(128) for _ in range(20_000)]
    share = sum(HeadSampler(0.1).keep(t) for t in tids) / len(tids)
    assert 0.09 < share < 0.11


def test_tail_sampler_keeps_errors_and_slow_traces(run):
    traces = list(run.traces)
    errors = [t for t in traces if sampling.is_error_trace(t)]
    slow = [t for t in traces if t.duration >= 100]
    assert errors and slow
    kept = {t.trace_id for t in TailSampler(
        [{"type": "status_code", "status_codes": ["ERROR"]},
         {"type": "latency", "threshold_ms": 100}]).sample(traces)}
    assert {t.trace_id for t in errors + slow} == kept


def test_tail_sampler_decides_with_the_spans_ended_by_decision_wait(run):
    slow = [t for t in run.traces if t.duration >= 100]
    early = TailSampler([{"type": "latency", "threshold_ms": 100}], decision_wait=50)
    assert not any(early.keep(t) for t in slow)     # decided before the slow spans ended


def test_string_attribute_policy_reads_span_attributes(run):
    rows = spans.span_rows(run)
    kept = TailSampler([{"type": "string_attribute", "key": "customer.tier",
                         "values": ["gold"]}]).sample(run.traces, rows)
    gold = {r["trace_id"] for r in rows if r["attributes"].get("customer.tier") == "gold"}
    assert {t.trace_id for t in kept} == gold


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 500), st.floats(1, 300), st.floats(0, 100))
def test_tail_policies_combine_with_or(threshold_seed, threshold, pct):
    """A trace is kept by [A, B] exactly when A or B alone keeps it (the processor's rule)."""
    run = _world(seed=threshold_seed % 7, fail=0.05, duration=600)
    a = {"type": "latency", "threshold_ms": threshold}
    b = {"type": "probabilistic", "sampling_percentage": pct}
    both, only_a, only_b = TailSampler([a, b]), TailSampler([a]), TailSampler([b])
    for t in run.traces:
        assert both.keep(t) == (only_a.keep(t) or only_b.keep(t))


def test_sampling_rejects_bad_config():
    with pytest.raises(ConfigError, match="ratio"):
        HeadSampler(1.5)
    with pytest.raises(ConfigError, match="32 lowercase hex"):
        HeadSampler(0.5).keep("abc")
    with pytest.raises(ConfigError, match="non-empty list"):
        TailSampler([])
    with pytest.raises(ConfigError, match="unknown policy"):
        TailSampler([{"type": "rate_limiting"}])
    with pytest.raises(ConfigError, match="missing"):
        TailSampler([{"type": "latency"}])
    with pytest.raises(ConfigError, match="threshold_ms"):
        TailSampler([{"type": "latency", "threshold_ms": -1}])
    with pytest.raises(ConfigError, match="percentage"):
        TailSampler([{"type": "probabilistic", "sampling_percentage": 150}])
    with pytest.raises(ConfigError, match="status_codes"):
        TailSampler([{"type": "status_code", "status_codes": ["FAIL"]}])
    with pytest.raises(ConfigError, match="decision_wait"):
        TailSampler([{"type": "always_sample"}], decision_wait=0)


# -- cardinality -----------------------------------------------------------------------
def test_series_per_label_set_matches_prometheus_exposition():
    assert cardinality.series_per_label_set("counter") == 1
    assert cardinality.series_per_label_set("histogram") == 14     # 11 bounds, +Inf, sum, count
    assert cardinality.series_per_label_set("histogram", buckets=[0.1, 1]) == 5
    assert cardinality.series_per_label_set("summary", quantiles=[0.5, 0.99]) == 4


def test_series_count_counts_combinations_seen():
    samples = [{"svc": "a", "status": "200"}, {"svc": "a", "status": "500"},
               {"svc": "b", "status": "200"}, {"svc": "a", "status": "200"}]
    assert cardinality.series_count(samples, ["svc"]) == 2
    assert cardinality.series_count(samples, ["svc", "status"]) == 3
    assert cardinality.series_count(samples, ["svc", "status"], kind="histogram") == 42
    assert cardinality.label_values(samples, ["svc", "status"]) == {"svc": 2, "status": 2}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({"a": st.sampled_from("xyz"), "b": st.integers(0, 9),
                                       "c": st.integers(0, 99)}), max_size=80))
def test_adding_a_label_never_reduces_series(samples):
    """Series grow with labels, and never exceed the product of each label's values."""
    one = cardinality.series_count(samples, ["a"])
    two = cardinality.series_count(samples, ["a", "b"])
    three = cardinality.series_count(samples, ["a", "b", "c"])
    assert one <= two <= three <= max(len(samples), 1) * 1
    vals = cardinality.label_values(samples, ["a", "b", "c"])
    assert three <= vals["a"] * vals["b"] * vals["c"]


def test_cardinality_rejects_bad_input():
    with pytest.raises(ConfigError, match="kind"):
        cardinality.series_per_label_set("meter")
    with pytest.raises(ConfigError, match="increasing"):
        cardinality.series_per_label_set("histogram", buckets=[1, 0.5])
    with pytest.raises(ConfigError, match="quantiles"):
        cardinality.series_per_label_set("summary", quantiles=[1.5])
    with pytest.raises(ConfigError, match="label names"):
        cardinality.series_count([], "service")


# -- determinism -----------------------------------------------------------------------
@pytest.mark.parametrize("module", [spans, logs, sampling, cardinality])
def test_same_seed_same_digest(module):
    assert module._parity(3) == module._parity(3)
    assert module._parity(3) != module._parity(4)


def test_same_seed_same_span_table():
    a, b = _world(seed=9), _world(seed=9)
    assert spans.span_rows(a) == spans.span_rows(b)
    assert a.journal_hash() == b.journal_hash()
