# %% [markdown]
# # Boundaries: one shop, split two ways
#
# The same online shop, under the same seeded load, built twice:
#
# * the **entity split** from the chapter's problem: one service per table group
#   (`orders`, `customers`, `products`, `prices`, `stock`, `payments`), all on **one shared
#   database** with a small connection pool;
# * the **capability split**: `orders` keeps its own copy of the prices it quotes and of
#   the customer's address, and calls only `inventory` and `payments`; `catalogue` serves the
#   product pages; every service has its own database.
#
# You will measure what one checkout costs in each design (calls, synchronous depth,
# latency), slow one service down and see who suffers, run a heavy report against the shared
# database, then redraw a boundary to meet a latency target and find the coupling from the
# run's journal alone.
#
# Everything is simulated in virtual time from a seed: the same seed gives the same run,
# event for event. Change a knob, rerun the cells below it.

# %%
from IPython.display import display

import labs
from labs import percentile  # nearest rank: the course's one definition of p99

# %% [markdown]
# ## A design is data
#
# A service is described by the list of **synchronous steps** it takes for each request,
# in order:
#
# * `"customers"`: call the service `customers` once;
# * `"stock*"`: call `stock` once **per order line** (a checkout has `LINES` lines);
# * `"db.orders"`: run a query on table `orders` of the database `db`; `"db.orders:200"`
#   is a query that takes 200 ms on average (a report scanning the table).
#
# A database is a service too: its concurrency is its connection pool (`POOL`). Every
# query is logged by the database with the table and the service that asked, which is what
# you will read in the last exercise.
#
# Two kinds of user traffic arrive: **checkouts** (at the design's `checkout` service)
# and **product-page views** (at its `browse` service).

# %% tags=["knob"]
SEED = 7
RATE = 40           # checkouts per second
BROWSE_RATE = 60    # product-page views per second
DURATION = 6_000    # ms of load
LINES = 3           # order lines per checkout
POOL = 8            # connections per database
TIMEOUT = 1_000     # ms, on every call

# %%
ENTITY_SPLIT = {
    "checkout": "orders",
    "browse": "products",
    "services": {
        "orders":    ["customers", "products*", "stock*", "payments", "db.orders"],
        "products":  ["db.products", "prices"],
        "prices":    ["db.prices"],
        "customers": ["db.customers"],
        "stock":     ["db.products", "db.stock"],
        "payments":  ["customers", "db.payments"],
        "reports":   ["db.orders:200", "db.payments:100"],
    },
}

CAPABILITY_SPLIT = {
    "checkout": "orders",
    "browse": "catalogue",
    "services": {
        "orders":    ["orders_db.orders", "inventory", "payments", "orders_db.orders"],
        "inventory": ["inventory_db.stock"],
        "payments":  ["payments_db.payments"],
        "catalogue": ["catalogue_db.products"],
        "reports":   ["reports_db.orders:200", "reports_db.payments:100"],
    },
}


def parse_step(step, lines):
    """A step string -> (target service, request body, how many times)."""
    if "." in step:
        db, rest = step.split(".", 1)
        table, _, ms = rest.partition(":")
        return db, {"table": table, "ms": float(ms or 1.0)}, 1
    if step.endswith("*"):
        return step[:-1], {"lines": 1}, lines
    return step, {"lines": 1}, 1


def make_handler(steps):
    """A service that does a little work, then takes its steps one after the other."""
    def handle(ctx, req):
        yield ctx.work(labs.Exponential(mean=0.3))
        for step in steps:
            target, body, times = parse_step(step, req.body.get("lines", 1))
            for _ in range(times):
                reply = yield ctx.call(target, body, timeout=TIMEOUT)
                if not reply.ok:
                    return labs.Response.error(502, f"{target}: {reply.reason or reply.status}")
        return {"ok": True}
    return handle


def database(ctx, req):
    """A database: one connection per query, held for the query's duration."""
    ctx.log("query", table=req.body["table"], by=req.source)
    yield ctx.work(labs.Exponential(mean=req.body["ms"]))
    return {"rows": 1}


