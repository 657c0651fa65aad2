"""Sagas on the simulator: a saga as data, an orchestrator, choreography, and checkers.

A saga is a sequence of *local* transactions, one per service, with a compensating
transaction for every step that may have to be undone (Garcia-Molina & Salem, 1987). The
parts here keep the course's split between what the code does and what the world does:

- :class:`Step` and :class:`Saga`: the saga's definition is **data** (a list of steps,
  each with its service, action, optional compensation and the *pivot* mark), so it can be
  printed, checked (:meth:`Saga.problems`) and reordered in a notebook.
- :class:`Participant`: a service with its own database (a plain dict that survives
  crashes, like a disk) and named **local transactions** ``fn(db, cmd) -> reply``. A local
  transaction runs between two yields, so a crash can never split it: it commits whole or
  not at all. Every run of one is journaled as a ``tx`` log line with the changes it made
  to the tracked tables (``balance``, ``stock``, ``parcels``): that is what the checkers
  read, so a double charge shows up even if the code "looks" right.
- :class:`Orchestrator`: a simulated service (the EIP *Process Manager*) that drives the
  steps with ``ctx.call``, retries a step whose outcome is unknown (a timeout is not a
  "no"), compensates newest-first after a business rejection, never compensates past the
  pivot, keeps each saga's state in its own durable store, and resumes unfinished sagas
  after a crash (recovery ticks with a lease and a fencing token). Every state transition
  is a ``saga`` log line.
- :class:`EventChannel` and :class:`Choreography`: the same saga with no one in charge.
  The rules ("who reacts to which event") are *derived* from the saga's data; the channel
  delivers each event at least once, with retries, so subscribers must deduplicate.
  Publishing happens in the same step as the local transaction, which models a
  transactional outbox with a relay.
- :func:`idempotent`: the *Idempotent Receiver*: the first reply for a key is stored in
  the participant's database and replayed for every duplicate.
- Checkers over the journal: :func:`every_saga_finished`, :func:`conservation`, and
  :func:`saga_history` (a sequence diagram of one saga, drawn from its log lines).

The chapter's example shop (its saga, local transactions and ``build_shop``) is in
:mod:`labs.shop`; nothing here knows about orders or payments except the default table
names the checkers read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .checkers import Violation
from .errors import ConfigError, _check_int, _check_number
from .messages import Response
from .retry import Backoff, RetryPolicy
from .viz import Mermaid, _safe

__all__ = [
    "Choreography", "EventChannel", "Orchestrator", "Participant", "Saga", "SagaRecord",
    "Step", "conservation", "every_saga_finished", "idempotent", "rejected", "saga_history",
    "saga_records", "tally",
]

TERMINAL = ("committed", "compensated")
TRACKED = ("balance", "stock", "parcels")


# -- the saga as data ---------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One step: *service* runs *action*; *compensation* undoes it; *pivot* marks the go/no-go."""

    name: str
    service: str
    action: str
    compensation: str | None = None
    pivot: bool = False

    def __post_init__(self) -> None:
        for f in ("name", "service", "action"):
            v = getattr(self, f)
            if not isinstance(v, str) or not v:
                raise ConfigError(f"Step.{f} must be a non-empty str, got {v!r}. Example: "
                                  "Step('charge-card', 'payments', 'charge', compensation='refund').")
        if self.compensation is not None and (not isinstance(self.compensation, str)
                                              or not self.compensation):
            raise ConfigError(f"Step.compensation must be an action name or None, got "
                              f"{self.compensation!r}.")


