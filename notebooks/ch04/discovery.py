# %% [markdown]
# # Service discovery during a rolling replacement
#
# The shop's checkout path in the simulator: customers send orders to **orders**, which
# asks **payments** to authorize the card. Payments runs as three instances, and a deploy
# replaces them one by one while orders keeps calling:
#
# | when (s) | what happens to payments |
# |---|---|
# | 0–10 | `payments-1`, `-2`, `-3` serve |
# | 10, 25, 40 | a new instance starts (`payments-4`, `-5`, `-6`) |
# | 15, 30, 45 | the new one is ready; an old one (`-1`, `-2`, `-3`) is stopped and exits |
# | 45–60 | only the new instances serve |
#
# Orders does not know the fleet. It knows a **view** of it, and picks an instance from
# that view with a client-side load balancer. You will compare the views of the chapter
# under the same arrivals (the same seed gives every design the same customers at the same
# moments):
#
# * a **registry** with heartbeats and a TTL (Consul, Eureka), polled or watched by the
#   client;
# * **platform DNS** for a headless Service, cached by the JVM for `networkaddress.cache.ttl`
#   seconds;
# * a **server-side** balancer (a Kubernetes ClusterIP through kube-proxy), which is also
#   a view, only one the client does not hold;
#
# and, for each, a client that **retries another instance** when a call fails. Then one
# payments instance turns slow, and you compare four load-balancing policies.
#
# The views follow the real systems' semantics; each part's docstring names its source:
# `help(labs.Registry)`, `help(labs.DnsCache)`, `help(labs.PowerOfTwo)`.

# %%
import labs
from labs import (DnsCache, Exponential, LeastOutstanding, PowerOfTwo, RandomChoice, Registry,
                  Response, Rollout, RoundRobin, ServerSide, Simulation)

# %% [markdown]
# ## The knobs of the world
#
# Time is in milliseconds, rates per second. `GRACEFUL` says whether an old instance gets
# to deregister itself when it is stopped. It is off here: the deploy kills the old
# processes (a SIGKILL after a short grace period, or a shutdown hook that never ran), so
# only the TTL tells a registry they are gone. Kubernetes' endpoints do not depend on it:
# the platform marks a terminating pod not ready itself.

# %% tags=["knob"]
SEED = 7
RATE = 25               # orders per second
GRACEFUL = False        # do old instances deregister themselves when stopped?
DRAIN = 0               # ms between the stop signal and the exit (a preStop sleep)
CALL_TIMEOUT = 200      # ms per call from orders to payments

# %%
END = 60_000            # ms of traffic
STANDARD = {"seed": 7, "rate": 25, "graceful": False, "drain": 0}


def make_view(design, plan):
    """Build the view a design names: (kind, options) with kind registry, dns or proxy."""
    kind, options = design
    if kind == "registry":
        return Registry(plan, **options)
    if kind == "dns":
        return DnsCache(plan, **options)
    if kind == "proxy":
        return ServerSide(plan, **options)
    raise ValueError(f"unknown design kind {kind!r}: use 'registry', 'dns' or 'proxy'")


def place_order_once(ctx, req, view, lb):
    """Orders' call to payments with no second chance: one instance, one attempt."""
    return (yield from lb.call(ctx, view.endpoints(ctx.now), body=req.body, timeout=CALL_TIMEOUT))


def place_order_retry(ctx, req, view, lb):
    """On a failed call, try once more on a *different* instance from the same view."""
    endpoints = view.endpoints(ctx.now)
    reply = yield from lb.call(ctx, endpoints, body=req.body, timeout=CALL_TIMEOUT)
    if reply.status in (503, 504):
        reply = yield from lb.call(ctx, endpoints, exclude=(reply.service,), body=req.body, timeout=CALL_TIMEOUT)
    return reply


