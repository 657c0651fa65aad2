# %% [markdown]
# # Logs, metrics and traces: finding the slow dependency two hops down
#
# The shop's checkout in the simulator, five services deep:
#
# * **checkout** answers the customer; it calls **cart**, then **pricing**, then
#   **payments**;
# * **pricing** calls **loyalty**, which applies the customer's tier discount.
#
# Then something goes wrong, and the only hint is a complaint: "checkout is sometimes
# slow". The cause is planted two hops down and hidden on purpose: it hits one customer
# tier on one instance of one service. You will look at it the way an on-call engineer
# does: the dashboard (RED metrics, averages and p99), then the traces, then the logs of one
# trace joined by its trace id. Then you pay for what you keep: head sampling at 1 % against
# tail sampling, and a metric with a customer-id label.
#
# Every span carries W3C Trace Context ids and OpenTelemetry-style attributes
# (`service.name`, `service.instance.id`, `customer.tier`). Everything is deterministic:
# the same seed gives the same run, event for event.

# %%
import labs
from labs import Response, percentile, quote
from labs import cardinality, logs, sampling, spans

# %% [markdown]
# ## The knobs
#
# Time is in milliseconds. `GOLD_SHARE` is the share of customers in the gold tier;
# `ERROR_RATE` the share of card authorizations the card network declines with a 502 (the
# rare error the sampling section is about).

# %% tags=["knob"]
SEED = 7
RATE = 40                 # checkouts per second
DURATION = 30_000         # ms of traffic
GOLD_SHARE = 0.05         # share of gold-tier customers
ERROR_RATE = 0.003        # share of payments the card network declines (502)
SLOW_EXTRA = (400, 1200)  # ms the planted fault adds, uniformly

# %%
CLIENT_TIMEOUT = 3_000    # ms: the customer's browser gives up after this
INSTANCES = {"checkout": 2, "cart": 2, "pricing": 2, "loyalty": 3, "payments": 2}
WORK_MS = {"checkout": 2.0, "cart": 4.0, "pricing": 3.0, "loyalty": 5.0, "payments": 12.0}
# The world the exercise checks use, whatever you do with the knobs above.
STANDARD = {"seed": 7, "rate": 40, "duration": 30_000, "gold_share": 0.05,
            "error_rate": 0.003, "slow_extra": (400, 1200)}

# %% [markdown]
# ## The shop
#
# `run_checkout(...)` builds the world and runs it. `slow` plants the fault: a dict naming
# the `service`, the customer `tier` and the `instance` that turn slow (`None`: a healthy
# shop). `hang` makes payments hang for a window, `(from_ms, to_ms)`, for the last exercise.
#
# Each handler is wrapped in `spans.instrument`, which puts `service.name` and
# `service.instance.id` on every server span, as the OpenTelemetry Java agent does from
# its resource; each handler also sets `customer.tier` on its span with `spans.annotate`,
# as you would with clj-otel's `add-span-data!`. Customers arrive at random (Poisson), and
# each source of randomness (the arrivals, who the customer is, each service's work, the
# fault, the card network) draws from its own named stream (`sim.stream(...)`), so runs that
# differ only in the fault see the same customers at the same moments.

# %%
PLANTED = {"service": "loyalty", "tier": "gold", "instance": 2}