class Saga:
    """A saga definition: an ordered list of :class:`Step` (or dicts with the same keys).

    Structural mistakes (no steps, duplicate names) raise :class:`ConfigError`; design
    mistakes (no pivot, a compensation missing before the pivot) are reported by
    :meth:`problems` instead, so that a notebook can *run* a flawed saga and show the damage.
    """

    def __init__(self, name: str, steps: Iterable[Step | Mapping]) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Saga name must be a non-empty str, got {name!r}.")
        self.name = name
        out = []
        for s in steps:
            if isinstance(s, Mapping):
                s = Step(**s)
            if not isinstance(s, Step):
                raise ConfigError(f"a saga step must be a Step or a dict, got {s!r}.")
            out.append(s)
        if not out:
            raise ConfigError("a saga needs at least one step.")
        names = [s.name for s in out]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"step names must be unique; repeated: {dup}. The name is part of "
                              "each step's idempotency key.")
        self.steps: tuple[Step, ...] = tuple(out)

    @property
    def pivot(self) -> int | None:
        """Index of the pivot step (the first one marked), or None."""
        for i, s in enumerate(self.steps):
            if s.pivot:
                return i
        return None

    def problems(self) -> list[str]:
        """What is wrong with the design, in plain words; an empty list when it is sound."""
        out = []
        pivots = [s.name for s in self.steps if s.pivot]
        if len(pivots) != 1:
            out.append(f"a saga needs exactly one pivot step, this one has {len(pivots)}"
                       + (f" ({', '.join(pivots)})" if pivots else ""))
        p = self.pivot
        if p is not None:
            for s in self.steps[:p]:
                if s.compensation is None:
                    out.append(f"step {s.name!r} comes before the pivot but has no compensation")
            for s in self.steps[p:]:
                if s.compensation is not None:
                    out.append(f"step {s.name!r} is at or after the pivot: its compensation "
                               f"{s.compensation!r} will never run")
        return out

    def compensatable_before(self, i: int) -> int | None:
        """Index of the nearest step before *i* that has a compensation, or None."""
        for j in range(i - 1, -1, -1):
            if self.steps[j].compensation is not None:
                return j
        return None

    def __iter__(self):
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        parts = []
        for s in self.steps:
            mark = " [pivot]" if s.pivot else ""
            comp = f" / {s.compensation}" if s.compensation else ""
            parts.append(f"{s.name}: {s.service}.{s.action}{comp}{mark}")
        return f"Saga({self.name!r}: " + " → ".join(parts) + ")"


# -- local transactions -------------------------------------------------------------------
def rejected(reason: str) -> dict:
    """The reply of a local transaction that refuses for a *business* reason (e.g. declined)."""
    return {"ok": False, "reason": str(reason)}


def idempotent(fn: Callable[[dict, dict], Any]) -> Callable[[dict, dict], Any]:
    """Idempotent Receiver: store the first reply per ``cmd["key"]`` in the db, replay it after.

    The stored reply lives in ``db["handled"]``, written in the same local transaction as
    the effect, so a crash cannot leave one without the other. The action's name is part of
    the key: a refund shares the charge's key but is a different command.
    """
    name = getattr(fn, "__name__", "action")

    def wrapped(db: dict, cmd: dict):
        seen = db.setdefault("handled", {})
        k = f"{name}|{cmd.get('key')}"
        if k in seen:
            return seen[k]
        reply = fn(db, cmd)
        if reply is not None:
            seen[k] = reply
        return reply

    wrapped.__name__ = name
    wrapped.__doc__ = fn.__doc__
    return wrapped


_wrap_idempotent = idempotent


def _is_rejection(reply: Any) -> bool:
    return isinstance(reply, Mapping) and reply.get("ok") is False


def _numeric_tables(db: dict, tracked: tuple[str, ...]) -> dict[str, dict]:
    snap = {}
    for t in tracked:
        table = db.get(t)
        if isinstance(table, Mapping):
            snap[t] = dict(table)
    return snap


