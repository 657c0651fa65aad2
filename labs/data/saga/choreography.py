"""Choreography: the same saga with no one in charge, rules derived from its data, events
delivered at least once over an :class:`EventChannel`. See :mod:`labs.data.saga`."""

from __future__ import annotations

from collections.abc import Iterable

from ...kernel.errors import ConfigError, _check_int, _check_number
from ...kernel.messages import Response
from ...resilience.backoff import Backoff
from ...resilience.retry import RetryPolicy

from .definition import Participant, Saga, _as_response, _is_rejection, rejected
from .orchestrator import _order_fields, _saga_id, _start_load

__all__ = ['Choreography', 'EventChannel']


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


