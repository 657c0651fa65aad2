# %% [markdown]
# # A monolith and a chain of services: availability, latency and cost
#
# The shop from chapter 1 has five parts: **orders**, **payments**, **inventory**,
# **shipping** and **notifications**. In this lab you build it twice in a simulation:
#
# - as a **monolith**: one program in which placing an order is five function calls;
# - as a **chain of services**: each part (or group of parts) is its own program, and each
#   step of placing an order is a network call to the next one.
#
# Then you measure what the split does to latency and availability, break it with a partial
# outage, and count what it costs to run. Everything is simulated in *virtual time*: ten
# seconds of traffic take a fraction of a second, and the same seed gives the same run,
# message for message.
#
# Run the cells from top to bottom (Shift+Enter). Cells that start with `# Knobs` hold
# plain variables: change them and rerun the cell to see what happens.

# %%
import labs
from labs import percentile  # nearest rank: the course's one definition of p99
from labs import Checks

# %% [markdown]
# ## 1. The shop, built twice
#
# Two kinds of request arrive at the shop:
#
# - **place order** needs every part: orders records it, payments charges, inventory
#   reserves, shipping schedules, notifications sends the email;
# - **order status** ("where is my parcel?") needs only orders.
#
# A *design* is how many services the five parts are deployed as. With `services=1` the
# whole shop is one program (the monolith). With `services=5` every part is its own
# service, and a place-order request travels `orders → payments → inventory → shipping →
# notifications` and back. In between, parts are grouped (orders always keeps its own
# service, because it answers status requests).
#
# What each network hop costs in the model:
#
# - the **network**: a one-way latency drawn for every message (mean `NET_MS`, with an
#   exponential tail), so a round trip costs about `2 × NET_MS`;
# - **serialization**: encoding or decoding one message costs `SERDE_MS` of CPU time, and a
#   hop has four of them (the caller encodes the request and decodes the answer, the callee
#   decodes the request and encodes the answer).
#
# The business work itself (`WORK_MS` per part) is the same in both designs. Each service
# runs `INSTANCES` copies, each with `THREADS` request threads and a waiting queue of
# `QUEUE` requests, like a small Jetty thread pool.

# %% tags=["knob"]
# Knobs: the world every experiment below runs in
SEED = 7                  # same seed, same run; change it to see another possible history
RATE = 200                # requests per second arriving at the shop
PLACE_SHARE = 0.3         # share of requests that place an order (the rest ask for a status)
DURATION_MS = 10_000      # how long requests keep arriving (virtual ms)
WORK_MS = 1.0             # business work per part of the shop, per request (ms)
NET_MS = 0.25             # mean one-way network latency per message (ms)
SERDE_MS = 0.1            # encoding or decoding one message (ms of CPU)
INSTANCES = 2             # copies of every service (and of the monolith)
THREADS = 8               # request threads per copy
QUEUE = 20                # requests that may wait for a thread, per copy
CLIENT_TIMEOUT_MS = 1000  # the customer's browser gives up after this long

# %%
PARTS = ["orders", "payments", "inventory", "shipping", "notifications"]


def split_parts(services):
    """Group the five parts into `services` deployables; orders keeps its own from 2 up."""
    if not isinstance(services, int) or not 1 <= services <= len(PARTS):
        raise ValueError(f"services must be a whole number from 1 to {len(PARTS)}, "
                         f"got {services!r}")
    if services == 1:
        return [PARTS[:]]
    rest, k = PARTS[1:], services - 1
    groups, start = [["orders"]], 0
    for g in range(k):
        size = len(rest) // k + (1 if g < len(rest) % k else 0)
        groups.append(rest[start:start + size])
        start += size
    return groups


def service_names(services):
    """The services of a design, in call order ("shop" is the monolith)."""
    groups = split_parts(services)
    return ["shop"] if services == 1 else ["+".join(g) for g in groups]


def success_rate(outcomes):
    """Share of requests that succeeded (None if there are none)."""
    return sum(o.ok for o in outcomes) / len(outcomes) if outcomes else None