def _deltas(before: dict[str, dict], db: dict, tracked: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for t in tracked:
        old = before.get(t, {})
        new = db.get(t)
        if not isinstance(new, Mapping):
            continue
        for k in list(new) + [k for k in old if k not in new]:
            d = new.get(k, 0) - old.get(k, 0)
            if d:
                out[f"{t}:{k}"] = d
    return out


class Participant:
    """A saga participant: a service with its own *db* and named local transactions.

    *actions* maps an action name to ``fn(db, cmd) -> reply``: a dict (success), or
    :func:`rejected` (a business "no", answered with status 409). ``cmd`` carries ``saga``,
    ``step``, ``key`` (``"<saga>/<step>"``, the same on every retry and for the step's
    compensation), ``action`` and the order's fields. With *idempotent* every action is
    wrapped in :func:`idempotent`. *work* is the service time per command (ms).
    """

    def __init__(self, name: str, db: dict, actions: Mapping[str, Callable], *,
                 idempotent: bool = False, work: float = 1.0,
                 tracked: Iterable[str] = TRACKED) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"Participant name must be a service name, got {name!r}.")
        if not isinstance(db, dict):
            raise ConfigError(f"db must be a dict (the service's own database), got {db!r}.")
        if not isinstance(actions, Mapping) or not all(callable(f) for f in actions.values()):
            raise ConfigError("actions must map action names to functions fn(db, cmd) -> reply.")
        self.name = name
        self.db = db
        self.idempotent = bool(idempotent)
        self.actions = {a: (_wrap_idempotent(f) if idempotent else f)
                        for a, f in actions.items()}
        self.work = _check_number("work", work, low=0.0, fix="Service time per command, in ms.")
        self.tracked = tuple(tracked)
        # choreography wiring, set by Choreography
        self._rules: dict[str, tuple] = {}
        self._chor: Choreography | None = None

    def install(self, sim, concurrency: int = 64, queue: int = 1000):
        """Register this participant as a service of *sim*."""
        return sim.service(self.name, self.handler, concurrency=concurrency, queue=queue)

    def apply(self, ctx, action: str, cmd: dict) -> dict:
        """Run one local transaction *atomically* (no yield inside) and journal its effects."""
        fn = self.actions.get(action)
        if fn is None:
            ctx.log("tx", level="error", saga=cmd.get("saga", ""), step=cmd.get("step", ""),
                    action=action, key=cmd.get("key", ""), outcome="unknown action")
            return {"ok": False, "reason": f"{self.name} has no action {action!r}",
                    "status": 501}
        before = _numeric_tables(self.db, self.tracked)
        reply = fn(self.db, cmd)
        deltas = _deltas(before, self.db, self.tracked)
        if reply is None:
            outcome = "no reply"
        else:
            outcome = "rejected" if _is_rejection(reply) else "ok"
        ctx.log("tx", saga=cmd.get("saga", ""), step=cmd.get("step", ""), action=action,
                key=cmd.get("key", ""), outcome=outcome, **deltas)
        if reply is None:
            return {"ok": False, "reason": f"{action} returned None", "status": 500}
        return reply

    def handler(self, ctx, req):
        """Commands from an orchestrator, events from a channel, or a choreographed start."""
        body = req.body if isinstance(req.body, dict) else {}
        if self.work:
            yield ctx.work(self.work)
        if "event" in body:
            if self._chor is None:
                return Response.error(400, f"{self.name} is not part of a choreography")
            return self._chor._react(ctx, self, body["event"])
        if "start" in body:
            if self._chor is None:
                return Response.error(400, f"{self.name} is not part of a choreography")
            return self._chor._start(ctx, self, body["start"])
        action = body.get("action")
        if not isinstance(action, str):
            return Response.error(400, "a command needs an 'action'")
        inject = body.get("fail")
        if inject and inject == body.get("step") and body.get("forward", True):
            reply = rejected("injected business failure")
            ctx.log("tx", saga=body.get("saga", ""), step=body.get("step", ""), action=action,
                    key=body.get("key", ""), outcome="rejected")
        else:
            reply = self.apply(ctx, action, body)
        return _as_response(reply)

    def __repr__(self) -> str:
        return f"Participant({self.name!r}, actions={sorted(self.actions)})"


def _as_response(reply: dict) -> Response:
    if _is_rejection(reply):
        status = int(reply.get("status", 409))
        return Response.error(status, str(reply.get("reason", "rejected")), body=dict(reply))
    return Response.of(dict(reply) if isinstance(reply, Mapping) else {"ok": True})


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


# -- choreography -------------------------------------------------------------------------
class EventChannel:
    """A tiny broker on the simulator: at-least-once delivery of events to subscribers.

    Publishing is a call to the channel service; the channel answers at once and delivers
    the event to every subscriber of its type with retries (*max_attempts*, *backoff*) until
    a subscriber acknowledges. A lost acknowledgement means a redelivery, and network
    duplication doubles messages, so subscribers see duplicates, as with any real broker.
    """

    def __init__(self, name: str = "events", timeout: float = 40.0, max_attempts: int = 60,
                 backoff: Backoff | None = None) -> None:
        self.name = name
        self.timeout = _check_number("timeout", timeout, low=0.0, low_open=True,
                                     fix="Per-delivery timeout in ms.")
        self.retry = RetryPolicy(max_attempts=_check_int("max_attempts", max_attempts, low=1),
                                 backoff=backoff or Backoff.full_jitter(base=10, cap=200))
        self.subscriptions: dict[str, list[str]] = {}
        self.published = 0

    def subscribe(self, event_type: str, service: str) -> None:
        subs = self.subscriptions.setdefault(event_type, [])
        if service not in subs:
            subs.append(service)

    def install(self, sim, concurrency: int = 64):
        return sim.service(self.name, self.handler, concurrency=concurrency, queue=10_000)

    def handler(self, ctx, req):
        ev = (req.body or {}).get("publish") if isinstance(req.body, dict) else None
        if not isinstance(ev, dict) or "type" not in ev:
            return Response.error(400, "publish needs an event dict with a 'type'")
        self.published += 1
        subs = self.subscriptions.get(ev["type"], [])
        ctx.log("event", saga=ev.get("saga", ""), type=ev["type"], subscribers=len(subs))
        for svc in subs:
            ctx.call(svc, {"event": ev}, timeout=self.timeout, retry=self.retry)
        return {"ok": True}


