"""OAuth 2.0 Token Exchange (RFC 8693): trade a user's token for a narrower one.

A service that must call another on a user's behalf (orders calling payments for alice)
should not forward alice's token, which was meant for the shop's API, and should not call
with its own all-powerful identity either (the *confused deputy*: Norm Hardy, 1988). It asks
the authorization server for a new token, with the request RFC 8693 §2.1 defines::

    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    subject_token=<alice's token>
    subject_token_type=urn:ietf:params:oauth:token-type:access_token
    audience=payments            (§2.1: the logical name of the target service)
    scope=payments:charge        (must be within what alice's token carries)

and gets (§2.2.1) ``access_token``, ``issued_token_type``, ``token_type: "Bearer"``,
``expires_in`` and ``scope``. The new token keeps ``sub: alice``, has ``aud: payments``,
only the requested scope, an expiry no later than the subject token's, and an ``act``
claim naming the actor (§4.1: ``{"sub": <the actor's identity>}``), nested when the
subject token had an ``act`` already, so a chain of delegation stays visible.

This module is the **authorization server's side**: :meth:`TokenExchange.token_endpoint`
takes the form parameters of one request, as a dict of strings, and answers or refuses.
Writing the request (the client's side: which parameters, which audience, which scope) is
the caller's job; nothing here builds it.

The subject token is checked the way the server that issued it can: by **introspection**
(:meth:`labs.security.jwt.Issuer.introspect`, RFC 7662): it must be a token this issuer
issued, not expired, and its ``aud`` must include the audience the server accepts for
exchange (*accepts*, the shop's API). A forged or expired token is refused whatever the
calling service's own validation would have said.

Policy (which actor may ask for which audience) is the authorization server's, not the
RFC's (§5 leaves it to the implementer); :class:`TokenExchange` takes it as a dict.
Errors follow §2.2.2 and RFC 6749 §5.2: ``unsupported_grant_type`` for another grant,
``invalid_request`` for a missing or unsupported parameter or a subject token that is not
active, ``invalid_target`` when the audience is not allowed, ``invalid_scope`` when the
scope is empty or wider than the subject token's. The actor is authenticated by mTLS (its
SPIFFE ID), as a client would be at the token endpoint (RFC 8705).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.errors import ConfigError, _check_number
from .jwt import Issuer

__all__ = ["ExchangeRefused", "TokenExchange", "GRANT_TYPE", "ACCESS_TOKEN_TYPE"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class ExchangeRefused(Exception):
    """The authorization server refused the exchange: ``error`` (RFC 8693 §2.2.2) and why."""

    def __init__(self, error: str, description: str) -> None:
        self.error, self.description = error, description
        super().__init__(f"{error}: {description}")


@dataclass
class TokenExchange:
    """The token endpoint's exchange grant for one :class:`labs.security.jwt.Issuer`.

    *accepts* is the audience subject tokens must carry to be exchanged (the shop's API);
    *policy* maps an actor's SPIFFE ID to the audiences it may request; *ttl* caps the new
    token's lifetime (seconds).
    """

    GRANT_TYPE = GRANT_TYPE                  # the §2.1 grant_type of an exchange request
    ACCESS_TOKEN_TYPE = ACCESS_TOKEN_TYPE    # the §3 token type URI of an access token

    issuer: Issuer
    accepts: str
    policy: dict
    ttl: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, Issuer):
            raise ConfigError(f"issuer must be a labs.Issuer (the server that issued the subject "
                              f"tokens), got {self.issuer!r:.60}.")
        if not isinstance(self.accepts, str) or not self.accepts:
            raise ConfigError(f"accepts must be the audience subject tokens carry, e.g. 'shop-api', "
                              f"got {self.accepts!r}.")
        _check_number("ttl", self.ttl, low=0.0, low_open=True,
                      fix="Pass the exchanged tokens' lifetime in seconds, e.g. 60.")
        if not isinstance(self.policy, dict) or not all(
                isinstance(v, (list, tuple)) for v in self.policy.values()):
            raise ConfigError("policy must be a dict {actor SPIFFE ID: [audiences it may request]}.")

    def token_endpoint(self, form: dict, *, actor: str | None, now: float) -> dict:
        """The §2.2.1 response (a dict) to the request *form*, or :class:`ExchangeRefused`.

        *form* holds the §2.1 parameters as strings: ``grant_type``, ``subject_token``,
        ``subject_token_type``, ``audience`` and ``scope`` (this server requires both of the
        last two: it never issues a token wider than asked). *actor* is the caller's SPIFFE ID
        from the mTLS handshake (``None``: no SVID); *now* is Unix time in seconds.
        """
        if not isinstance(form, dict):
            raise ConfigError(f"form must be a dict of the RFC 8693 §2.1 parameters, got {form!r:.60}.")
        if form.get("grant_type") != GRANT_TYPE:
            raise ExchangeRefused("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if actor is None:
            raise ExchangeRefused("invalid_client", "the actor did not authenticate (no SVID)")
        for name in ("subject_token", "subject_token_type", "audience", "scope"):
            if not isinstance(form.get(name), str):
                raise ExchangeRefused("invalid_request", f"the parameter {name} is missing")
        if form["subject_token_type"] != ACCESS_TOKEN_TYPE:
            raise ExchangeRefused("invalid_request", f"subject_token_type "
                                  f"{form['subject_token_type']!r} is not supported")
        claims = self.issuer.introspect(form["subject_token"], now)
        aud = claims.get("aud")
        if not claims["active"] or self.accepts not in (aud if isinstance(aud, list) else [aud]):
            raise ExchangeRefused("invalid_request", "subject_token is not an active token for "
                                  f"{self.accepts!r}")
        audience = form["audience"]
        if audience not in self.policy.get(actor, ()):
            raise ExchangeRefused("invalid_target", f"{actor} may not obtain tokens for {audience!r}")
        held = set(claims.get("scope", "").split())
        wanted = form["scope"].split()
        if not wanted or not set(wanted) <= held:
            raise ExchangeRefused("invalid_scope", f"scope {form['scope']!r} is not within {sorted(held)}")
        act = {"sub": actor}
        if "act" in claims:
            act["act"] = claims["act"]
        lifetime = max(0, min(int(self.ttl), int(claims["exp"] - now)))
        token = self.issuer.issue(claims["sub"], audience, now=now, scope=" ".join(wanted),
                                  client_id=claims.get("client_id", ""), ttl=lifetime, act=act)
        return {"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer", "expires_in": lifetime, "scope": " ".join(wanted)}


def _parity(seed: int) -> str:
    """Digest of a seeded series of exchanges, allowed and refused."""
    import hashlib
    import random
    rng = random.Random(seed)
    iss = Issuer("https://id.shop.example", {"k1": b"k" * 32}, "k1")
    tx = TokenExchange(iss, "shop-api", {"spiffe://shop.example/ns/shop/sa/orders": ["payments"]})
    out = []
    for i in range(20):
        user = iss.issue(f"u{rng.randrange(9)}", "shop-api", now=1000 + i,
                         scope="orders:read payments:charge")
        aud = rng.choice(["payments", "shipping"])
        scope = rng.choice(["payments:charge", "payments:refund"])
        form = {"grant_type": GRANT_TYPE, "subject_token": user, "audience": aud, "scope": scope,
                "subject_token_type": ACCESS_TOKEN_TYPE}
        try:
            out.append(tx.token_endpoint(form, actor="spiffe://shop.example/ns/shop/sa/orders",
                                         now=1000 + i)["access_token"])
        except ExchangeRefused as e:
            out.append(e.error)
    return hashlib.sha256("|".join(out).encode()).hexdigest()
