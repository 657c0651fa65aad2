# %% [markdown]
# # Sidecars and a service mesh: what the proxies add, what they cost, and who retries
#
# The shop's checkout is a chain of three services: **orders** calls **payments**, which
# calls **fraud** (a scoring service the payments team runs). The same chain runs four
# ways, under the same seeded load:
#
# | data plane | the path of one call `orders → payments` |
# |---|---|
# | **none** | `orders → payments` |
# | **sidecar** (Istio sidecar mode) | `orders → orders-proxy → payments-proxy → payments` |
# | **ambient** (Istio ambient mode) | `orders → ztunnel-node-1 → ztunnel-node-2 → payments` |
# | **ambient + waypoint** | `orders → ztunnel-node-1 → waypoint → ztunnel-node-2 → payments` |
#
# The proxies are `labs.Mesh`: every proxy is a hop with its own latency, and a CPU and
# memory bill; Envoy proxies (sidecars, waypoints) retry with Istio's and Envoy's rules
# (`labs.MeshRetry`); ztunnels speak only TCP and mTLS. Then payments' pods die, first one
# of three, then all of them, and you count how many attempts reach payments when the
# application *and* the mesh retry. Last, one service is not meshed yet while the mesh
# requires mTLS.
#
# Every run is seeded and deterministic: change a knob and rerun the cells below it.

# %%
import labs
from labs import Backoff, Exponential, Mesh, MeshRetry, Response, RetryPolicy, Simulation, percentile

# %% [markdown]
# ## The knobs
#
# Times are virtual milliseconds. `PROXY_MS` is the latency one Envoy pass adds (request
# and response together); the ztunnel's default is 0.15 ms. These are the lab's
# assumptions, not measurements: your proxies, payloads and nodes decide the real figure.

# %% tags=["knob"]
SEED = 7
RATE = 30                 # orders per second
PROXY_MS = 0.5            # ms added by one pass through an Envoy proxy
APP_TIMEOUT = 1_000       # ms: orders' and payments' client timeout per attempt

# %%
END = 12_000                          # ms of traffic
ONE_POD_DOWN = (2_000, 5_000)         # payments pod 0 is gone
ALL_PODS_DOWN = (7_000, 10_000)       # every payments pod is gone
STANDARD = {"seed": 7, "rate": 30, "proxy_ms": 0.5}   # the world the checks use