class Choreography:
    """The saga with no one in charge: reactions derived from the saga's data.

    For step *i*: ``<step>.done`` triggers step *i+1*'s action; ``<step>.rejected`` triggers
    the compensation of the nearest compensatable step before *i*; ``<step>.undone``
    triggers the next compensation back. The participant that completes the last step logs
    the saga ``committed``; the one that runs the last compensation (or rejects with nothing
    to undo) logs it ``compensated``. Retries live in the channel, not in a coordinator.
    """

    def __init__(self, saga: Saga, channel: EventChannel, participants: Iterable[Participant],
                 publish_timeout: float = 40.0) -> None:
        self.saga = saga
        self.channel = channel
        self.participants = {p.name: p for p in participants}
        self.publish_timeout = publish_timeout
        for s in saga.steps:
            if s.service not in self.participants:
                raise ConfigError(f"step {s.name!r} needs a participant named {s.service!r}; "
                                  f"have {sorted(self.participants)}.")
        steps = saga.steps
        for i, s in enumerate(steps):
            if i + 1 < len(steps):
                nxt = steps[i + 1]
                self._rule(f"{s.name}.done", nxt.service, ("forward", i + 1))
            j = saga.compensatable_before(i)
            if j is not None:
                self._rule(f"{s.name}.rejected", steps[j].service, ("compensate", j))
                self._rule(f"{s.name}.undone", steps[j].service, ("compensate", j))

    def _rule(self, event: str, service: str, what: tuple) -> None:
        self.participants[service]._rules[event] = what
        self.participants[service]._chor = self
        self.channel.subscribe(event, service)

    def install(self, sim, orders: list[dict], rate: float = 20.0):
        """Register the channel, every participant, and one start request per order."""
        self.channel.install(sim)
        for p in self.participants.values():
            p._chor = self
            p.install(sim)
        _start_load(sim, self.saga.steps[0].service, orders, rate)
        return self

    # -- called from Participant.handler ----------------------------------------------------
    def _start(self, ctx, p: Participant, order: dict):
        sid = _saga_id(order)
        ctx.log("saga", saga=sid, state="started", **_order_fields(order))
        return self._run_step(ctx, p, sid, dict(order), "forward", 0)

    def _react(self, ctx, p: Participant, ev: dict):
        rule = p._rules.get(ev.get("type"))
        if rule is None:
            return Response.error(400, f"{p.name} does not react to {ev.get('type')!r}")
        kind, i = rule
        return self._run_step(ctx, p, ev["saga"], dict(ev.get("order", {})), kind, i)

    def _run_step(self, ctx, p: Participant, sid: str, order: dict, kind: str, i: int):
        steps = self.saga.steps
        step = steps[i]
        forward = kind == "forward"
        action = step.action if forward else step.compensation
        cmd = dict(order)
        cmd.update(saga=sid, step=step.name, key=f"{sid}/{step.name}", action=action,
                   forward=forward)
        if forward and order.get("fail") == step.name:
            reply = rejected("injected business failure")
            ctx.log("tx", saga=sid, step=step.name, action=action, key=cmd["key"],
                    outcome="rejected")
        else:
            reply = p.apply(ctx, action, cmd)
        if reply.get("status") in (500, 501):
            return _as_response(reply)           # let the channel redeliver
        if forward and not _is_rejection(reply):
            if i + 1 == len(steps):
                ctx.log("saga", saga=sid, state="committed")
            else:
                self._publish(ctx, sid, order, f"{step.name}.done")
        elif forward:
            pivot = self.saga.pivot
            if pivot is not None and i > pivot:
                return Response.error(503, "retriable step refused; redeliver")
            if self.saga.compensatable_before(i) is None:
                ctx.log("saga", saga=sid, state="compensated")
            else:
                ctx.log("saga", saga=sid, state="compensating", step=step.name)
                self._publish(ctx, sid, order, f"{step.name}.rejected")
        else:
            if self.saga.compensatable_before(i) is None:
                ctx.log("saga", saga=sid, state="compensated")
            else:
                self._publish(ctx, sid, order, f"{step.name}.undone")
        return {"ok": True}

    def _publish(self, ctx, sid: str, order: dict, event_type: str) -> None:
        # Same step as the local transaction: a transactional outbox plus a relay that
        # retries until the channel acknowledges (so the channel may get duplicates).
        ev = {"type": event_type, "saga": sid, "id": f"{sid}/{event_type}", "order": order}
        ctx.call(self.channel.name, {"publish": ev}, timeout=self.publish_timeout,
                 retry=self.channel.retry)


