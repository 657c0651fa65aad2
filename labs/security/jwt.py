"""JWT access tokens, made and checked for real: HMAC-SHA256 (HS256) with Python's ``hmac``.

A JWT (RFC 7519) is ``base64url(header) "." base64url(claims) "." base64url(signature)``,
the signature a JWS (RFC 7515) over the first two parts; base64url has no padding (RFC
7515 §2). ``HS256`` is HMAC with SHA-256 (RFC 7518 §3.2). The signatures here are real:
change one character of a token and :func:`validate` rejects it.

**The order of checks** in :func:`validate`, which is the point of chapter 11:

1. the token has three parts, each valid base64url JSON (anything else: ``malformed``);
2. ``typ`` is ``at+jwt`` (RFC 9068 §2.1 and §4; RFC 8725 §3.11 "explicit typing"), so an
   ID token or another kind of JWT is not accepted as an access token;
3. ``alg`` is in the **verifier's** allow-list (RFC 8725 §3.1: the caller says which
   algorithms are acceptable, the token does not); ``none`` is never acceptable (RFC 9068
   §4), whatever the list says;
4. the key is chosen by the verifier: the ``kid`` must name one of the issuer's keys;
5. the signature is checked with ``hmac.compare_digest`` (constant time);
6. only now are the claims trusted (RFC 8725 §3.10 "do not trust received claims"):
   ``iss`` must equal the expected issuer exactly (RFC 9068 §4, RFC 8725 §3.8);
7. ``aud`` (a string or a list) must contain this service's audience (RFC 8725 §3.9,
   RFC 9068 §4);
8. ``exp`` must be after *now* and ``nbf`` (if present) not after it, each with the small
   *leeway* (seconds) RFC 7519 §4.1.4/§4.1.5 allow for clock skew.

RFC 9068 §4 lists the issuer and audience checks before the signature, because a
resource server may need the issuer to pick the keys; the outcome is the same set of
accepted tokens either way, as long as no claim is *acted on* before the signature holds.
Here claims are looked at only after step 5, so a forged token is always reported as a
signature problem, never as "wrong audience".

Left out: asymmetric algorithms (RS256, ES256) and JWKS fetching; the lab's issuer shares
an HMAC key with the services, which is realistic only inside one trust domain. The checks
and their order are the same with public keys (``buddy.sign.jwt/unsign`` or Nimbus
JOSE+JWT on the JVM).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError, _check_number

__all__ = ["Issuer", "TokenRejected", "b64url", "decode_part", "decode_unverified", "encode",
           "unsigned", "validate"]

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
ACCESS_TOKEN_TYP = "at+jwt"


class TokenRejected(Exception):
    """A token that must not be accepted; ``reason`` is one short word, ``detail`` says why.

    Reasons, in the order :func:`validate` checks them: ``malformed``, ``typ``, ``alg``,
    ``kid``, ``signature``, ``iss``, ``aud``, ``exp``, ``nbf``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise TokenRejected("malformed", "a part is not unpadded base64url (RFC 7515 §2)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise TokenRejected("malformed", "a part is not base64url") from None


def _json_part(text: str, what: str) -> dict:
    try:
        value = json.loads(_unb64(text).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected("malformed", f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRejected("malformed", f"the {what} is not a JSON object")
    return value


def b64url(data: bytes) -> str:
    """Unpadded base64url of *data* (RFC 7515 §2), as the three parts of a JWT are written."""
    return _b64(data)


def decode_part(part: str) -> dict:
    """The JSON object in one base64url part of a JWT, or :class:`TokenRejected` ("malformed")."""
    return _json_part(part, "part")


def _dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _check_key(key: object) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or len(key) < 32:
        raise ConfigError(f"an HMAC key must be at least 32 bytes (RFC 7518 §3.2: a key of the "
                          f"hash's size or larger), got {key!r:.40}. Use e.g. secrets.token_bytes(32).")
    return key


def encode(claims: dict, key: bytes | str, *, alg: str = "HS256", kid: str | None = None,
           typ: str = ACCESS_TOKEN_TYP) -> str:
    """Sign *claims* into a compact JWT with HMAC (*alg* HS256, HS384 or HS512)."""
    if not isinstance(claims, dict):
        raise ConfigError(f"claims must be a dict such as {{'sub': 'alice'}}, got {claims!r}.")
    if alg not in _HASHES:
        raise ConfigError(f"alg must be one of {sorted(_HASHES)}, got {alg!r}. "
                          "(Use unsigned() to build an alg=none token for an attack.)")
    key = _check_key(key)
    header = {"alg": alg, "typ": typ}
    if kid is not None:
        header["kid"] = kid
    signing_input = _b64(_dumps(header)) + "." + _b64(_dumps(claims))
    sig = hmac.new(key, signing_input.encode("ascii"), _HASHES[alg]).digest()
    return signing_input + "." + _b64(sig)


def unsigned(claims: dict, typ: str = ACCESS_TOKEN_TYP, alg: str = "none") -> str:
    """An *unsecured* JWT (RFC 7519 §6: ``alg: none``, empty signature): what an attacker forges."""
    header = {"alg": alg, "typ": typ}
    return _b64(_dumps(header)) + "." + _b64(_dumps(claims)) + "."


def decode_unverified(token: str) -> tuple[dict, dict]:
    """``(header, claims)`` without any check: for display and debugging only, never to decide."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenRejected("malformed", "a JWT has three dot-separated parts")
    return _json_part(parts[0], "header"), _json_part(parts[1], "claims")


def validate(token: str, keys: dict, *, issuer: str, audience: str, now: float,
             algorithms=("HS256",), leeway: float = 30.0, typ: str = ACCESS_TOKEN_TYP) -> dict:
    """The claims of *token* if it passes every check (module docstring), else :class:`TokenRejected`.

    *keys* maps ``kid`` to the issuer's HMAC key; *now* is Unix time in seconds; *leeway*
    (seconds, default 30) is the clock-skew allowance on ``exp`` and ``nbf``.
    """
    if not keys or not isinstance(keys, dict):
        raise ConfigError("keys must be a non-empty dict kid -> key (the issuer's key set).")
    algorithms = tuple(algorithms)
    if not algorithms or any(a not in _HASHES for a in algorithms):
        raise ConfigError(f"algorithms must be a non-empty list drawn from {sorted(_HASHES)}, got "
                          f"{algorithms!r}. 'none' can never be allowed (RFC 9068 §4).")
    _check_number("leeway", leeway, low=0.0, high=300.0,
                  fix="Keep the clock-skew allowance small: seconds, e.g. 30.")
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenRejected("malformed", "a JWT has three dot-separated parts")
    header = _json_part(parts[0], "header")
    if header.get("typ") != typ and header.get("typ") != "application/" + typ:
        raise TokenRejected("typ", f"typ is {header.get('typ')!r}, an access token has {typ!r}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg not in algorithms:
        raise TokenRejected("alg", f"alg {alg!r} is not in the allow-list {list(algorithms)}")
    kid = header.get("kid")
    if kid not in keys:
        raise TokenRejected("kid", f"kid {kid!r} is not one of the issuer's keys")
    key = _check_key(keys[kid])
    expected = hmac.new(key, (parts[0] + "." + parts[1]).encode("ascii"), _HASHES[alg]).digest()
    if not hmac.compare_digest(expected, _unb64(parts[2])):
        raise TokenRejected("signature", "the signature does not match")
    claims = _json_part(parts[1], "claims")
    if claims.get("iss") != issuer:
        raise TokenRejected("iss", f"iss is {claims.get('iss')!r}, expected {issuer!r}")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if audience not in auds:
        raise TokenRejected("aud", f"aud is {aud!r}, this service is {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or now >= exp + leeway:
        raise TokenRejected("exp", f"expired (exp {exp!r}, now {now:.0f}, leeway {leeway:g} s)")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or now < nbf - leeway):
        raise TokenRejected("nbf", f"not valid before {nbf!r} (now {now:.0f})")
    return claims


@dataclass
class Issuer:
    """An authorization server in miniature: one issuer URL, its HMAC keys, access tokens.

    Tokens carry the RFC 9068 §2.2 claims: ``iss``, ``exp``, ``aud``, ``sub``,
    ``client_id``, ``iat``, ``jti`` and, when granted, ``scope`` (space-separated). ``jti``
    is a counter, so tokens are reproducible.
    """

    url: str
    keys: dict = field(default_factory=dict)
    current_kid: str = ""
    ttl: float = 300.0
    _jti: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith("https://"):
            raise ConfigError(f"the issuer must be an https URL (RFC 9068 §2.2), got {self.url!r}.")
        if not self.keys:
            raise ConfigError("an Issuer needs at least one key: Issuer(url, keys={'k1': 32+ bytes}, "
                              "current_kid='k1').")
        for k in self.keys.values():
            _check_key(k)
        if self.current_kid not in self.keys:
            raise ConfigError(f"current_kid {self.current_kid!r} is not in keys {sorted(self.keys)}.")
        _check_number("ttl", self.ttl, low=0.0, low_open=True, fix="Pass a lifetime in seconds.")

    def issue(self, sub: str, aud, *, now: float, scope: str = "", client_id: str = "shop-web",
              ttl: float | None = None, **extra) -> str:
        """A signed access token for *sub*, audience *aud*, valid *ttl* seconds from *now*."""
        _check_number("now", now, fix="Pass Unix time in seconds.")
        self._jti += 1
        claims = {"iss": self.url, "sub": sub, "aud": aud, "client_id": client_id,
                  "iat": int(now), "exp": int(now + (self.ttl if ttl is None else ttl)),
                  "jti": f"t{self._jti}"}
        if scope:
            claims["scope"] = scope
        claims.update(extra)
        return encode(claims, self.keys[self.current_kid], kid=self.current_kid)

    def validate(self, token: str, audience: str, now: float, **kw) -> dict:
        """:func:`validate` against this issuer's URL and keys."""
        return validate(token, self.keys, issuer=self.url, audience=audience, now=now, **kw)


def _parity(seed: int) -> str:
    """Digest of tokens made from *seed*-derived claims and the verdicts on their tamperings."""
    import random
    rng = random.Random(seed)
    iss = Issuer("https://id.shop.example", {"k1": bytes(rng.getrandbits(8) for _ in range(32))}, "k1")
    out = []
    for i in range(20):
        tok = iss.issue(f"user{rng.randrange(100)}", "payments", now=1_767_225_600 + i)
        bad = tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB")
        for t in (tok, bad, unsigned({"sub": "x", "aud": "payments"})):
            try:
                out.append(iss.validate(t, "payments", now=1_767_225_601 + i)["sub"])
            except TokenRejected as e:
                out.append(e.reason)
        out.append(tok)
    return hashlib.sha256("|".join(out).encode()).hexdigest()
