#!/usr/bin/env python3
"""Benchmark: simulated requests per second through a 3-hop chain, labs vs. plain SimPy.

The workload (both sides): Poisson arrivals at 200 req/s; gateway -> orders -> payments;
exponential link latency (mean 1 ms) each way; exponential service times; concurrency
slots per service; a 50 ms timeout and up to 3 attempts with full-jitter backoff on the
orders -> payments hop. The labs side also journals every event, draws W3C trace/span
ids, runs a circuit breaker and builds nothing else (metrics are lazy).

Usage: scripts/bench_sim.py [--requests N] [--repeat R] [--browser]

With --browser the same functions also run in Pyodide, in Debian's Chromium, on the built
site's own Pyodide and wheels (build first: scripts/build).
Target (issue 3): labs within ~3x of plain SimPy; 10,000 requests in ~0.3 s on CPython.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simpy  # noqa: E402

import labs  # noqa: E402

RATE = 200.0


def run_labs(n: int, seed: int = 1) -> int:
    sim = labs.Simulation(seed=seed)
    sim.network.latency = labs.Exponential(1.0)
    breaker = labs.CircuitBreaker("payments", labs.BreakerConfig(minimum_number_of_calls=20,
                                                                 sliding_window_size=50))
    retry = labs.RetryPolicy(max_attempts=3, backoff=labs.Backoff.full_jitter(base=5, cap=100))
    w_gw, w_or, w_pay = labs.Exponential(0.5), labs.Exponential(2.0), labs.Exponential(3.0)

    def gateway(ctx, req):
        yield ctx.work(w_gw)
        r = yield ctx.call("orders", req.body)
        return r

    def orders(ctx, req):
        yield ctx.work(w_or)
        r = yield ctx.call("payments", req.body, timeout=50, retry=retry, breaker=breaker)
        return r

    def payments(ctx, req):
        yield ctx.work(w_pay)
        return {"ok": True}

    sim.service("gateway", gateway, concurrency=64)
    sim.service("orders", orders, concurrency=64)
    sim.service("payments", payments, concurrency=16)
    sim.load("gateway", rate=RATE, duration=n * 1000.0 / RATE)
    res = sim.run()
    return len(res.requests)


def run_simpy(n: int, seed: int = 1) -> int:
    env = simpy.Environment()
    rng = random.Random(seed)
    res = {"gateway": simpy.Resource(env, 64), "orders": simpy.Resource(env, 64),
           "payments": simpy.Resource(env, 16)}
    means = {"gateway": 0.5, "orders": 2.0, "payments": 3.0}
    nxt = {"gateway": "orders", "orders": "payments"}
    done = [0]

    def exp(mean):
        return -mean * math.log(1.0 - rng.random())

    def serve(name):
        with res[name].request() as slot:
            yield slot
            yield env.timeout(exp(means[name]))
            if name in nxt:
                yield env.process(call(name, nxt[name], 50.0 if name == "orders" else None))
        return 200

    def attempt(target, timeout):
        ev = env.event()

        def deliver(_e):
            p = env.process(serve(target))
            p.callbacks.append(lambda p: env.timeout(exp(1.0)).callbacks.append(
                lambda _x: ev.triggered or ev.succeed(p.value)))

        env.timeout(exp(1.0)).callbacks.append(deliver)
        if timeout is not None:
            env.timeout(timeout).callbacks.append(lambda _e: ev.triggered or ev.succeed(504))
        status = yield ev
        return status

    def call(src, target, timeout):
        tries = 3 if timeout else 1
        for a in range(1, tries + 1):
            status = yield env.process(attempt(target, timeout))
            if status == 200 or a == tries:
                return status
            yield env.timeout(rng.random() * min(100.0, 5.0 * 2 ** a))

    def client():
        status = yield env.process(attempt("gateway", None))
        done[0] += 1
        return status

    def arrivals():
        t_end = n * 1000.0 / RATE
        while True:
            gap = exp(1000.0 / RATE)
            if env.now + gap >= t_end:
                return
            yield env.timeout(gap)
            env.process(client())

    env.process(arrivals())
    env.run()
    return done[0]


def bench(fn, n: int, repeat: int) -> tuple[float, int]:
    best = math.inf
    count = 0
    for i in range(repeat):
        t0 = time.perf_counter()
        count = fn(n, seed=i + 1)
        best = min(best, time.perf_counter() - t0)
    return best, count


def measure(requests: int, repeat: int) -> dict:
    """Run both workloads; also the entry point when this file is executed in Pyodide."""
    t_simpy, n_simpy = bench(run_simpy, requests, repeat)
    t_labs, n_labs = bench(run_labs, requests, repeat)
    t_ref0 = time.perf_counter()
    labs.scenarios.reference(7).journal_hash()
    return {"simpy": (t_simpy, n_simpy), "labs": (t_labs, n_labs),
            "reference": time.perf_counter() - t_ref0}


def report(where: str, m: dict) -> None:
    (t_simpy, n_simpy), (t_labs, n_labs) = m["simpy"], m["labs"]
    print(f"\n{where}")
    print(f"{'workload':<34}{'requests':>10}{'seconds':>10}{'req/s':>12}")
    for name, t, c in (("plain SimPy, 3 hops", t_simpy, n_simpy),
                       ("labs, 3 hops + trace/retry/breaker", t_labs, n_labs)):
        print(f"{name:<34}{c:>10}{t:>10.3f}{c / t:>12,.0f}")
    print(f"ratio labs/simpy (time): {t_labs / t_simpy:.2f}x   (target <= 3x)")
    print(f"reference scenario run + journal hash: {m['reference']:.3f} s")


def in_browser(requests: int, repeat: int) -> dict:
    """The same measurement in the site's Pyodide, in Debian's Chromium."""
    import functools
    import json
    import threading
    from http.server import ThreadingHTTPServer

    root = Path(__file__).resolve().parent.parent
    from course.serve import Handler
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _TestHandler
    from playwright.sync_api import sync_playwright

    assert issubclass(_TestHandler, Handler)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_TestHandler, directory=str(root / "site")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    source = Path(__file__).read_text().replace("from __future__ import annotations", "")
    code = (f"import json\n__name__ = 'bench'\n__file__ = '/tmp/bench_sim.py'\n{source}\n"
            f"json.dumps(measure({requests}, {repeat}))")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/__tests__/pyodide.html"
                      "?packages=labs")
            page.wait_for_function("document.getElementById('status').textContent === 'ready'",
                                   timeout=120_000)
            out = json.loads(page.evaluate("code => runPython(code)", code))
            browser.close()
    finally:
        server.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also run in Pyodide in Chromium")
    a = ap.parse_args()
    report(f"CPython {sys.version.split()[0]}", measure(a.requests, a.repeat))
    if a.browser:
        report("Pyodide in Chromium (the site's own runtime)", in_browser(a.requests, a.repeat))


if __name__ == "__main__":
    main()