# -- reading a run --------------------------------------------------------------------------
@dataclass
class SagaRecord:
    """One saga as the journal tells it: its order, states, local transactions, net effects."""

    id: str
    order: dict = field(default_factory=dict)
    states: list = field(default_factory=list)       # (t, state)
    txs: list = field(default_factory=list)          # log dicts of its local transactions
    trace_ids: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """``committed``, ``compensated``, ``conflicting`` or ``unfinished``."""
        finals = {s for _, s in self.states if s in TERMINAL}
        if len(finals) > 1:
            return "conflicting"
        return finals.pop() if finals else "unfinished"

    def net(self, table: str, entry: str | None = None) -> float:
        """Net change this saga's local transactions made to *table* (or one *entry* of it)."""
        total = 0.0
        prefix = f"{table}:"
        for tx in self.txs:
            for k, v in tx.items():
                if k.startswith(prefix) and (entry is None or k == prefix + entry):
                    total += v
        return total

    def count(self, action: str, effective: bool = True) -> int:
        """How many times *action* ran (*effective*: only runs that changed a tracked table)."""
        n = 0
        for tx in self.txs:
            if tx.get("action") != action:
                continue
            if not effective or any(":" in k for k in tx):
                n += 1
        return n


def saga_records(result) -> dict[str, SagaRecord]:
    """Every saga of a run, rebuilt from its ``saga`` and ``tx`` log lines."""
    out: dict[str, SagaRecord] = {}
    for r in result.rows:
        if r[2] != "log":
            continue
        note = r[12]
        if note not in ("saga", "tx", "saga.send", "saga.reply", "event"):
            continue
        d = dict(r[13])
        sid = d.get("saga")
        if not sid:
            continue
        rec = out.get(sid)
        if rec is None:
            rec = out[sid] = SagaRecord(sid)
        if r[5] and r[5] not in rec.trace_ids:
            rec.trace_ids.append(r[5])
        if note == "saga":
            if d.get("state") == "started" and not rec.order:
                rec.order = {k: d[k] for k in ("customer", "total", "sku", "qty") if k in d}
            rec.states.append((r[0], d.get("state", "")))
        elif note == "tx":
            d["service"] = r[3]
            d["t"] = r[0]
            rec.txs.append(d)
    return out


def tally(result) -> dict[str, int]:
    """Headline numbers: sagas by status, effective refunds and releases, parcels."""
    recs = saga_records(result)
    out = {"sagas": len(recs), "committed": 0, "compensated": 0, "unfinished": 0,
           "conflicting": 0}
    for r in recs.values():
        out[r.status] += 1
    out["refunds"] = sum(r.count("refund") for r in recs.values())
    out["releases"] = sum(r.count("release") for r in recs.values())
    out["parcels"] = int(sum(r.net("parcels") for r in recs.values()))
    return out


def every_saga_finished(result) -> list[Violation]:
    """Every saga that started ended committed or compensated, and not both."""
    out = []
    for sid, rec in saga_records(result).items():
        st = rec.status
        t = rec.states[-1][0] if rec.states else (rec.txs[-1]["t"] if rec.txs else 0.0)
        trace = rec.trace_ids[0] if rec.trace_ids else ""
        if st == "unfinished":
            last = rec.states[-1][1] if rec.states else "never started"
            out.append(Violation("every_saga_finished",
                                 f"{sid} never finished (last state: {last})", t, trace))
        elif st == "conflicting":
            out.append(Violation("every_saga_finished",
                                 f"{sid} was reported both committed and compensated", t, trace))
    return out


