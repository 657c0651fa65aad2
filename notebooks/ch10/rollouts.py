# %% [markdown]
# # Rollouts: shipping a bad payments release three ways
#
# The shop's checkout in the simulator: customers send orders to **orders**, which asks
# **payments** to charge them. Payments runs as a Kubernetes-style Deployment of four pods
# (`labs.Deployment`), reached the way a Kubernetes Service is reached: each call goes to
# one **ready** pod. Then the team ships **payments v2**, with a bug nobody caught in
# review: it rounds wallet payments with 50 cents or more to the next euro, the wallet
# provider rejects the mismatch, and the payment fails with a 500. Card payments, and
# wallet payments with fewer cents, work. The pods start, pass their readiness probe and
# look perfectly healthy.
#
# | when (s) | what happens |
# |---|---|
# | 0–10 | v1 on four pods, all quiet |
# | 10 | the rollout of v2 starts |
# | 10–… | new pods start (10–20 s each, a JVM and a warm-up), take traffic, hurt customers |
#
# You will ship v2 with a **rolling update** (Kubernetes' defaults), with a rolling update
# plus an automatic `rollout undo` on an error-rate objective, with **blue-green** and with
# a **canary**, from the same seed, so the same customers arrive at the same moments with
# the same baskets. For each: how many customers the release hurts, how long it takes to
# get the bad version out, and how much capacity the rollout costs or leaves.
#
# The numbers the chapter quotes are printed where they are computed (`labs.quote`).

# %%
from IPython.display import display

import labs
from labs import (Analysis, BlueGreen, Canary, Checks, Deployment, Exponential, Response,
                  RollingUpdate, Simulation, Uniform)

# %% [markdown]
# ## The knobs of the world
#
# Time is in milliseconds; rates are per second. One customer in a hundred meets a payment
# processor timeout whatever the version: that is the background noise an analysis has to
# tell apart from a bug.

# %% tags=["knob"]
SEED = 7
RATE = 20                   # orders per second
REPLICAS = 4                # payments pods
POD_START = (10_000, 20_000)  # ms from pod created to ready (JVM start + warm-up)
WALLET_SHARE = 0.3          # share of payments made with a wallet
NOISE = 0.01                # share of payments that time out at the processor, any version

# %%
END = 160_000               # ms of traffic
ROLLOUT_AT = 10_000         # the deploy starts here
STANDARD = {"seed": 7, "rate": 20, "replicas": 4, "pod_start": (10_000, 20_000),
            "wallet_share": 0.3, "noise": 0.01}


def wallet_rounding_bug(body):
    """v2's bug: wallet payments with 50 cents or more fail."""
    return body["method"] == "wallet" and body["amount_minor"] % 100 >= 50


