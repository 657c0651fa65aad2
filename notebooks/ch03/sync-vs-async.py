# %% [markdown]
# # Sync vs. async: the same checkout over calls and over events
#
# The shop's checkout charges the card (`payments`) and books a parcel (`shipping`). Built
# twice, under the same seeded load:
#
# * **sync**: `orders` calls `payments`, then `shipping`, and answers the customer when both
#   have answered;
# * **async**: `orders` calls `payments`, then publishes `order-placed` to a Kafka-like
#   broker (`labs.Broker`: partitions, keys, offsets, consumer groups, commits) and answers;
#   a consumer group `shipping-worker` reads the topic and calls `shipping`.
#
# Then `shipping` gets slow, goes down, and receives a burst. After that: ordering within
# a partition, duplicates after a consumer crash, and sizing partitions and consumers.
# Every run is seeded: change a knob and rerun the cells below it.

# %%
from IPython.display import display

import labs
from labs import percentile  # nearest rank: the course's one definition of p99

# %% tags=["knob"]
SEED = 7
RATE = 50             # checkouts per second
DURATION = 8_000      # ms of load
SHIP_MS = 15.0        # mean time shipping needs to book a parcel (4 at a time)
PARTITIONS = 4        # partitions of the topic order-placed
WORKERS = 2           # members of the consumer group shipping-worker
TIMEOUT = 500         # ms, on every call

# %%
def build(mode, seed=SEED, rate=RATE, duration=DURATION, slow=None, down=None, burst=None,
          commit_every=1, worker_crash=None, shipping=None):
    """One run of the checkout. mode: "sync" or "async". slow=(from, to, extra_ms) and
    down=(from, to) are faults on shipping; burst is a labs.Burst; worker_crash=(member,
    from, to) crashes one shipping worker; shipping replaces the shipping handler."""
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(mean=0.5)
    broker = labs.Broker(sim, latency=labs.Exponential(mean=1.0))
    broker.topic("order-placed", partitions=PARTITIONS)

    def payments(ctx, req):
        yield ctx.work(labs.Exponential(mean=3.0))
        return {"charged": True}

    def book_parcel(ctx, req):
        yield ctx.work(labs.Exponential(mean=SHIP_MS))
        return {"booked": req.body["order"]}

    def orders_sync(ctx, req):
        yield ctx.work(1.0)
        paid = yield ctx.call("payments", {"order": req.body["id"]}, timeout=TIMEOUT)
        if not paid.ok:
            return labs.Response.error(503, "payments unavailable")
        shipped = yield ctx.call("shipping", {"order": req.body["id"]}, timeout=TIMEOUT)
        if not shipped.ok:
            return labs.Response.error(503, f"shipping: {shipped.reason or shipped.status}")
        return {"status": "placed"}

    def orders_async(ctx, req):
        yield ctx.work(1.0)
        paid = yield ctx.call("payments", {"order": req.body["id"]}, timeout=TIMEOUT)
        if not paid.ok:
            return labs.Response.error(503, "payments unavailable")
        yield broker.produce(ctx, "order-placed", key=str(req.body["id"]),
                             value={"order": req.body["id"]})
        return {"status": "placed"}

    def shipping_worker(ctx, record):
        reply = yield ctx.call("shipping", record.value, timeout=TIMEOUT)
        return reply                 # not ok: the broker retries it, offset not committed

    sim.service("payments", payments, concurrency=16)
    sim.service("shipping", shipping or book_parcel, concurrency=4, queue=50)
    sim.service("orders", orders_sync if mode == "sync" else orders_async,
                concurrency=16, queue=100)
    if mode == "async":
        group = broker.subscribe("order-placed", "shipping-worker", shipping_worker,
                                 consumers=WORKERS, commit_every=commit_every,
                                 retry_backoff=100.0, rebalance_delay=300.0)
        if worker_crash is not None:
            member, start, end = worker_crash
            group.crash(member=member, at=start, restart_at=end)
    sim.load("orders", rate=rate, duration=duration, pattern=burst,
             body=lambda rng, i: {"id": i})
    if slow is not None:
        sim.faults.slow("shipping", at=slow[0], until=slow[1],
                        extra=labs.Exponential(mean=slow[2]))
    if down is not None:
        sim.faults.crash("shipping", at=down[0], restart_at=down[1])
    return sim, broker


