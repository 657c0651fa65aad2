"""The network between services: latency, loss, duplication, reordering, partitions.

Why a separate network: in a distributed system the network is the part you do not
control, so it is modelled apart from services (Maelstrom's ``net.clj``). Every message,
request or response, travels through :meth:`Network.send`, which journals a ``send`` and
then either a ``drop`` (with the reason) or, after a latency drawn from the link's
distribution, a ``receive``. A lost message is simply never delivered: the sender learns
about it only through its own timeout, just like with TCP connections that go silent.

Clients (the load generator, node name ``"client"``) talk to services with zero latency
unless you add a ``link("client", ...)``: then a request's measured latency is what the
services did, not what the internet did, and RED numbers match the server's view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .distributions import Constant, Distribution, Exponential, as_distribution
from .errors import ConfigError, _check_probability

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulation

__all__ = ["CLIENT", "Link", "Network"]

CLIENT = "client"
_ZERO = Constant(0.0)


class Link:
    """Properties of messages travelling between two nodes (one direction)."""

    __slots__ = ("latency", "loss", "duplicate", "reorder")

    def __init__(self, latency: Distribution, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0) -> None:
        self.latency = as_distribution(latency, "latency")
        self.loss = _check_probability("loss", loss)
        self.duplicate = _check_probability("duplicate", duplicate)
        self.reorder = _check_probability("reorder", reorder)

    def __repr__(self) -> str:
        return (f"Link(latency={self.latency!r}, loss={self.loss}, duplicate={self.duplicate}, "
                f"reorder={self.reorder})")


class Network:
    """All links of a simulation; ``sim.network``. Set ``latency``/``loss`` for the default link."""

    def __init__(self, sim: Simulation) -> None:
        self._sim = sim
        self._default = Link(Exponential(mean=1.0))
        self._links: dict[tuple[str, str], Link] = {}
        self._client_link = Link(_ZERO)
        self._partitions: list[tuple[frozenset, frozenset, float, float]] = []
        #: (src, dst) -> Link, filled by send (a cache of link_for; cleared by link()).
        self._route: dict[tuple[str, str], Link] = {}
        #: (src, dst) -> that directed link's random stream ("link:src->dst").
        self._rngs: dict = {}

    # -- configuration -------------------------------------------------------------------
    @property
    def latency(self) -> Distribution:
        """Latency distribution of every link without its own (default ``Exponential(1.0)``)."""
        return self._default.latency

    @latency.setter
    def latency(self, value: Distribution | float) -> None:
        self._default.latency = as_distribution(value, "sim.network.latency")

    @property
    def loss(self) -> float:
        """Probability that a message on a default link is lost."""
        return self._default.loss

    @loss.setter
    def loss(self, value: float) -> None:
        self._default.loss = _check_probability("sim.network.loss", value)

    @property
    def duplicate(self) -> float:
        """Probability that a message on a default link is delivered twice."""
        return self._default.duplicate

    @duplicate.setter
    def duplicate(self, value: float) -> None:
        self._default.duplicate = _check_probability("sim.network.duplicate", value)

    @property
    def reorder(self) -> float:
        """Probability that a message on a default link is held back (and may be overtaken)."""
        return self._default.reorder

    @reorder.setter
    def reorder(self, value: float) -> None:
        self._default.reorder = _check_probability("sim.network.reorder", value)

    def link(self, a: str, b: str, latency: Distribution | float | None = None,
             loss: float | None = None, duplicate: float | None = None,
             reorder: float | None = None, symmetric: bool = True) -> Link:
        """Give the link *a*→*b* (and *b*→*a* unless ``symmetric=False``) its own properties.

        Unset properties are copied from the default link at the time of the call.
        """
        for n, v in (("a", a), ("b", b)):
            if not isinstance(v, str) or not v:
                raise ConfigError(f"link({n}=...) must be a service name (a non-empty str), got {v!r}.")
        d = self._default
        new = Link(d.latency if latency is None else as_distribution(latency, "link latency"),
                   d.loss if loss is None else loss,
                   d.duplicate if duplicate is None else duplicate,
                   d.reorder if reorder is None else reorder)
        self._links[(a, b)] = new
        if symmetric:
            self._links[(b, a)] = new
        self._route.clear()
        return new

    def link_for(self, src: str, dst: str) -> Link:
        """The link a message from *src* to *dst* uses."""
        link = self._links.get((src, dst))
        if link is not None:
            return link
        if src == CLIENT or dst == CLIENT:
            return self._client_link
        return self._default

    def _partition(self, a: frozenset, b: frozenset, at: float, until: float) -> None:
        self._partitions.append((a, b, at, until))

    def partitioned(self, src: str, dst: str, now: float) -> bool:
        """True if a partition separates *src* and *dst* at virtual time *now*."""
        for a, b, at, until in self._partitions:
            if at <= now < until and ((src in a and dst in b) or (src in b and dst in a)):
                return True
        return False

    # -- sending -------------------------------------------------------------------------
    def send(self, src: str, dst: str, note: str, trace: str, span: str, parent: str, msg: int,
             key: int, status: int, deliver: Callable[[], None]) -> None:
        """Journal a send, then deliver (``receive`` + *deliver()*) after the link latency, or drop."""
        self._post(src, dst, note, trace, span, parent, msg, key, status, deliver, ())

    def _post(self, src: str, dst: str, note: str, trace: str, span: str, parent: str, msg: int,
              key: int, status: int, fn: Callable[..., None], args: tuple) -> None:
        """:meth:`send`, delivering by ``fn(*args)``: the message travels as one tuple on its
        timer, not as a closure (a closure over ten names costs ten cells per message)."""
        sim = self._sim
        add = sim.journal.add
        now = sim._env._now
        add(now, "send", src, dst, trace, span, parent, msg, key, status, 0.0, note)
        if self._partitions and self.partitioned(src, dst, now):
            add(now, "drop", src, dst, trace, span, parent, msg, key, status, 0.0, "partition")
            return
        link = self._route.get((src, dst))
        if link is None:
            link = self._route[(src, dst)] = self.link_for(src, dst)
        rng = self._rngs.get((src, dst))
        if rng is None:
            rng = self._rngs[(src, dst)] = sim.stream(f"link:{src}->{dst}")
        if link.loss and rng.random() < link.loss:
            add(now, "drop", src, dst, trace, span, parent, msg, key, status, 0.0, "loss")
            return
        m = (src, dst, note, trace, span, parent, msg, key, status, fn, args)
        latency = link.latency
        for _ in range(2 if link.duplicate and rng.random() < link.duplicate else 1):
            delay = latency.sample(rng)
            if link.reorder and rng.random() < link.reorder:
                delay += 2.0 * latency.sample(rng) + 1.0   # held back: later sends overtake it
            sim._after(delay, self._arrive, m)

    def _arrive(self, timer) -> None:
        src, dst, note, trace, span, parent, msg, key, status, fn, args = timer.arg
        sim = self._sim
        t = sim._env._now
        if self._partitions and self.partitioned(src, dst, t):
            sim.journal.add(t, "drop", src, dst, trace, span, parent, msg, key, status, 0.0,
                            "partition")
            return
        sim.journal.add(t, "receive", dst, src, trace, span, parent, msg, key, status, 0.0, note)
        fn(*args)
