"""Network: latency, loss, duplication, partitions, validation."""

import pytest

import labs


def _kinds(res, kind):
    return [e for e in res.journal if e.kind == kind]


def test_constant_latency_adds_up(sim, echo):
    """Client->s is free, s->client answers after the 2 ms of work: latency 2 ms exactly."""
    sim.service("s", echo)
    sim.load("s", rate=10, duration=500)
    res = sim.run()
    assert {round(r.latency, 9) for r in res.requests} == {2.0}


def test_link_latency_applies_both_ways(sim, chain):
    """A 5 ms link between front and back adds 10 ms round trip."""
    chain(sim)
    sim.network.link("front", "back", latency=labs.Constant(5))
    sim.load("front", rate=10, duration=500)
    res = sim.run()
    assert {round(r.latency, 9) for r in res.requests} == {1.0 + 5 + 2.0 + 5}


def test_total_loss_drops_everything_and_caller_times_out(sim, chain):
    """loss=1.0 drops every request; with a timeout the caller gets 504."""
    chain(sim, timeout=30)
    sim.network.link("front", "back", loss=1.0)
    sim.load("front", rate=20, duration=500)
    res = sim.run()
    assert res.requests and all(r.status == 504 for r in res.requests)
    assert all(e.note == "loss" for e in _kinds(res, "drop"))


def test_duplicate_delivers_twice(sim, chain):
    """duplicate=1.0 makes back process every request twice."""
    chain(sim)
    sim.network.link("front", "back", duplicate=1.0, symmetric=False)
    sim.load("front", rate=20, duration=500)
    res = sim.run()
    back = [e for e in res.journal if e.kind == "span.start" and e.service == "back"]
    assert len(back) == 2 * len(res.requests)
    assert labs.checkers.no_duplicates_processed(res)


def test_partition_drops_across_groups(sim, chain):
    """During a partition, messages between the groups are dropped with reason 'partition'."""
    chain(sim, timeout=20)
    sim.faults.partition(["front"], ["back"], at=100, until=200)
    sim.load("front", rate=100, duration=300)
    res = sim.run()
    drops = _kinds(res, "drop")
    assert drops and all(d.note == "partition" and 100 <= d.t < 200 for d in drops)
    assert all(r.ok for r in res.requests if r.start >= 210)


def test_reorder_can_overtake(sim, chain):
    """With reorder, some messages arrive after messages sent later."""
    chain(sim)
    sim.network.latency = labs.Uniform(1, 2)
    sim.network.reorder = 0.3
    sim.load("front", rate=500, duration=500)
    res = sim.run()
    recv = [e.msg for e in res.journal if e.kind == "receive" and e.service == "back"]
    assert recv != sorted(recv)


@pytest.mark.parametrize("field", ["loss", "duplicate", "reorder"])
def test_probability_out_of_range_rejected(sim, field):
    """Probabilities outside [0, 1] raise ConfigError naming the field."""
    with pytest.raises(labs.ConfigError, match=field):
        sim.network.link("a", "b", **{field: 1.5})


def test_negative_latency_rejected(sim):
    """A negative constant latency is refused."""
    with pytest.raises(labs.ConfigError, match=">= 0"):
        sim.network.latency = -1


def test_link_to_unknown_service_reported(sim, echo):
    """A link naming an unregistered service is reported when the run starts."""
    sim.service("orders", echo)
    sim.network.link("orders", "paymnts", latency=1)
    with pytest.raises(labs.UnknownServiceError, match="paymnts"):
        sim.run()