def run_checkout(slow=PLANTED, seed=None, rate=None, duration=None, gold_share=None,
                 error_rate=None, slow_extra=None, hang=None):
    """Run the checkout world; every parameter left as None takes its knob's value."""
    seed = SEED if seed is None else seed
    rate = RATE if rate is None else rate
    duration = DURATION if duration is None else duration
    gold_share = GOLD_SHARE if gold_share is None else gold_share
    error_rate = ERROR_RATE if error_rate is None else error_rate
    slow_extra = SLOW_EXTRA if slow_extra is None else slow_extra
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(mean=0.5)
    customers = sim.stream("ch09:customers")
    declines = sim.stream("ch09:payments:declines")
    fault = sim.stream("ch09:fault")
    work = {name: sim.stream(f"ch09:work:{name}") for name in INSTANCES}

    def body(_rng, i):
        return {"order": i, "customer": customers.randrange(1, 5_001),
                "tier": "gold" if customers.random() < gold_share else "standard"}

    def serve(ctx, req):
        """Time a service spends on a request: its usual work, plus the planted fault."""
        tier = req.body["tier"]
        spans.annotate(ctx, **{"customer.tier": tier})
        ms = work[ctx.service].expovariate(1.0 / WORK_MS[ctx.service])
        if slow and ctx.service == slow["service"] and tier == slow["tier"] \
                and ctx.instance == slow["instance"]:
            ms += fault.uniform(*slow_extra)
        return ctx.work(ms)

    def checkout(ctx, req):
        ctx.log("checkout started", customer_id=req.body["customer"])
        yield serve(ctx, req)
        for dependency in ("cart", "pricing", "payments"):
            reply = yield ctx.call(dependency, req.body)
            if not reply.ok:
                ctx.log("checkout failed", level="error", dependency=dependency,
                        status=reply.status)
                return Response.error(502, f"{dependency}: {reply.reason or reply.status}")
        ctx.log("checkout placed", customer_id=req.body["customer"])
        return {"placed": req.body["order"]}

    def pricing(ctx, req):
        yield serve(ctx, req)
        reply = yield ctx.call("loyalty", req.body)
        return {"total": 4_200, "discount": reply.body["discount"] if reply.ok else 0}

    def loyalty(ctx, req):
        yield serve(ctx, req)
        return {"discount": 10 if req.body["tier"] == "gold" else 0}

    def cart(ctx, req):
        yield serve(ctx, req)
        return {"lines": 3}

    def payments(ctx, req):
        yield serve(ctx, req)
        if hang and hang[0] <= ctx.now < hang[1]:
            yield ctx.work(10_000)      # the card network stops answering
        if declines.random() < error_rate:
            ctx.log("card network error", level="error", order=req.body["order"])
            return Response.error(502, "card network error")
        return {"authorized": True}

    handlers = {"checkout": checkout, "cart": cart, "pricing": pricing, "loyalty": loyalty,
                "payments": payments}
    for name, handler in handlers.items():
        sim.service(name, spans.instrument(handler), instances=INSTANCES[name], concurrency=32)
    sim.load("checkout", rate=rate, duration=duration, body=body, timeout=CLIENT_TIMEOUT)
    return sim.run()

# %% [markdown]
# ## A healthy shop first
#
# No planted fault. One checkout as messages: the customer's request reaches checkout,
# which calls its three dependencies in turn; pricing calls loyalty. Every arrow belongs
# to one trace id.

# %%
healthy = run_checkout(slow=None)
h = healthy.summary()
print(f"checkouts: {h['requests']}, ok: {h['ok']}, p50 {h['p50_ms']:.1f} ms, "
      f"p99 {h['p99_ms']:.1f} ms")
labs.viz.sequence(healthy, trace_id=healthy.requests[0].trace_id)

# %% [markdown]
# ## The incident
#
# Now the planted fault: loyalty's instance 2 is slow for gold customers (say, a cache of
# tier rules that this instance failed to warm). Same seed, so the same customers arrive
# at the same moments as in the healthy run.
#
# ### The dashboard: RED per service
#
# Rate, Errors, Duration, from every service's server spans (`result.metrics.red`), and
# the client's own view.

# %%
incident = run_checkout()
SERVICES = ["client", "checkout", "cart", "pricing", "loyalty", "payments"]
red = {s: incident.metrics.red(s) for s in SERVICES}
labs.viz.table([(s, {"req/s": round(r.rate, 1), "errors %": round(100 * r.errors, 2),
                     "p50 ms": round(r.p50, 1), "p99 ms": round(r.p99, 1),
                     "max ms": round(r.max, 1)}) for s, r in red.items()],
               title="RED per service, incident run")

# %%
labs.viz.bar({s: red[s].p99 for s in SERVICES}, x="service", y="p99 ms",
             title="p99 duration per service (server spans; client: end to end)")