def run(strategy, bug=wallet_rounding_bug, seed=None, rate=None, replicas=None,
        pod_start=None, wallet_share=None, noise=None, until=END, lose=()):
    """Ship v2 at ROLLOUT_AT with *strategy*; return (deployment, result).

    *bug(body)* says which payments v2 fails (None: v2 is a good release). *lose* lists pods
    lost during the run, as ``(at ms, version or None)`` pairs (a node failure: the pod
    goes, its ReplicaSet starts a replacement). Every world parameter left as None takes
    its knob's value.
    """
    seed = SEED if seed is None else seed
    rate = RATE if rate is None else rate
    replicas = REPLICAS if replicas is None else replicas
    pod_start = POD_START if pod_start is None else pod_start
    wallet_share = WALLET_SHARE if wallet_share is None else wallet_share
    noise = NOISE if noise is None else noise
    sim = Simulation(seed=seed)
    sim.network.latency = Exponential(mean=1.0)

    def charge(ctx, req):
        yield ctx.work(Exponential(mean=12.0))
        if req.body["noise"]:
            return Response.error(500, "processor timeout")
        return {"charged": req.body["amount_minor"]}

    def charge_v2(ctx, req):
        yield ctx.work(Exponential(mean=12.0))
        if bug is not None and bug(req.body):
            return Response.error(500, "amount mismatch")
        if req.body["noise"]:
            return Response.error(500, "processor timeout")
        return {"charged": req.body["amount_minor"]}

    payments = Deployment(sim, "payments", {"v1": charge, "v2": charge_v2}, "v1",
                          replicas=replicas, start=Uniform(*pod_start), concurrency=4)

    def orders(ctx, req):
        yield ctx.work(1.0)
        paid = yield from payments.call(ctx, req.body, timeout=1_000)
        if not paid.ok:
            return Response.error(502, f"payment failed: {paid.reason or paid.status}")
        return {"status": "placed"}

    sim.service("orders", orders, concurrency=64)
    if strategy is not None:
        payments.rollout("v2", at=ROLLOUT_AT, strategy=strategy)
    for at, version in lose:
        payments.lose(at, version)

    def basket(rng, i):
        return {"id": i, "method": "wallet" if rng.random() < wallet_share else "card",
                "amount_minor": rng.randrange(500, 20_000), "noise": rng.random() < noise}

    sim.load("orders", rate=rate, duration=until, body=basket, timeout=3_000)
    result = sim.run(until=until + 2_000)
    payments.finish(until + 2_000)
    return payments, result


def hurt(result):
    """Customers whose order failed because of the release (not the processor's noise)."""
    return sum(1 for r in result.requests if "amount mismatch" in r.reason)


def measure(dep, result):
    """The numbers this lab is about, for one rollout."""
    rep = dep.report()
    reqs = result.requests
    return {
        "outcome": rep.outcome if rep else "none",
        "customers hurt": hurt(result),
        "failed orders": sum(not r.ok for r in reqs),
        "decided (s after start)": None if rep is None or rep.decided is None
        else round((rep.decided - rep.started) / 1000, 1),
        "bad version exposed (s)": None if rep is None or rep.exposure is None
        else round(rep.exposure / 1000, 1),
        "peak pods": dep.peak(),
    }

# %% [markdown]
# ## A quiet start, and a good release
#
# First v2 **without** the bug, with Kubernetes' default rolling update. Orders keep being
# placed (except the one in a hundred the processor drops), and the rollout replaces the
# four pods in two waves. Why two, and why never fewer than three ready pods? The defaults
# are `maxSurge: 25%` and `maxUnavailable: 25%`; the controller rounds the surge **up** and
# the unavailable **down**:

# %%
surge, unavailable = labs.resolve_fenceposts(REPLICAS, "25%", "25%")
print(f"{REPLICAS} replicas: at most {REPLICAS + surge} pods, at least "
      f"{REPLICAS - unavailable} available")
labs.quote("surge_4", surge)
labs.quote("unavailable_4", unavailable)
for n in (1, 2, 3, 5, 10):
    print(f"{n:>2} replicas -> surge, unavailable = {labs.resolve_fenceposts(n)}")

# %%
good, good_result = run(RollingUpdate(), bug=None)
print(measure(good, good_result))
labs.quote("good_rolling_s", (good.report().finished - good.report().started) / 1000, "{:.0f}")
print(f"rollout took {(good.report().finished - good.report().started) / 1000:.0f} s")
labs.viz.line(good.capacity(END, step=2_000), x="time (s)", y="ready pods",
              title="A good rolling update: ready pods per version")

# %% [markdown]
# The chart is the capacity a rolling update leaves you: with four replicas the default
# allows one missing pod, so for a while payments runs on three. With a fifth surge pod
# being created at the same time, the rollout never costs more than one extra pod.

