"""A saga as data (:class:`Step`, :class:`Saga`) and its participants' local transactions
(:class:`Participant`, :func:`idempotent`, :func:`rejected`). See :mod:`labs.data.saga`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...kernel.errors import ConfigError, _check_number
from ...kernel.messages import Response



if TYPE_CHECKING:  # pragma: no cover
    from .choreography import Choreography

__all__ = ['Participant', 'Saga', 'Step', 'idempotent', 'rejected']

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