# %% [markdown]
# Read it as the on-call engineer would: p99 is high for checkout, for pricing and for
# loyalty, because a span's duration *includes* the time it waited for its children. The
# dashboard says "somewhere under pricing", and the middle of the distribution says
# nothing at all.
#
# ### Averages hide it
#
# The same client latencies, summarized four ways, healthy and incident side by side:

# %%
def latency_summary(result):
    lat = [r.latency for r in result.requests if r.latency is not None]
    return {"mean ms": round(sum(lat) / len(lat), 1), "p50 ms": round(percentile(lat, 50), 1),
            "p99 ms": round(percentile(lat, 99), 1), "max ms": round(max(lat), 1)}


before, after = latency_summary(healthy), latency_summary(incident)
quote("healthy_mean_ms", before["mean ms"], "{:.1f}")
quote("incident_mean_ms", after["mean ms"], "{:.1f}")
quote("healthy_p50_ms", before["p50 ms"], "{:.1f}")
quote("incident_p50_ms", after["p50 ms"], "{:.1f}")
quote("healthy_p99_ms", before["p99 ms"], "{:.1f}")
quote("incident_p99_ms", after["p99 ms"], "{:.1f}")
slow_share = 100 * sum(r.latency > 300 for r in incident.requests if r.latency) / len(incident.requests)
quote("slow_share_pct", slow_share, "{:.1f}")
print(f"checkouts slower than 300 ms: {slow_share:.1f} %")
labs.viz.table([("healthy", before), ("incident", after)], title="client latency")

# %% [markdown]
# The mean moves by about ten milliseconds and the median hardly at all; p99 moves by an order of
# magnitude. A mean-latency alert would never fire. Over time, per 5 s window:

# %%
labs.viz.line({"mean": incident.metrics.timeseries("client", "mean", bucket=5_000),
               "p50": incident.metrics.timeseries("client", "p50", bucket=5_000),
               "p99": incident.metrics.timeseries("client", "p99", bucket=5_000)},
              x="t (ms)", y="client latency (ms)", title="Incident: mean, p50 and p99 per 5 s")

# %% [markdown]
# ### Histograms aggregate, summaries do not
#
# Loyalty has three instances. A Prometheus *summary* computes its quantiles inside each
# instance; a dashboard that wants one loyalty p99 can only average them. A *histogram*
# exports bucket counts, which add up across instances, and the quantile is computed from
# the sum. Here the exact per-instance p99s (what three summaries would report), their
# average, and the true p99 of all loyalty spans together:

# %%
loyalty_rows = spans.span_rows(incident, kind="server", service="loyalty")
per_instance = {}
for row in loyalty_rows:
    per_instance.setdefault(row["attributes"]["service.instance.id"], []).append(row["duration"])
summary_p99 = {inst: percentile(v, 99) for inst, v in sorted(per_instance.items())}
avg_of_p99 = sum(summary_p99.values()) / len(summary_p99)
true_p99 = percentile([row["duration"] for row in loyalty_rows], 99)
quote("avg_of_instance_p99_ms", avg_of_p99, "{:.0f}")
quote("true_loyalty_p99_ms", true_p99, "{:.0f}")
labs.viz.table([(inst, {"p99 ms": round(p, 1)}) for inst, p in summary_p99.items()]
               + [("average of the three", {"p99 ms": round(avg_of_p99, 1)}),
                  ("p99 of all spans", {"p99 ms": round(true_p99, 1)})],
               title="loyalty p99: per instance, averaged, and true")

# %% [markdown]
# The average of three p99s is not a p99 of anything. With histogram buckets the counts of
# the three instances add, and the quantile comes from the total, which is what PromQL's
# `histogram_quantile(0.99, sum by (le) (rate(..._bucket[5m])))` does.
#
# ## The traces
#
# The slowest trace of the incident as a waterfall. Each bar is a span; a client span
# (the call) contains the server span of the callee.

# %%
slowest = incident.traces.slowest(1)[0]
print(slowest)
slowest

# %% [markdown]
# One trace shows *where* the time went for one request. To find the cause across all of
# them you need a query over every span, which is what a trace backend is for. The flat
# span table, one row per span, with its attributes:

# %%
rows = spans.span_rows(incident)
for row in rows[:6]:
    print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()
           if k not in ("trace_id", "span_id", "parent_id")})
print(f"… {len(rows)} spans in all")

# %% [markdown]
# The trap: sort services by span duration and checkout wins, since its spans contain
# everything. What you want is each span's **self time** (or *exclusive* time): its
# duration minus the time it spent waiting in its own outgoing calls. That is Exercise 1.
# Then, inside the guilty service, which attribute do the slow spans share that the others
# do not? That is Exercise 2.
#
# ## The logs of one trace
#
# Every service logs structured lines (maps, not prose), and each line carries the trace
# id and span id of the request that wrote it. Joining them is a filter on one field:

# %%
for line in logs.correlated(incident, slowest.trace_id):
    print(logs.to_json(line))

# %% [markdown]
# Here is a failed checkout: the card network's error in payments, and checkout's own
# error line, joined by the trace id that both carry.

# %%
failed = [t for t in incident.traces if sampling.is_error_trace(t)]
print(f"error traces: {len(failed)} of {len(incident.traces)}")
for line in logs.correlated(incident, failed[0].trace_id):
    print(logs.to_json(line))

# %% [markdown]
# ## What you keep: head versus tail sampling
#
# Storing every span of every trace is expensive; most teams keep a share. **Head**
# sampling decides at the root, from the trace id alone (`HeadSampler` has OpenTelemetry's
# `TraceIdRatioBased` rule), before anything is known about the request. **Tail** sampling
# waits until the trace is complete and then applies policies (`TailSampler` follows the
# OpenTelemetry Collector's `tail_sampling` processor).

# %%
traces = list(incident.traces)
slow_ids = {t.trace_id for t in traces if t.duration >= 300}
error_ids = {t.trace_id for t in failed}


def kept_summary(kept):
    ids = {t.trace_id for t in kept}
    return {"kept": len(ids), "kept %": round(100 * len(ids) / len(traces), 2),
            "errors kept": f"{len(ids & error_ids)}/{len(error_ids)}",
            "slow kept": f"{len(ids & slow_ids)}/{len(slow_ids)}"}


head = sampling.HeadSampler(0.01).sample(traces)
tail = sampling.TailSampler([{"type": "status_code", "status_codes": ["ERROR"]},
                             {"type": "latency", "threshold_ms": 300},
                             {"type": "probabilistic", "sampling_percentage": 1}]).sample(traces)
head_numbers, tail_numbers = kept_summary(head), kept_summary(tail)
quote("traces", len(traces), "{:,}")
quote("error_traces", len(error_ids), "{}")
quote("head_kept", head_numbers["kept"], "{}")
quote("head_errors_kept", len({t.trace_id for t in head} & error_ids), "{}")
quote("tail_kept", tail_numbers["kept"], "{}")
quote("tail_kept_pct", tail_numbers["kept %"], "{:.1f}")
labs.viz.table([("head 1 %", head_numbers), ("tail: errors + slow + 1 %", tail_numbers)],
               title="What each sampler keeps of the incident")

# %% [markdown]
# Head sampling at 1 % keeps about one trace in a hundred of each kind, so it keeps the
# rare errors one time in a hundred too, and most slow traces are gone. Tail sampling keeps
# all of them for a few percent of the storage. Its cost is elsewhere: the collector must
# hold every span of every trace for `decision_wait` (30 s by default), and all spans of a
# trace must reach the same collector instance.
#
# ## What a label costs: cardinality
#
# A latency histogram per service, route and status is a handful of series. Add the
# customer id as a label, "to see who is slow", and count again. The samples are the
# checkout server spans of the incident; each label combination is one series of a
# classic histogram with client_java's 11 default buckets (14 series: 11 bounds, `+Inf`,
# `_sum`, `_count`).

# %%
customer_of = {}
for line in logs.by_trace(incident, service="checkout").values():
    for d in line:
        if "customer_id" in d:
            customer_of[d["trace_id"]] = d["customer_id"]