# %% [markdown]
# ## The bad release, four ways
#
# Now v2 has the bug. The same seed, so the same customers with the same baskets arrive at
# the same moments in every run; only the strategy differs.
#
# * **rolling**: Kubernetes' defaults. The pods pass readiness, so Kubernetes sees
#   nothing wrong: **a Deployment never rolls back by itself**.
# * **rolling + undo**: the same, plus a watcher (your pipeline, or a person with an alert)
#   that runs `kubectl rollout undo` when payments' error rate over the last 10 s passes
#   2 %. The undo is one more rolling update, back to v1.
# * **blue-green**: four v2 pods started beside the four v1 pods; when all are ready, the
#   Service switches at once; the same 2 % analysis watches, and on failure switches back
#   while the v1 pods still run (they are kept 30 s, Argo Rollouts' default).
# * **canary**: 10 % of traffic to one v2 pod for 30 s, then 50 % for 30 s, then all; the
#   analysis runs every 10 s on the **canary's** requests only, and aborts on the first
#   measurement over 2 %.

# %%
OBJECTIVE = Analysis(max_error_rate=0.02, interval=10_000, min_requests=20)
STRATEGIES = {
    "rolling": RollingUpdate(),
    "rolling + undo": RollingUpdate(analysis=OBJECTIVE),
    "blue-green": BlueGreen(analysis=OBJECTIVE),
    "canary": Canary(steps=[(10, 30_000), (50, 30_000)], analysis=OBJECTIVE),
}
runs = {name: run(s) for name, s in STRATEGIES.items()}
table = {name: measure(*r) for name, r in runs.items()}
labs.viz.table(list(table.items()), title="The bad release, same customers, four strategies")

# %%
for name, key in (("rolling", "rolling"), ("rolling + undo", "rolling_undo"),
                  ("blue-green", "blue_green"), ("canary", "canary")):
    labs.quote(f"hurt_{key}", table[name]["customers hurt"])
labs.quote("exposed_rolling_undo_s", table["rolling + undo"]["bad version exposed (s)"], "{:.0f}")
labs.quote("exposed_blue_green_s", table["blue-green"]["bad version exposed (s)"], "{:.0f}")
labs.quote("exposed_canary_s", table["canary"]["bad version exposed (s)"], "{:.0f}")
labs.quote("peak_blue_green", table["blue-green"]["peak pods"])
labs.quote("peak_rolling", table["rolling"]["peak pods"])
labs.viz.bar({name: row["customers hurt"] for name, row in table.items()},
             x="strategy", y="customers hurt", title="Customers the bad release hurt")

# %% [markdown]
# Read the table row by row:
#
# * **rolling** completes: four healthy-looking v2 pods, and from then on 15 % of orders
#   (wallet payments with 50 cents or more) fail until someone notices.
# * **rolling + undo** notices within one measurement once enough traffic reaches v2, but
#   the undo is itself a rolling update: the v1 pods it needs take 10–20 s to start,
#   and v2 keeps serving meanwhile.
# * **blue-green** exposes *every* customer to v2 at once, but only until the first
#   measurement after the switch, and getting back is instant: the old pods are still
#   there. It costs twice the pods for the length of the rollout.
# * **canary** exposes one customer in ten, and only for one measurement interval. It is
#   also the slowest to ship a *good* release, which is the price.
#
# Capacity over time, for the rolling update with undo and for the canary:

# %%
for name in ("rolling + undo", "canary"):
    dep, _ = runs[name]
    display(labs.viz.line(dep.capacity(END, step=2_000), x="time (s)", y="ready pods",
                          title=f"{name}: ready pods per version"))
    print(f"{name}, what the controller did after the deploy started:")
    for t, what, pod, version in dep.history:
        if t >= ROLLOUT_AT:
            print(f"  {t / 1000:6.1f} s  {what:<34} {pod or version}")

# %% [markdown]
# ### One hurt customer, as messages
#
# The first order the canary failed: the customer asks orders, orders calls one payments
# pod, which is a v2 pod, and the 500 comes back up as a failed order.

# %%
canary_dep, canary_result = runs["canary"]
first = next(r for r in canary_result.requests if "amount mismatch" in r.reason)
labs.viz.sequence(canary_result, trace_id=first.trace_id)

