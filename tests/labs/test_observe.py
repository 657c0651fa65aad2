"""Journal, metrics, traces, viz and checkers on one small run."""

import json

import pytest

import labs


@pytest.fixture(scope="module")
def res():
    """A reference run (100 requests): retries, breaker, crash and flaky window included."""
    return labs.scenarios.reference(7, requests=100)


def test_journal_events_are_frozen(res):
    """Events are immutable dataclasses with consecutive seq numbers."""
    e = res.journal[0]
    with pytest.raises(AttributeError):
        e.t = 1.0
    assert [x.seq for x in res.journal] == list(range(len(res.journal)))


def test_hash_is_hex_sha256(res):
    """journal_hash is 64 lowercase hex characters."""
    h = res.journal_hash()
    assert len(h) == 64 and int(h, 16) >= 0


def test_red_matches_requests(res):
    """The client's RED count equals the number of requests; percentiles are ordered."""
    red = res.metrics.red("client")
    assert red.count == len(res.requests)
    assert 0 <= red.p50 <= red.p90 <= red.p99 <= red.max
    assert red.errors == pytest.approx(sum(not r.ok for r in res.requests) / len(res.requests))


def test_timeseries_buckets(res):
    """timeseries returns consecutive buckets of the given width."""
    ts = res.metrics.timeseries("gateway", "rate", bucket=250)
    assert [t for t, _ in ts] == [ts[0][0] + 250 * i for i in range(len(ts))]


def test_counter_retries_positive(res):
    """The flaky window makes orders retry."""
    assert res.metrics.counter("orders", "retries") > 0


def test_traces_have_three_hops(res):
    """A successful trace has client→gateway→orders→payments spans, parents linked."""
    ok = next(t for t in res.traces if t.root.ok)
    services = [s.service for s in sorted(ok.spans, key=lambda s: s.start) if s.kind == "server"]
    assert services == ["gateway", "orders", "payments"]
    assert ok.root.traceparent.startswith(f"00-{ok.trace_id}-")
    assert labs.parse_traceparent(ok.root.traceparent) == (ok.trace_id, ok.root.span_id, True)


def test_slowest_sorted(res):
    """slowest(n) is in descending duration order."""
    d = [t.duration for t in res.traces.slowest(5)]
    assert d == sorted(d, reverse=True) and len(d) == 5


@pytest.mark.parametrize("bad", ["ff-" + "1" * 32 + "-" + "1" * 16 + "-01",
                                 "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "nonsense"])
def test_parse_traceparent_rejects_invalid(bad):
    """Version ff, all-zero ids and malformed headers are invalid."""
    with pytest.raises(labs.ConfigError):
        labs.parse_traceparent(bad)


def test_sequence_diagram_trimmed(res):
    """A sequence diagram respects limit and says how much it omitted."""
    m = labs.viz.sequence(res, limit=10)
    bundle = m._repr_mimebundle_()
    assert bundle["text/markdown"].startswith("```mermaid\nsequenceDiagram")
    assert sum("->>" in l or "-x" in l for l in m.source.splitlines()) <= 10
    assert "more messages omitted" in m.source


def test_sequence_for_one_trace(res):
    """With trace_id, only that trace's messages are drawn."""
    t = res.requests[0].trace_id
    src = labs.viz.sequence(res, trace_id=t, limit=100).source
    assert "omitted" not in src and "client->>gateway" in src


def test_vega_specs_are_json(res):
    """Charts give a Vega-Lite v5 spec (JSON-serializable) and a text fallback."""
    charts = [labs.viz.waterfall(res.traces.slowest(1)[0]),
              labs.viz.timeseries(res, "gateway", "p99", bucket=500),
              labs.viz.histogram(res.metrics.histogram("orders")),
              labs.viz.bar({"a": 1, "b": 2}), labs.viz.line([(0, 1), (1, 2)])]
    for c in charts:
        b = c._repr_mimebundle_()
        spec = b["application/vnd.vegalite.v5+json"]
        assert spec["$schema"].endswith("v5.json")
        json.dumps(spec)
        assert b["text/plain"]


def test_standard_checkers_pass_on_reference(res):
    """The reference run satisfies the standard invariants."""
    assert labs.checkers.standard(res) == []


def test_no_duplicates_flags_retried_side_effects():
    """A retry after a lost response processes the same call twice: flagged."""
    sim = labs.Simulation(seed=3)
    sim.network.latency = labs.Constant(1)

    def front(ctx, req):
        r = yield ctx.call("back", {}, timeout=5, retry=labs.RetryPolicy(
            max_attempts=3, backoff=labs.Backoff.fixed(1)))
        return r
    sim.service("front", front)
    sim.service("back", lambda ctx, req: {})
    sim.network.link("back", "front", loss=0.5, symmetric=False)
    sim.load("front", rate=50, duration=500)
    v = labs.checkers.no_duplicates_processed(sim.run())
    assert v and "again" in v[0].message


def test_smallest_failing_shrinks_size():
    """smallest_failing finds a failing seed and shrinks size to the threshold."""
    class R:
        def __init__(self, n):
            self.n = n

    def make(seed, size=64):
        return R(size)

    def check(r):
        return [labs.checkers.Violation("big", "too many")] if r.n >= 5 else []
    ce = labs.checkers.smallest_failing(make, check, seeds=range(3))
    assert ce.seed == 0 and ce.size == 5


def test_smallest_failing_none_when_all_pass():
    """None is returned if no seed fails."""
    assert labs.checkers.smallest_failing(lambda seed: seed, lambda r: [], seeds=range(3)) is None


def test_line_chart_of_counts_has_whole_number_ticks():
    """A line over whole-number x (services, replicas) never shows a tick at 1.5."""
    counts = labs.viz.line({"p50": [(1, 5.0), (2, 6.0)]})
    assert counts.spec["encoding"]["x"]["axis"] == {"tickMinStep": 1, "format": "d"}
    times = labs.viz.line({"p50": [(0.5, 5.0), (2, 6.0)]})
    assert "axis" not in times.spec["encoding"]["x"]


def test_percentile_is_nearest_rank_and_validates_p():
    """labs.percentile is the nearest-rank definition every metric uses; p outside [0, 100] says so."""
    values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10]
    assert labs.percentile(values, 50) == 5
    assert labs.percentile(values, 99) == 10
    assert labs.percentile(values, 0) == 1
    assert labs.percentile([], 99) == 0.0
    with pytest.raises(labs.ConfigError, match=r"outside \[0, 100\]"):
        labs.percentile(values, 150)


def test_table_shows_rows_as_html_and_aligned_text():
    """labs.viz.table: one header per column, one row per label, in HTML and in text."""
    t = labs.viz.table([("sync", {"p99": 12.5, "ok": 0.9}), ("async", {"p99": 3.0, "ok": 1.0})],
                       title="checkout")
    html = t._repr_html_()
    assert "<caption>checkout</caption>" in html and html.count('<th scope="row">') == 2
    lines = str(t).splitlines()
    assert lines[0] == "checkout" and lines[1].split() == ["p99", "ok"]
    assert lines[2].split() == ["sync", "12.5", "0.9"]
    with pytest.raises(ValueError, match="same keys"):
        labs.viz.table([("a", {"x": 1}), ("b", {"y": 2})])