samples = [{"service": r["service"], "status": str(r["status"]),
            "instance": r["attributes"].get("service.instance.id", ""),
            "customer_id": str(customer_of.get(r["trace_id"], ""))}
           for r in spans.span_rows(incident, kind="server")]
label_sets = {"service, status": ["service", "status"],
              "+ instance": ["service", "status", "instance"],
              "+ customer_id": ["service", "status", "instance", "customer_id"]}
series = {name: cardinality.series_count(samples, ls, kind="histogram")
          for name, ls in label_sets.items()}
quote("series_without_customer", series["+ instance"], "{:,}")
quote("series_with_customer", series["+ customer_id"], "{:,}")
labs.viz.table([(name, {"series": n}) for name, n in series.items()],
               title="Series of one latency histogram, by label set")

# %%
labs.viz.bar(series, x="labels", y="time series", title="One histogram, three label sets")

# %% [markdown]
# Each added bounded label multiplies the count by its few values; the customer id
# multiplies it by every customer seen in 50 seconds, and would keep growing with every new
# customer. The customer id belongs on spans and log lines, where it costs one field, not
# on a metric.
#
# ## Your turn: turn the knobs
#
# * Move the fault: `run_checkout(slow={"service": "cart", "tier": "standard",
#   "instance": 0})`. How do the RED table and the slowest trace change?
# * Set `GOLD_SHARE = 0.01`: is the fault still visible at p99? At p99.9?
# * Try `HeadSampler(0.1)`: how many errors does it keep, and at what storage cost?

# %% [markdown] exercise={"id": "ch09-slow-service", "title": "Name the slow service from spans", "outcome": "Compute each span's self time from a span table and name the service that the latency comes from", "points": 3, "minutes": 15}
# ## Exercise 1: name the slow service from the spans alone
#
# Write `slow_service(rows)`. `rows` is a span table as `spans.span_rows(result)` returns
# it: dicts with `trace_id`, `span_id`, `parent_id`, `service`, `kind` (`"server"` or
# `"client"`), `duration`, `status` and `attributes`. Return the name of the service whose
# **server** spans have the highest p99 **self time**, where a server span's self time is
# its duration minus the durations of its child client spans (the calls it made; here they
# are made one after another, never in parallel). A client span's parent is the server
# span that made the call. Use `percentile(values, 99)`.

# %%
def slow_service(rows):
    ### BEGIN SOLUTION
    waited = {}
    for r in rows:
        if r["kind"] == "client":
            key = (r["trace_id"], r["parent_id"])
            waited[key] = waited.get(key, 0.0) + r["duration"]
    self_times = {}
    for r in rows:
        if r["kind"] == "server":
            own = r["duration"] - waited.get((r["trace_id"], r["span_id"]), 0.0)
            self_times.setdefault(r["service"], []).append(own)
    return max(self_times, key=lambda s: percentile(self_times[s], 99))
    ### END SOLUTION
    ### STUB return None

# %% tags=["check"] exercise="ch09-slow-service"
_standard_run = run_checkout(**STANDARD)      # the knobs' first values, whatever they are now
_incident_rows = spans.span_rows(_standard_run)
(labs.Checks("ch09-slow-service")
 .equal("the incident run (seed 7)", lambda: slow_service(_incident_rows), "loyalty",
        hint="Checkout's spans contain every other span: subtract the time each server span "
             "spent in its client spans (match a client span's parent_id to a server span's "
             "span_id, within one trace_id).")
 .report())

# %% tags=["hidden-check"] exercise="ch09-slow-service"
# The fault moves: a leaf one hop down (cart), and payments on another seed. A solution
# that looks for the deepest service, or hard-codes the answer, fails here.
_moved = [({"service": "cart", "tier": "standard", "instance": 0}, 11, "cart"),
          ({"service": "payments", "tier": "gold", "instance": 1}, 12, "payments"),
          ({"service": "pricing", "tier": "gold", "instance": 0}, 13, "pricing")]