def build(design, seed=SEED, rate=RATE, browse_rate=BROWSE_RATE, duration=DURATION,
          slow=None, report=None):
    """Build one run of *design*. slow=(service, from_ms, to_ms, extra_ms);
    report=(from_ms, to_ms, reports_per_second) runs the reporting job in that window."""
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(mean=0.5)
    databases = []
    for name, steps in design["services"].items():
        sim.service(name, make_handler(steps), concurrency=16, queue=500)
        for step in steps:
            db = step.split(".")[0]
            if "." in step and db not in databases:
                databases.append(db)
    for db in databases:
        sim.service(db, database, concurrency=POOL, queue=1_000)
    sim.load(design["checkout"], rate=rate, duration=duration,
             body=lambda rng, i: {"id": i, "lines": LINES})
    sim.load(design["browse"], rate=browse_rate, duration=duration)
    if report is not None:
        start, end, per_second = report
        sim.load("reports", rate=per_second, start=start, duration=end - start)
    if slow is not None:
        service, start, end, extra = slow
        sim.faults.slow(service, at=start, until=end, extra=extra)
    return sim

# %% [markdown]
# ## Measuring a run
#
# All the numbers come from the run's journal. A *trace* is one user request with every
# call it caused (`result.traces`); each call appears as a **client span** in the caller
# and a **server span** in the callee.
#
# * **calls per checkout**: client spans made by services (not by the user) in one trace;
# * **synchronous depth**: the longest chain of server spans, user → orders → products →
#   prices → db is depth 4;
# * **latency**: what the user waited, p50 and p99.

# %%
def depth(span):
    """Server spans on the longest path below (and including) *span*."""
    below = max((depth(c) for c in span.children), default=0)
    return below + (1 if span.kind == "server" else 0)


_measured = {}


def measure(result, entry):
    """Headline numbers for the user requests that entered at service *entry*."""
    key = (id(result), entry)
    if key not in _measured:
        _measured[key] = (result, _measure(result, entry))
    return dict(_measured[key][1])


def _measure(result, entry):
    reqs = [r for r in result.requests if r.service == entry]
    calls, depths = [], []
    for r in reqs:
        trace = result.traces.get(r.trace_id)
        if trace is None:
            continue
        calls.append(sum(1 for s in trace.spans if s.kind == "client" and s.service != "client"))
        depths.append(max(depth(root) for root in trace.roots))
    lat = [r.latency for r in reqs if r.latency is not None]
    return {
        "requests": len(reqs),
        "ok %": round(100 * sum(r.ok for r in reqs) / max(1, len(reqs)), 1),
        "calls": round(sum(calls) / max(1, len(calls)), 1),
        "depth": max(depths, default=0),
        "p50 ms": round(percentile(lat, 50), 1),
        "p99 ms": round(percentile(lat, 99), 1),
    }