def run(mode, **kw):
    sim, broker = build(mode, **kw)
    return sim.run(), broker


def time_to_ship(result):
    """Per order: ms from the click to the parcel booked. In sync mode it is the checkout
    itself (for successful checkouts); in async mode, the click to the worker's success."""
    start = {r.trace_id: r for r in result.requests}
    done = {}
    for d in labs.broker.deliveries(result, "shipping-worker"):
        if d["status"] == 200 and d["trace_id"] in start and d["trace_id"] not in done:
            done[d["trace_id"]] = d["t"] - start[d["trace_id"]].start
    if not done:
        return [r.latency for r in result.requests if r.ok]
    return list(done.values())


def measure(result):
    reqs = result.requests
    lat = [r.latency for r in reqs if r.latency is not None]
    ship = time_to_ship(result)
    return {
        "checkouts": len(reqs),
        "ok %": round(100 * sum(r.ok for r in reqs) / max(1, len(reqs)), 1),
        "p50 ms": round(percentile(lat, 50), 1),
        "p99 ms": round(percentile(lat, 99), 1),
        "shipped": len(ship),
        "ship p50": round(percentile(ship, 50), 1),
        "ship max": round(max(ship, default=0.0), 1),
    }


def table(rows):
    """Show a list of (label, dict) as a table (labs.viz.table), wherever it is called."""
    display(labs.viz.table(rows))