_hidden = labs.Checks("ch09-slow-service", hidden=True)
for _slow, _seed, _want in _moved:
    _r = spans.span_rows(run_checkout(**dict(STANDARD, seed=_seed, gold_share=0.08), slow=_slow))
    _hidden.equal(f"fault moved to {_slow['service']} (seed {_seed})",
                  lambda _r=_r: slow_service(_r), _want)
_hidden.report()

# %% [markdown] exercise={"id": "ch09-suspect-attributes", "title": "Which attributes do the slow spans share?", "outcome": "Find the attribute values that distinguish the slow spans of a service from its normal spans", "points": 3, "minutes": 15}
# ## Exercise 2: which attributes do the slow spans share?
#
# Write `suspects(rows, service, threshold)`. Among the **server** spans of `service` in
# `rows`, call a span *slow* when its duration is above `threshold` ms. Return the set of
# `(attribute, value)` pairs that appear on **at least 90 %** of the slow spans but on
# **fewer than 50 %** of all the service's server spans (a pair on most spans, such as
# `service.name`, explains nothing). Return an empty set when no span is slow.

# %%
def suspects(rows, service, threshold):
    ### BEGIN SOLUTION
    mine = [r for r in rows if r["kind"] == "server" and r["service"] == service]
    slow = [r for r in mine if r["duration"] > threshold]
    if not slow:
        return set()

    def share(pair, group):
        return sum(r["attributes"].get(pair[0]) == pair[1] for r in group) / len(group)

    pairs = {(k, v) for r in slow for k, v in r["attributes"].items()}
    return {p for p in pairs if share(p, slow) >= 0.9 and share(p, mine) < 0.5}
    ### END SOLUTION
    ### STUB return None

# %% tags=["check"] exercise="ch09-suspect-attributes"
(labs.Checks("ch09-suspect-attributes")
 .equal("loyalty in the incident, slow above 300 ms",
        lambda: suspects(_incident_rows, "loyalty", 300),
        {("customer.tier", "gold"), ("service.instance.id", "loyalty-2")},
        hint="Compare the share of slow spans carrying a pair with the share of all spans "
             "carrying it.")
 .equal("no slow span: nothing to suspect", lambda: suspects(_incident_rows, "cart", 10_000),
        set())
 .report())

# %% tags=["hidden-check"] exercise="ch09-suspect-attributes"
_fault = {"service": "loyalty", "tier": "standard", "instance": 0}
_r = spans.span_rows(run_checkout(**dict(STANDARD, seed=11), slow=_fault))
(labs.Checks("ch09-suspect-attributes", hidden=True)
 .equal("fault moved to loyalty instance 0, standard tier (seed 11)",
        lambda: suspects(_r, "loyalty", 300), {("service.instance.id", "loyalty-0")},
        hint="Standard customers are most of the traffic, so customer.tier=standard is on "
             "more than half of all spans: it does not single anything out.")
 .equal("healthy shop: nothing slow", lambda: suspects(
     spans.span_rows(run_checkout(**dict(STANDARD, seed=12), slow=None)), "loyalty", 300), set())
 .report())

# %% [markdown] exercise={"id": "ch09-tail-policy", "title": "A tail-sampling policy within budget", "outcome": "Choose tail-sampling policies and a decision wait that keep every error and slow trace within a storage and memory budget", "points": 3, "minutes": 15}
# ## Exercise 3: a tail-sampling policy within budget
#
# Build `MY_SAMPLER`, a `sampling.TailSampler(policies, decision_wait=...)`, that on the
# standard incident run:
#
# * keeps **every** error trace;
# * keeps **every** trace that took 300 ms or more;
# * keeps at least **5** ordinary traces (neither error nor slow) as a baseline to
#   compare against;
# * keeps at most **4 %** of all traces (the storage budget);
# * holds at most **200** traces in memory while deciding: at 40 checkouts a second,
#   `decision_wait` of *w* ms holds about 40 × *w* / 1000 traces.
#
# Policies are dicts in the collector's configuration shape, for instance
# `{"type": "latency", "threshold_ms": 500}`; see `help(sampling.TailSampler)`. Think about
# how long a trace can take before you choose `decision_wait`: the decision is made that
# long after a trace's first span, with the spans that have ended by then.