def run_rollout(design, caller=place_order_once, seed=None, rate=None, graceful=None,
                drain=None, plan=None, kill=None):
    """Run the rolling replacement with *design*; return (result, view, plan).

    *caller(ctx, req, view, lb)* is orders' call to payments (a generator returning the
    reply). *kill* = (instance, at) crashes one more instance at *at*, silently: no view is
    told. World parameters left as None take the knobs' values.
    """
    seed = SEED if seed is None else seed
    rate = RATE if rate is None else rate
    graceful = GRACEFUL if graceful is None else graceful
    drain = DRAIN if drain is None else drain
    sim = Simulation(seed=seed)
    sim.network.latency = Exponential(mean=1.0)
    plan = plan or Rollout("payments", replicas=3, start=10_000, interval=15_000,
                           startup=5_000, drain=drain)
    view = make_view(design, plan)
    if isinstance(view, Registry):
        view.deregister_on_stop = graceful
    lb = RoundRobin()

    def payments(ctx, req):
        yield ctx.work(Exponential(mean=8.0))
        if req.body.get("card") == "declined":
            return Response.error(402, "card declined")
        return {"authorized": True}

    def orders(ctx, req):
        yield ctx.work(1.0)
        reply = yield from caller(ctx, req, view, lb)
        if reply.status == 402:
            return Response.error(402, "card declined")
        if not reply.ok:
            return Response.error(503, f"payments unavailable ({reply.reason or reply.status})")
        return {"status": "placed"}

    plan.install(sim, payments, concurrency=8)
    if kill is not None:
        sim.faults.crash(kill[0], at=kill[1])
    sim.service("orders", orders, concurrency=64)
    sim.load("orders", rate=rate, duration=END, timeout=2_000,
             body=lambda rng, i: {"id": i, "card": "declined" if i % 50 == 7 else "ok"})
    return sim.run(until=END + 3_000), view, plan


def dead_calls(result):
    """Calls that reached an instance whose process was gone (refused connections)."""
    return sum(1 for row in result.rows if row[2] == "reject" and row[12] == "connection refused")


def measure(result, view, plan):
    """Orders that failed, calls to dead endpoints, and how late each new instance was seen."""
    reqs = [r for r in result.requests]
    failed = sum(1 for r in reqs if not r.ok and r.status != 402)
    seen = [view.delay_to_see(i) for i in plan.new]
    return {
        "orders failed %": round(100 * failed / len(reqs), 2),
        "calls to dead instances": dead_calls(result),
        "slowest to see a new instance (s)": (
            "never" if None in seen else round(max(seen) / 1000, 1)),
    }


