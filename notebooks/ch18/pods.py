# %% [markdown]
# # Pods of orders on a node: probes, memory and shutdown
#
# The shop's **orders** service as three Kubernetes pods (`labs.Pods`), each a JVM with a
# few request threads, behind a Service; a **gateway** sends customers' orders to whichever
# pod is in the Service's endpoints. A kubelet in the simulator runs each pod the way the
# real one does: it starts the container, sends the probes (real HTTP requests, through
# the same request threads as customers), restarts containers that fail liveness, kills
# them when they pass their memory limit, and shuts them down with SIGTERM, a grace period
# and SIGKILL.
#
# Four things go wrong, one section each:
#
# | section | what breaks | what the numbers show |
# |---|---|---|
# | 1 | a JVM that needs 40–70 s to start, with Kubernetes' default liveness probe | the pods are killed in a loop and never serve |
# | 2 | a heap sized over the container's memory limit | `OOMKilled`, exit code 137, under load |
# | 3 | a rolling restart of pods that do not drain | requests dropped at every pod replaced |
# | 4 | a burst of traffic with liveness on the busy request threads | every pod restarted at once |
#
# Every run is seeded: the same seed, the same customers, the same JVM start times.

# %%
from dataclasses import replace

from IPython.display import display

import labs
from labs import (Checks, Exponential, JvmMemory, PodSpec, Pods, Probe, Response, Simulation,
                  Uniform)

# %% [markdown]
# ## The knobs of the world
#
# Times are in milliseconds, rates per second. Each pod has `THREADS` request threads and
# an order takes about `SERVICE_MS` of one, so three pods serve about
# 3 × 4 / 0.1 = 120 orders a second at most.

# %% tags=["knob"]
SEED = 7
RATE = 40                 # orders per second
REPLICAS = 3
THREADS = 4               # request threads per pod
QUEUE = 200               # connections waiting for a thread, per pod
SERVICE_MS = 100.0        # mean time an order holds a thread
ENDPOINT_DELAY = 1_000    # ms for an endpoint change to reach every node's kube-proxy

# %%
STANDARD = {"seed": 7, "rate": 40, "replicas": 3, "threads": 4, "queue": 200,
            "service_ms": 100.0, "endpoint_delay": 1_000}


def run(spec, until=60_000, seed=None, rate=None, replicas=None, threads=None, queue=None,
        service_ms=None, endpoint_delay=None, warm=True, restart_at=None, burst=None,
        hang=None, slow_share=0.0):
    """Run orders' pods with *spec* (a PodSpec); return (pods, result).

    *warm*: the pods are already running when the run starts (False: they all start at
    0); *restart_at*: a rolling restart then; *burst* = (from, rate, to); *hang* =
    (pod index, at): that JVM deadlocks; *slow_share*: share of orders that take 8 s.
    World parameters left as None take their knob's value.
    """
    seed = SEED if seed is None else seed
    rate = RATE if rate is None else rate
    replicas = REPLICAS if replicas is None else replicas
    service_ms = SERVICE_MS if service_ms is None else service_ms
    endpoint_delay = ENDPOINT_DELAY if endpoint_delay is None else endpoint_delay
    threads = THREADS if threads is None else threads
    queue = QUEUE if queue is None else queue
    sim = Simulation(seed=seed)
    sim.network.latency = Exponential(mean=0.5)

    def orders(ctx, req):
        slow = req.body["slow"]
        yield ctx.work(8_000.0 if slow else Exponential(mean=service_ms))
        return {"placed": req.body["id"]}

    pods = Pods(sim, "orders", orders, replicas=replicas, spec=replace(spec, threads=threads, queue=queue),
                endpoint_delay=endpoint_delay, warm=warm)

    def gateway(ctx, req):
        return (yield from pods.call(ctx, req.body, timeout=10_000))

    sim.service("gateway", gateway, concurrency=1_000, queue=0)
    if restart_at is not None:
        pods.rolling_restart(at=restart_at)
    if hang is not None:
        pods.hang(*hang)
    schedule = [(0, rate)] if burst is None else [(0, rate), (burst[0], burst[1]), (burst[2], rate)]
    sim.load("gateway", schedule=schedule, duration=until, timeout=12_000,
             body=lambda rng, i: {"id": i, "slow": rng.random() < slow_share})
    return pods, sim.run(until=until + 12_000)