class ShopRun:
    """One simulated run of a design: the labs Result plus each request's kind."""

    def __init__(self, result, names, kinds, outage_window):
        self.result, self.names, self.outage_window = result, names, outage_window
        # The load makes the i-th body for the i-th request, and result.requests lists the
        # requests in the order they started, so the two line up one to one.
        assert len(kinds) == len(result.requests)
        self.pairs = list(zip(result.requests, kinds))

    def outcomes(self, kind=None, during=None):
        """Requests of one kind ("place" or "status"); during=True/False: in/out of the outage."""
        out = []
        lo, hi = self.outage_window or (0.0, 0.0)
        for r, k in self.pairs:
            if kind is not None and k != kind:
                continue
            if during is not None and (lo <= r.start < hi) != during:
                continue
            out.append(r)
        return out

    def latencies(self, kind=None, ok=None, during=None):
        """Latencies (ms) the customers saw; failures count with the time they waited."""
        return [r.latency if r.latency is not None else CLIENT_TIMEOUT_MS
                for r in self.outcomes(kind, during) if ok is None or r.ok == ok]

    def messages_per_order(self):
        """Network messages between services per place-order request."""
        sends = sum(1 for row in self.result.journal
                    if row.kind == "send" and row.service != "client" and row.peer != "client")
        return sends / max(1, len(self.outcomes("place")))


def run_shop(services=5, *, per_hop=1.0, timeout_ms=None, outage=None, outage_at=3000,
             outage_ms=2000, seed=None, rate=None, place_share=None, net_ms=None,
             serde_ms=None, duration_ms=None):
    """Build and run one design of the shop; return a ShopRun.

    per_hop: availability of every service (a number), or one number per service (a list):
      the chance that a process, its host and the network in front of it answer.
    timeout_ms: timeout of every call between services (None: wait forever).
    outage: None, "crash" (a code fault: inventory's code crashes its process on every
      replica, and calls to it are refused at once) or "unreachable" (a host fault:
      inventory's machine vanishes and calls to it get no answer at all), from outage_at
      for outage_ms (virtual ms). In the monolith a code fault takes every replica down
      (they all run the same code), a host fault only one of its INSTANCES replicas.
    """
    seed = SEED if seed is None else seed
    rate = RATE if rate is None else rate
    place_share = PLACE_SHARE if place_share is None else place_share
    net_ms = NET_MS if net_ms is None else net_ms
    serde_ms = SERDE_MS if serde_ms is None else serde_ms
    duration_ms = DURATION_MS if duration_ms is None else duration_ms

    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(mean=net_ms) if net_ms > 0 else labs.Constant(0.0)
    groups, names = split_parts(services), service_names(services)

    def make_handler(parts, downstream, entry):
        def handler(ctx, req):
            if not entry:                                  # decode the request
                yield ctx.work(serde_ms)
                ctx.count("serde_ms", serde_ms)
            if req.body["kind"] == "status":
                yield ctx.work(WORK_MS)                    # orders looks the order up
                return {"order": req.body["id"], "status": "shipped"}
            yield ctx.work(WORK_MS * len(parts))           # this service's share of the work
            if downstream is not None:
                yield ctx.work(serde_ms)                   # encode the call
                reply = yield ctx.call(downstream, req.body, timeout=timeout_ms)
                yield ctx.work(serde_ms)                   # decode the answer
                ctx.count("serde_ms", 2 * serde_ms)
                if not reply.ok:
                    return labs.Response.error(503, f"{downstream}: {reply.reason or reply.status}")
            if not entry:                                  # encode the answer
                yield ctx.work(serde_ms)
                ctx.count("serde_ms", serde_ms)
            return {"order": req.body["id"], "status": "placed"}
        return handler

    for i, (parts, name) in enumerate(zip(groups, names)):
        downstream = names[i + 1] if i + 1 < len(names) else None
        sim.service(name, make_handler(parts, downstream, i == 0),
                    concurrency=THREADS, queue=QUEUE, instances=INSTANCES)

    hops = per_hop if isinstance(per_hop, (list, tuple)) else [per_hop] * len(names)
    if len(hops) != len(names):
        raise ValueError(f"per_hop needs one availability per service ({len(names)}), "
                         f"got {len(hops)}")
    for name, a in zip(names, hops):
        if not 0.0 < a <= 1.0:
            raise ValueError(f"availability must be in (0, 1], got {a!r} for {name}")
        if a < 1.0:
            sim.faults.flaky(name, at=0, error_rate=1.0 - a)

    window = None
    if outage is not None:
        victim = next(n for n, g in zip(names, groups) if "inventory" in g)
        window = (float(outage_at), float(outage_at + outage_ms))
        if outage == "crash":
            sim.faults.crash(victim, at=outage_at, restart_at=outage_at + outage_ms)
        elif outage == "unreachable" and services == 1:
            # One of the monolith's hosts is lost; the other replica keeps serving. (The
            # simulator cannot silence one replica of a service, so the lost one refuses at
            # once, as if the load balancer noticed at once: the kindest case for the monolith.)
            sim.faults.crash(victim, at=outage_at, restart_at=outage_at + outage_ms, instance=0)
        elif outage == "unreachable":
            others = [n for n in names if n != victim] + ["client"]
            sim.faults.partition([victim], others, at=outage_at, until=outage_at + outage_ms)
        else:
            raise ValueError(f"outage must be None, 'crash' or 'unreachable', got {outage!r}")

    kinds = []

    def body(rng, i):
        kind = "place" if rng.random() < place_share else "status"
        kinds.append(kind)
        return {"id": i, "kind": kind}

    sim.load(names[0], rate=rate, duration=duration_ms, body=body, timeout=CLIENT_TIMEOUT_MS)
    return ShopRun(sim.run(), names, kinds, window)


