"""The security checker: every request that was allowed but should not have been.

A security test that only looks at status codes misses the point: an attack "succeeds"
when it causes an *effect* (an order read, a card charged, a refund paid), whatever the
client was told. So the lab's services report each effect to an :class:`AccessAudit`,
and the traffic that enters the system carries its ground truth: the request body's
``"attack"`` field names the attack (``None`` for a customer's honest request). The
services never read that field to decide; only the audit does, afterwards.

- :meth:`AccessAudit.entry` wraps an entry handler (the gateway, or any service the
  attacker can reach) and records, per trace, the label and the answer the client got;
- :meth:`AccessAudit.effect` records one effect inside the trace it belongs to;
- :meth:`AccessAudit.wrongly_allowed` lists every attack trace that caused an effect,
  as :class:`labs.checkers.Violation` (the checker the chapter asks for);
- :meth:`AccessAudit.legit_denied` lists honest requests that were refused (a defence
  that stops everyone is not a defence);
- :func:`secrets_in_logs` finds secrets, and anything shaped like a JWT, in log lines.
"""

from __future__ import annotations

import re

from ..kernel.messages import Response
from ..observe.checkers import Violation

__all__ = ["AccessAudit", "looks_like_jwt", "secrets_in_logs"]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


class AccessAudit:
    """Ground truth per trace, effects per trace, and the checks that compare them."""

    def __init__(self) -> None:
        self.labels: dict[str, str | None] = {}
        self.answers: dict[str, int] = {}
        self.entries: dict[str, float] = {}
        self.effects: list[dict] = []

    def entry(self, handler):
        """Wrap *handler* so requests from outside (``req.source == "client"``) are labelled."""
        audit = self

        def entry_handler(ctx, req):
            body = req.body if isinstance(req.body, dict) else {}
            outside = req.source == "client"
            if outside:
                audit.labels[ctx.trace_id] = body.get("attack")
                audit.entries[ctx.trace_id] = ctx.now
            result = yield from handler(ctx, req)
            if outside:
                status = result.status if isinstance(result, Response) else 200
                audit.answers[ctx.trace_id] = status
            return result

        entry_handler.__name__ = getattr(handler, "__name__", "entry")
        return entry_handler

    def effect(self, ctx, action: str, resource: str, principal: str | None = None) -> None:
        """Record that *action* on *resource* happened in this trace, on behalf of *principal*."""
        self.effects.append({"t": ctx.now, "trace_id": ctx.trace_id, "service": ctx.service,
                             "action": action, "resource": str(resource),
                             "principal": principal})
        ctx.log("effect", action=action, resource=str(resource), principal=str(principal))

    def wrongly_allowed(self) -> list[Violation]:
        """One violation per effect caused by an attack trace (empty: every attack was stopped)."""
        out = []
        for e in self.effects:
            label = self.labels.get(e["trace_id"])
            if label is not None:
                out.append(Violation(
                    "wrongly_allowed",
                    f"attack {label!r}: {e['service']} did {e['action']} {e['resource']} "
                    f"for {e['principal']}", e["t"], e["trace_id"]))
        return out

    def legit_denied(self) -> list[str]:
        """Trace ids of honest requests (label ``None``) that the system refused (status 401/403)."""
        return [t for t, label in self.labels.items()
                if label is None and self.answers.get(t) in (401, 403)]

    def by_attack(self) -> dict[str, dict]:
        """Per label: how many requests came in, how many caused an effect, how many were refused."""
        effected = {e["trace_id"] for e in self.effects}
        out: dict[str, dict] = {}
        for t, label in self.labels.items():
            row = out.setdefault(label or "honest", {"requests": 0, "got through": 0, "refused": 0})
            row["requests"] += 1
            row["got through"] += t in effected
            row["refused"] += self.answers.get(t) in (401, 403)
        return out


def looks_like_jwt(text: str) -> bool:
    """True if *text* contains something shaped like a compact JWT (``eyJ…``.``…``.``…``)."""
    return bool(_JWT.search(str(text)))


def secrets_in_logs(result, secrets=()) -> list[dict]:
    """Log lines of *result* that contain one of *secrets* (strings) or a JWT-shaped value.

    Returns the offending lines, each with ``found`` set to what was found (a secret's first
    6 characters and an ellipsis, or ``"a JWT"``), so the report itself leaks nothing.
    """
    found = []
    secrets = [s for s in secrets if s]
    for line in result.logs():
        text = " ".join([str(line.get("message", ""))] + [
            str(v) for k, v in line.items() if k not in ("t", "trace_id", "span_id")])
        hit = next((s[:6] + "…" for s in secrets if s in text), None)
        if hit is None and looks_like_jwt(text):
            hit = "a JWT"
        if hit is not None:
            found.append({"t": line["t"], "service": line["service"],
                          "message": line["message"], "found": hit})
    return found


def _parity(seed: int) -> str:
    """Journal hash of a tiny two-service run with labelled attacks and audited effects."""
    from ..kernel.core import Simulation

    sim = Simulation(seed=seed)
    audit = AccessAudit()

    def store(ctx, req):
        yield ctx.work(1.0)
        if req.body.get("user") == "alice":
            audit.effect(ctx, "read", req.body["id"], "alice")
        return {"ok": True}

    def front(ctx, req):
        r = yield ctx.call("store", req.body)
        return r

    rng = sim.stream("security:audit:parity")
    sim.service("store", store)
    sim.service("front", audit.entry(front))
    sim.load("front", rate=50, duration=400,
             body=lambda _r, i: {"id": i, "user": rng.choice(["alice", "bob"]),
                                 "attack": rng.choice([None, "x"])})
    result = sim.run()
    return result.journal_hash() + f":{len(audit.wrongly_allowed())}"
