"""Service identity: SPIFFE IDs for workloads, and the mTLS peer check a service makes.

**SPIFFE IDs** (spiffe/spiffe ``standards/SPIFFE-ID.md``): ``spiffe://<trust domain>/<path>``,
the scheme ``spiffe``, a non-empty trust domain, no query or fragment, no userinfo or port,
at most 2048 bytes in all and 255 for the trust domain. The parser here applies the
stricter character rules of the SPIFFE libraries (go-spiffe's ``spiffeid`` package): trust
domains of lower-case letters, digits, ``-``, ``.`` and ``_``; path segments of letters,
digits, ``-``, ``.`` and ``_``, none empty, none ``.`` or ``..``, no trailing ``/``.
Kubernetes-style IDs (Istio's form) are ``spiffe://<td>/ns/<namespace>/sa/<service account>``.

**The peer check.** With mutual TLS each side presents an X.509-SVID: a certificate whose
URI SAN is its SPIFFE ID, signed by the trust domain's authority (``X509-SVID.md``). After
the handshake the server *knows* the caller's SPIFFE ID and decides whether that workload
may call it: an allow-list per target (what a mesh's AuthorizationPolicy expresses).

In the simulation the kernel's ``req.source`` (the caller's service name, which the
network delivers faithfully) stands for the identity the handshake proves; the load
generator's caller, ``"client"``, stands for anything without an SVID: the internet, or a
process inside the cluster that is not a registered workload. Left out: certificates,
rotation, trust bundles and federation between trust domains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError

__all__ = ["PeerPolicy", "SpiffeId", "Workloads", "parse_spiffe_id"]

_TD = re.compile(r"^[a-z0-9._-]+$")
_SEG = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class SpiffeId:
    """A parsed SPIFFE ID: ``trust_domain`` and ``path`` (``""`` or starting with ``/``)."""

    trust_domain: str
    path: str

    def __str__(self) -> str:
        return f"spiffe://{self.trust_domain}{self.path}"


def parse_spiffe_id(text: str) -> SpiffeId:
    """Parse and validate *text* as a SPIFFE ID, or raise :class:`labs.ConfigError` saying why."""
    if not isinstance(text, str):
        raise ConfigError(f"a SPIFFE ID is a string such as 'spiffe://shop.example/ns/shop/sa/orders', got {text!r}.")
    if len(text.encode("utf-8")) > 2048:
        raise ConfigError("a SPIFFE ID is at most 2048 bytes (SPIFFE-ID.md §2.3).")
    if not text.startswith("spiffe://"):
        raise ConfigError(f"{text!r}: a SPIFFE ID starts with the scheme 'spiffe://' (lower case).")
    rest = text[len("spiffe://"):]
    if "?" in rest or "#" in rest:
        raise ConfigError(f"{text!r}: a SPIFFE ID has no query or fragment (SPIFFE-ID.md §2).")
    td, slash, path = rest.partition("/")
    if not td:
        raise ConfigError(f"{text!r}: the trust domain is empty.")
    if "@" in td or ":" in td:
        raise ConfigError(f"{text!r}: no userinfo or port in the trust domain (SPIFFE-ID.md §2.1).")
    if len(td) > 255 or not _TD.match(td):
        raise ConfigError(f"{text!r}: a trust domain is lower-case letters, digits, '-', '.' and '_' "
                          "(at most 255).")
    path = slash + path
    if path:
        segments = path[1:].split("/")
        for seg in segments:
            if seg in ("", ".", ".."):
                raise ConfigError(f"{text!r}: path segments may not be empty, '.' or '..' "
                                  "(and the path has no trailing '/').")
            if not _SEG.match(seg):
                raise ConfigError(f"{text!r}: path segment {seg!r} may use letters, digits, '-', '.' "
                                  "and '_' only.")
    return SpiffeId(td, path)


@dataclass
class Workloads:
    """The workloads of one trust domain: service name -> SPIFFE ID, in the Kubernetes form.

    ``Workloads("shop.example", namespace="shop").id("orders")`` is
    ``"spiffe://shop.example/ns/shop/sa/orders"``. :meth:`peer` reads the identity the mTLS
    handshake proved for the caller of a request (``None`` without an SVID).
    """

    trust_domain: str
    namespace: str = "default"
    unmeshed: tuple = ("client",)
    overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_spiffe_id(f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/x")

    def id(self, service: str) -> str:
        """The SPIFFE ID of *service* (its Kubernetes service account is its name)."""
        if service in self.overrides:
            return self.overrides[service]
        sid = f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{service}"
        parse_spiffe_id(sid)
        return sid

    def peer(self, req) -> str | None:
        """The caller's SPIFFE ID as mTLS proves it, or ``None`` if it presented no SVID."""
        source = getattr(req, "source", None)
        if source is None or source in self.unmeshed:
            return None
        return self.id(source)


@dataclass
class PeerPolicy:
    """Which workloads may call which service: ``{target: [SPIFFE IDs]}``; default deny.

    ``check(target, peer)`` returns ``None`` when allowed, else the reason (``"no SVID"``:
    the caller did not authenticate; ``"peer not allowed"``: it did, but is not on the list).
    """

    allow: dict

    def __post_init__(self) -> None:
        if not isinstance(self.allow, dict):
            raise ConfigError("allow must be a dict {target service: [SPIFFE IDs allowed to call it]}.")
        for target, ids in self.allow.items():
            if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
                raise ConfigError(f"allow[{target!r}] must be a list of SPIFFE ID strings, got {ids!r}.")
            for i in ids:
                parse_spiffe_id(i)

    def check(self, target: str, peer: str | None) -> str | None:
        """``None`` if *peer* may call *target*, else the reason it may not."""
        if peer is None:
            return "no SVID"
        if peer not in self.allow.get(target, ()):
            return "peer not allowed"
        return None


def _parity(seed: int) -> str:
    """Digest of IDs and verdicts for a seeded set of names."""
    import hashlib
    import random
    rng = random.Random(seed)
    w = Workloads("shop.example", "shop")
    names = [f"svc{rng.randrange(50)}" for _ in range(30)]
    policy = PeerPolicy({"payments": [w.id(n) for n in names[:10]]})
    out = [f"{w.id(n)}:{policy.check('payments', w.id(n))}" for n in names]
    return hashlib.sha256("|".join(out).encode()).hexdigest()