def p99_over_time(result, bucket=500):
    groups = {}
    for r in result.requests:
        if r.latency is not None:
            groups.setdefault(int(r.start // bucket), []).append(r.latency)
    return [(b * bucket, percentile(v, 99)) for b, v in sorted(groups.items())]

# %% [markdown]
# ## 1. Calm
#
# `ship p50` / `ship max` is how long after the click the parcel was booked: part of the
# checkout in sync mode, later in async mode.

# %%
sync_calm, _ = run("sync")
async_calm, async_calm_broker = run("async")
table([("sync", measure(sync_calm)), ("async", measure(async_calm))])

# %% [markdown]
# One async checkout: the customer's request ends after the payment and the publish; the
# worker's call to `shipping` belongs to the same trace (the trace context travels in the
# record), but happens on its own time.

# %%
first = async_calm.requests[0]
print(async_calm.traces.get(first.trace_id).tree())

# %%
labs.viz.sequence(async_calm, trace_id=first.trace_id)

# %% [markdown]
# ## 2. Shipping gets slow
#
# From 2 s to 5 s every booking takes about 150 ms longer. Shipping handles four at a
# time, so its capacity drops from ~260 to ~25 bookings a second: less than the 50 checkouts
# a second that arrive.

# %% tags=["knob"]
SLOW = (2_000, 5_000, 150.0)

# %%
sync_slow, _ = run("sync", slow=SLOW)
async_slow, async_slow_broker = run("async", slow=SLOW)
table([("sync, shipping slow", measure(sync_slow)),
       ("async, shipping slow", measure(async_slow))])

# %%
labs.viz.line({"sync": p99_over_time(sync_slow), "async": p99_over_time(async_slow)},
              x="click time (ms)", y="checkout p99 (ms)",
              title="Checkout p99 while shipping is slow (2-5 s)")

# %%
labs.viz.line({"shipping-worker lag": labs.broker.lag_over_time(
    async_slow, "order-placed", "shipping-worker", bucket=250)},
    x="time (ms)", y="records not yet committed",
    title="Async: the topic absorbs the slowdown as consumer lag")

# %% [markdown]
# In sync mode the slowness is the customer's: checkouts wait for shipping, queue behind
# each other in `orders`, and some time out. In async mode checkout does not notice; the
# lag grows while shipping is slow and drains afterwards. Parcels are booked later
# (`ship max`), which is the price, and the thing to alert on.

# %% [markdown]
# ## 3. Shipping goes down
#
# `shipping` crashes at 2 s and comes back at 5 s (a bad deploy, say).

# %% tags=["knob"]
DOWN = (2_000, 5_000)

# %%
sync_down, _ = run("sync", down=DOWN)
async_down, async_down_broker = run("async", down=DOWN)
table([("sync, shipping down", measure(sync_down)),
       ("async, shipping down", measure(async_down))])

# %%
labs.viz.line({"shipping-worker lag": labs.broker.lag_over_time(
    async_down, "order-placed", "shipping-worker", bucket=250)},
    x="time (ms)", y="records not yet committed",
    title="Async: lag while shipping is down (2-5 s), then the catch-up")

# %% [markdown]
# Sync: every checkout in the window fails, because a checkout needs shipping to be up.
# Async: every checkout succeeds; the workers retry the record at the head of each
# partition every 100 ms (holding up the records behind it: per-partition order has a
# price) and catch up after the restart. Temporal coupling, measured.

# %% [markdown]
# ## 4. A burst
#
# From 2 s to 3 s checkouts arrive at 400 a second instead of 50.

# %% tags=["knob"]
BURST = labs.Burst(at=2_000, length=1_000, rate=400)

# %%
sync_burst, _ = run("sync", burst=BURST)
async_burst, async_burst_broker = run("async", burst=BURST)
table([("sync, burst", measure(sync_burst)), ("async, burst", measure(async_burst))])

# %%
labs.viz.line({"sync checkout p99": p99_over_time(sync_burst),
               "async checkout p99": p99_over_time(async_burst)},
              x="click time (ms)", y="p99 (ms)", title="Checkout p99 during a burst (2-3 s)")

# %%
labs.viz.line({"lag": labs.broker.lag_over_time(async_burst, "order-placed", "shipping-worker",
                                                bucket=250)},
              x="time (ms)", y="records not yet committed",
              title="Async: the queue absorbs the burst and drains at the workers' pace")

# %% [markdown] exercise={"id": "ch03-choose", "title": "Choose the boundary style", "outcome": "Choose between a synchronous call, an event and request/reply over messaging from a stated requirement", "points": 3, "minutes": 10}
# ## Exercise 1: choose the boundary style
#
# For each requirement, choose `"call"` (synchronous HTTP or gRPC, with a timeout),
# `"event"` (publish to a topic; consumers handle it later) or `"request-reply"` (a request
# message with a correlation id and a return address; the answer comes back as a message).
# Use the chapter's decision guide: does the caller need the answer to answer *its* caller?
# Must the work happen even if the other side is down now? Is the answer needed, but later?

# %%
REQUIREMENTS = {
    "charge":   "The checkout page must tell the customer whether the card was charged.",
    "email":    "Send the order confirmation email.",
    "picklist": "Add every placed order to the warehouse pick list, even while the "
                "warehouse system is being redeployed.",
    "label":    "Get a shipping label from a carrier whose API answers in 2 to 20 minutes; "
                "shipping needs the label before the parcel leaves.",
    "stock":    "Show the current stock level on the product page as it is rendered.",
    "loyalty":  "Add loyalty points when an order is paid; two other teams want the same "
                "trigger next quarter.",
}

### BEGIN SOLUTION
CHOICES = {
    "charge": "call",
    "email": "event",
    "picklist": "event",
    "label": "request-reply",
    "stock": "call",
    "loyalty": "event",
}
### END SOLUTION
### STUB CHOICES = {"charge": None, "email": None, "picklist": None, "label": None, "stock": None, "loyalty": None}

# %% tags=["check"] exercise="ch03-choose"
_why = {
    "charge": "the customer needs the answer in the response: only a call gives it now",
    "email": "nobody waits for it, and it must not fail the checkout when the provider is slow",
    "picklist": "it must survive the warehouse being down: a durable event, not a call",
    "label": "an answer is needed, but minutes later: request/reply over messaging",
    "stock": "the page needs the value to render: a call (or a local copy fed by events)",
    "loyalty": "a fact several consumers react to: publish an event, one group per team",
}
_checks = labs.Checks("ch03-choose")
for _k, _expected in [("charge", "call"), ("email", "event"), ("picklist", "event"),
                      ("label", "request-reply"), ("stock", "call"), ("loyalty", "event")]:
    _checks.equal(f"{_k}: {REQUIREMENTS[_k][:48]}…",
                  lambda _k=_k: CHOICES.get(_k), _expected, hint=_why[_k])
_checks.report()

# %% [markdown]
# ## 5. Ordering lives in a partition
#
# Each order now produces three events in a row: `placed`, `paid`, `shipped`, on a topic
# `order-events` with 4 partitions, read by a group `tracker` of 2 members. The record key
# decides the partition. `key_for(order_id, event_type)` below chooses the key; `None`
# means "no key": Kafka's producer then uses **sticky partitioning** (KIP-480, adaptive
# since 3.3): it fills a batch for one partition and then moves to another, so keyless
# records land in runs, and an order's three events can straddle a switch. (Before Kafka
# 2.4 keyless records went round robin; neither keeps an order's events together.)

# %%
def run_tracker(key_for, seed=SEED, orders=200):
    """Publish three events per order; return (events in handling order, partition sizes)."""
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(mean=0.5)
    broker = labs.Broker(sim, latency=labs.Exponential(mean=1.0))
    broker.topic("order-events", partitions=4)
    handled = []

    def orders_service(ctx, req):
        for kind in ("placed", "paid", "shipped"):
            yield broker.produce(ctx, "order-events", key=key_for(req.body["id"], kind),
                                 value={"order": req.body["id"], "type": kind})
        return {"ok": True}

    def tracker(ctx, record):
        yield ctx.work(labs.Exponential(mean=2.0))
        handled.append((record.value["order"], record.value["type"]))
        return {"ok": True}

    sim.service("orders", orders_service, concurrency=16)
    broker.subscribe("order-events", "tracker", tracker, consumers=2)
    sim.load("orders", rate=100, duration=orders * 10.0, body=lambda rng, i: {"id": i})
    sim.run()
    return handled, broker.end_offsets("order-events")


def out_of_order(handled):
    """Orders whose events were not handled as placed, paid, shipped."""
    seen = {}
    for order, kind in handled:
        seen.setdefault(order, []).append(kind)
    return sorted(o for o, kinds in seen.items() if kinds != ["placed", "paid", "shipped"])


handled, sizes = run_tracker(lambda order_id, kind: None)
print("no key:", len(out_of_order(handled)), "orders out of order; partition sizes", sizes)

# %% [markdown] exercise={"id": "ch03-key", "title": "Choose the key that keeps order", "outcome": "Choose a record key that keeps each order's events in order without serialising the topic", "points": 2, "minutes": 5}
# ## Exercise 2: choose the key
#
# Write `event_key(order_id, event_type)` so that **every order's events are handled in
# order** and the topic's **4 partitions are all used** (a single key for everything would
# keep the order but leave one consumer doing all the work).

# %%
def event_key(order_id, event_type):
    ### BEGIN SOLUTION
    return str(order_id)
    ### END SOLUTION


handled_k, sizes_k = run_tracker(event_key) if event_key(1, "placed") is not None else ([], [])
print("your key:", len(out_of_order(handled_k)), "orders out of order; partition sizes", sizes_k)

# %% tags=["check"] exercise="ch03-key"
(labs.Checks("ch03-key")
 .true("the key is a string, bytes or an int",
       lambda: None if event_key(7, "paid") is None
       else isinstance(event_key(7, "paid"), (str, bytes, int)),
       because="return something like str(order_id)")
 .equal("no order is handled out of order",
        lambda: len(out_of_order(handled_k)) if sizes_k else None,
        0, hint="all events of one order must share a key")
 .true("all 4 partitions carry records",
       lambda: all(n > 0 for n in sizes_k) if sizes_k else None,
       because="one key for every order puts everything in one partition",
       hint="key by the order, not by a constant or the event type")
 .report())

# %% tags=["hidden-check"] exercise="ch03-key"
(labs.Checks("ch03-key", hidden=True)
 .equal("in order on seed 3", lambda: len(out_of_order(run_tracker(event_key, seed=3)[0])), 0)
 .true("the same order gets the same key for each event type",
       lambda: event_key(5, "placed") == event_key(5, "paid") == event_key(5, "shipped"))
 .true("different orders can get different keys",
       lambda: len({event_key(i, "paid") for i in range(10)}) > 1)
 .report())

# %% [markdown]
# ## 6. Duplicates after a consumer crash
#
# At-least-once: a worker handles records, then commits. Here it commits every 10 records
# (`commit_every=10`, like a batch of `poll` results), and worker 0 crashes at 3 s. The
# partitions it held move to worker 1 after a 300 ms session timeout (shortened for the lab:
# Kafka's default `session.timeout.ms` is 45 s since 3.0), starting from the
# last commit. Shipping counts how many parcels it booked for each order.

# %%
def counting_shipping(booked):
    def shipping(ctx, req):
        yield ctx.work(labs.Exponential(mean=SHIP_MS))
        booked[req.body["order"]] = booked.get(req.body["order"], 0) + 1
        return {"booked": req.body["order"]}
    return shipping


booked = {}
dup_result, dup_broker = run("async", commit_every=10, worker_crash=(0, 3_000, 4_000),
                             shipping=counting_shipping(booked))
print("records handled twice:", len(labs.broker.duplicates(dup_result, "shipping-worker")))
print("orders with more than one parcel:", sum(1 for n in booked.values() if n > 1))
print("orders never shipped:", len(dup_result.requests) - len(booked))

# %% [markdown] exercise={"id": "ch03-idempotent", "title": "Make the consumer's effect idempotent", "outcome": "Write an idempotent receiver so that at-least-once delivery books each parcel exactly once", "points": 3, "minutes": 10}
# ## Exercise 3: an idempotent receiver
#
# Duplicates will happen; the fix is on the receiving side. Write the shipping handler
# `make_idempotent_shipping(booked)` returns: it books a parcel (the `ctx.work` and the
# increment of `booked[order]`) **only the first time** it sees an order id, and answers
# success for a repeat without booking again. `booked` plays the shipping database.
#
# Careful, twice. Shipping can **crash in the middle of a booking**: the work is lost, the
# worker gets no answer, and the broker redelivers the record. So the order id must be
# recorded *with* the effect, never before it: an id recorded before a booking that then
# crashes makes every redelivery look like a repeat, and the parcel is never booked. And
# two copies of the same order can be in progress at once (a redelivery can overlap a slow
# first attempt). In the simulator, code between two `yield`s runs without interruption,
# like one database transaction: after the `yield ctx.work(...)`, check the id, record it
# and book the parcel in that one step.

# %%
def make_idempotent_shipping(booked):
    seen = set()

    def shipping(ctx, req):
        order = req.body["order"]
        ### BEGIN SOLUTION
        if order in seen:                  # a repeat of a booking that committed: skip the work
            return {"booked": order, "repeat": True}
        yield ctx.work(labs.Exponential(mean=SHIP_MS))   # a crash here loses only the work
        # one local transaction: check the id, record it and book, with no yield in between
        if order in seen:                  # an overlapping copy committed while we worked
            return {"booked": order, "repeat": True}
        seen.add(order)
        booked[order] = booked.get(order, 0) + 1
        return {"booked": order}
        ### END SOLUTION
        ### STUB yield ctx.work(labs.Exponential(mean=SHIP_MS))
        ### STUB return None
    return shipping


booked_idem = {}
idem_result, _ = run("async", commit_every=10, worker_crash=(0, 3_000, 4_000),
                     shipping=make_idempotent_shipping(booked_idem))
print("records handled twice:", len(labs.broker.duplicates(idem_result, "shipping-worker")))
print("orders with more than one parcel:", sum(1 for n in booked_idem.values() if n > 1))
print("orders shipped:", len(booked_idem), "of", len(idem_result.requests))

# %% tags=["check"] exercise="ch03-idempotent"
(labs.Checks("ch03-idempotent")
 .true("the crash still causes redeliveries (the test is real)",
       lambda: len(labs.broker.duplicates(idem_result, "shipping-worker")) > 0
       or len(labs.broker.duplicates(dup_result, "shipping-worker")) > 0,
       because="expected duplicates from the crash")
 .equal("every order is shipped", lambda: len(booked_idem) or None,
        len(idem_result.requests), hint="book the parcel the first time an order arrives")
 .equal("no order gets two parcels", lambda: max(booked_idem.values()) if booked_idem else None,
        1, hint="after the yield, check the id, record it and book in one step")
 .report())

# %% tags=["hidden-check"] exercise="ch03-idempotent"
_hb = {}
_hres, _ = run("async", seed=11, commit_every=20, worker_crash=(1, 2_500, 3_500),
               shipping=make_idempotent_shipping(_hb))
_hb2 = {}
_hres2, _ = run("async", seed=5, slow=(2_000, 4_000, 600.0),
                shipping=make_idempotent_shipping(_hb2))
# The chapter's failure, injected: shipping crashes three times for 0.6 s, each time in
# the middle of bookings (the work in flight is lost, the broker redelivers).
def _shipped_once_despite_crash(seed):
    b = {}
    sim, _ = build("async", seed=seed, shipping=make_idempotent_shipping(b))
    for at in (1_500, 3_500, 5_500):
        sim.faults.crash("shipping", at=at, restart_at=at + 600)
    res = sim.run()
    return (len(b), max(b.values())) if b else None, (len(res.requests), 1)


(labs.Checks("ch03-idempotent", hidden=True)
 .equal("shipping crashes mid-booking (seed 5): every order shipped, once",
        lambda: _shipped_once_despite_crash(5)[0], _shipped_once_despite_crash(5)[1],
        hint="record the id in the same step as the booking, after the work, not before it")
 .equal("shipping crashes mid-booking (seed 7): every order shipped, once",
        lambda: _shipped_once_despite_crash(7)[0], _shipped_once_despite_crash(7)[1])
 .equal("seed 11: every order shipped once", lambda: (len(_hb), max(_hb.values())) if _hb else None,
        (len(_hres.requests), 1))
 .equal("slow shipping, timeouts and retries: still once",
        lambda: (len(_hb2), max(_hb2.values())) if _hb2 else None, (len(_hres2.requests), 1))
 .report())

# %% [markdown] exercise={"id": "ch03-size", "title": "Size partitions and consumers", "outcome": "Size a topic's partitions and a group's consumers from the arrival rate and the handling time, then verify in a run", "points": 4, "minutes": 15}
# ## Exercise 4: size partitions and consumers
#
# A new topic `payment-captured` will carry **300 records a second**. Handling one record
# takes about **10 ms** of work, plus about 1 ms to fetch it and 1 ms to commit. The target:
# the group's lag never exceeds **150 records**, and is back to **0 within 300 ms** after
# the load stops.
#
# Choose `SIZED = {"partitions": P, "consumers": C}`. Work it out first: how many records a
# second can one consumer handle? How many consumers does 300 a second need, with room for
# randomness? How many partitions do that many consumers need? Then run it. Do not
# over-provision: at most 12 consumers.
#
# This is a classic consumer group, where a partition has one owner and the partition
# count caps the group's parallelism. Since Kafka 4.2, **share groups** (Queues for
# Kafka, KIP-932) lift that cap for work that needs no order: members of a share group
# read the same partitions cooperatively and acknowledge each record. A ledger that must
# apply one account's payments in order still needs a consumer group and enough partitions.

# %%
def run_sized(partitions, consumers, seed=SEED, rate=300, duration=3_000):
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(mean=0.5)
    broker = labs.Broker(sim, latency=1.0)
    broker.topic("payment-captured", partitions=partitions)

    def payments(ctx, req):
        yield broker.produce(ctx, "payment-captured", key=str(req.body["id"]), value=req.body)
        return {"ok": True}

    def ledger(ctx, record):
        yield ctx.work(labs.Exponential(mean=10.0))
        return {"ok": True}

    sim.service("payments", payments, concurrency=64)
    broker.subscribe("payment-captured", "ledger", ledger, consumers=consumers)
    sim.load("payments", rate=rate, duration=duration, body=lambda rng, i: {"id": i})
    result = sim.run()
    lag = labs.broker.lag_over_time(result, "payment-captured", "ledger", bucket=50)
    drained = next((t for t, v in lag if t >= duration and v == 0), None)
    return {"max lag": max(v for _, v in lag), "drained after ms":
            None if drained is None else drained - duration, "lag": lag}


### BEGIN SOLUTION
SIZED = {"partitions": 6, "consumers": 6}
### END SOLUTION
### STUB SIZED = {"partitions": None, "consumers": None}

if SIZED["partitions"] and SIZED["consumers"]:
    sized = run_sized(SIZED["partitions"], SIZED["consumers"])
    print("max lag:", sized["max lag"], " drained", sized["drained after ms"],
          "ms after the load stopped")

# %%
if SIZED["partitions"] and SIZED["consumers"]:
    under = run_sized(SIZED["partitions"], 2)
    chart = labs.viz.line({f"{SIZED['consumers']} consumers": sized["lag"],
                           "2 consumers": under["lag"]},
                          x="time (ms)", y="lag (records)", title="Lag of payment-captured")
else:
    chart = "Choose SIZED above, then run this cell for the chart."
chart

# %% tags=["check"] exercise="ch03-size"
_sized_cache = {}


def sized_run(seed=SEED):
    if not (SIZED.get("partitions") and SIZED.get("consumers")):
        return None
    if seed not in _sized_cache:
        _sized_cache[seed] = run_sized(SIZED["partitions"], SIZED["consumers"], seed=seed)
    return _sized_cache[seed]


(labs.Checks("ch03-size")
 .true("no consumer sits idle (consumers <= partitions)",
       lambda: sized_run() and SIZED["consumers"] <= SIZED["partitions"],
       because="a partition has one owner per group: extra consumers get nothing")
 .between("at most 12 consumers", lambda: sized_run() and SIZED["consumers"], 1, 12)
 .between("max lag (records)", lambda: sized_run() and sized_run()["max lag"], 0, 150,
          hint="one consumer handles about 1000 / 12 ≈ 83 records a second")
 .true("lag back to 0 within 300 ms after the load stops",
       lambda: sized_run() and sized_run()["drained after ms"] is not None
       and sized_run()["drained after ms"] <= 300,
       because="the group has not caught up in time: it runs too close to its capacity")
 .report())

# %% tags=["hidden-check"] exercise="ch03-size"
(labs.Checks("ch03-size", hidden=True)
 .between("max lag on seed 13", lambda: sized_run(13) and sized_run(13)["max lag"], 0, 150)
 .true("drains on seed 13", lambda: sized_run(13) and sized_run(13)["drained after ms"]
       is not None and sized_run(13)["drained after ms"] <= 300)
 .report())

# %% [markdown]
# ## 7. A poison record
#
# One record that can never be handled (a value shipping cannot parse) fails on every
# delivery. Retried in place, it blocks every record behind it in its partition for ever,
# and the member's other partitions with it. `max_deliveries=5, dead_letter="…"` gives up on
# a record after five failed deliveries, parks it in a dead-letter topic for a person to
# look at, and moves on. (The Kafka client has no dead-letter queue: Kafka Connect's
# `errors.deadletterqueue.topic.name` and Spring Kafka's `DeadLetterPublishingRecoverer` are
# the same idea, and in Clojure it is a `produce` in the consumer loop.)

# %%
def run_poison(max_deliveries=None, seed=SEED, poison_order=40):
    sim = labs.Simulation(seed=seed)
    broker = labs.Broker(sim, latency=1.0)
    broker.topic("order-placed", partitions=PARTITIONS)
    broker.topic("order-placed.dlq", partitions=1)
    handled = []

    def orders(ctx, req):
        yield broker.produce(ctx, "order-placed", key=str(req.body["id"]), value=req.body)
        return {"status": "placed"}

    def shipping_worker(ctx, record):
        yield ctx.work(labs.Exponential(mean=2.0))
        if record.value["id"] == poison_order:
            return labs.Response.error(500, "cannot parse the address")
        handled.append(record.value["id"])
        return {"booked": record.value["id"]}

    sim.service("orders", orders, concurrency=16)
    kw = {} if max_deliveries is None else {"max_deliveries": max_deliveries,
                                            "dead_letter": "order-placed.dlq"}
    broker.subscribe("order-placed", "shipping-worker", shipping_worker, consumers=WORKERS,
                     retry_backoff=100.0, **kw)
    sim.load("orders", rate=RATE, duration=2_000, body=lambda rng, i: {"id": i})
    result = sim.run(until=10_000)
    return {"orders": len(result.requests), "shipped": len(handled),
            "dead letters": len(broker.log("order-placed.dlq", 0)),
            "lag at the end": broker.lag("shipping-worker")}


table([("retry for ever", run_poison()), ("dead letter after 5", run_poison(5))])

# %% [markdown]
# ## What to try next
#
# * Set `WORKERS = 6` with `PARTITIONS = 4` and rerun section 3: two workers stay idle (in
#   a consumer group; a Kafka 4.2 share group would use all six, without per-key order).
# * Make `SLOW` longer and the lag chart shows the backlog the topic holds for you; ask
#   what retention period the topic would need for a weekend outage.
# * In section 6, set `commit_every=1`: fewer duplicates, more commit round trips. There is
#   still a window (between handling and the commit's acknowledgement): the handler must
#   stay idempotent.