def failures(result):
    """Failed orders by reason, most common first."""
    out = {}
    for r in result.requests:
        if not r.ok:
            out[r.reason or str(r.status)] = out.get(r.reason or str(r.status), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def summary(pods, result):
    reqs = result.requests
    return {"orders": len(reqs), "placed": sum(r.ok for r in reqs),
            "failed": sum(not r.ok for r in reqs), "restarts": sum(p.restarts for p in pods.pods),
            "OOMKilled": pods.count("OOMKilled")}


def timeline(pods, limit=14, since=0.0):
    for t, pod, what in pods.events:
        if t >= since and limit > 0:
            print(f"{t / 1000:7.1f} s  {pod:<9} {what}")
            limit -= 1

# %% [markdown]
# ## 1. A slow JVM and the default liveness probe
#
# Orders' JVM needs 40–70 s before its HTTP server answers (a large Clojure service that
# loads and compiles its namespaces at start-up, no AOT). The pods use Kubernetes' default
# probes: `periodSeconds` 10, `timeoutSeconds` 1, `failureThreshold` 3,
# `initialDelaySeconds` 0, and no startup probe. All three pods start at 0.

# %%
SLOW_JVM = Uniform(40_000, 70_000)
crashloop, crashloop_result = run(PodSpec(start=SLOW_JVM), warm=False, until=120_000, rate=10)
print(summary(crashloop, crashloop_result), failures(crashloop_result))
timeline(crashloop, limit=16)
labs.quote("crashloop_restarts", sum(p.restarts for p in crashloop.pods))
labs.quote("crashloop_placed", summary(crashloop, crashloop_result)["placed"])

# %% [markdown]
# Liveness probes from the first second: refused, refused, refused, and after the third
# failure (20 s in) the kubelet kills the container. The next JVM starts from scratch and
# meets the same fate, after a back-off of 10 s, then 20 s, then 40 s: `CrashLoopBackOff`.
# No pod ever serves an order. A **startup probe** holds liveness and readiness off until it
# passes once; give it room for the slowest start: `failureThreshold × periodSeconds` ≥
# 70 s, here 8 × 10 s = 80 s.

# %%
STARTUP = Probe(period=10_000, failure_threshold=8)
patient, patient_result = run(PodSpec(start=SLOW_JVM, startup_probe=STARTUP), warm=False,
                              until=120_000, rate=10)
print(summary(patient, patient_result))
timeline(patient, limit=12)
first_ready = min(t for t, _p, what in patient.events if what == "in endpoints")
labs.quote("startup_first_ready_s", first_ready / 1000, "{:.0f}")
labs.viz.line({"no startup probe": crashloop.in_endpoints_over_time(120_000, 2_000),
               "startup probe 8 × 10 s": patient.in_endpoints_over_time(120_000, 2_000)},
              x="time (s)", y="pods in the endpoints",
              title="A 40–70 s JVM start, with and without a startup probe")

# %% [markdown]
# ## 2. The heap, the limit, and 137
#
# Each pod has a 1 GiB memory limit. Without `-Xmx`, the JVM sizes its heap from the limit
# with `MaxRAMPercentage`, 25 % by default:

# %%
print(f"default max heap for a 1024 MiB limit: {labs.default_max_heap(1024):.0f} MiB")
print(f"...for a 200 MiB limit (MinRAMPercentage applies): {labs.default_max_heap(200):.0f} MiB")
labs.quote("default_heap_1g", labs.default_max_heap(1024), "{:.0f}")
MEMORY = dict(limit_mib=1024, live_mib=150, per_request_mib=8, growth_per_request_mib=1.0)
print(f"non-heap of a pod (metaspace, threads, code cache, the rest): "
      f"{JvmMemory(**MEMORY).non_heap_mib:.0f} MiB")
labs.quote("non_heap_mib", JvmMemory(**MEMORY).non_heap_mib, "{:.0f}")

# %% [markdown]
# The non-heap figures are the lab's estimates for a Clojure service (metaspace for many
# classes, 60 threads with 1 MiB stacks); measure yours with Native Memory Tracking. Now
# three settings under the same load, whose allocation keeps growing the heap toward its
# maximum:

# %%
SETTINGS = {"-Xmx1g": JvmMemory(**MEMORY, xmx_mib=1024),
            "MaxRAMPercentage=75": JvmMemory(**MEMORY, max_ram_percentage=75),
            "default (25 %)": JvmMemory(**MEMORY)}
memory_runs = {name: run(PodSpec(memory=m), until=45_000) for name, m in SETTINGS.items()}
rows = []
for name, (pods, result) in memory_runs.items():
    m = SETTINGS[name]
    peak = max(m.rss(p.committed) for p in pods.pods)
    rows.append((name, {"max heap MiB": round(m.max_heap_mib), "heap + non-heap MiB":
                        round(m.rss(m.max_heap_mib)), "OOMKilled": pods.count("OOMKilled"),
                        "heap errors": failures(result).get("OutOfMemoryError: Java heap space", 0),
                        "failed orders": summary(pods, result)["failed"]}))
labs.viz.table(rows, title="One 1 GiB limit, three heap settings")

# %%
xmx_pods, xmx_result = memory_runs["-Xmx1g"]
labs.quote("oom_kills_xmx", xmx_pods.count("OOMKilled"))
labs.quote("oom_failed_xmx", summary(xmx_pods, xmx_result)["failed"])
timeline(xmx_pods, limit=8)

# %% [markdown]
# With `-Xmx1g` the heap alone may use the whole limit, so the first time it grows past
# 1024 − 250 MiB the kernel kills the container: exit code 137 (128 + SIGKILL), reason
# `OOMKilled`, every order it held lost, and a restart that takes the pod out for seconds.
# `MaxRAMPercentage=75` leaves 256 MiB, just enough for the non-heap here; the default 25 %
# is safe and leaves most of the gigabyte unused. Exit code 137 alone does not say
# *OOMKilled*: a container SIGKILLed at the end of its grace period exits 137 too. The
# container's `lastState.terminated.reason` says which.

# %% [markdown]
# ## 3. A rolling restart, with and without draining
#
# `kubectl rollout restart` replaces the pods one at a time. Each old pod is deleted; it
# leaves the endpoints after `ENDPOINT_DELAY`, and *at the same time* the kubelet runs its
# `preStop` hook and then sends SIGTERM. Three shutdowns:
#
# * **exits at once**: the JVM exits on SIGTERM, dropping what it holds;
# * **drains**: on SIGTERM it stops accepting connections and finishes what it holds;
# * **drains after a preStop sleep of 5 s**: it keeps serving until every node has stopped
#   sending to it, then drains.

# %%
SHUTDOWNS = {"exits at once": PodSpec(drain=False),
             "drains": PodSpec(drain=True),
             "preStop 5 s + drains": PodSpec(drain=True, pre_stop=5_000)}
restart_runs = {name: run(spec, restart_at=10_000) for name, spec in SHUTDOWNS.items()}
restart_table = {name: failures(result) for name, (_p, result) in restart_runs.items()}
for name, fails in restart_table.items():
    print(f"{name:<22} dropped: {sum(fails.values()):>3}  {fails}")
labs.quote("dropped_no_drain", sum(restart_table["exits at once"].values()))
labs.quote("dropped_drain", sum(restart_table["drains"].values()))
labs.quote("dropped_prestop", sum(restart_table["preStop 5 s + drains"].values()))
labs.viz.bar({name: sum(f.values()) for name, f in restart_table.items()},
             x="shutdown", y="orders dropped", title="Orders dropped by one rolling restart")

# %% [markdown]
# Without draining, two things drop orders: the ones a pod held at SIGTERM (`connection
# reset`) and the ones the gateway's node still sent to it during the endpoint update
# (`connection refused`). Draining fixes the first; only the preStop sleep fixes the
# second, because it keeps the pod serving until the endpoint change has reached every
# node. The grace period (30 s by default) started *before* the preStop hook, so the
# sleep and the draining must fit in it together.
#
# One dropped order, as messages:

# %%
_p, no_drain_result = restart_runs["exits at once"]
lost = next(r for r in no_drain_result.requests if not r.ok)
labs.viz.sequence(no_drain_result, trace_id=lost.trace_id)

# %% [markdown]
# ## 4. A burst, and liveness on the busy threads
#
# For 30 s the shop gets 150 orders a second, more than the three pods can serve. Orders
# queue for the request threads, and so do the kubelet's probes, which wait behind them and
# time out after 1 s. With the default probes, liveness fails three times in a row on every
# pod at once, and the kubelet restarts all of them: the overload becomes an outage.

# %%
BURST = (10_000, 150, 40_000)
cascade, cascade_result = run(PodSpec(), burst=BURST, until=60_000)
print(summary(cascade, cascade_result), failures(cascade_result))
labs.quote("burst_restarts", sum(p.restarts for p in cascade.pods))
labs.quote("burst_failed", summary(cascade, cascade_result)["failed"])

# %% [markdown]
# A liveness probe should answer "is this process beyond repair?", and a busy process is
# not. Give liveness a long budget (here 6 failures × 10 s, and a 5 s timeout) and let
# readiness take the pod out while it is swamped:

# %%
LENIENT = PodSpec(liveness_probe=Probe(timeout=5_000, failure_threshold=6))
flapping, flapping_result = run(LENIENT, burst=BURST, until=60_000)
print(summary(flapping, flapping_result), failures(flapping_result))
labs.quote("lenient_restarts", sum(p.restarts for p in flapping.pods))
labs.quote("lenient_failed", summary(flapping, flapping_result)["failed"])
display(labs.viz.line({"default liveness": cascade.in_endpoints_over_time(60_000, 1_000),
                       "lenient liveness": flapping.in_endpoints_over_time(60_000, 1_000)},
                      x="time (s)", y="pods in the endpoints",
                      title="A burst from 10 s to 40 s"))
timeline(flapping, limit=12, since=10_000)

# %% [markdown]
# With lenient liveness nothing restarts, but readiness *flaps*: a swamped pod fails
# readiness and leaves the endpoints, the other pods get its share and fail too, and as
# their queues empty they come back. Readiness is doing its job, and shows the real fix:
# more capacity (chapter 12) or load shedding (chapter 13).

# %% [markdown] exercise={"id": "ch18-probes", "title": "Probes for a JVM that starts in 40 to 70 seconds", "outcome": "Choose startup, liveness and readiness probe settings that let a slow JVM start, and still restart a hung one quickly", "points": 3, "minutes": 15}
# ## Exercise 1: probes for a slow start
#
# Orders' JVM starts in 40–70 s. Choose `MY_PROBES`, a dict with the keys `"startup"`,
# `"liveness"` and `"readiness"` (each a `Probe`, or `None` for none), so that:
#
# * three pods starting at 0 are never restarted, and all serve within **90 s**;
# * the check also injects a JVM that **deadlocks** after it has started: its pod must be
#   restarted within **60 s** of the hang.
#
# The instructors' check also starts a JVM that never finishes starting, which must be
# restarted within **150 s**: a startup probe with a huge budget hides that.

# %%
### BEGIN SOLUTION
MY_PROBES = {"startup": Probe(period=5_000, failure_threshold=16),
             "liveness": Probe(period=10_000, failure_threshold=3),
             "readiness": Probe(period=5_000)}
### END SOLUTION
### STUB MY_PROBES = None


def probe_objectives(probes, seed=7, start=SLOW_JVM):
    """What *probes* miss, in plain words ([] = all met)."""
    if probes is None:
        return None
    spec = PodSpec(start=start, startup_probe=probes.get("startup"),
                   liveness_probe=probes.get("liveness"), readiness_probe=probes.get("readiness"))
    missed = []
    pods, _ = run(spec, warm=False, until=100_000, seed=seed, rate=10)
    if sum(p.restarts for p in pods.pods):
        missed.append(f"{sum(p.restarts for p in pods.pods)} restarts while the JVMs started")
    ready = {p for t, p, what in pods.events if what == "in endpoints" and t <= 90_000}
    if len(ready) < 3:
        missed.append(f"only {len(ready)} of 3 pods served within 90 s")
    hung, _ = run(spec, warm=False, until=200_000, seed=seed, rate=10, hang=(0, 100_000))
    killed = [t for t, p, what in hung.events if p == "orders-0" and t >= 100_000 and "exit" in what]
    if not killed or killed[0] > 160_000:
        missed.append("a hung JVM was not restarted within 60 s")
    return missed

# %% tags=["check"] exercise="ch18-probes"
(Checks("ch18-probes")
 .true("MY_PROBES has a startup probe", lambda: MY_PROBES and MY_PROBES.get("startup") is not None,
       because="without one, liveness starts counting at once and kills a JVM that needs 40 s",
       hint="failureThreshold × periodSeconds must exceed the slowest start.")
 .equal("objectives missed (seed 7)", lambda: probe_objectives(MY_PROBES), [],
        hint="Restarts at start: a larger startup budget. A hung JVM not restarted: a "
             "liveness probe with a shorter failureThreshold × periodSeconds.")
 .report())

# %% tags=["hidden-check"] exercise="ch18-probes"
def _never_starts(probes):
    """Inject a JVM that never finishes starting: is it restarted within 150 s?"""
    spec = PodSpec(start=600_000.0, startup_probe=probes.get("startup"),
                   liveness_probe=probes.get("liveness"), readiness_probe=probes.get("readiness"))
    pods, _ = run(spec, warm=False, until=160_000, rate=5, replicas=1)
    return pods.count("exit") >= 1


(Checks("ch18-probes", hidden=True)
 .equal("objectives missed, seed 11", lambda: probe_objectives(MY_PROBES, seed=11), [])
 .equal("objectives missed, seed 12", lambda: probe_objectives(MY_PROBES, seed=12), [])
 .true("a JVM that never starts is restarted within 150 s", lambda: _never_starts(MY_PROBES),
       hint="The startup probe's budget should be a little above the slowest start, not minutes.")
 .report())

# %% [markdown] exercise={"id": "ch18-memory", "title": "A memory setting that survives the load", "outcome": "Size the heap against the container limit and the non-heap so that a JVM survives peak load with headroom", "points": 3, "minutes": 15}
# ## Exercise 2: a memory setting with headroom
#
# Choose `MY_MEMORY`, a `JvmMemory` built from the lab's `MEMORY` estimates
# (`JvmMemory(**MEMORY, ...)`, with your own `limit_mib`, `max_ram_percentage` or
# `xmx_mib`), so that under the standard load:
#
# * no pod is `OOMKilled` and no order fails with `OutOfMemoryError`;
# * even with the heap at its maximum, the container stays at least **10 %** below its
#   limit (`headroom_mib()`), and the limit is at most **1024 MiB**.
#
# The instructors' check runs a busier day, with twice the threads per pod (so twice the
# orders in flight in each heap).

# %%
### BEGIN SOLUTION
MY_MEMORY = JvmMemory(**MEMORY, max_ram_percentage=60)
### END SOLUTION
### STUB MY_MEMORY = None


def memory_objectives(memory, threads=None, rate=None):
    """What *memory* misses under the load, in plain words ([] = all met)."""
    if memory is None:
        return None
    missed = []
    if memory.limit_mib > 1024:
        missed.append(f"the limit is {memory.limit_mib:.0f} MiB (at most 1024)")
    if memory.headroom_mib() < 0.1 * memory.limit_mib:
        missed.append(f"only {memory.headroom_mib():.0f} MiB of headroom with a full heap "
                      f"(at least {0.1 * memory.limit_mib:.0f})")
    pods, result = run(PodSpec(memory=memory), threads=threads, rate=rate, until=45_000)
    if pods.count("OOMKilled"):
        missed.append(f"{pods.count('OOMKilled')} OOM kills")
    heap_errors = failures(result).get("OutOfMemoryError: Java heap space", 0)
    if heap_errors:
        missed.append(f"{heap_errors} orders failed with OutOfMemoryError: the heap is too small")
    return missed

# %% tags=["check"] exercise="ch18-memory"
(Checks("ch18-memory")
 .true("MY_MEMORY is a JvmMemory", lambda: MY_MEMORY and isinstance(MY_MEMORY, JvmMemory),
       hint="JvmMemory(**MEMORY, max_ram_percentage=...) or JvmMemory(**MEMORY, xmx_mib=...).")
 .equal("objectives missed (standard load)", lambda: memory_objectives(MY_MEMORY), [],
        hint="Heap + non-heap must stay below 90 % of the limit, and the heap must hold "
             "the live data plus every order in flight.")
 .report())

# %% tags=["hidden-check"] exercise="ch18-memory"
(Checks("ch18-memory", hidden=True)
 .equal("objectives missed, twice the threads and a busier day",
        lambda: memory_objectives(MY_MEMORY, threads=8, rate=70), [],
        hint="With 8 orders in flight per pod the live heap is 150 + 8 × 8 MiB; the default "
             "25 % heap is too small for it.")
 .report())

# %% [markdown] exercise={"id": "ch18-shutdown", "title": "A rolling restart that drops nothing", "outcome": "Choose preStop, draining and the grace period so that a rolling restart drops no requests, including slow ones", "points": 3, "minutes": 15}
# ## Exercise 3: a restart that drops nothing
#
# Choose `MY_SHUTDOWN`, a dict with `"pre_stop"` (ms), `"drain"` (bool) and `"grace"` (ms,
# at most 60 s), so that a rolling restart drops **no** order. The instructors' check
# injects a harder day: one order in a hundred takes 8 s, and endpoint changes take 3 s
# to reach every node.

# %%
### BEGIN SOLUTION
MY_SHUTDOWN = {"pre_stop": 5_000, "drain": True, "grace": 30_000}
### END SOLUTION
### STUB MY_SHUTDOWN = None


DROPS = ("connection refused", "connection reset", "no ready endpoints")


def dropped_in_restart(shutdown, slow_share=0.0, endpoint_delay=None):
    """Orders a rolling restart with *shutdown* (a dict) drops, by reason (a refused or
    reset connection, or no pod to send to; an 8 s order that times out is not a drop)."""
    if shutdown is None:
        return None
    spec = PodSpec(pre_stop=shutdown["pre_stop"], drain=shutdown["drain"], grace=shutdown["grace"])
    _pods, result = run(spec, restart_at=10_000, slow_share=slow_share, endpoint_delay=endpoint_delay)
    return {why: n for why, n in failures(result).items() if why in DROPS}

# %% tags=["check"] exercise="ch18-shutdown"
(Checks("ch18-shutdown")
 .true("the grace period is at most 60 s", lambda: MY_SHUTDOWN and MY_SHUTDOWN["grace"] <= 60_000,
       because="a long grace period makes every deploy and node drain slow",
       hint="terminationGracePeriodSeconds covers the preStop sleep and the draining.")
 .equal("orders dropped by a rolling restart", lambda: dropped_in_restart(MY_SHUTDOWN), {},
        hint="connection reset: drain; connection refused: keep serving (preStop) until the "
             "endpoint change has reached every node.")
 .report())

# %% tags=["hidden-check"] exercise="ch18-shutdown"
(Checks("ch18-shutdown", hidden=True)
 .equal("dropped with 8 s orders and a 3 s endpoint delay",
        lambda: dropped_in_restart(MY_SHUTDOWN, slow_share=0.01, endpoint_delay=3_000), {},
        hint="The grace period starts before preStop: preStop + the longest order must fit.")
 .report())

# %% [markdown]
# ## What to take away
#
# * A startup probe is how a slow JVM survives Kubernetes' defaults; size its budget a
#   little above the slowest start, and keep liveness for a JVM that is really stuck.
# * Probes share the request threads unless you give them their own: under load they time
#   out like customers do. Readiness may flap; liveness must not kill a busy pod.
# * The heap is not the container: `-Xmx` plus metaspace, threads and the rest must fit
#   under the limit, or the kernel ends the JVM with exit code 137.
# * A graceful shutdown is three things: leave the endpoints first (preStop), finish what
#   you hold (drain on SIGTERM), and do both within the grace period.
#
# Back to the chapter, *Containerization with Docker and Kubernetes*, for the Dockerfile,
# the JVM flags and the Clojure side of a graceful shutdown.