print("designs:")
for n in range(1, 6):
    print(f"  services={n}: {' -> '.join(service_names(n))}")

# %% [markdown]
# ### One order, drawn
#
# Here is a single place-order request in the five-service design. Solid arrows are
# requests, dashed arrows are answers with their status, and `@` is the virtual time in ms.
# In the monolith the same order is one arrow in and one arrow out: everything else is
# function calls inside one process.

# %%
one = run_shop(5, rate=2, duration_ms=2000, place_share=1.0)
first = one.result.requests[0]
print("messages for one order, monolith: 2 (customer -> shop -> customer)")
print("messages for one order, 5 services:",
      labs.quote("messages_five_services", 2 + one.messages_per_order(), "{:.0f}"))
print(f"this order took {first.latency:.2f} ms; "
      f"the monolith does the same work in {5 * WORK_MS:.2f} ms")
labs.viz.sequence(one.result, trace_id=first.trace_id)

# %% [markdown]
# ## 2. Latency: what each hop adds
#
# Same traffic, no failures, one to five services. The chart shows the median (p50) and the
# 99th percentile (p99) of the latency the customers saw when placing an order. The work is
# the same in every design, so every millisecond above the monolith is network and
# serialization.

# %% tags=["knob"]
# Knobs: per-hop costs (try NET_HOP = 2.0, a slow network or a sidecar proxy on each side)
NET_HOP = NET_MS
SERDE_HOP = SERDE_MS

# %%
latency_runs = {n: run_shop(n, net_ms=NET_HOP, serde_ms=SERDE_HOP) for n in range(1, 6)}
p50 = [(n, percentile(r.latencies("place"), 50)) for n, r in latency_runs.items()]
p99 = [(n, percentile(r.latencies("place"), 99)) for n, r in latency_runs.items()]
per_hop_expected = 2 * NET_HOP + 4 * SERDE_HOP
print(f"expected extra latency per hop: 2 x {NET_HOP} + 4 x {SERDE_HOP} "
      f"= {per_hop_expected:.2f} ms")
for (n, a), (_, b) in zip(p50, p99):
    extra = a - p50[0][1]
    print(f"  services={n}: p50 {a:6.2f} ms  p99 {b:6.2f} ms  "
          f"(+{extra:5.2f} ms at p50; hops between services: {n - 1})")
labs.viz.line({"p50": p50, "p99": p99}, x="services on the order's path", y="latency (ms)",
              title="Place order: latency by number of services")

# %% [markdown]
# The median grows by about the expected amount per hop. The p99 grows faster: with more
# hops there are more chances for one slow message per request, and the slowest one decides.
# Nothing was slow or broken yet; this is the price of the split on a good day.
#
# ## 3. Availability: the product of the hops
#
# Now every process fails a share of the requests that reach it (a bad host, a restart, a
# dropped connection): each answers with probability `PER_HOP`. In the monolith that is one
# process; in the split a place order has to get through every service on its path. Below,
# the *measured* share of successful orders is compared with the *computed* product
# `PER_HOP ** services`. (Bugs in the code would fail both designs alike, so the model
# leaves them out.)

# %% tags=["knob"]
# Knobs: availability of every process, and how many orders to measure with
PER_HOP = 0.98
ORDERS_RATE = 200   # place orders per second (only orders in this experiment)

