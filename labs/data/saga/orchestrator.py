"""The orchestrator: a service that drives a saga's steps, retries the unknown, compensates
newest-first and resumes after a crash. See :mod:`labs.data.saga`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...kernel.errors import ConfigError, _check_int, _check_number
from ...kernel.messages import Response
from ...resilience.backoff import Backoff
from ...resilience.retry import RetryPolicy

from .definition import Saga
from .definition import TERMINAL

__all__ = ['Orchestrator']


# -- the orchestrator ---------------------------------------------------------------------
@dataclass
class _Run:
    order: dict
    phase: str = "forward"
    at: int = 0
    undo: list = field(default_factory=list)
    driver: int = 1
    claimed: int = 1
    updated: float = 0.0


class Orchestrator:
    """The saga's Process Manager: a simulated service that drives steps with ``ctx.call``.

    - A step's outcome is *ok* (2xx), *rejected* (409 or another 4xx: a business "no") or
      *unknown* (timeout, 5xx, refused). An unknown outcome is retried with the **same**
      command and key. Before the pivot, after *max_attempts* unknown outcomes the
      orchestrator gives up and compensates, **including** the uncertain step; at and after
      the pivot it never gives up.
    - Compensations run newest first and are retried until they succeed.
    - ``store`` is the orchestrator's database: one record per saga, written before each
      command is sent. It survives a crash; in-flight drivers do not. Every *recover_every*
      ms a recovery tick resumes sagas not updated for *stale_after* ms, under a new fencing
      token so that a slow old driver stops at its next step.
    """

    def __init__(self, saga: Saga, name: str = "order-saga", timeout: float = 40.0,
                 max_attempts: int = 4, backoff: Backoff | None = None,
                 stale_after: float = 2000.0) -> None:
        if not isinstance(saga, Saga):
            raise ConfigError(f"saga must be a labs.saga.Saga, got {saga!r}.")
        self.saga = saga
        self.name = name
        self.timeout = _check_number("timeout", timeout, low=0.0, low_open=True,
                                     fix="Per-attempt timeout in ms, e.g. 40.")
        self.max_attempts = _check_int("max_attempts", max_attempts, low=1,
                                       fix="Attempts before giving up on a step before the pivot.")
        self.backoff = backoff if backoff is not None else Backoff.full_jitter(base=10, cap=200)
        self.stale_after = _check_number("stale_after", stale_after, low=0.0, low_open=True,
                                         fix="ms without progress after which a saga is resumed.")
        self.store: dict[str, _Run] = {}

    # -- wiring ---------------------------------------------------------------------------
    def install(self, sim, orders: list[dict], rate: float = 20.0,
                recover_every: float | None = 500.0, horizon: float = 30_000.0,
                concurrency: int = 256):
        """Register the orchestrator, one "start" request per order, and recovery ticks."""
        sim.service(self.name, self.handler, concurrency=concurrency, queue=10_000)
        _start_load(sim, self.name, orders, rate)
        if recover_every is not None:
            _check_number("recover_every", recover_every, low=0.0, low_open=True,
                          fix="ms between recovery ticks, or None for no recovery.")
            sim.load(self.name, rate=1000.0 / recover_every, duration=horizon,
                     body=lambda rng, i: {"recover": True}, arrivals="uniform",
                     start=recover_every / 2)
        return self

    # -- the service ----------------------------------------------------------------------
    def handler(self, ctx, req):
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("recover"):
            return self._recover(ctx)
        if "resume" in body:
            run = self.store.get(body["resume"])
            if run is None or run.driver != body.get("token") or run.claimed == run.driver:
                return {"resumed": False}      # stale, or a duplicate of the resume message
            run.claimed = run.driver
            yield from self._drive(ctx, body["resume"], run.driver)
            return {"saga": body["resume"], "status": run.phase}
        order = body.get("start")
        if not isinstance(order, dict) or "id" not in order:
            return Response.error(400, "start needs an order dict with an 'id'")
        sid = _saga_id(order)
        run = self.store.get(sid)
        if run is not None:          # a client retry or duplicate: never start twice
            return {"saga": sid, "status": run.phase}
        run = self.store[sid] = _Run(dict(order), updated=ctx.now)
        ctx.log("saga", saga=sid, state="started", **_order_fields(order))
        yield from self._drive(ctx, sid, run.driver)
        return {"saga": sid, "status": run.phase}

    def _recover(self, ctx) -> dict:
        n = 0
        for sid, run in self.store.items():          # insertion order: deterministic
            if run.phase in TERMINAL or ctx.now - run.updated < self.stale_after:
                continue
            run.driver += 1
            run.updated = ctx.now
            n += 1
            ctx.log("saga", saga=sid, state="resumed", driver=run.driver)
            ctx.call(self.name, {"resume": sid, "token": run.driver}, timeout=None)
        return {"resumed": n}

    def _drive(self, ctx, sid: str, token: int):
        run = self.store[sid]
        steps = self.saga.steps
        pivot = self.saga.pivot
        while run.phase in ("forward", "compensating") and run.driver == token:
            if run.phase == "forward":
                i = run.at
                step = steps[i]
                may_give_up = step.compensation is not None and (pivot is None or i < pivot)
                outcome = yield from self._send(ctx, sid, run, token, step, step.action, True,
                                                may_give_up)
                if outcome == "fenced":
                    return
                if outcome == "ok":
                    if step.compensation is not None and (pivot is None or i < pivot):
                        run.undo.append(i)
                    run.at = i + 1
                    if run.at == len(steps):
                        self._state(ctx, sid, run, "committed")
                    continue
                if outcome == "gave up" and step.compensation is not None:
                    run.undo.append(i)          # outcome unknown: undo it too
                if outcome == "rejected" and pivot is not None and i > pivot:
                    # a retriable step must not say no; keep trying rather than undo the pivot
                    ctx.log("saga", level="error", saga=sid, state="retrying", step=step.name)
                    yield ctx.sleep(self.backoff.delay(1, ctx.rng))
                    continue
                self._state(ctx, sid, run, "compensating", step=step.name, reason=outcome)
            else:
                if not run.undo:
                    self._state(ctx, sid, run, "compensated")
                    continue
                i = run.undo[-1]
                step = steps[i]
                outcome = yield from self._send(ctx, sid, run, token, step, step.compensation,
                                                False, False)
                if outcome == "fenced":
                    return
                if outcome == "rejected":
                    ctx.log("saga", level="error", saga=sid, state="compensation refused",
                            step=step.name)
                if run.undo and run.undo[-1] == i:
                    run.undo.pop()

    def _state(self, ctx, sid: str, run: _Run, state: str, **extra) -> None:
        run.phase = state
        run.updated = ctx.now
        ctx.log("saga", saga=sid, state=state, **extra)

    def _send(self, ctx, sid, run, token, step, action, forward, may_give_up):
        cmd = dict(run.order)
        cmd.update(saga=sid, step=step.name, key=f"{sid}/{step.name}", action=action,
                   forward=forward)
        attempt = 0
        prev = None
        while True:
            attempt += 1
            run.updated = ctx.now
            ctx.log("saga.send", saga=sid, step=step.name, action=action, to=step.service,
                    attempt=attempt)
            resp = yield ctx.call(step.service, cmd, timeout=self.timeout)
            if run.driver != token:
                return "fenced"
            if resp.ok:
                outcome = "ok"
            elif 400 <= resp.status < 500 and resp.status not in (408, 429):
                outcome = "rejected"
            else:
                outcome = "unknown"
            ctx.log("saga.reply", saga=sid, step=step.name, action=action, outcome=outcome,
                    status=resp.status, reason=resp.reason)
            if outcome != "unknown":
                return outcome
            if may_give_up and attempt >= self.max_attempts:
                return "gave up"
            prev = self.backoff.delay(min(attempt, 16), ctx.rng, prev)
            yield ctx.sleep(prev)
            if run.driver != token:
                return "fenced"

    def __repr__(self) -> str:
        return f"Orchestrator({self.name!r}, {self.saga.name!r}, sagas={len(self.store)})"


def _saga_id(order: Mapping) -> str:
    return f"saga-{order['id']}"


def _order_fields(order: Mapping) -> dict:
    return {k: order[k] for k in ("customer", "total", "sku", "qty") if k in order}


def _start_load(sim, target: str, orders: list[dict], rate: float) -> None:
    if not isinstance(orders, list) or not orders:
        raise ConfigError("orders must be a non-empty list of order dicts (see labs.shop.make_orders).")
    _check_number("rate", rate, low=0.0, low_open=True, fix="Orders per second, e.g. 20.")
    gap = 1000.0 / rate
    n = len(orders)
    # a refused or failed start is retried: starting is idempotent (one saga per order id)
    sim.load(target, rate=rate, duration=gap * (n + 0.5),
             body=lambda rng, i: {"start": orders[i % n]}, arrivals="uniform",
             retry=RetryPolicy(max_attempts=30, backoff=Backoff.full_jitter(base=50, cap=1000)))


