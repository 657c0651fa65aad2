"""Services: a named handler behind concurrency slots, a bounded queue and instances.

The model is thread-per-request, like a Jetty or Tomcat pool: a request takes one of the
*concurrency* slots of an instance when it starts and keeps it until the handler returns,
*including while it waits for downstream calls*. That is deliberate: it is why a slow
dependency exhausts the caller's threads, the failure that bulkheads and timeouts exist
to contain. Requests that find no free slot wait in a FIFO queue of at most *queue*
entries; beyond that the server answers ``503 "queue full"`` at once.

Instances share nothing; requests are spread round-robin (deterministic, no randomness).
Server-side admission runs in this order: crashed instance (refused), *rate_limit*
(``TokenBucket.try_take``, 429), *shedder* (``LoadShedder.admit``, 503 "shed"), slots/queue.

What a crash does (``faults.crash``): the crashed instance's in-flight and queued requests
are lost (their callers hear nothing and must rely on a timeout); new requests arriving
while it is down are *refused* (503 "connection refused"), which the caller sees after one
network trip, because a real host answers a closed port with a TCP reset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import GeneratorType
from typing import TYPE_CHECKING

from .context import Context
from .errors import ConfigError, LabsError, _check_int
from .messages import Request, Response, _to_response

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulation

__all__ = ["Service"]


def _check_arity(name: str, handler: Callable) -> None:
    """Refuse a handler that cannot be called as ``handler(ctx, req)``, at registration
    rather than deep inside a run."""
    import inspect
    try:
        sig = inspect.signature(handler)
    except (TypeError, ValueError):   # a builtin or C callable: nothing to check
        return
    try:
        sig.bind(None, None)
    except TypeError:
        raise ConfigError(f"handler for {name!r} must take two arguments, handler(ctx, req), but "
                          f"it is {getattr(handler, '__name__', 'handler')}{sig}. Write it as "
                          f"def {getattr(handler, '__name__', 'handler')}(ctx, req): ...") from None


class _Instance:
    __slots__ = ("index", "up", "epoch", "in_flight", "queue", "active", "_next", "draining")

    def __init__(self, index: int) -> None:
        self.index = index
        self.up = True
        self.epoch = 0
        self.in_flight = 0
        self.queue: deque = deque()
        self.active: dict[int, tuple] = {}
        self._next = 0
        self.draining = False


class Service:
    """A registered service; created by ``sim.service(name, handler, ...)``."""

    def __init__(self, sim: Simulation, name: str, handler: Callable, concurrency: int = 8,
                 queue: int = 100, instances: int = 1, rate_limit=None, shedder=None,
                 drop_expired: bool = False) -> None:
        if not isinstance(name, str) or not name or name == "client":
            raise ConfigError(f"service name must be a non-empty str other than 'client' (the load "
                              f"generator's name), got {name!r}.")
        if not callable(handler):
            raise ConfigError(f"handler for {name!r} must be a function handler(ctx, req), got "
                              f"{handler!r}.")
        _check_arity(name, handler)
        self._sim = sim
        self.name = name
        self.handler = handler
        self.concurrency = _check_int("concurrency", concurrency, low=1,
                                      fix="A service needs at least one slot; use concurrency=1 or more.")
        self.queue = _check_int("queue", queue, low=0,
                                fix="Use queue=0 to reject when all slots are busy.")
        n = _check_int("instances", instances, low=1, fix="Use instances=1 or more.")
        self.instances = [_Instance(i) for i in range(n)]
        self.rate_limit = rate_limit
        self.shedder = shedder
        self.drop_expired = bool(drop_expired)
        self._rr = 0

    def __repr__(self) -> str:
        return (f"Service({self.name!r}, concurrency={self.concurrency}, queue={self.queue}, "
                f"instances={len(self.instances)})")

    @property
    def in_flight(self) -> int:
        """Requests being handled right now, over all instances."""
        return sum(i.in_flight for i in self.instances)

    @property
    def queued(self) -> int:
        """Requests waiting for a slot right now, over all instances."""
        return sum(len(i.queue) for i in self.instances)

    # -- admission -----------------------------------------------------------------------
    def _accept(self, req: Request, reply: Callable[[Request, Response], None]) -> None:
        """A request arrived; *reply(req, resp)* is called when its response reaches the caller."""
        sim = self._sim
        now = sim._env._now
        insts = self.instances
        inst = insts[self._rr % len(insts)]
        self._rr += 1
        if not inst.up:
            return self._refuse(req, reply, 503, "connection refused")
        if self.rate_limit is not None and not self.rate_limit.try_take(now):
            return self._refuse(req, reply, 429, "rate limited")
        if self.shedder is not None and not self.shedder.admit(now, len(inst.queue), inst.in_flight):
            return self._refuse(req, reply, 503, "shed")
        if inst.in_flight < self.concurrency:
            self._start(inst, req, reply, now)
        elif len(inst.queue) < self.queue:
            inst.queue.append((req, reply, now))
        else:
            self._refuse(req, reply, 503, "queue full")

    def _refuse(self, req: Request, reply, status: int, reason: str) -> None:
        sim = self._sim
        sim.journal.add(sim._env._now, "reject", self.name, req.source, req.trace_id, "",
                        req.parent_id, req.msg, req.key, status, 0.0, reason)
        resp = Response(status, None, reason, service=self.name)
        sim.network._post(self.name, req.source, "response", req.trace_id, req.parent_id, "",
                          req.msg, req.key, status, reply, (req, resp))

    def _start(self, inst: _Instance, req: Request, reply, arrived: float) -> None:
        inst.in_flight += 1
        token = inst._next
        inst._next += 1
        sim = self._sim
        span = sim._span_id()
        now = sim._env._now
        inst.active[token] = (req, span, now)
        _Execution(self, inst, token, req, span, reply, arrived, now)

    def _release(self, inst: _Instance, token: int) -> None:
        """Free a slot and start queued requests (a loop, not recursion: see below)."""
        del inst.active[token]
        inst.in_flight -= 1
        # A queued request starts at once, in this call; if its handler finishes at once too,
        # it releases its slot from inside this loop. The flag turns that nested release into
        # one more turn of the loop, so a long queue cannot exhaust the (small, in Pyodide)
        # Python stack.
        if inst.queue and not inst.draining:
            inst.draining = True
            try:
                while inst.queue and inst.in_flight < self.concurrency:
                    req, reply, arrived = inst.queue.popleft()
                    self._start(inst, req, reply, arrived)
            finally:
                inst.draining = False

    def _handler_error(self, ctx: Context, e: Exception) -> Response:
        if self._sim.handler_errors == "raise":
            raise e
        ctx.log(f"handler error: {type(e).__name__}: {e}", level="error")
        return Response(500, None, f"handler error: {type(e).__name__}")

    # -- faults --------------------------------------------------------------------------
    def _crash(self, instance: int | None = None) -> None:
        sim = self._sim
        now = sim._env._now
        add = sim.journal.add
        for inst in self.instances:
            if instance is not None and inst.index != instance:
                continue
            inst.up = False
            inst.epoch += 1
            for req, span, started in inst.active.values():   # insertion order: deterministic
                add(now, "span.end", self.name, req.source, req.trace_id, span, req.parent_id,
                    req.msg, req.key, 0, now - started, "server", (("reason", "crashed"),))
            for req, _reply, _arrived in inst.queue:
                add(now, "drop", self.name, req.source, req.trace_id, "", req.parent_id, req.msg,
                    req.key, 0, 0.0, "crashed")
            inst.active.clear()
            inst.queue.clear()
            inst.in_flight = 0

    def _restart(self, instance: int | None = None) -> None:
        for inst in self.instances:
            if instance is None or inst.index == instance:
                inst.up = True


class _Execution:
    """One execution of a handler on an instance: its server span, from slot to response.

    Why not a SimPy process: a process costs a start and an end event and wraps the
    handler's generator in a second one; here the handler's generator is resumed directly
    from the callbacks of the events it yields, as SimPy's own ``Process._resume`` does
    (failed events are thrown into the handler, already processed ones resume it at once).
    A crash bumps the instance's *epoch*: an execution that wakes up in a later epoch is
    gone and only closes its generator.
    """

    __slots__ = ("svc", "inst", "token", "req", "span", "reply", "start", "epoch", "ctx", "gen")

    def __init__(self, svc: Service, inst: _Instance, token: int, req: Request, span: str,
                 reply, arrived: float, now: float) -> None:
        self.svc = svc
        self.inst = inst
        self.token = token
        self.req = req
        self.span = span
        self.reply = reply
        self.start = now
        self.epoch = inst.epoch
        sim = svc._sim
        sim.journal.add(now, "span.start", svc.name, req.source, req.trace_id, span,
                        req.parent_id, req.msg, req.key, 0, now - arrived, "server")
        if svc.drop_expired and req.deadline is not None and now >= req.deadline:
            self._finish(Response(504, None, "deadline exceeded"))
            return
        if sim.faults._windows:
            extra, fail = sim.faults._effects(svc.name, now)
            if fail and extra <= 0:
                self._finish(Response(500, None, "injected fault"))
            elif extra > 0:
                sim._after(extra, self._failed if fail else self._handle)
            else:
                self._handle()
            return
        self._handle()

    def _failed(self, _ev) -> None:
        if self.inst.epoch == self.epoch:
            self._finish(Response(500, None, "injected fault"))

    def _handle(self, _ev=None) -> None:
        """Call the handler; a generator handler is then driven by :meth:`_resume`."""
        if self.inst.epoch != self.epoch:   # crashed during an injected delay
            return
        svc = self.svc
        req = self.req
        ctx = self.ctx = Context(svc._sim, svc.name, self.inst.index, req, self.span)
        try:
            out = svc.handler(ctx, req)
        except LabsError:
            raise
        except Exception as e:  # noqa: BLE001 - turned into a 500 or re-raised
            out = svc._handler_error(ctx, e)
        if type(out) is GeneratorType:
            self.gen = out
            self._step(out.send, None)
        else:
            self._finish(_to_response(out))

    def _resume(self, ev) -> None:
        """Callback of the event the handler waits for: go on with its value or exception."""
        gen = self.gen
        if self.inst.epoch != self.epoch:   # crashed while waiting: this execution is gone
            gen.close()
            return
        if ev._ok:
            self._step(gen.send, ev._value)
        else:
            self._step(gen.throw, _failure(ev))

    def _step(self, fn, arg) -> None:
        """Run the handler up to its next ``yield`` of an event that has not happened yet."""
        gen = self.gen
        while True:
            try:
                ev = fn(arg)
            except StopIteration as stop:
                self._finish(_to_response(stop.value))
                return
            except LabsError:
                raise
            except Exception as e:  # noqa: BLE001
                self._finish(_to_response(self.svc._handler_error(self.ctx, e)))
                return
            try:
                callbacks = ev.callbacks
            except AttributeError:
                raise RuntimeError(f"handler {self.svc.name!r} yielded {ev!r}, which is not an "
                                   "event: yield ctx.work(ms), ctx.call(...) or another SimPy "
                                   "event.") from None
            if callbacks is not None:
                callbacks.append(self._resume)
                return
            if ev._ok:                        # already processed: go on at once
                fn, arg = gen.send, ev._value
            else:
                fn, arg = gen.throw, _failure(ev)

    def _finish(self, resp: Response) -> None:
        """Journal the span's end, answer over the network, free the slot."""
        inst = self.inst
        if inst.epoch != self.epoch:
            return
        svc = self.svc
        sim = svc._sim
        req = self.req
        name = svc.name
        end = sim._env._now
        resp.service = name
        status = resp.status
        sim.journal.add(end, "span.end", name, req.source, req.trace_id, self.span, req.parent_id,
                        req.msg, req.key, status, end - self.start, "server",
                        (("reason", resp.reason),) if resp.reason else ())
        sim.network._post(name, req.source, "response", req.trace_id, self.span, req.parent_id,
                          req.msg, req.key, status, self.reply, (req, resp))
        svc._release(inst, self.token)


def _failure(ev) -> BaseException:
    """The exception of a failed event, defused and copied (as SimPy's processes do)."""
    ev._defused = True
    exc = type(ev._value)(*ev._value.args)
    exc.__cause__ = ev._value
    return exc