# %%
measured, computed = [], []
for n in range(1, 6):
    run = run_shop(n, per_hop=PER_HOP, place_share=1.0, rate=ORDERS_RATE)
    orders = run.outcomes("place")
    measured.append((n, success_rate(orders)))
    computed.append((n, PER_HOP ** n))
    print(f"  services={n}: measured {measured[-1][1]:.4f}  computed {computed[-1][1]:.4f}"
          f"  ({len(orders)} orders)")
labs.viz.line({"measured": measured, "computed (product)": computed},
              x="services on the order's path", y="share of orders that succeed",
              title=f"Availability of a chain at {PER_HOP} per hop")

# %% [markdown]
# The measured rates scatter around the product (a few thousand orders is a sample, not the
# truth; try another `SEED`). At 98% per process, five services lose almost one order in
# ten. Real services are far better than 98%, but the shape is the same: **every service on
# a synchronous path multiplies in its failures**.
#
# ## 4. Break it: a partial outage
#
# At 3 s, inventory goes down for 2 s. Two ways that happens:
#
# - **crash**, a *code* fault: a bug in inventory's code kills the process that runs it, on
#   every replica (they all run the same code and get the same requests); the machines stay
#   up, so calls are refused at once ("connection refused") and the requests in progress
#   are lost;
# - **unreachable**, a *host* fault: inventory's machine vanishes or the network around it
#   splits; calls to it get no answer at all, and only a **timeout** ends the wait.
#
# In the monolith, inventory's code runs in the shop's process. A code fault in it takes
# the whole shop down, on both replicas. A host fault takes only the replica on that host:
# the other one keeps serving. In the split, only the service holding inventory is down.
# Compare the designs on both kinds of request.

# %% tags=["knob"]
# Knobs: the outage, the split design, and the timeout on every call between services
OUTAGE_AT_MS = 3000
OUTAGE_MS = 2000
SPLIT_SERVICES = 5        # try 2 or 3: fault isolation needs orders apart from inventory
TIMEOUT_MS = 50

# %%
def pct(x):
    return "   n/a" if x is None else f"{x:6.1%}"


def outage_report(label, run):
    during_status = success_rate(run.outcomes("status", during=True))
    during_place = success_rate(run.outcomes("place", during=True))
    after = success_rate(run.outcomes(during=False))
    p99_place = percentile(run.latencies("place"), 99)
    print(f"{label:<34} status ok during: {pct(during_status)}   place ok during: "
          f"{pct(during_place)}   all ok outside: {pct(after)}   place p99: {p99_place:7.1f} ms")


def outage_run(services, kind, timeout_ms=None):
    return run_shop(services, outage=kind, timeout_ms=timeout_ms, outage_at=OUTAGE_AT_MS,
                    outage_ms=OUTAGE_MS)


SPLIT = f"{SPLIT_SERVICES} services"
crash_runs = {
    "monolith (code fault)": outage_run(1, "crash"),
    f"{SPLIT}, no timeouts": outage_run(SPLIT_SERVICES, "crash"),
}
gone_runs = {
    "monolith (one host of two)": outage_run(1, "unreachable"),
    f"{SPLIT}, no timeouts": outage_run(SPLIT_SERVICES, "unreachable"),
    f"{SPLIT}, {TIMEOUT_MS} ms timeouts": outage_run(SPLIT_SERVICES, "unreachable", TIMEOUT_MS),
}
print("inventory CRASHES (calls refused at once)")
for label, run in crash_runs.items():
    outage_report("  " + label, run)
print("inventory UNREACHABLE (calls get no answer)")
for label, run in gone_runs.items():
    outage_report("  " + label, run)