# %%
### BEGIN SOLUTION
MY_SAMPLER = sampling.TailSampler(
    [{"type": "status_code", "status_codes": ["ERROR"]},
     {"type": "latency", "threshold_ms": 300},
     {"type": "probabilistic", "sampling_percentage": 1}],
    decision_wait=4_000)     # longer than the client's 3 s timeout, so every trace has ended
### END SOLUTION
### STUB MY_SAMPLER = None


def sampler_misses(sampler, result, rate=40, slow_ms=300, budget=0.04):
    """What *sampler* misses on *result*, in plain words (empty list: every goal met)."""
    if sampler is None:
        return None
    everything = list(result.traces)
    kept = {t.trace_id for t in sampler.sample(everything)}
    errors = {t.trace_id for t in everything if sampling.is_error_trace(t)}
    slow = {t.trace_id for t in everything if t.duration >= slow_ms}
    ordinary = kept - errors - slow
    missed = []
    if errors - kept:
        missed.append(f"dropped {len(errors - kept)} of {len(errors)} error traces")
    if slow - kept:
        missed.append(f"dropped {len(slow - kept)} of {len(slow)} traces of {slow_ms} ms or more")
    if len(ordinary) < 5:
        missed.append(f"kept only {len(ordinary)} ordinary traces as a baseline (at least 5)")
    if len(kept) > budget * len(everything):
        missed.append(f"kept {len(kept)} traces, {100 * len(kept) / len(everything):.1f} % "
                      f"(at most {100 * budget:g} %)")
    if rate * sampler.decision_wait / 1000 > 200:
        missed.append(f"decision_wait {sampler.decision_wait:g} ms holds about "
                      f"{rate * sampler.decision_wait / 1000:.0f} traces (at most 200)")
    return missed

# %% tags=["check"] exercise="ch09-tail-policy"
(labs.Checks("ch09-tail-policy")
 .true("MY_SAMPLER is a TailSampler", lambda: MY_SAMPLER and isinstance(MY_SAMPLER, sampling.TailSampler),
       because="build it with sampling.TailSampler([...], decision_wait=...)")
 .equal("goals missed on the standard incident", lambda: sampler_misses(MY_SAMPLER, _standard_run),
        [], hint="Combine a status_code policy, a latency policy and a small probabilistic "
                 "one; any policy that matches keeps the trace.")
 .report())

# %% tags=["hidden-check"] exercise="ch09-tail-policy"
# Injected failure: payments hangs for a quarter of a second, so those checkouts end only when
# the customer's 3 s timeout fires. A decision_wait shorter than that decides before the
# error exists, and drops exactly the traces you need. (The incident adds a dozen error
# traces, all of which must be kept, so this check allows 5 % of storage.)
_hang_run = run_checkout(**dict(STANDARD, seed=11), hang=(10_000, 10_250))
(labs.Checks("ch09-tail-policy", hidden=True)
 .equal("payments hangs for 250 ms (seed 11)", lambda: sampler_misses(MY_SAMPLER, _hang_run, budget=0.05), [],
        hint="A trace can last as long as the client's timeout (3 s): decide after that.")
 .equal("another seed (12)", lambda: sampler_misses(MY_SAMPLER, run_checkout(**dict(STANDARD, seed=12))),
        [])
 .report())

# %% [markdown]
# ## What to take away
#
# * Averages and medians hide a fault that hits a few percent of requests; p99 shows it,
#   and only traces say where it is.
# * A span's duration includes its children: find the culprit by self time, then by the
#   attributes its slow spans share.
# * Logs that carry the trace id join across services with one filter.
# * Summaries' quantiles do not add up across instances; histogram buckets do.
# * Head sampling is cheap and blind; tail sampling keeps what matters but must wait
#   longer than your longest trace.
# * Unbounded values (customer ids) belong on spans and logs, not on metric labels.
#
# Back to the chapter, *Logging, Monitoring, and Tracing*, for the same ideas in Clojure
# with μ/log and clj-otel.