def build(mode="sidecar", app_retry=None, mesh_retry=None, mtls="PERMISSIVE", unmeshed=(),
          waypoint=False, payments_retry=None, outages=(), fraud_down=None, hang=None,
          app_timeout=None, mesh_retries=None, seed=None, rate=None, proxy_ms=None,
          slow_payments=0.0, extra_caller=None):
    """Build and run the checkout; return (mesh, result).

    mode: "none", "sidecar" or "ambient"; app_retry: orders' RetryPolicy for payments;
    mesh_retry: the mesh's default MeshRetry (Istio's default when None); mesh_retries:
    {service: MeshRetry} per destination (a VirtualService each); payments_retry:
    payments' RetryPolicy for fraud; outages: payments crash windows (start, end, pod or
    None); fraud_down: (start, end) for every fraud pod; hang: (start, end, pod) in which
    that payments pod answers after 3 s; slow_payments: ms added to every payments call;
    extra_caller: (name, target, rate) an unmeshed batch job that calls target.
    """
    seed = SEED if seed is None else seed
    rate = RATE if rate is None else rate
    proxy_ms = PROXY_MS if proxy_ms is None else proxy_ms
    app_timeout = APP_TIMEOUT if app_timeout is None else app_timeout
    sim = Simulation(seed=seed)
    sim.network.latency = Exponential(mean=0.5)
    mesh = Mesh(sim, mode, retry=mesh_retry, mtls=mtls,
                sidecar=labs.Proxy.envoy_sidecar(latency=proxy_ms),
                waypoint=labs.Proxy.waypoint(latency=proxy_ms))
    per_route = mesh_retries or {}

    def orders(ctx, req):
        yield ctx.work(Exponential(mean=2.0))
        paid = yield ctx.call("payments", {"order": req.body["id"]}, timeout=app_timeout,
                              retry=app_retry)
        if not paid.ok:
            return Response.error(503, f"payments: {paid.reason or paid.status}")
        return {"status": "placed"}

    def payments(ctx, req):
        yield ctx.work(Exponential(mean=4.0) if not slow_payments else 4.0 + slow_payments)
        if hang and hang[0] <= ctx.now < hang[1] and ctx.instance == hang[2]:
            yield ctx.work(3_000.0)                       # accepted, then stuck
        scored = yield ctx.call("fraud", req.body, timeout=app_timeout, retry=payments_retry)
        if not scored.ok:
            return Response.error(503, f"fraud: {scored.reason or scored.status}")
        return {"charged": True}

    def fraud(ctx, req):
        yield ctx.work(Exponential(mean=3.0))
        return {"score": 0.1}

    def batch_job(ctx, req):
        resp = yield ctx.call(extra_caller[1], req.body, timeout=app_timeout)
        return resp

    mesh.service("orders", orders, meshed="orders" not in unmeshed, node="node-1",
                 instances=2, concurrency=32, retry=per_route.get("orders"))
    mesh.service("payments", payments, meshed="payments" not in unmeshed, node="node-2",
                 instances=3, concurrency=16, waypoint=waypoint, retry=per_route.get("payments"))
    mesh.service("fraud", fraud, meshed="fraud" not in unmeshed, node="node-3",
                 instances=2, concurrency=16, waypoint=waypoint, retry=per_route.get("fraud"))
    for start, end, pod in outages:
        mesh.crash_pod("payments", start, end, instance=pod)
    if fraud_down:
        mesh.crash_pod("fraud", *fraud_down)
    sim.load("orders", rate=rate, duration=END, timeout=5_000)
    if extra_caller:
        mesh.service(extra_caller[0], batch_job, meshed=False, node="node-3")
        sim.load(extra_caller[0], rate=extra_caller[2], duration=END)
    return mesh, sim.run()


def orders_in(result, window):
    """Client requests to orders that started in [start, end)."""
    return [q for q in result.requests if q.service == "orders" and window[0] <= q.start < window[1]]


def error_pct(requests):
    return round(100 * sum(not q.ok for q in requests) / len(requests), 2)

# %% [markdown]
# ## 1. The same chain with and without proxies
#
# No faults yet. Four data planes, the same arrivals (the load draws from its own random
# stream, so every design sees the same customers at the same instants).

# %%
PLANES = {"none": ("none", False), "sidecar": ("sidecar", False),
          "ambient": ("ambient", False), "ambient + waypoint": ("ambient", True)}
quiet = {name: build(mode, waypoint=wp) for name, (mode, wp) in PLANES.items()}
assert len({tuple(q.start for q in r.requests) for _, r in quiet.values()}) == 1  # same arrivals


def passes_per_order(mesh, result):
    """Proxy passes per order: requests the proxies handled / orders."""
    handled = sum(1 for row in result.rows if row[2] == "span.start" and row[12] == "server"
                  and row[3] in mesh.proxies)
    return handled / len(result.requests)


base = quiet["none"][1].requests
latency_rows = []
for name, (mesh, result) in quiet.items():
    lat = [q.latency for q in result.requests]
    latency_rows.append((name, {
        "p50 ms": round(percentile(lat, 50), 2), "p99 ms": round(percentile(lat, 99), 2),
        "proxy passes per order": round(passes_per_order(mesh, result), 1),
        "p50 added ms": round(percentile(lat, 50) - percentile([q.latency for q in base], 50), 2)}))
LATENCY = dict(latency_rows)
labs.quote("p50_none_ms", LATENCY["none"]["p50 ms"], "{:.1f}")
labs.quote("p50_sidecar_ms", LATENCY["sidecar"]["p50 ms"], "{:.1f}")
labs.quote("p50_added_sidecar_ms", LATENCY["sidecar"]["p50 added ms"], "{:.1f}")
labs.quote("p50_added_waypoint_ms", LATENCY["ambient + waypoint"]["p50 added ms"], "{:.1f}")
labs.quote("passes_sidecar", LATENCY["sidecar"]["proxy passes per order"], "{:.0f}")
labs.viz.table(latency_rows, title=f"The same {len(base)} orders, four data planes")