def conservation(result, money: str = "balance", stock: str = "stock",
                 parcels: str = "parcels", shop: str = "shop") -> list[Violation]:
    """Money and stock are conserved, saga by saga, from the local transactions' effects.

    For every finished saga: its money movements sum to zero (nothing created or lost);
    the customer paid the order's total if it committed and nothing if it was compensated;
    the stock taken is the order's quantity if committed, else zero; and exactly one parcel
    was sent for a committed saga, none for a compensated one.
    """
    out = []
    for sid, rec in saga_records(result).items():
        st = rec.status
        if st not in TERMINAL:
            continue
        t = rec.states[-1][0] if rec.states else 0.0
        trace = rec.trace_ids[0] if rec.trace_ids else ""
        committed = st == "committed"
        o = rec.order
        created = rec.net(money)
        if created:
            out.append(Violation("conservation", f"{sid}: money was created or destroyed "
                                 f"({created:+g})", t, trace))
        paid = rec.net(money, shop)
        want = o.get("total", 0) if committed else 0
        if paid != want:
            out.append(Violation("conservation", f"{sid} is {st} but the customer paid "
                                 f"{paid:g} (expected {want:g})", t, trace))
        taken = -rec.net(stock)
        want = o.get("qty", 0) if committed else 0
        if taken != want:
            out.append(Violation("conservation", f"{sid} is {st} but {taken:g} item(s) left "
                                 f"the shelf (expected {want:g})", t, trace))
        sent = rec.net(parcels)
        want = 1 if committed else 0
        if sent != want:
            out.append(Violation("conservation", f"{sid} is {st} but {sent:g} parcel(s) were "
                                 f"sent (expected {want})", t, trace))
    return out


def saga_history(result, saga_id: str, limit: int = 60) -> Mermaid:
    """A sequence diagram of one saga, drawn from its log lines (commands, replies, txs)."""
    who = "order-saga"
    lines_: list[tuple] = []
    for r in result.rows:
        if r[2] != "log" or r[12] not in ("saga", "tx", "saga.send", "saga.reply", "event"):
            continue
        d = dict(r[13])
        if d.get("saga") != saga_id:
            continue
        lines_.append((r[0], r[3], r[12], d))
    names: list[str] = []
    for _, svc, note, d in lines_:
        if note in ("saga", "saga.send") and svc not in names:
            names.append(svc)
        if note == "saga.send" and d.get("to") not in names:
            names.append(d.get("to"))
        if note in ("tx", "event") and svc not in names:
            names.append(svc)
    if names:
        who = names[0]
    out = ["sequenceDiagram"]
    for n in names:
        out.append(f"    participant {_safe(n)} as {n}")
    shown = 0
    for t, svc, note, d in lines_:
        if shown >= limit:
            out.append(f"    Note over {_safe(who)}: … more omitted")
            break
        if note == "saga.send":
            out.append(f"    {_safe(svc)}->>{_safe(d['to'])}: {d['action']} "
                       f"(attempt {d['attempt']}) @{t:.0f}ms")
        elif note == "saga.reply" and d.get("outcome") != "ok":
            out.append(f"    Note over {_safe(svc)}: {d['action']}: {d['outcome']} "
                       f"({d.get('status')} {d.get('reason', '')})".rstrip())
        elif note == "tx":
            eff = ", ".join(f"{k} {v:+g}" for k, v in sorted(d.items()) if ":" in k)
            out.append(f"    Note over {_safe(svc)}: {d.get('action')} → {d.get('outcome')}"
                       + (f" [{eff}]" if eff else " [no change]"))
        elif note == "event":
            out.append(f"    Note over {_safe(svc)}: event {d.get('type')}")
        elif note == "saga":
            out.append(f"    Note over {_safe(svc)}: saga {d.get('state')} @{t:.0f}ms")
        else:
            continue
        shown += 1
    if len(out) == 1:
        out.append(f"    Note over client: no log lines for {saga_id}")
    return Mermaid("\n".join(out))