# %% [markdown]
# ## Your turn: turn the knobs
#
# Change the strategies below and rerun. Things to try:
#
# * `RollingUpdate(max_surge=0, max_unavailable=1)`: no extra pods, slower, less capacity.
# * `RollingUpdate(max_surge="100%", max_unavailable=0)`: a blue-green without the switch.
# * `BlueGreen(analysis=OBJECTIVE, scale_down_delay=0)`: the old pods go at the switch, so
#   the rollback has to start new ones first. How long is v2 exposed now?
# * A canary with `min_requests=5`: it decides sooner, and sometimes on noise. Try
#   `bug=None` with it.
# * `run(RollingUpdate(), bug=None, lose=[(10_001, "v1")])`: a node fails just after the
#   rollout deleted its first old pod. Compare `dep.fewest_ready()` with and without it:
#   `maxUnavailable` counts only the rollout's own deletions.

# %% tags=["knob"]
MY_STRATEGY = BlueGreen(analysis=OBJECTIVE, scale_down_delay=0)
mine, mine_result = run(MY_STRATEGY)
print(measure(mine, mine_result))

# %% [markdown] exercise={"id": "ch10-rolling-settings", "title": "maxSurge and maxUnavailable for a floor, a quota and a deadline", "outcome": "Choose a Deployment's maxSurge and maxUnavailable as percentages, with the controller's rounding, so a rollout keeps a capacity floor through a lost pod, stays within a pod quota and finishes in time", "points": 2, "minutes": 15}
# ## Exercise 1: settings for the sale
#
# For the sale, payments runs on **10** replicas, and three people have a say in its
# rolling update:
#
# * the capacity plan: at least **8** ready pods at every moment of a rollout, **even if a
#   node fails and takes one pod with it** mid-rollout (nodes do fail, and a rollout is
#   exactly when you have the least spare);
# * the namespace's ResourceQuota: at most **12** payments pods at once (a surge pod over
#   the quota is refused and the rollout stalls);
# * the release manager: a good release finishes within **70 s** of the rollout's start.
#
# Set `MY_ROLLING` to a `RollingUpdate(max_surge=..., max_unavailable=...)` that meets
# all three, with both values written as **percentages** (the platform's shared chart
# uses percentages so the settings keep meaning something when the replica count
# changes). Work out first what pod counts you need, then which percentages of 10 the
# controller turns into those counts: a percentage surge rounds **up**, a percentage
# unavailable rounds **down**. The defaults, `25%` and `25%`, are not it.
#
# `rolling_objectives(rolling)` runs a good v2 with your setting in the sale's world and
# says what it misses, in plain words. `rolling_objectives(rolling, lose=[(at, version)])`
# also loses a pod at `at` ms (the rollout starts at `ROLLOUT_AT`), of `version` (`"v1"`,
# `"v2"`, or `None` for any): try a few moments before you trust your setting.

# %%
SALE_REPLICAS = 10   # payments pods for the sale
FLOOR = 8            # ready pods the capacity plan needs at every moment
QUOTA = 12           # payments pods the namespace's ResourceQuota allows at once
DEADLINE_S = 70      # a good release finishes within this many seconds of its start
SALE_END = 100_000   # ms of traffic in these runs: time enough for any setting that meets them