# %% [markdown]
# Read the columns. With sidecars every call crosses **two** proxies (the caller's and the
# callee's), so the chain `orders → payments → fraud` costs four passes per order, and the
# added median is about four times `PROXY_MS`. Ambient without a waypoint adds only the
# two ztunnel passes per call, which are cheaper (L4 only). A waypoint puts an Envoy back
# in the path *and* adds a network hop (the waypoint usually runs on another node), so it
# costs the most latency here. The picture of one order through sidecars:

# %%
sidecar_run = quiet["sidecar"][1]
labs.viz.sequence(sidecar_run, trace_id=sidecar_run.requests[0].trace_id)

# %%
labs.viz.bar({name: row["p50 added ms"] for name, row in latency_rows},
             x="data plane", y="median latency added per order (ms)",
             title="What the proxies add to the median order")

# %% [markdown]
# ## 2. What the proxies cost
#
# `mesh.cost_table(result, duration)` bills each proxy: CPU *used* (proportional to the
# requests it handled, from Istio 1.24's benchmark figures), memory used, and what each
# proxy *requests* from Kubernetes (Istio's Helm defaults). Requests are what the scheduler
# reserves whether or not the proxy is busy, so they are what you pay for in nodes.

# %%
side_mesh, side_run = quiet["sidecar"]
amb_mesh, amb_run = quiet["ambient + waypoint"]
side_cost = side_mesh.cost_table(side_run, END)
amb_cost = amb_mesh.cost_table(amb_run, END)
labs.quote("sidecar_cpu_requested_m", dict(side_cost)["total"]["cpu requested (m)"], "{:.0f}")
labs.quote("sidecar_mem_requested_mib", dict(side_cost)["total"]["memory requested (MiB)"], "{:.0f}")
labs.quote("ambient_cpu_requested_m", dict(amb_cost)["total"]["cpu requested (m)"], "{:.0f}")
labs.quote("ambient_mem_requested_mib", dict(amb_cost)["total"]["memory requested (MiB)"], "{:.0f}")
labs.viz.table(side_cost, title="Sidecar mode: 7 pods, 7 sidecars")

# %%
labs.viz.table(amb_cost, title="Ambient mode: 3 nodes, 3 ztunnels, 1 waypoint")

# %% [markdown]
# With seven pods on three nodes, ambient mode *requests* more memory than sidecars: a
# ztunnel's default request (512 MiB) is sized for a large cluster, and there is one per
# node whatever runs on it. The sidecar bill grows with **pods**, the ambient bill with
# **nodes** (plus waypoints). So the comparison turns on pods per node: here is the
# requested CPU and memory per node, computed from the same profiles, as a node fills up.

# %%
SIDE, ZT, WP = labs.Proxy.envoy_sidecar(), labs.Proxy.ztunnel(), labs.Proxy.waypoint()
density = {"sidecar CPU (m)": [], "ambient CPU (m)": [], "sidecar memory (MiB)": [],
           "ambient memory (MiB)": []}
for pods in range(1, 31):
    density["sidecar CPU (m)"].append((pods, SIDE.request_cpu * pods))
    density["ambient CPU (m)"].append((pods, ZT.request_cpu))
    density["sidecar memory (MiB)"].append((pods, SIDE.request_memory * pods))
    density["ambient memory (MiB)"].append((pods, ZT.request_memory))
labs.viz.line(density, x="meshed pods on the node", y="requested by the mesh on that node",
              title="Requested per node: sidecars grow with pods, a ztunnel does not (waypoints not shown)")