# %% [markdown]
# Read the table row by row:
#
# - **Monolith, code fault**: during the outage nothing works, neither orders nor status
#   requests; afterwards everything does again. The failure is total but simple.
# - **Monolith, host fault**: one of the two replicas is gone, so about half of all
#   requests fail until it is back (the load balancer here keeps sending it its share; with
#   health checks it would stop within seconds). Orders and status suffer alike: nothing in
#   a monolith isolates one part from another, but a lost host costs only its share.
# - **Split, crash**: orders fail during the window (they need inventory), but status
#   requests keep working: that is **fault isolation**, the main availability argument for
#   the split. Refusals are fast, so latency barely moves.
# - **Split, unreachable, no timeouts**: every call into inventory waits forever. Each
#   waiting call holds a thread in every service upstream of it; within a fraction of a
#   second orders has no free thread and a full queue, and it refuses *status* requests
#   too. Worse, in the simulator a message lost in the outage is gone for good, so those
#   threads stay stuck after inventory returns and the shop stays broken until the end of
#   the run. On a real network TCP would retransmit once the path is back, and many stuck
#   calls would finish seconds or minutes later; without a timeout, nothing bounds how long
#   each of them holds its thread.
# - **Split, unreachable, with timeouts**: calls into inventory give up after the
#   timeout, threads come back, status requests never notice, and orders fail fast and
#   recover when inventory does.
#
# The chart shows the status requests (the ones that do *not* need inventory) over time.

