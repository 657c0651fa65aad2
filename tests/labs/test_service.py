"""Services: slots, queue, instances, admission and crashes."""

import labs


def _slow(ctx, req):
    yield ctx.work(100.0)
    return {"done": req.body["id"]}


def test_queue_overflow_answers_503_queue_full(sim):
    """With 1 slot and a queue of 1, a third simultaneous request is refused at once."""
    sim.service("s", _slow, concurrency=1, queue=1)
    sim.load("s", schedule=[(0, 0), (10, 1000)], duration=13.5, arrivals="uniform")
    res = sim.run()
    reasons = sorted(r.reason for r in res.requests)
    assert len(res.requests) == 3
    assert reasons.count("queue full") == 1
    assert sum(r.ok for r in res.requests) == 2


def test_slot_held_while_waiting_downstream(sim):
    """A handler keeps its slot while waiting on a call (thread-per-request model)."""
    def front(ctx, req):
        r = yield ctx.call("back", {})
        return r.body

    sim.service("front", front, concurrency=1, queue=10)
    sim.service("back", _slow_back, concurrency=10)
    sim.load("front", schedule=[(0, 0), (10, 1000)], duration=13.5, arrivals="uniform")
    res = sim.run()
    ends = sorted(r.end for r in res.requests)
    # the second request cannot start before the first finished (~104 ms later)
    assert ends[1] - ends[0] >= 100


def _slow_back(ctx, req):
    yield ctx.work(100.0)
    return {}


def test_instances_share_load_round_robin(sim, echo):
    """Two instances each handle half of the requests."""
    sim.service("s", echo, instances=2)
    sim.load("s", rate=100, duration=1000)
    res = sim.run()
    spans = [e for e in res.journal if e.kind == "span.start" and e.service == "s"]
    assert len(spans) == len(res.requests)
    assert len(spans) > 10


def test_crash_refuses_new_requests(sim, echo):
    """While crashed, requests are refused with 503 "connection refused"."""
    sim.service("s", echo)
    sim.faults.crash("s", at=100, restart_at=300)
    sim.load("s", rate=100, duration=400)
    res = sim.run()
    during = [r for r in res.requests if 110 <= r.start < 290]
    after = [r for r in res.requests if r.start >= 310]
    assert during and all(r.reason == "connection refused" for r in during)
    assert after and all(r.ok for r in after)


def test_crash_loses_in_flight_requests():
    """An in-flight request at crash time gets no answer; its caller times out."""
    sim = labs.Simulation(seed=1)
    sim.network.latency = labs.Constant(1.0)

    def front(ctx, req):
        r = yield ctx.call("back", {}, timeout=500)
        return r

    sim.service("front", front)
    sim.service("back", _slow_back)
    sim.faults.crash("back", at=50, restart_at=1000)
    sim.load("front", schedule=[(0, 0), (10, 1000)], duration=11.5, arrivals="uniform")
    res = sim.run()
    assert [r.status for r in res.requests] == [504]
    ended = [e for e in res.journal if e.kind == "span.end" and e.service == "back"]
    assert ended[0].get("reason") == "crashed"


def test_plain_function_handler_allowed(sim):
    """A non-generator handler's return value is the response."""
    sim.service("s", lambda ctx, req: {"n": 1})
    sim.load("s", rate=50, duration=200)
    res = sim.run()
    assert res.requests and all(r.ok for r in res.requests)


def test_handler_can_return_error_response(sim):
    """Returning Response.error(...) passes its status and reason to the caller."""
    sim.service("s", lambda ctx, req: labs.Response.error(418, "teapot"))
    sim.load("s", rate=50, duration=200)
    res = sim.run()
    assert {(r.status, r.reason) for r in res.requests} == {(418, "teapot")}


class _DenyAll:
    def try_take(self, now, n=1):
        return False

    def admit(self, now, queue_length, in_flight):
        return False


def test_rate_limit_answers_429(sim, echo):
    """A server-side token bucket that refuses gives 429 "rate limited"."""
    sim.service("s", echo, rate_limit=_DenyAll())
    sim.load("s", rate=50, duration=200)
    assert {r.status for r in sim.run().requests} == {429}


def test_shedder_answers_503_shed(sim, echo):
    """A load shedder that refuses gives 503 "shed"."""
    sim.service("s", echo, shedder=_DenyAll())
    sim.load("s", rate=50, duration=200)
    assert {r.reason for r in sim.run().requests} == {"shed"}


def test_real_token_bucket_limits_rate(sim, echo):
    """With labs.TokenBucket(rate=10/s) about 10 req/s get through out of 100 req/s."""
    sim.service("s", echo, rate_limit=labs.TokenBucket(rate=10, burst=1))
    sim.load("s", rate=100, duration=2000)
    ok = sum(r.ok for r in sim.run().requests)
    assert 10 <= ok <= 30


def test_drop_expired_skips_late_work(sim):
    """With drop_expired, a request whose deadline passed while queued is answered 504."""
    sim.service("s", _slow, concurrency=1, queue=10, drop_expired=True)
    sim.load("s", schedule=[(0, 0), (10, 1000)], duration=13.5, arrivals="uniform", budget=150)
    res = sim.run()
    served = [e.status for e in res.journal if e.kind == "span.end" and e.service == "s"]
    assert served == [200, 200, 504]