def rolling_objectives(rolling, seed=7, lose=()):
    """What *rolling* misses when a good v2 ships to the sale's 10 replicas ([] = all met)."""
    if rolling is None:
        return None
    world = dict(STANDARD, seed=seed, replicas=SALE_REPLICAS)
    dep, _ = run(rolling, bug=None, lose=lose, until=SALE_END, **world)
    missed = []
    if dep.peak() > QUOTA:
        missed.append(f"{dep.peak()} pods at once; the quota allows {QUOTA}, so the extra "
                      "ones would be refused and the rollout would stall")
    fewest = dep.fewest_ready(since=ROLLOUT_AT)
    if fewest < FLOOR:
        missed.append(f"only {fewest} ready pods at one moment; the capacity plan needs {FLOOR}")
    rep = dep.report()
    if rep.outcome != "promoted":
        missed.append(f"the good release is still {rep.outcome} "
                      f"{(SALE_END - ROLLOUT_AT) / 1000:.0f} s after it started")
    elif not lose and (rep.finished - rep.started) / 1000 > DEADLINE_S:
        missed.append(f"the good release took {(rep.finished - rep.started) / 1000:.0f} s "
                      f"(at most {DEADLINE_S})")
    return missed


def percentages(rolling):
    """True if both of *rolling*'s settings are percentage strings such as "25%"."""
    return all(isinstance(v, str) and v.endswith("%")
               for v in (rolling.max_surge, rolling.max_unavailable))


print("the defaults on 10 replicas:", rolling_objectives(RollingUpdate()))

# %%
### BEGIN SOLUTION
# At most 12 pods: a surge of 2 (11 % to 20 % of 10, rounded up). At least 8 ready even
# when a pod is lost: the rollout may take only 1 (10 % to 19 %, rounded down). Speed:
# 2 + 1 = 3 pods replaced per wave; 2 per wave takes over 70 s.
MY_ROLLING = RollingUpdate(max_surge="20%", max_unavailable="10%")
### END SOLUTION
### STUB MY_ROLLING = None

# %% tags=["check"] exercise="ch10-rolling-settings"
(Checks("ch10-rolling-settings")
 .true("MY_ROLLING is a RollingUpdate with both settings as percentages",
       lambda: MY_ROLLING and isinstance(MY_ROLLING, RollingUpdate) and percentages(MY_ROLLING),
       hint='RollingUpdate(max_surge="..%", max_unavailable="..%").')
 .equal("objectives missed by a good release (seed 7)",
        lambda: rolling_objectives(MY_ROLLING), [],
        hint="Too many pods: a smaller surge (it rounds up). Too few ready: a smaller "
             "unavailable (it rounds down). Too slow: the pods replaced per wave are surge + "
             "unavailable.")
 .report())

# %% tags=["hidden-check"] exercise="ch10-rolling-settings"
# The chapter's failure on top of the rollout: a node fails and takes a pod with it, just
# after the rollout deleted its first old pods, and once more in the middle of the rollout.
(Checks("ch10-rolling-settings", hidden=True)
 .equal("an old pod lost as the rollout starts",
        lambda: rolling_objectives(MY_ROLLING, lose=[(ROLLOUT_AT + 1, "v1")]), [],
        hint="maxUnavailable counts only the rollout's own deletions: leave room for a loss.")
 .equal("a pod lost 25 s into the rollout",
        lambda: rolling_objectives(MY_ROLLING, lose=[(ROLLOUT_AT + 25_000, None)]), [])
 .equal("objectives missed, seed 11", lambda: rolling_objectives(MY_ROLLING, seed=11), [])
 .equal("objectives missed, seed 12", lambda: rolling_objectives(MY_ROLLING, seed=12), [])
 .report())

# %% [markdown] exercise={"id": "ch10-canary", "title": "A canary that catches the bug and ships good releases", "outcome": "Configure canary steps and an error-rate analysis that roll back a bad release while hurting few customers, and promote a good one without a false rollback", "points": 3, "minutes": 20}
# ## Exercise 2: a canary that catches the bug, and ships good releases
#
# Configure `MY_CANARY` (a `Canary`) so that, in the standard world (seed 7, the knobs'
# first values):
#
# * the **bad** v2 is rolled back and hurts at most **10** customers;
# * a **good** v2 (`bug=None`) is promoted, with no false rollback on the 1 % noise, and
#   finishes within **120 s** of the rollout's start.
#
# `Analysis(max_error_rate, interval, min_requests, window)` measures every `interval` ms
# the error rate of the canary's requests in the last `window` ms (by default, the
# interval); a measurement on fewer than `min_requests` requests is inconclusive.
#
# The tension: a small weight and frequent measurements hurt few customers, but a
# measurement on few requests cannot tell a 1 % noise from a bug (1 error in 20 requests
# is 5 %); long pauses are safe and slow. The instructors' check also ships a release with
# a *subtler* bug, which fails about 6 % of payments: your canary must roll that one back
# too (hurting at most 12 customers), so an objective far above the noise will not do.