def p99_over_time(result, entry, bucket=500):
    """[(bucket start ms, p99 latency ms)] of the user requests that entered at *entry*."""
    groups = {}
    for r in result.requests:
        if r.service == entry and r.latency is not None:
            groups.setdefault(int(r.start // bucket), []).append(r.latency)
    return [(b * bucket, percentile(v, 99)) for b, v in sorted(groups.items())]


def table(rows):
    """Show a list of (label, dict) as a table (labs.viz.table), wherever it is called."""
    display(labs.viz.table(rows))

# %% [markdown]
# ## 1. Both designs, calm
#
# Same load, same seed. Read the columns for checkouts: calls per checkout, depth, p50 and
# p99.

# %%
entity = build(ENTITY_SPLIT).run()
capability = build(CAPABILITY_SPLIT).run()

table([
    ("entity: checkout", measure(entity, "orders")),
    ("capability: checkout", measure(capability, "orders")),
    ("entity: page view", measure(entity, "products")),
    ("capability: page view", measure(capability, "catalogue")),
])
# the figures the chapter quotes
labs.quote("entity_calls", measure(entity, "orders")["calls"], "{:.0f}")
labs.quote("capability_calls", measure(capability, "orders")["calls"], "{:.0f}")

# %% [markdown]
# One checkout in the entity split is a long, strictly sequential conversation. The
# diagram shows the first checkout's messages (solid: request, dashed: response):

# %%
first_checkout = next(r for r in entity.requests if r.service == "orders")
labs.viz.sequence(entity, trace_id=first_checkout.trace_id, limit=60)

# %% [markdown]
# The same checkout in the capability split:

# %%
first_checkout_c = next(r for r in capability.requests if r.service == "orders")
labs.viz.sequence(capability, trace_id=first_checkout_c.trace_id, limit=60)

# %% [markdown]
# The span tree of the slowest entity checkout shows where the time went:

# %%
slowest = max((r for r in entity.requests if r.service == "orders"), key=lambda r: r.latency)
print(entity.traces.get(slowest.trace_id).tree())

# %% [markdown]
# Rerun from the seed: the same design and seed give the same journal, byte for byte.

# %%
print(entity.journal_hash() == build(ENTITY_SPLIT).run().journal_hash())

# %% [markdown]
# ## 2. One slow service
#
# From 1.5 s to 4.5 s, every request that `prices` starts waits an extra 30 ms first (a
# garbage-collection pause, a cold cache) while holding its slot. In the capability split
# the nearest equivalent is `catalogue`, which owns the product data and prices.

# %% tags=["knob"]
SLOW_FROM, SLOW_TO, SLOW_EXTRA = 1_500, 4_500, 30.0

# %%
entity_slow = build(ENTITY_SPLIT, slow=("prices", SLOW_FROM, SLOW_TO, SLOW_EXTRA)).run()
capability_slow = build(CAPABILITY_SPLIT, slow=("catalogue", SLOW_FROM, SLOW_TO, SLOW_EXTRA)).run()

table([
    ("entity, prices slow: checkout", measure(entity_slow, "orders")),
    ("capability, catalogue slow: checkout", measure(capability_slow, "orders")),
    ("entity, prices slow: page view", measure(entity_slow, "products")),
    ("capability, catalogue slow: page view", measure(capability_slow, "catalogue")),
])

# %%
labs.viz.line({
    "entity split": p99_over_time(entity_slow, "orders"),
    "capability split": p99_over_time(capability_slow, "orders"),
}, x="request start (ms)", y="checkout p99 (ms)",
    title="Checkout p99 while prices (entity) or catalogue (capability) is slow, 1.5-4.5 s")

# %% [markdown]
# In the entity split every checkout passes through `prices` three times (once per line),
# so every checkout pays the slowness three times over. In the capability split, checkout
# never calls `catalogue`: the product pages get slower, and checkout does not notice.

# %% [markdown]
# ## 3. A report on the shared database
#
# From 1.5 s to 4.5 s a reporting job runs 24 reports a second, each scanning the `orders` and
# `payments` tables (about 300 ms of database time per report). In the entity split the
# report uses the shared database; in the capability split it reads a reporting copy
# (`reports_db`).

# %% tags=["knob"]
REPORTS = (1_500, 4_500, 24)

# %%
entity_report = build(ENTITY_SPLIT, report=REPORTS).run()
capability_report = build(CAPABILITY_SPLIT, report=REPORTS).run()

labs.quote("report_checkout_p99_s", measure(entity_report, "orders")["p99 ms"] / 1000, "{:.1f}")
labs.quote("report_checkout_failed_pct", 100 - measure(entity_report, "orders")["ok %"], "{:.1f}")
labs.quote("report_page_p99_s", measure(entity_report, "products")["p99 ms"] / 1000, "{:.1f}")
table([
    ("entity + report: checkout", measure(entity_report, "orders")),
    ("capability + report: checkout", measure(capability_report, "orders")),
    ("entity + report: page view", measure(entity_report, "products")),
    ("capability + report: page view", measure(capability_report, "catalogue")),
])

# %%
labs.viz.line({
    "entity split": p99_over_time(entity_report, "orders"),
    "capability split": p99_over_time(capability_report, "orders"),
}, x="request start (ms)", y="checkout p99 (ms)",
    title="Checkout p99 while the report runs, 1.5-4.5 s")

# %% [markdown]
# No service on the checkout path calls `reports`. The coupling is the **pool**: each
# report holds a connection for hundreds of milliseconds, the eight connections fill up,
# and every checkout query waits in the same queue. Nothing in the call graph shows it;
# only the database's own numbers do.

# %%
labs.viz.bar({
    "entity calm": measure(entity, "orders")["p99 ms"],
    "entity slow prices": measure(entity_slow, "orders")["p99 ms"],
    "entity report": measure(entity_report, "orders")["p99 ms"],
    "capability calm": measure(capability, "orders")["p99 ms"],
    "capability slow catalogue": measure(capability_slow, "orders")["p99 ms"],
    "capability report": measure(capability_report, "orders")["p99 ms"],
}, x="run", y="checkout p99 (ms)", title="Checkout p99 by design and incident")

# %% [markdown] exercise={"id": "ch02-redraw", "title": "Redraw a boundary to meet a latency target", "outcome": "Move the data a request needs into its service and measure the effect on calls and tail latency", "points": 4, "minutes": 15}
# ## Exercise 1: redraw a boundary
#
# The business wants checkout p99 **at or below 40 ms, even while `prices` is slow** (the
# incident of section 2). Starting from `ENTITY_SPLIT`, change the design, not the
# infrastructure: edit the lists of steps so that `orders` (and whoever it calls) keeps
# the data it needs, the way the chapter's capability split does.
#
# Rules, checked below:
#
# * checkout still enters at `orders`, and page views at `products`;
# * every checkout still reserves stock **per line** (a query on a `stock` table for each
#   of the `LINES` lines), takes payment (a query on a `payments` table) and records the
#   order (a query on an `orders` table);
# * **a database per service**: no database is queried by two services. A database name
#   is the part of a step before the dot (`"db.orders"` is table `orders` of database `db`),
#   and a new name is a new database with its own `POOL` connections. The reporting job
#   reads its own copy, as in the capability split;
# * keep `POOL`, `TIMEOUT` and the slow fault as they are.
#
# The instructors' check also runs your design while the report of section 3 runs: a
# design that still shares a database with the report misses the target there.
#
# Hint: ask of each step "does the click need the *owner's* answer right now?" The price
# the customer saw and the customer's address can be copies held in `orders`' own tables.

# %%
import copy

_redrawn_runs = {}


def redrawn_run(seed=SEED):
    """Your design under the slow-prices incident (cached per seed; None while untouched)."""
    if REDRAWN == ENTITY_SPLIT:
        return None
    if seed not in _redrawn_runs:
        _redrawn_runs[seed] = build(REDRAWN, seed=seed, slow=("prices", 1_500, 4_500, 30.0)).run()
    return _redrawn_runs[seed]


def shared_databases(design):
    """{database: [services]} for every database that more than one service queries."""
    users = {}
    for service, steps in design["services"].items():
        for step in steps:
            if "." in step:
                users.setdefault(step.split(".")[0], set()).add(service)
    return {db: sorted(s) for db, s in sorted(users.items()) if len(s) > 1}

# %%
REDRAWN = copy.deepcopy(ENTITY_SPLIT)
### BEGIN SOLUTION
REDRAWN["services"]["orders"] = ["orders_db.orders", "stock*", "payments", "orders_db.orders"]
REDRAWN["services"]["stock"] = ["stock_db.stock"]
REDRAWN["services"]["payments"] = ["payments_db.payments"]
REDRAWN["services"]["products"] = ["products_db.products", "prices"]
REDRAWN["services"]["prices"] = ["prices_db.prices"]
REDRAWN["services"]["customers"] = ["customers_db.customers"]
REDRAWN["services"]["reports"] = ["reports_db.orders:200", "reports_db.payments:100"]
### END SOLUTION
### STUB # edit REDRAWN["services"][...] here, e.g. REDRAWN["services"]["orders"] = [...]

_redrawn_runs.clear()
if redrawn_run() is None:
    print("REDRAWN is still ENTITY_SPLIT: change some steps, then run this cell again.")
else:
    table([("redrawn, prices slow: checkout", measure(redrawn_run(), "orders"))])
    print("databases shared by several services:", shared_databases(REDRAWN) or "none")

# %% tags=["check"] exercise="ch02-redraw"
def queries_per_checkout(result, table_name):
    """Smallest number of queries on *table_name* (any database) in one checkout trace."""
    by_trace = {}
    for line in result.logs():
        if line["message"] == "query" and line.get("table") == table_name:
            by_trace[line["trace_id"]] = by_trace.get(line["trace_id"], 0) + 1
    return min((by_trace.get(r.trace_id, 0) for r in result.requests if r.service == "orders"),
               default=0)


(labs.Checks("ch02-redraw")
 .true("checkout and page views enter where they did",
       lambda: redrawn_run() and REDRAWN["checkout"] == "orders"
       and REDRAWN["browse"] == "products",
       because="REDRAWN must keep checkout='orders' and browse='products'.")
 .true("every checkout succeeds", lambda: redrawn_run()
       and measure(redrawn_run(), "orders")["ok %"] == 100.0,
       because="some checkouts failed; is every service you call still in the design?")
 .equal("stock is reserved for every line", lambda: redrawn_run()
        and queries_per_checkout(redrawn_run(), "stock"), LINES,
        hint="keep a per-line step that reaches a stock table, e.g. 'stock*'.")
 .true("payment is taken and the order recorded", lambda: redrawn_run()
       and queries_per_checkout(redrawn_run(), "payments") >= 1
       and queries_per_checkout(redrawn_run(), "orders") >= 1,
       because="each checkout must query a payments table and an orders table.")
 .between("checkout p99 (ms) while prices is slow", lambda: redrawn_run()
          and measure(redrawn_run(), "orders")["p99 ms"], 0.0, 40.0,
          hint="count the calls per checkout: which of them need prices or customers at all?")
 .equal("a database per service: none is shared", lambda: redrawn_run()
        and shared_databases(REDRAWN), {},
        hint="give each service its own database name, e.g. 'stock_db.stock', and the "
             "report its own copy, 'reports_db.orders:200'")
 .report())

# %% tags=["hidden-check"] exercise="ch02-redraw"
# The chapter's failure, injected: the report of section 3 runs during the slow-prices
# incident. A design that still shares a database with the report misses the target.
_redrawn_report_runs = {}


def redrawn_with_report(seed=SEED):
    if REDRAWN == ENTITY_SPLIT:
        return None
    if seed not in _redrawn_report_runs:
        _redrawn_report_runs[seed] = build(REDRAWN, seed=seed, report=REPORTS,
                                           slow=("prices", 1_500, 4_500, 30.0)).run()
    return _redrawn_report_runs[seed]


(labs.Checks("ch02-redraw", hidden=True)
 .between("p99 at or below 40 ms while the report runs (seed 7)", lambda: redrawn_with_report()
          and measure(redrawn_with_report(), "orders")["p99 ms"], 0.0, 40.0,
          hint="the report must not share a connection pool with checkout")
 .between("p99 at or below 40 ms while the report runs (seed 11)", lambda: redrawn_with_report(11)
          and measure(redrawn_with_report(11), "orders")["p99 ms"], 0.0, 40.0)
 .between("p99 at or below 40 ms on seed 11", lambda: redrawn_run(11)
          and measure(redrawn_run(11), "orders")["p99 ms"], 0.0, 40.0)
 .between("p99 at or below 40 ms on seed 23", lambda: redrawn_run(23)
          and measure(redrawn_run(23), "orders")["p99 ms"], 0.0, 40.0)
 .equal("stock per line on seed 11", lambda: redrawn_run(11)
        and queries_per_checkout(redrawn_run(11), "stock"), LINES)
 .true("checkout no longer reaches prices", lambda: redrawn_run()
       and all(s.service != "prices" for r in redrawn_run().requests if r.service == "orders"
               for s in redrawn_run().traces.get(r.trace_id).spans),
       because="a checkout trace still contains a prices span")
 .report())

# %% [markdown] exercise={"id": "ch02-blast-radius", "title": "Measure a service's blast radius", "outcome": "Compute from traces which share of user requests depends synchronously on a service", "points": 3, "minutes": 10}
# ## Exercise 2: blast radius
#
# When a service is slow or down, the requests that wait for it are the ones whose trace
# contains one of its **server spans**. Write `blast_radius(result, service, entry)`: the
# share (0.0 to 1.0) of user requests that entered at `entry` whose trace contains at least
# one server span of `service`.
#
# You need: `result.requests` (each has `.service`, the entry, and `.trace_id`),
# `result.traces.get(trace_id)` (a trace, or `None`) and its `.spans` (each has `.service`
# and `.kind`, `"client"` or `"server"`).

# %%
def blast_radius(result, service, entry):
    ### BEGIN SOLUTION
    reqs = [r for r in result.requests if r.service == entry]
    if not reqs:
        return 0.0
    hit = 0
    for r in reqs:
        trace = result.traces.get(r.trace_id)
        if trace is not None and any(s.kind == "server" and s.service == service
                                     for s in trace.spans):
            hit += 1
    return hit / len(reqs)
    ### END SOLUTION


for design_name, run, svc in [("entity", entity, "prices"), ("entity", entity, "customers"),
                              ("capability", capability, "catalogue"),
                              ("capability", capability, "payments")]:
    print(f"{design_name:>10}: {svc:<10} reached by {blast_radius(run, svc, 'orders')} of checkouts")

# %% tags=["check"] exercise="ch02-blast-radius"
(labs.Checks("ch02-blast-radius")
 .equal("entity split: prices is on every checkout", lambda: blast_radius(entity, "prices", "orders"),
        1.0, tol=1e-9, hint="look for spans with kind 'server' and service == the service")
 .equal("capability split: catalogue is on no checkout",
        lambda: blast_radius(capability, "catalogue", "orders"), 0.0, tol=1e-9)
 .equal("entity split: prices is on every page view",
        lambda: blast_radius(entity, "prices", "products"), 1.0, tol=1e-9,
        hint="filter the requests by r.service == entry")
 .report())

# %% tags=["hidden-check"] exercise="ch02-blast-radius"
(labs.Checks("ch02-blast-radius", hidden=True)
 .equal("reports is on no checkout", lambda: blast_radius(entity, "reports", "orders"), 0.0)
 .equal("the shared db is on every page view", lambda: blast_radius(entity, "db", "products"), 1.0)
 .equal("an unknown entry gives 0.0", lambda: blast_radius(entity, "prices", "nowhere"), 0.0)
 .equal("capability: inventory on every checkout",
        lambda: blast_radius(capability, "inventory", "orders"), 1.0)
 .report())

# %% [markdown] exercise={"id": "ch02-coupling", "title": "Find the coupling in the journal", "outcome": "Find services that share tables from the database's query log, without reading the code", "points": 3, "minutes": 10}
# ## Exercise 3: find the coupling from the journal
#
# The call graph does not show the report's effect on checkout; the database does. Every
# database logs each query: `result.logs()` returns dicts, and a query line has
# `"message": "query"`, `"service"` (the database), `"table"` and `"by"` (the service that
# asked).
#
# 1. Write `table_users(result)`: a dict from `"database.table"` (e.g. `"db.orders"`) to
#    the **sorted list** of services that queried it.
# 2. Write `shared_tables(result)`: the **sorted list** of `"database.table"` names queried
#    by more than one service: the tables no single team can change alone.

# %%
def table_users(result):
    ### BEGIN SOLUTION
    users = {}
    for line in result.logs():
        if line["message"] != "query":
            continue
        key = f"{line['service']}.{line['table']}"
        users.setdefault(key, set()).add(line["by"])
    return {k: sorted(v) for k, v in sorted(users.items())}
    ### END SOLUTION


def shared_tables(result):
    ### BEGIN SOLUTION
    return sorted(t for t, who in table_users(result).items() if len(who) > 1)
    ### END SOLUTION


print("entity:", shared_tables(entity_report))
print("capability:", shared_tables(capability_report))

# %% tags=["check"] exercise="ch02-coupling"
(labs.Checks("ch02-coupling")
 .equal("who reads db.products in the entity split",
        lambda: (table_users(entity) or {}).get("db.products"), ["products", "stock"],
        hint="key: f\"{line['service']}.{line['table']}\"; value: sorted names from line['by']")
 .equal("shared tables in the entity split, with the report running",
        lambda: shared_tables(entity_report), ["db.orders", "db.payments", "db.products"])
 .equal("no shared tables in the capability split",
        lambda: shared_tables(capability_report), [],
        hint="shared means more than one service queried it")
 .report())

# %% tags=["hidden-check"] exercise="ch02-coupling"
(labs.Checks("ch02-coupling", hidden=True)
 .equal("entity, calm: only db.products is shared (no report ran)",
        lambda: shared_tables(entity), ["db.products"])
 .equal("capability: orders_db.orders used only by orders",
        lambda: table_users(capability)["orders_db.orders"], ["orders"])
 .true("keys are sorted", lambda: list(table_users(entity)) == sorted(table_users(entity)))
 .report())

# %% [markdown]
# ## What to try next
#
# * Raise `POOL` to 32 and rerun section 3: the report hurts less, but only because the
#   database now has room for it; the report and checkout still share fate, and the next
#   bigger report fills the pool again.
# * Set `LINES = 10`: the entity split's calls grow with the order size; the capability
#   split's do not (inventory takes the whole order in one call, here one step).
# * Make `payments` in `CAPABILITY_SPLIT` call a `customers` service for the billing
#   address and watch depth and p99 move.
# * Change `SEED`: the numbers move a little; the comparisons do not.