# %% [markdown]
# Break-even on one node: CPU at 200 / 100 = 2 pods, memory at 512 / 128 = 4 pods. Past
# that, every pod you add costs a sidecar 100m and 128 MiB of requests and costs ambient
# nothing more at L4; a waypoint (100m, 128 MiB, per namespace or per service that needs
# L7) is the price of getting L7 policy, retries included, back.
#
# ## 3. Who retries? An outage, counted in attempts
#
# Payments loses **one** of its three pods from 2 s to 5 s, then **all** of them from 7 s
# to 10 s. Connections to a dead pod are refused. Four designs, sidecar mode:
#
# * **nobody** retries: the mesh's retries are off (`attempts: 0`) and orders does not retry;
# * **app**: orders retries with Resilience4j's default of 3 attempts (jittered backoff);
#   the mesh does not;
# * **mesh**: Istio's default policy, 2 retries on `connect-failure` (a refused connection
#   is one), in orders' sidecar; orders does not retry;
# * **both**: the two together, which is what you get when a team adds a mesh to services
#   that already retry, and leaves Istio's default on.

# %%
OUTAGES = [(ONE_POD_DOWN[0], ONE_POD_DOWN[1], 0), (ALL_PODS_DOWN[0], ALL_PODS_DOWN[1], None)]
APP_RETRY = RetryPolicy(max_attempts=3, backoff=Backoff.full_jitter(base=50, cap=200))
WHO = {"nobody": (None, MeshRetry.off()), "app": (APP_RETRY, MeshRetry.off()),
       "mesh": (None, MeshRetry.istio_default()), "both": (APP_RETRY, MeshRetry.istio_default())}


def outage_numbers(mesh, result):
    """Errors while one pod is down, and attempts per order reaching payments while all are."""
    everything_down = orders_in(result, ALL_PODS_DOWN)
    return {"errors, one pod down %": error_pct(orders_in(result, ONE_POD_DOWN)),
            "errors, all down %": error_pct(everything_down),
            "attempts per order, all down": round(
                mesh.attempts(result, "payments", *ALL_PODS_DOWN) / len(everything_down), 2)}


who = {name: build("sidecar", app_retry=a, mesh_retry=m, outages=OUTAGES) for name, (a, m) in WHO.items()}
WHO_NUMBERS = {name: outage_numbers(*run) for name, run in who.items()}
for name in WHO:
    labs.quote(f"attempts_{name}", WHO_NUMBERS[name]["attempts per order, all down"], "{:.1f}")
    labs.quote(f"errors_one_pod_{name}", WHO_NUMBERS[name]["errors, one pod down %"], "{:.1f}")
labs.viz.table(list(WHO_NUMBERS.items()), title="Payments loses one pod, then all of them")

# %% [markdown]
# Retries are worth having while **one** pod is gone: a retry almost always lands on a
# live pod, and the mesh's retries are the better ones here (Envoy's backoff starts at
# 0–24 ms, and the sidecar retries right next to the caller, without a trip back through
# the application). While **every** pod is gone, retries save almost nothing (nearly
# every order fails in all four designs) and multiply the load: 3 attempts from the app,
# 3 from the mesh, and 3 × 3 ≈ 9 when both retry. That is what a recovering payments
# would face the moment its first pod comes back. Attempts per second reaching payments'
# pods:

# %%
def attempts_per_second(mesh, result, service="payments", bucket=500):
    counts = {}
    for row in result.rows:
        if (row[2] == "send" and row[4] == f"{service}-proxy" and row[3] != service
                and row[12] == "request"):
            counts[int(row[0] // bucket)] = counts.get(int(row[0] // bucket), 0) + 1
    return [(k * bucket / 1000, counts.get(k, 0) * 1000 / bucket) for k in range(int(END // bucket))]


labs.viz.line({name: attempts_per_second(*who[name]) for name in ("app", "mesh", "both")},
              x="time (s)", y="attempts per second reaching payments",
              title="Retries at two layers multiply during the outage")

# %% [markdown]
# One order in the outage, with both layers retrying, as messages: each of orders' three
# attempts goes to its sidecar, which tries payments three times (the first try and two
# retries, a few ms apart) and answers `503 upstream connect error`; then orders backs off
# and tries again.

# %%
both_mesh, both_run = who["both"]
in_outage = orders_in(both_run, ALL_PODS_DOWN)[5]
labs.viz.sequence(both_run, trace_id=in_outage.trace_id, limit=60)

# %% [markdown]
# ### One more layer: fraud goes down
#
# Now payments also retries its call to fraud (3 attempts), and every sidecar keeps
# Istio's default. When fraud's pods die, each order can reach fraud up to
# (3 × 3) × (3 × 3) = 81 times: orders' app and sidecar retry payments, and *each* of
# those attempts makes payments' app and sidecar retry fraud. Timeouts and backoffs cut
# some of that; the run shows how much is left.

# %%
FRAUD_DOWN = (4_000, 8_000)
deep_mesh, deep = build("sidecar", app_retry=APP_RETRY, payments_retry=APP_RETRY,
                        mesh_retry=MeshRetry.istio_default(), fraud_down=FRAUD_DOWN)
deep_orders = orders_in(deep, FRAUD_DOWN)
deep_attempts = deep_mesh.attempts(deep, "fraud", *FRAUD_DOWN) / len(deep_orders)
print(f"attempts reaching fraud per order while it is down: "
      f"{labs.quote('attempts_fraud_two_layers', deep_attempts, '{:.1f}')} "
      f"(at most 81); orders failed: {error_pct(deep_orders)} %")

# %% [markdown]
# ## 4. mTLS by policy, with one service not meshed yet
#
# The payments team has not added the injection label to its namespace yet, so payments
# has **no sidecar**. Orders (meshed) still reaches payments: Istio's auto mTLS sends
# plaintext to a pod without a proxy. But payments calls fraud in plaintext, and fraud's
# sidecar decides what to do with it, by its `PeerAuthentication` mode.

# %%
mtls_rows = []
mtls_runs = {}
for mode in ("PERMISSIVE", "STRICT"):
    mesh, result = build("sidecar", mtls=mode, unmeshed=("payments",))
    mtls_runs[mode] = (mesh, result)
    mtls_rows.append((mode, {
        "orders placed %": round(100 * sum(q.ok for q in result.requests) / len(result.requests), 1),
        "plaintext accepted by fraud": int(result.metrics.counter("fraud-proxy", "mtls.plaintext")),
        "plaintext rejected by fraud": int(result.metrics.counter("fraud-proxy", "mtls.rejected"))}))
MTLS = dict(mtls_rows)
labs.quote("strict_placed_pct", MTLS["STRICT"]["orders placed %"], "{:.0f}")
labs.quote("permissive_placed_pct", MTLS["PERMISSIVE"]["orders placed %"], "{:.0f}")
labs.quote("permissive_plaintext", MTLS["PERMISSIVE"]["plaintext accepted by fraud"], "{}")
labs.viz.table(mtls_rows, title="payments has no sidecar; fraud's PeerAuthentication decides")

# %% [markdown]
# STRICT breaks checkout completely, and loudly: payments' HTTP client sees its
# connection reset. PERMISSIVE breaks nothing, and that is the problem: every fraud check
# travels in plaintext, unauthenticated, and the only sign is a counter and a warning in
# fraud's proxy log. What an order sees under STRICT:

# %%
strict_run = mtls_runs["STRICT"][1]
print(strict_run.requests[0].reason)
labs.viz.sequence(strict_run, trace_id=strict_run.requests[0].trace_id)

# %% [markdown] exercise={"id": "ch17-who-retries", "title": "Retry in one layer only", "outcome": "Remove double retries between the application and the mesh while keeping the error budget when one pod dies", "points": 3, "minutes": 15}
# ## Exercise 1: retry in one layer only
#
# Choose `MY_APP_RETRY` (orders' `RetryPolicy` for payments, or `None` for no retry) and
# `MY_MESH_RETRY` (the mesh's `MeshRetry`) for the outage above, so that:
#
# * while **one** payments pod is down, at most **2 %** of orders fail (the error budget);
# * while **all** are down, at most **3.2 attempts** per order reach payments (no more
#   than one layer's worth of retries).
#
# `MeshRetry(attempts=n, retry_on="...")`: `attempts` counts **retries** (Istio), so 2 means
# up to 3 requests; `RetryPolicy(max_attempts=n)` counts the first call too (Resilience4j).
# The checks run the standard world (seed 7), whatever the knobs say now.

# %%
### BEGIN SOLUTION
MY_APP_RETRY = None
MY_MESH_RETRY = MeshRetry.istio_default()
### END SOLUTION
### STUB MY_APP_RETRY = RetryPolicy(max_attempts=3, backoff=Backoff.full_jitter(base=50, cap=200))
### STUB MY_MESH_RETRY = None


def retry_objectives(app_retry, mesh_retry, seed=7, outages=None):
    """What this pair of policies misses in the outage, in plain words ([] = both met)."""
    if mesh_retry is None:
        return None
    world = dict(STANDARD, seed=seed)
    numbers = outage_numbers(*build("sidecar", app_retry=app_retry, mesh_retry=mesh_retry,
                                    outages=outages or OUTAGES, **world))
    missed = []
    if numbers["errors, one pod down %"] > 2:
        missed.append(f"error budget: {numbers['errors, one pod down %']} % of orders failed "
                      "while one pod was down (at most 2 %)")
    if numbers["attempts per order, all down"] > 3.2:
        missed.append(f"overload: {numbers['attempts per order, all down']} attempts per order "
                      "reached payments while it was down (at most 3.2)")
    return missed

# %% tags=["check"] exercise="ch17-who-retries"
(labs.Checks("ch17-who-retries")
 .true("MY_MESH_RETRY is a MeshRetry",
       lambda: None if MY_MESH_RETRY is None else isinstance(MY_MESH_RETRY, MeshRetry),
       because="the check needs the mesh's policy; MeshRetry.off() is a valid choice",
       hint="MeshRetry() is Istio's default; MeshRetry.off() turns mesh retries off.")
 .equal("objectives missed (seed 7)", lambda: retry_objectives(MY_APP_RETRY, MY_MESH_RETRY), [],
        hint="Attempts multiply: (app attempts) x (1 + mesh retries). Keep retries in one layer, "
             "and keep enough of them there for a pod that is gone.")
 .report())

# %% tags=["hidden-check"] exercise="ch17-who-retries"
# The failure moved: another pod dies first, on other seeds, and the whole outage is longer.
_other = [(ONE_POD_DOWN[0], ONE_POD_DOWN[1], 2), (6_000, 11_000, None)]
(labs.Checks("ch17-who-retries", hidden=True)
 .equal("objectives missed, seed 11", lambda: retry_objectives(MY_APP_RETRY, MY_MESH_RETRY, seed=11), [])
 .equal("objectives missed, seed 12, pod 2 dies, a longer outage",
        lambda: retry_objectives(MY_APP_RETRY, MY_MESH_RETRY, seed=12, outages=_other), [])
 .report())

# %% [markdown] exercise={"id": "ch17-timeouts", "title": "Put the timeouts where they belong", "outcome": "Choose a per-try timeout, a route timeout and retry conditions in the mesh, and an application timeout that outlasts them, for a hung pod", "points": 3, "minutes": 20}
# ## Exercise 2: where does the timeout belong?
#
# From 2 s to 10 s payments **pod 1 hangs**: it accepts requests and answers three
# seconds later. Orders calls with one attempt (no app retry), so everything is up to the
# mesh. Fill in `MY_TIMEOUTS` (times in ms):
#
# * `"per_try_timeout"` and `"route_timeout"`: the mesh's `perTryTimeout` and route
#   `timeout` for payments (the route timeout includes every retry);
# * `"retry_on"` and `"attempts"`: the mesh's retry conditions and retries;
# * `"app_timeout"`: orders' own timeout on its call.
#
# The objectives, while the pod hangs: at most **2 %** of orders fail and their p99 is at
# most **450 ms**; and the application must not give up before the mesh does
# (`app_timeout >= route_timeout`), or the mesh keeps retrying for a caller that left.
# Hint: read which Envoy conditions retry a *per-try timeout* in `help(MeshRetry)`.

# %%
### BEGIN SOLUTION
MY_TIMEOUTS = {"per_try_timeout": 40, "route_timeout": 400, "retry_on": "connect-failure,gateway-error",
               "attempts": 4, "app_timeout": 1_000}
### END SOLUTION
### STUB MY_TIMEOUTS = {"per_try_timeout": None, "route_timeout": None,
### STUB                "retry_on": "connect-failure,refused-stream,unavailable,cancelled",
### STUB                "attempts": 2, "app_timeout": 1_000}

HANG = (2_000, 10_000, 1)


def timeout_objectives(t, seed=7, hang=HANG, slow_payments=0.0):
    """What MY_TIMEOUTS misses while a payments pod hangs, in plain words ([] = all met)."""
    if t is None or t.get("per_try_timeout") is None:
        return None
    policy = MeshRetry(attempts=t["attempts"], retry_on=t["retry_on"],
                       per_try_timeout=t["per_try_timeout"], timeout=t["route_timeout"])
    _, result = build("sidecar", mesh_retries={"payments": policy}, hang=hang,
                      app_timeout=t["app_timeout"], slow_payments=slow_payments,
                      **dict(STANDARD, seed=seed))
    during = orders_in(result, hang[:2])
    p99 = percentile([q.latency if q.latency is not None else 5_000.0 for q in during], 99)
    missed = []
    if error_pct(during) > 2:
        missed.append(f"error budget: {error_pct(during)} % of orders failed while the pod hung "
                      "(at most 2 %)")
    if p99 > 450:
        missed.append(f"latency: p99 {p99:.0f} ms while the pod hung (at most 450 ms)")
    if t["route_timeout"] is None or t["app_timeout"] < t["route_timeout"]:
        missed.append("ordering: the app's timeout must be at least the mesh's route timeout "
                      "(and the route needs one)")
    return missed

# %% tags=["check"] exercise="ch17-timeouts"
(labs.Checks("ch17-timeouts")
 .true("a per-try timeout is set", lambda: MY_TIMEOUTS["per_try_timeout"],
       because="without perTryTimeout an attempt at the hung pod waits for the whole route "
               "timeout, so no retry ever happens",
       hint="A little above payments' healthy p99 (a few tens of ms here).")
 .equal("objectives missed (seed 7)", lambda: timeout_objectives(MY_TIMEOUTS), [],
        hint="Envoy retries a per-try timeout only under '5xx' or 'gateway-error'.")
 .report())

# %% tags=["hidden-check"] exercise="ch17-timeouts"
# A different pod hangs, on another seed; then a bad deploy makes every payments call
# 25 ms slower while pod 0 hangs: a per-try timeout set just above today's latency turns
# that slowness into an outage.
(labs.Checks("ch17-timeouts", hidden=True)
 .equal("objectives missed, seed 11, pod 0 hangs",
        lambda: timeout_objectives(MY_TIMEOUTS, seed=11, hang=(2_000, 10_000, 0)), [])
 .equal("objectives missed, seed 12, pod 0 hangs and payments is 25 ms slower",
        lambda: timeout_objectives(MY_TIMEOUTS, seed=12, hang=(2_000, 10_000, 0),
                                   slow_payments=25.0), [])
 .report())

# %% [markdown] exercise={"id": "ch17-plaintext", "title": "Find who still speaks plaintext", "outcome": "List the unmeshed callers a PERMISSIVE mesh accepts, from the proxies' logs, before switching to STRICT", "points": 2, "minutes": 10}
# ## Exercise 3: who still speaks plaintext?
#
# Before switching a namespace to STRICT you need the list of callers that would break.
# In PERMISSIVE mode every proxy that accepts a plaintext request writes a warning log
# line `"plaintext accepted"` with two fields: `source` (the caller) and `workload` (the
# service it called). Write `plaintext_callers(result)`: the sorted list of distinct
# `(workload, source)` pairs. `result.logs(level="warn")` gives log lines as dicts.

# %%
def plaintext_callers(result):
    ### BEGIN SOLUTION
    return sorted({(line["workload"], line["source"]) for line in result.logs(level="warn")
                   if line["message"] == "plaintext accepted"})
    ### END SOLUTION
    ### STUB return None

# %% tags=["check"] exercise="ch17-plaintext"
(labs.Checks("ch17-plaintext")
 .equal("payments is not meshed (the run above)",
        lambda: plaintext_callers(mtls_runs["PERMISSIVE"][1]), [("fraud", "payments")],
        hint="Keep the lines whose message is 'plaintext accepted'; read the two fields.")
 .equal("everything meshed: nobody", lambda: plaintext_callers(quiet["sidecar"][1]), [])
 .report())

# %% tags=["hidden-check"] exercise="ch17-plaintext"
# A caller nobody listed: a nightly reports job, not meshed, calls orders a few times;
# and the same shop in ambient mode, where the logs come from ztunnels, not sidecars.
_, _batch = build("sidecar", extra_caller=("reports", "orders", 2))
_, _ambient = build("ambient", unmeshed=("payments",), extra_caller=("reports", "orders", 2))
(labs.Checks("ch17-plaintext", hidden=True)
 .equal("an unlisted batch job", lambda: plaintext_callers(_batch), [("orders", "reports")])
 .equal("ambient mode, two plaintext callers", lambda: plaintext_callers(_ambient),
        [("fraud", "payments"), ("orders", "reports")])
 .report())

# %% [markdown] exercise={"id": "ch17-cost", "title": "Price the data plane", "outcome": "Compute the CPU and memory a sidecar or an ambient data plane requests from its pod, node and waypoint counts", "points": 2, "minutes": 10}
# ## Exercise 4: price the data plane
#
# Write `requested(mode, pods, nodes, waypoints=0)`: the CPU (millicores) and memory
# (MiB) the data plane **requests** from Kubernetes, as a pair, with the defaults used in
# this lab: a sidecar requests 100m and 128 MiB per meshed pod; ambient requests 200m and
# 512 MiB per node (one ztunnel each) plus 100m and 128 MiB per waypoint pod. In mode
# `"none"` it is `(0, 0)`.

# %%
def requested(mode, pods, nodes, waypoints=0):
    ### BEGIN SOLUTION
    if mode == "sidecar":
        return (SIDE.request_cpu * pods, SIDE.request_memory * pods)
    if mode == "ambient":
        return (ZT.request_cpu * nodes + WP.request_cpu * waypoints,
                ZT.request_memory * nodes + WP.request_memory * waypoints)
    return (0, 0)
    ### END SOLUTION
    ### STUB return None

# %% tags=["check"] exercise="ch17-cost"
(labs.Checks("ch17-cost")
 .equal("the shop in sidecar mode (7 pods, 3 nodes)", lambda: requested("sidecar", 7, 3), (700, 896))
 .equal("the shop in ambient mode with a waypoint", lambda: requested("ambient", 7, 3, 1), (700, 1664))
 .equal("no mesh", lambda: requested("none", 7, 3), (0, 0))
 .report())

# %% tags=["hidden-check"] exercise="ch17-cost"
_side_total = dict(side_cost)["total"]
_amb_total = dict(amb_cost)["total"]
(labs.Checks("ch17-cost", hidden=True)
 .equal("agrees with the lab's sidecar bill",
        lambda: requested("sidecar", 7, 3), (_side_total["cpu requested (m)"], _side_total["memory requested (MiB)"]))
 .equal("agrees with the lab's ambient bill",
        lambda: requested("ambient", 7, 3, 1), (_amb_total["cpu requested (m)"], _amb_total["memory requested (MiB)"]))
 .equal("200 pods on 10 nodes, ambient, 4 waypoints", lambda: requested("ambient", 200, 10, 4), (2400, 5632))
 .equal("200 pods on 10 nodes, sidecars", lambda: requested("sidecar", 200, 10), (20000, 25600))
 .report())

# %% [markdown]
# ## What to take away
#
# * A sidecar is two more hops per call and a bill per pod; ambient moves the L4 work to
#   one proxy per node and charges L7 (a waypoint) only where you ask for it.
# * Retries at two layers multiply. Decide who retries (usually the layer closest to the
#   failure that can retry cheaply and knows the call is safe to repeat) and turn the other off.
# * A per-try timeout is what lets a mesh retry a hung pod, and only under `5xx` or
#   `gateway-error`; the application's timeout must outlast the mesh's route timeout.
# * PERMISSIVE mTLS keeps unmeshed callers working and hides them; find them before STRICT.
#
# Back to the chapter, *Sidecar Pattern and Service Mesh Integration*, for the same
# decisions in Istio's and Linkerd's configuration and in Clojure.