# %%
### BEGIN SOLUTION
MY_CANARY = Canary(steps=[(20, 20_000), (50, 20_000)],
                   analysis=Analysis(max_error_rate=0.04, interval=2_000, window=20_000,
                                     min_requests=40))
### END SOLUTION
### STUB MY_CANARY = None


def canary_objectives(canary, seed=7, bug=wallet_rounding_bug, max_hurt=10, max_ship_s=120):
    """What *canary* misses in the standard world on *seed*, in plain words ([] = all met)."""
    if canary is None:
        return None
    world = dict(STANDARD, seed=seed)
    missed = []
    bad, bad_result = run(canary, bug=bug, **world)
    rep = bad.report()
    if rep.outcome != "rolled back":
        missed.append(f"the bad release was {rep.outcome}, not rolled back")
    elif hurt(bad_result) > max_hurt:
        missed.append(f"the bad release hurt {hurt(bad_result)} customers (at most {max_hurt})")
    good, _ = run(canary, bug=None, **world)
    rep = good.report()
    if rep.outcome != "promoted":
        missed.append(f"the good release was {rep.outcome} (a false rollback on noise?)")
    elif (rep.finished - rep.started) / 1000 > max_ship_s:
        missed.append(f"the good release took {(rep.finished - rep.started) / 1000:.0f} s "
                      f"(at most {max_ship_s})")
    return missed

# %% tags=["check"] exercise="ch10-canary"
(Checks("ch10-canary")
 .true("MY_CANARY is a Canary with an analysis",
       lambda: MY_CANARY and isinstance(MY_CANARY, Canary) and MY_CANARY.analysis is not None,
       because="without an analysis nothing ever rolls the canary back",
       hint="Canary(steps=[(weight, pause_ms), ...], analysis=Analysis(...)).")
 .equal("objectives missed (seed 7)", lambda: canary_objectives(MY_CANARY), [],
        hint="Hurt too many: lower the first weight or measure more often. False rollback: "
             "raise min_requests or max_error_rate above the noise. Too slow: shorter pauses.")
 .report())

# %% tags=["hidden-check"] exercise="ch10-canary"
def _subtle_bug(body):
    """Another bad deploy: wallet payments with 80 cents or more fail (about 6 %)."""
    return body["method"] == "wallet" and body["amount_minor"] % 100 >= 80


(Checks("ch10-canary", hidden=True)
 .equal("objectives missed, seed 11", lambda: canary_objectives(MY_CANARY, seed=11), [])
 .equal("objectives missed, seed 12", lambda: canary_objectives(MY_CANARY, seed=12), [])
 .equal("a subtler bad deploy (6 % of payments fail), seed 7",
        lambda: canary_objectives(MY_CANARY, bug=_subtle_bug, max_hurt=12), [],
        hint="The objective must sit between the 1 % noise and the bug's error rate.")
 .report())

# %% [markdown] exercise={"id": "ch10-expand-contract", "title": "Order an expand-and-contract migration", "outcome": "Order schema changes and deploys so that no pair of versions running together, or rolled back, breaks", "points": 3, "minutes": 15}
# ## Exercise 3: expand and contract
#
# Payments stores `amount` (a decimal in euros), and the team wants `amount_minor` (an
# integer number of cents) instead: the root of v2's rounding bug. Four versions exist:
#
# | version | reads | writes |
# |---|---|---|
# | v1 | `amount` | `amount` |
# | v2 | `amount` | `amount`, `amount_minor` |
# | v3 | `amount_minor` | `amount`, `amount_minor` |
# | v4 | `amount_minor` | `amount_minor` |
#
# Order the steps in `MY_PLAN` (a list of the tuples below, each used once) so that at
# every moment, **every version running** (both versions during each rolling update, which
# is also what a rollback runs) can do its job: no column used that does not exist, no
# column read that some rows lack. `labs.check_plan` says what breaks, in plain words.