def failures_per_second(result):
    """[(t in s, failed orders that started in that second)] (declined cards excluded)."""
    counts = {}
    for r in result.requests:
        if not r.ok and r.status != 402:
            k = int(r.start // 1000)
            counts[k] = counts.get(k, 0) + 1
    return [(k, counts.get(k, 0)) for k in range(END // 1000)]

# %% [markdown]
# ## A quiet minute first
#
# With no deploy at all (the rollout starts after the traffic ends), every order is placed
# and each payments instance gets a third of the calls. The diagram shows the first orders:
# the arrows go to `payments-1`, `-2`, `-3` in turn, the round robin of orders' balancer.

# %%
quiet_plan = Rollout("payments", replicas=3, start=END + 10_000)
quiet, quiet_view, _ = run_rollout(("proxy", {}), plan=quiet_plan)
placed = sum(r.ok for r in quiet.requests)
print(f"orders: {len(quiet.requests)}, placed: {placed}, declined cards: "
      f"{sum(r.status == 402 for r in quiet.requests)}, failed: {dead_calls(quiet)}")
labs.viz.sequence(quiet, limit=12)

# %% [markdown]
# ## One deploy, six designs, the same customers
#
# Each design is a view with its settings:
#
# * **Eureka defaults**: heartbeats every 30 s, a lease of 90 s, the client fetching the
#   registry every 30 s.
# * **registry, watched**: heartbeats every 5 s, TTL 15 s, a client that watches (a Consul
#   blocking query) and hears about a change 50 ms later.
# * **DNS, JVM default**: a headless Service, the JVM caching each lookup for 30 s, the
#   JDK's default when no security manager is installed.
# * **DNS, 5 s cache**: the same with `networkaddress.cache.ttl=5`.
# * **server-side**: a ClusterIP; kube-proxy sees endpoint changes about 1 s late.
#
# Every design runs twice: once with a caller that makes one attempt, once with the
# caller that retries a different instance on a 503 or a timeout.

# %%
DESIGNS = {
    "Eureka defaults": ("registry", {"heartbeat": 30_000, "ttl": 90_000, "refresh": 30_000}),
    "registry, watched": ("registry", {"heartbeat": 5_000, "ttl": 15_000, "refresh": 0}),
    "DNS, JVM default (30 s)": ("dns", {"cache_ttl": 30}),
    "DNS, 5 s cache": ("dns", {"cache_ttl": 5}),
    "server-side (ClusterIP)": ("proxy", {}),
}

runs = {}
rows = []
for name, design in DESIGNS.items():
    for label, caller in (("one attempt", place_order_once), ("retry another", place_order_retry)):
        runs[(name, label)] = run_rollout(design, caller)
        rows.append((f"{name}, {label}", measure(*runs[(name, label)])))
labs.viz.table(rows, title="A rolling replacement of payments (seed 7, 25 orders/s)")

# %% [markdown]
# Read the table row by row (the page quotes these numbers):

# %%
def row(name, label):
    return measure(*runs[(name, label)])


eureka = row("Eureka defaults", "one attempt")
dns30 = row("DNS, JVM default (30 s)", "one attempt")
watched = row("registry, watched", "one attempt")
watched_retry = row("registry, watched", "retry another")
dns5_retry = row("DNS, 5 s cache", "retry another")
proxy = row("server-side (ClusterIP)", "one attempt")
print("Eureka defaults, one attempt:", labs.quote("eureka_failed_pct", eureka["orders failed %"],
                                                  "{:.1f}"), "% of orders failed")
print("DNS with the JVM's 30 s cache, one attempt:",
      labs.quote("dns30_failed_pct", dns30["orders failed %"], "{:.1f}"), "% failed; a new "
      "instance was first used", labs.quote("dns30_first_seen_s",
                                            runs[("DNS, JVM default (30 s)", "one attempt")][1]
                                            .delay_to_see(runs[("DNS, JVM default (30 s)",
                                                                "one attempt")][2].new[0]) / 1000,
                                            "{:.1f}"), "s after it was ready")
print("registry, watched, TTL 15 s:", labs.quote("watched_failed_pct", watched["orders failed %"],
                                                 "{:.1f}"), "% failed with one attempt,",
      labs.quote("watched_retry_failed_pct", watched_retry["orders failed %"], "{:.1f}"),
      "% when the caller retries another instance, at the cost of",
      labs.quote("watched_retry_dead_calls", watched_retry["calls to dead instances"]),
      "calls to dead instances")
print("DNS 5 s cache with a retry:", labs.quote("dns5_retry_failed_pct",
                                                dns5_retry["orders failed %"], "{:.1f}"), "% failed")
print("server-side:", labs.quote("proxy_failed_pct", proxy["orders failed %"], "{:.1f}"),
      "% failed, all in the second after each old instance exits:",
      labs.quote("proxy_dead_calls", proxy["calls to dead instances"]), "calls to dead instances")

# %% [markdown]
# * **Eureka's defaults** keep a killed instance listed for up to 90 s after its last
#   heartbeat, plus up to 30 s in the client's copy: a third of all calls go to a dead
#   process for most of the minute, and the last new instance is not even seen before the
#   traffic ends.
# * **DNS with the JVM's 30 s cache** fails about as often, for another reason: the
#   platform removed the dead endpoints at once, but orders' JVM keeps the old answer for
#   30 s, and then also misses the instances that became ready just after its last lookup.
# * The **watched registry** sees new instances within 50 ms, but a killed one stays
#   listed until its TTL runs out. A retry on another instance hides almost all of it;
#   the dead instance is still called, and every such call costs a round trip.
# * **Server-side** balancing has the shortest stale window, about a second (kube-proxy's
#   lag), because the platform deregisters for the application. That second is the
#   famous race between endpoint removal and the process exiting; a `preStop` sleep
#   (`DRAIN`) longer than the lag closes it.
#
# The same story over time, failed orders per second for three designs with one attempt:

# %%
labs.viz.line({name: failures_per_second(runs[(name, "one attempt")][0])
               for name in ("Eureka defaults", "DNS, JVM default (30 s)", "registry, watched")},
              x="time (s)", y="failed orders per second",
              title="Failed orders during the rollout, one attempt per order")

# %% [markdown]
# ### One order that met a dead instance
#
# In the watched registry with retries, just after `payments-1` was killed: orders calls
# it, the connection is refused (503, one network round trip), and the retry goes to
# another instance that answers.

# %%
retried = runs[("registry, watched", "retry another")][0]
first_refusal = next(row for row in retried.rows
                     if row[2] == "reject" and row[12] == "connection refused")
labs.viz.sequence(retried, trace_id=first_refusal[5])

# %% [markdown]
# ## One slow instance: how the balancer chooses
#
# A different experiment: no deploy, four payments instances, and `payments-2` is slow
# (every call it starts takes 150 ms more, as in a long GC pause or a noisy neighbour).
# Each instance has 4 request slots. Orders sends 200 calls a second and gives up on a call
# after 300 ms. Same arrivals for the four policies.

# %% tags=["knob"]
SLOW_EXTRA = 150        # ms added to every call the slow instance starts
LB_RATE = 200           # calls per second
SLOTS = 4               # request slots per payments instance


# %%
def run_balancing(policy, seed=None, rate=None, extra=None, slots=None, duration=10_000):
    """Four instances, payments-2 slow; *policy* is a name of POLICIES. Returns (result, lb)."""
    seed = SEED if seed is None else seed
    rate = LB_RATE if rate is None else rate
    extra = SLOW_EXTRA if extra is None else extra
    slots = SLOTS if slots is None else slots
    sim = Simulation(seed=seed)
    sim.network.latency = Exponential(mean=1.0)
    names = [f"payments-{i}" for i in range(1, 5)]
    lb = POLICIES[policy](sim)

    def payments(ctx, req):
        yield ctx.work(Exponential(mean=8.0))
        return {"authorized": True}

    def orders(ctx, req):
        reply = yield from lb.call(ctx, names, timeout=300)
        return reply if reply.ok else Response.error(503, reply.reason)

    for n in names:
        sim.service(n, payments, concurrency=slots, queue=50)
    if extra > 0:
        sim.faults.slow("payments-2", at=0.0, extra=extra)
    sim.service("orders", orders, concurrency=400)
    sim.load("orders", rate=rate, duration=duration, timeout=2_000)
    return sim.run(), lb


POLICIES = {
    "round robin": lambda sim: RoundRobin(),
    "random": lambda sim: RandomChoice(sim.stream("traffic:lb:orders")),
    "least outstanding": lambda sim: LeastOutstanding(),
    "power of two choices": lambda sim: PowerOfTwo(sim.stream("traffic:lb:orders")),
}


def balance_numbers(result, lb):
    reqs = result.requests
    lat = sorted(r.latency for r in reqs)
    return {"failed %": round(100 * sum(not r.ok for r in reqs) / len(reqs), 2),
            "p50 ms": round(lat[int(0.50 * (len(lat) - 1))], 1),
            "p99 ms": round(lat[int(0.99 * (len(lat) - 1))], 1),
            "share to slow %": round(100 * lb.picked.get("payments-2", 0)
                                     / sum(lb.picked.values()), 1)}


balancing = {name: balance_numbers(*run_balancing(name)) for name in POLICIES}
labs.viz.table(list(balancing.items()), title="One slow instance of four (seed 7)")

# %%
print("round robin sends", labs.quote("rr_share_slow", balancing["round robin"]["share to slow %"],
                                      "{:.0f}"), "% of calls to the slow instance;",
      labs.quote("rr_failed_pct", balancing["round robin"]["failed %"], "{:.1f}"), "% fail")
print("power of two choices sends", labs.quote("p2c_share_slow",
                                               balancing["power of two choices"]["share to slow %"],
                                               "{:.1f}"), "%; p99",
      labs.quote("p2c_p99_ms", balancing["power of two choices"]["p99 ms"], "{:.0f}"), "ms")
labs.viz.bar({name: numbers["share to slow %"] for name, numbers in balancing.items()},
             x="policy", y="% of calls sent to the slow instance",
             title="Who keeps feeding the slow instance?")

# %% [markdown]
# Round robin and random send a quarter of the calls to `payments-2` whatever it does with
# them. At 50 calls a second and 158 ms a call it would need about 8 slots; it has 4, so
# its queue grows until calls time out. The two policies that count outstanding calls see
# that calls to `payments-2` do not come back, and send the next ones elsewhere. Power of
# two choices does almost as well as a full scan while looking at only two instances,
# which is why Envoy's `LEAST_REQUEST` does exactly that by default.
#
# ## Your turn: turn the knobs
#
# Change the knobs above and rerun: `GRACEFUL = True` (what does the registry's TTL still
# do?), `DRAIN = 2_000` (which design stops calling dead instances?), a larger
# `SLOW_EXTRA` or a smaller `LB_RATE`. Or build a design of your own:

# %% tags=["knob"]
MY_DESIGN = ("registry", {"heartbeat": 2_000, "ttl": 6_000, "refresh": 0})
print(measure(*run_rollout(MY_DESIGN)))
print(measure(*run_rollout(MY_DESIGN, place_order_retry)))

# %% [markdown] exercise={"id": "ch04-ttl-budget", "title": "Heartbeat and TTL settings that meet an error budget", "outcome": "Choose registry heartbeat, TTL and client refresh settings that keep failed orders within an error budget while instances are killed without deregistering", "points": 3, "minutes": 15}
# ## Exercise 1: a TTL that meets the error budget
#
# The deploy kills the old instances without letting them deregister, and orders makes one
# attempt per order. Choose `MY_HEARTBEAT` (ms), `MY_TTL` (ms) and `MY_REFRESH` (ms, 0 to
# watch) for the registry so that:
#
# * at most **5 %** of orders fail over the minute (the error budget during the deploy);
# * each instance sends **at most one heartbeat a second** (the registry's servers have
#   many services to look after);
# * the TTL is at least **three heartbeats**, so that one or two lost heartbeats do not
#   take a healthy instance out (a TTL of one heartbeat flaps).
#
# Work it out before you try: a killed instance stays listed for up to a TTL after its
# last heartbeat, plus up to one refresh in the client, and orders sends it a third of the
# calls meanwhile.

# %%
### BEGIN SOLUTION
MY_HEARTBEAT = 1_000
MY_TTL = 3_000
MY_REFRESH = 0
### END SOLUTION
### STUB MY_HEARTBEAT = None
### STUB MY_TTL = None
### STUB MY_REFRESH = None


def ttl_objectives(heartbeat, ttl, refresh, seed=7, plan=None):
    """What these registry settings miss on the standard deploy, in plain words."""
    if None in (heartbeat, ttl, refresh):
        return None
    missed = []
    if heartbeat < 1_000:
        missed.append(f"heartbeat every {heartbeat} ms is more than one a second per instance")
    if ttl < 3 * heartbeat:
        missed.append(f"a TTL of {ttl} ms is less than three heartbeats ({3 * heartbeat} ms)")
    design = ("registry", {"heartbeat": heartbeat, "ttl": ttl, "refresh": refresh})
    numbers = measure(*run_rollout(design, **dict(STANDARD, seed=seed), plan=plan))
    if numbers["orders failed %"] > 5:
        missed.append(f"error budget: {numbers['orders failed %']} % of orders failed (at most 5 %)")
    return missed

# %% tags=["check"] exercise="ch04-ttl-budget"
(labs.Checks("ch04-ttl-budget")
 .equal("objectives missed (seed 7)", lambda: ttl_objectives(MY_HEARTBEAT, MY_TTL, MY_REFRESH), [],
        hint="A poll every few seconds adds its whole interval to the stale window; a watch "
             "adds almost nothing. Then the TTL is what is left to choose.")
 .report())

# %% tags=["hidden-check"] exercise="ch04-ttl-budget"
_fast = Rollout("payments", replicas=3, start=5_000, interval=8_000, startup=3_000)
(labs.Checks("ch04-ttl-budget", hidden=True)
 .equal("objectives missed, seed 11", lambda: ttl_objectives(MY_HEARTBEAT, MY_TTL, MY_REFRESH,
                                                             seed=11), [])
 .equal("objectives missed, a faster rollout (every 8 s), seed 12",
        lambda: ttl_objectives(MY_HEARTBEAT, MY_TTL, MY_REFRESH, seed=12, plan=_fast), [])
 .report())

# %% [markdown] exercise={"id": "ch04-retry-other", "title": "A caller that survives stale endpoints", "outcome": "Write a client call that retries a failed connection on a different instance, and never retries a business refusal", "points": 3, "minutes": 15}
# ## Exercise 2: a caller that survives a stale list
#
# Write orders' call to payments, `my_place_order(ctx, req, view, lb)`, a generator like
# `place_order_once` above. It must:
#
# * get the endpoints from the view once, and call one with `lb.call(ctx, endpoints,
#   body=req.body, timeout=CALL_TIMEOUT)` (use `yield from`);
# * when the call fails because the instance is unreachable (503, or a 504 timeout), try
#   again on a **different** instance (`exclude=(reply.service,)`), up to **3 attempts**
#   in all;
# * **never** retry a business answer: a 402 "card declined" is the answer, and sending
#   it again would charge the card processor twice for nothing.
#
# Return the last reply. The check runs the deploy with the DNS design and a 5 s cache.

# %%
def my_place_order(ctx, req, view, lb):
    ### BEGIN SOLUTION
    endpoints = view.endpoints(ctx.now)
    tried = []
    reply = None
    for _ in range(3):
        reply = yield from lb.call(ctx, endpoints, exclude=tuple(tried), body=req.body, timeout=CALL_TIMEOUT)
        if reply.status not in (503, 504) or reply.reason == "no endpoints":
            return reply
        tried.append(reply.service)
    return reply
    ### END SOLUTION
    ### STUB raise NotImplementedError("write my_place_order")
    ### STUB yield


def payments_attempts(result):
    """How many calls orders sent to any payments instance."""
    return sum(1 for row in result.rows if row[2] == "span.start" and row[3] == "orders"
               and row[4].startswith("payments-"))


def declined_retried(result):
    """Declined orders that payments was asked to authorize (and declined) more than once."""
    declines = {}
    for row in result.rows:
        if row[2] == "span.end" and row[3].startswith("payments-") and row[10] == 402:
            declines[row[5]] = declines.get(row[5], 0) + 1
    return sum(1 for n in declines.values() if n > 1)

# %% tags=["check"] exercise="ch04-retry-other"
_dns5 = DESIGNS["DNS, 5 s cache"]
(labs.Checks("ch04-retry-other")
 .between("orders failed % during the deploy (DNS, 5 s cache)",
          lambda: measure(*run_rollout(_dns5, my_place_order, **STANDARD))["orders failed %"],
          0.0, 0.2, hint="Retry on 503 and 504, on another instance each time.")
 .equal("declined cards sent to payments more than once",
        lambda: declined_retried(run_rollout(_dns5, my_place_order, **STANDARD)[0]), 0,
        hint="A 402 is an answer, not a failure of the instance: return it at once.")
 .report())

# %% tags=["hidden-check"] exercise="ch04-retry-other"
def _silent_kill_failed():
    """payments-5 is killed at 35 s and no view is told: a stale endpoint in every design."""
    res, view, plan = run_rollout(("proxy", {}), my_place_order, **dict(STANDARD, seed=13),
                                  kill=("payments-5", 35_000))
    return measure(res, view, plan)["orders failed %"]


def _three_attempts_at_most():
    """With every listed instance dead (the JVM cache forever), at most 3 calls per order."""
    res, _, _ = run_rollout(("dns", {"cache_ttl": -1}), my_place_order, **STANDARD)
    return payments_attempts(res) / len(res.requests)


(labs.Checks("ch04-retry-other", hidden=True)
 .between("an instance killed silently: orders failed %", _silent_kill_failed, 0.0, 0.2,
          hint="A dead endpoint the view still lists must cost a retry, not an order.")
 .between("every listed instance dead: attempts per order", _three_attempts_at_most, 1.0, 3.0,
          hint="At most 3 attempts in all, even when every one fails.")
 .equal("declined cards retried, Eureka defaults",
        lambda: declined_retried(run_rollout(DESIGNS["Eureka defaults"], my_place_order,
                                             **STANDARD)[0]), 0)
 .report())

# %% [markdown] exercise={"id": "ch04-round-robin-limit", "title": "Why round robin suffers with one slow instance", "outcome": "Compute the load at which round robin saturates a slow instance, from its share, its slots and its service time", "points": 2, "minutes": 10}
# ## Exercise 3: when does round robin break?
#
# Round robin gives each of the *n* instances 1/*n* of the calls, whatever they do with
# them. An instance with *slots* request slots and a service time of *ms* milliseconds per
# call can finish at most `slots × 1000 / ms` calls a second (Little's law); beyond that,
# its queue grows without limit.
#
# Write `round_robin_limit(n, slots, slow_ms)`: the largest total rate (calls per second
# into the balancer) that round robin can send before the slow instance saturates. For the
# experiment above, `n=4`, `slots=4`, `slow_ms=158` (8 ms of work plus 150 ms of
# slowness), the answer is about 101 calls a second: half of what orders sends.

# %%
def round_robin_limit(n, slots, slow_ms):
    ### BEGIN SOLUTION
    return n * slots * 1000 / slow_ms
    ### END SOLUTION
    ### STUB return None

# %% tags=["check"] exercise="ch04-round-robin-limit"
(labs.Checks("ch04-round-robin-limit")
 .equal("the experiment above", lambda: round_robin_limit(4, 4, 158), 101.27, tol=0.1,
        hint="The slow instance gets rate / n; it saturates when that reaches slots × 1000 / ms.")
 .equal("two instances, one slot, 100 ms", lambda: round_robin_limit(2, 1, 100), 20.0, tol=1e-6)
 .report())

# %% tags=["hidden-check"] exercise="ch04-round-robin-limit"
def _rr_fails(rate):
    res, lb = run_balancing("round robin", rate=rate)
    return balance_numbers(res, lb)["failed %"]


_limit = lambda: round_robin_limit(4, SLOTS, 8 + 150)
(labs.Checks("ch04-round-robin-limit", hidden=True)
 .equal("ten instances, eight slots, 250 ms", lambda: round_robin_limit(10, 8, 250), 320.0, tol=1e-6)
 .between("the simulation below your limit (80 % of it): failed %",
          lambda: _rr_fails(0.8 * _limit()), 0.0, 1.0,
          hint="Below the limit the slow instance keeps up, so hardly any call fails.")
 .between("the simulation above your limit (130 % of it): failed %",
          lambda: _rr_fails(1.3 * _limit()), 5.0, 100.0,
          hint="Above the limit the slow instance's queue grows until its calls time out.")
 .report())

# %% [markdown]
# ## What to take away
#
# * Every discovery design is a view that lags: count the seconds of each lag (a TTL, a
#   poll, a cache, a propagation) and you can predict the errors during churn.
# * Who deregisters matters most: the platform (Kubernetes endpoints) does it for you; a
#   self-registering instance that is killed is listed until its TTL runs out.
# * The JVM's DNS cache is a second, hidden registry with a 30 s TTL.
# * A retry on another instance turns most stale endpoints into one extra round trip;
#   never retry an answer.
# * Balancers that count outstanding calls route around a slow instance; round robin and
#   random cannot.
#
# Back to the chapter, *Service Discovery and Registration*, for how the same choices look
# on Kubernetes and in Clojure.