# %%
def status_ok_series(run, bucket=250.0):
    buckets = {}
    for r in run.outcomes("status"):
        b = int(r.start // bucket)
        ok, total = buckets.get(b, (0, 0))
        buckets[b] = (ok + r.ok, total + 1)
    return [(b * bucket, ok / total) for b, (ok, total) in sorted(buckets.items())]


labs.viz.line({label: status_ok_series(run) for label, run in gone_runs.items()},
              x="time (ms)", y="share of status requests that succeed",
              title=f"Inventory unreachable from {OUTAGE_AT_MS} ms for {OUTAGE_MS} ms: "
                    "order status requests")

# %% [markdown]
# And here is one failed order from the run with timeouts, drawn. The crossed arrow is the
# call into inventory, lost. Look at the order of the answers: orders' own timeout on its
# call to payments fires first (that call started first), so orders answers the customer
# with a 503 after about `TIMEOUT_MS`; payments' timeout fires a moment later, and its 503
# reaches orders after orders has already given up. With the same timeout at every hop, the
# outermost caller gives up first and the work below it is wasted; deadlines that travel
# down the chain (chapter 13) fix that.

# %%
timed = gone_runs[f"{SPLIT}, {TIMEOUT_MS} ms timeouts"]
failed = next((r for r in timed.outcomes("place", during=True) if not r.ok), None)
if failed is None:   # possible only if you turned the outage knobs to "no outage"
    failed = timed.result.requests[0]
    print("no order failed during the outage; drawing the first request instead")
else:
    print(f"order started at {failed.start:.1f} ms, failed after {failed.latency:.1f} ms "
          f"with {failed.status} ({failed.reason})")
labs.viz.sequence(timed.result, trace_id=failed.trace_id)

# %% [markdown]
# ## 5. What the split costs to run
#
# Latency and availability are not the whole bill. Each design below is counted on:
#
# - **instances**: every service runs `INSTANCES` copies, so one can fail or be redeployed;
# - **messages and bytes per order** on the network between services (measured in the
#   journal of section 2's runs), with `BYTES_PER_MESSAGE` for a small JSON body plus HTTP
#   headers;
# - **serialization CPU** per order (counted by the services);
# - **ops items**: a checklist that grows with every service (a build and deploy pipeline,
#   health checks, a dashboard, alerts, an on-call runbook) and with every network edge (a
#   client with timeouts and retries, a contract to keep compatible, authentication between
#   the two, trace propagation). The weights are an assumption: put in your own.

# %% tags=["knob"]
# Knobs: the cost model
BYTES_PER_MESSAGE = 1500
ORDERS_PER_DAY = 50_000
OPS_PER_SERVICE = 5       # pipeline, health checks, dashboard, alerts, runbook
OPS_PER_EDGE = 4          # client config, contract, service-to-service auth, tracing

# %%
def split_costs(services, run):
    """The running costs of one design, from its run and the cost knobs."""
    edges = services - 1
    msgs = run.messages_per_order()
    orders = max(1, len(run.outcomes("place")))
    serde = sum(run.result.metrics.counter(name, "serde_ms") for name in run.names) / orders
    return {
        "services": services,
        "instances": services * INSTANCES,
        "messages/order": msgs,
        "MB/day": msgs * BYTES_PER_MESSAGE * ORDERS_PER_DAY / 1e6,
        "serde CPU ms/order": serde,
        "ops items": services * OPS_PER_SERVICE + edges * OPS_PER_EDGE,
    }


costs = [split_costs(n, run) for n, run in latency_runs.items()]
cols = list(costs[0])
print("  ".join(f"{c:>18}" for c in cols))
for row in costs:
    print("  ".join(f"{row[c]:>18.1f}" if isinstance(row[c], float) else f"{row[c]:>18}"
                    for c in cols))
labs.viz.line({"instances": [(c["services"], c["instances"]) for c in costs],
               "messages per order": [(c["services"], c["messages/order"]) for c in costs],
               "ops items": [(c["services"], c["ops items"]) for c in costs]},
              x="services", y="count", title="What the split costs to run")

# %% [markdown]
# Every row above the monolith is a cost paid on every order or every day, whether or not
# the split brings anything in return. That is what Fowler calls the *microservice
# premium*. It is worth paying when the benefits (independent releases, fault isolation,
# scaling one part alone) are real for you.
#
# ## Exercises

# %% [markdown] exercise={"id": "ch01-chain-availability", "title": "Availability of a call chain", "outcome": "compute the availability of a synchronous chain as a product and compare it with a measured rate", "points": 3, "minutes": 10}
# ### Exercise 1: compute it, then measure it
#
# 1. Write `chain_availability(per_hop)`: given a list with the availability of each
#    service on a request's path, return the availability of the request (every hop must
#    succeed, failures are independent). An empty path cannot fail.
# 2. Write `measured_availability(outcomes)`: given a list of request outcomes (each has a
#    boolean `.ok`), return the share that succeeded.
#
# The check runs five services with *different* availabilities and compares the two.

# %%
def chain_availability(per_hop):
    ### BEGIN SOLUTION
    product = 1.0
    for a in per_hop:
        product *= a
    return product
    ### END SOLUTION


def measured_availability(outcomes):
    ### BEGIN SOLUTION
    return sum(1 for o in outcomes if o.ok) / len(outcomes)
    ### END SOLUTION


EX1_HOPS = [0.995, 0.99, 0.98, 0.99, 0.97]
ex1_run = run_shop(5, per_hop=EX1_HOPS, place_share=1.0, rate=250)
ex1_orders = ex1_run.outcomes("place")

# %% tags=["check"] exercise="ch01-chain-availability"
def _ex1_agree():
    """Do the measured and computed availability agree within 3 standard errors?"""
    computed, measured = chain_availability(EX1_HOPS), measured_availability(ex1_orders)
    if computed is None or measured is None:
        return None
    return abs(measured - computed) <= 3 * (computed * (1 - computed) / len(ex1_orders)) ** 0.5


Checks("ch01-chain-availability").equal(
    "five services at 99.9% give about 99.5%", lambda: chain_availability([0.999] * 5),
    0.999 ** 5, tol=1e-12,
    hint="Multiply the availabilities of all hops together.",
).equal(
    "one service is just its own availability", lambda: chain_availability([0.97]), 0.97,
    tol=1e-12, hint="A path with one hop has that hop's availability.",
).equal(
    "the measured rate counts successful orders", lambda: measured_availability(ex1_orders),
    sum(o.ok for o in ex1_orders) / len(ex1_orders), tol=1e-12,
    hint="Count the outcomes with o.ok and divide by how many there are.",
).true(
    "the measurement agrees with the product (within 3 standard errors)",
    _ex1_agree,
    because="the measured and computed availabilities differ by more than sampling noise",
    hint="Pass the list EX1_HOPS to chain_availability, and the outcomes ex1_orders to "
         "measured_availability.",
).report()

# %% tags=["hidden-check"] exercise="ch01-chain-availability"
_other = run_shop(4, per_hop=[0.99, 0.96, 0.99, 0.98], place_share=1.0, rate=200, seed=11)
_o = _other.outcomes("place")
Checks("ch01-chain-availability", hidden=True).equal(
    "an empty path cannot fail", lambda: chain_availability([]), 1.0, tol=1e-12,
    hint="Start the product at 1.0.",
).equal(
    "works on a tuple and on a generator", lambda: chain_availability(a for a in (0.5, 0.5)),
    0.25, tol=1e-12,
).equal(
    "does not round", lambda: chain_availability([0.9999] * 3), 0.9999 ** 3, tol=1e-15,
).true(
    "agrees with another run (4 services, seed 11)",
    lambda: abs(measured_availability(_o) - chain_availability([0.99, 0.96, 0.99, 0.98]))
    <= 3 * (0.92 * 0.08 / len(_o)) ** 0.5,
    because="measured and computed availability disagree on another seed",
).report()

# %% [markdown] exercise={"id": "ch01-max-hops", "title": "How deep can a chain be?", "outcome": "find the largest number of hops that keeps an availability target", "points": 2, "minutes": 10}
# ### Exercise 2: the hop budget
#
# Checkout must stay at **99.9%** or better. Each service on its path is **99.95%**
# available. Write `max_hops(per_hop, target)`: the largest number of services `n` (0 or
# more) such that a chain of `n` services at `per_hop` each still meets `target`. You may
# assume `0 < per_hop < 1`. Then set `CHECKOUT_MAX_SERVICES` to the answer for this shop.
#
# Before you run it, guess: is the answer nearer 2 or 20?

# %%
def max_hops(per_hop, target):
    ### BEGIN SOLUTION
    n, availability = 0, 1.0
    while availability * per_hop >= target:
        availability *= per_hop
        n += 1
    return n
    ### END SOLUTION


### BEGIN SOLUTION
CHECKOUT_MAX_SERVICES = max_hops(0.9995, 0.999)
### END SOLUTION
### STUB CHECKOUT_MAX_SERVICES = None  # the answer for 99.95% per service and a 99.9% target
print("checkout can cross at most", CHECKOUT_MAX_SERVICES, "services")

# %% tags=["check"] exercise="ch01-max-hops"
Checks("ch01-max-hops").equal(
    "99.95% per service, 99.9% target", lambda: max_hops(0.9995, 0.999), 2,
    hint="Multiply 0.9995 by itself one hop at a time; stop before the product drops below 0.999.",
).equal(
    "99.9% per service, 99% target", lambda: max_hops(0.999, 0.99), 10,
    hint="0.999 ** 10 is about 0.99004; 0.999 ** 11 is about 0.98905.",
).equal(
    "CHECKOUT_MAX_SERVICES holds the answer for this shop", lambda: CHECKOUT_MAX_SERVICES, 2,
    hint="Set CHECKOUT_MAX_SERVICES = max_hops(0.9995, 0.999).",
).report()

# %% tags=["hidden-check"] exercise="ch01-max-hops"
def _consistent(p, t):
    n = max_hops(p, t)
    return p ** n >= t * (1 - 1e-12) and p ** (n + 1) < t


Checks("ch01-max-hops", hidden=True).equal(
    "a hop worse than the target allows none", lambda: max_hops(0.99, 0.999), 0,
).equal(
    "a hop exactly at the target allows one", lambda: max_hops(0.999, 0.999), 1,
).equal(
    "five nines per hop, four nines target", lambda: max_hops(0.99999, 0.9999), 10,
).true(
    "the answer is the largest n that meets the target, for several inputs",
    lambda: all(_consistent(p, t) for p, t in [(0.9995, 0.99), (0.999, 0.95), (0.98, 0.5),
                                               (0.9999, 0.999), (0.995, 0.9)]),
    because="per_hop ** n must meet the target and per_hop ** (n + 1) must not",
).report()

# %% [markdown] exercise={"id": "ch01-design-under-outage", "title": "A design that survives a partial outage", "outcome": "choose the number of services and a timeout that meet latency, isolation and cost objectives during a partial outage", "points": 5, "minutes": 20}
# ### Exercise 3: choose a design
#
# The shop's objectives, for a run in which inventory is **unreachable** for two seconds
# (from 3 s to 5 s, as in section 4):
#
# 1. **latency**: the p99 latency of *place order* requests over the whole run, failed ones
#    included, is at most **80 ms** (a customer who waits a second for an error has waited
#    a second);
# 2. **isolation**: at least **99%** of *order status* requests during the outage succeed;
# 3. **no false alarms**: at least **99%** of *all* requests outside the outage succeed, so
#    the timeout must not cut off healthy requests;
# 4. **cost**: at most **8 instances** in total (each service runs `INSTANCES` = 2).
#
# Set `DESIGN` to a dict with `"services"` (1 to 5) and `"timeout_ms"` (the timeout of
# every call between services, in ms, or `None`). Use sections 2 to 5 to reason about it;
# then run the check, which simulates your design.

# %%
### BEGIN SOLUTION
DESIGN = {"services": 3, "timeout_ms": 40}
### END SOLUTION
### STUB DESIGN = None  # e.g. {"services": ..., "timeout_ms": ...}


_evaluated = {}


def evaluate_design(design, seed=SEED):
    """Run `design` with inventory unreachable from 3 s to 5 s; return the four measures."""
    key = (design["services"], design["timeout_ms"], seed)
    if key in _evaluated:
        return _evaluated[key]
    run = run_shop(design["services"], timeout_ms=design["timeout_ms"], outage="unreachable",
                   outage_at=3000, outage_ms=2000, seed=seed)
    _evaluated[key] = {
        "place p99 ms": percentile(run.latencies("place"), 99),
        "status ok during outage": success_rate(run.outcomes("status", during=True)),
        "all ok outside outage": success_rate(run.outcomes(during=False)),
        "instances": design["services"] * INSTANCES,
    }
    return _evaluated[key]


if DESIGN is not None:
    for k, v in evaluate_design(DESIGN).items():
        print(f"{k:>24}: {v:.3f}" if isinstance(v, float) else f"{k:>24}: {v}")

# %% tags=["check"] exercise="ch01-design-under-outage"
def _get(key, seed=SEED):
    """One measure of the learner's DESIGN (None while DESIGN is not set)."""
    if DESIGN is None:
        return None
    if not (isinstance(DESIGN, dict) and {"services", "timeout_ms"} <= set(DESIGN)):
        raise ValueError('DESIGN must be a dict with the keys "services" (1 to 5) and '
                         '"timeout_ms" (ms, or None)')
    return evaluate_design(DESIGN, seed)[key]


Checks("ch01-design-under-outage").between(
    "place-order p99 over the run is at most 80 ms", lambda: _get("place p99 ms"), 0, 80,
    hint="Without a timeout, an order that calls the unreachable inventory waits until the "
         "customer gives up (1000 ms). A timeout bounds that wait.",
).between(
    "at least 99% of status requests succeed during the outage",
    lambda: _get("status ok during outage"), 0.99, 1.0,
    hint="Status requests need only orders. They fail if orders shares a process with "
         "inventory, or if orders runs out of threads waiting on calls that never return.",
).between(
    "at least 99% of requests succeed outside the outage",
    lambda: _get("all ok outside outage"), 0.99, 1.0,
    hint="A timeout shorter than what the services behind a call need on a normal day fails "
         "healthy orders; look at the p99 latencies in section 2.",
).between(
    "at most 8 instances", lambda: _get("instances"), 1, 8,
    hint="Each service runs INSTANCES = 2 copies.",
).report()

# %% tags=["hidden-check"] exercise="ch01-design-under-outage"
Checks("ch01-design-under-outage", hidden=True).true(
    "the design is a dict with services 1-5 and a timeout",
    lambda: DESIGN["services"] in (1, 2, 3, 4, 5) and (
        DESIGN["timeout_ms"] is None or DESIGN["timeout_ms"] > 0),
    because="DESIGN must name a number of services from 1 to 5 and a positive timeout",
).between(
    "p99 at most 80 ms with seed 11", lambda: _get("place p99 ms", 11), 0, 80,
).between(
    "isolation holds with seed 11", lambda: _get("status ok during outage", 11), 0.99, 1.0,
).between(
    "no false alarms with seed 11", lambda: _get("all ok outside outage", 11), 0.99, 1.0,
).between(
    "p99 at most 80 ms with seed 2026", lambda: _get("place p99 ms", 2026), 0, 80,
).between(
    "no false alarms with seed 2026", lambda: _get("all ok outside outage", 2026), 0.99, 1.0,
).report()

# %% [markdown]
# ## What to take away
#
# - On a good day the split costs latency on every request: a network round trip and four
#   serializations per hop, more at p99 than at the median.
# - A synchronous chain multiplies its hops' failures: its availability is the product.
#   Exercise 2 showed how few hops a 99.9% target allows.
# - A partial outage is contained only if callers stop waiting. With timeouts, a split
#   keeps serving what does not need the broken part; without them, one unreachable
#   service can take everything down, for longer than its own outage.
# - The split has a running cost in instances, network traffic and operations work that
#   grows with every service and every edge.
#
# Go further: set `PER_HOP = 0.999` and `ORDERS_RATE = 3000` in section 3 to measure a
# realistic chain; set `NET_HOP = 2.0` in section 2 to see a slow network; in section 4, try
# a timeout of 5 ms and see what it does to healthy orders.