# %%
PAYMENTS_VERSIONS = {
    "v1": labs.AppVersion("v1", reads={"amount"}, writes={"amount"}),
    "v2": labs.AppVersion("v2", reads={"amount"}, writes={"amount", "amount_minor"}),
    "v3": labs.AppVersion("v3", reads={"amount_minor"}, writes={"amount", "amount_minor"}),
    "v4": labs.AppVersion("v4", reads={"amount_minor"}, writes={"amount_minor"}),
}
STEPS = [("deploy", "v4"), ("backfill", "amount_minor"), ("add", "amount_minor"),
         ("deploy", "v3"), ("drop", "amount"), ("deploy", "v2")]
print(labs.check_plan({"id", "amount"}, "v1", PAYMENTS_VERSIONS, STEPS))

# %%
### BEGIN SOLUTION
MY_PLAN = [("add", "amount_minor"), ("deploy", "v2"), ("backfill", "amount_minor"),
           ("deploy", "v3"), ("deploy", "v4"), ("drop", "amount")]
### END SOLUTION
### STUB MY_PLAN = None

# %% tags=["check"] exercise="ch10-expand-contract"
(Checks("ch10-expand-contract")
 .true("MY_PLAN uses each step once",
       lambda: MY_PLAN and sorted(MY_PLAN) == sorted(STEPS),
       hint="Reorder the six tuples of STEPS; add or remove none.")
 .equal("what breaks", lambda: MY_PLAN and labs.check_plan({"id", "amount"}, "v1",
                                                           PAYMENTS_VERSIONS, MY_PLAN),
        [], hint="Expand first (add the column, write both), migrate (backfill, read the new), "
                 "contract last (stop writing the old, then drop it).")
 .report())

# %% tags=["hidden-check"] exercise="ch10-expand-contract"
def _rolled_back_everywhere(plan):
    """Inject a failed deploy at every deploy step: roll it back, then roll it out again."""
    problems = []
    for i, (kind, name) in enumerate(plan):
        if kind != "deploy":
            continue
        before = [s for s in plan[:i] if s[0] == "deploy"]
        back = before[-1][1] if before else "v1"
        again = plan[:i + 1] + [("deploy", back), ("deploy", name)] + plan[i + 1:]
        problems += labs.check_plan({"id", "amount"}, "v1", PAYMENTS_VERSIONS, again)
    return problems


(Checks("ch10-expand-contract", hidden=True)
 .equal("every deploy can be rolled back and redone", lambda: _rolled_back_everywhere(MY_PLAN), [],
        hint="A rollback runs the old version against the schema of that moment.")
 .true("the old column is dropped last", lambda: MY_PLAN[-1] == ("drop", "amount"))
 .report())

# %% [markdown]
# ## What to take away
#
# * Kubernetes makes a rollout *safe for capacity* (the fenceposts), not *safe for
#   customers*: a release that passes readiness and fails requests completes.
# * An automatic rollback needs an objective (an error rate), a measurement that can tell
#   the bug from the noise, and a fast way back. Blue-green's way back is instant while the
#   old pods exist; a rolling undo is as slow as the rollout.
# * A canary trades speed for a small blast radius; the analysis decides how small.
# * Schema changes ride along only if every pair of versions in flight, including the one a
#   rollback brings back, works against every schema on the way.
#
# Back to the chapter, *Deploying Clojure Microservices*, for how the same decisions look
# in a Clojure service's build and deployment.
