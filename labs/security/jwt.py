"""JWT access tokens, made and signed for real: HMAC-SHA256 (HS256) with Python's ``hmac``.

A JWT (RFC 7519) is ``base64url(header) "." base64url(claims) "." base64url(signature)``,
the signature a JWS (RFC 7515) over the first two parts; base64url has no padding (RFC
7515 §2). ``HS256`` is HMAC with SHA-256 (RFC 7518 §3.2). The signatures here are real:
change one character of a token and its signature no longer matches.

This module ships the **parts** a resource server's validation is made of, and one
**broken** validator, not the correct one (writing that, in the right order, is the
chapter 11 exercise; RFC 8725 §3 and RFC 9068 §4 say what it must check):

- :func:`encode` signs claims into a token; :func:`unsigned` builds an ``alg: none``
  token (RFC 7519 §6), what an attacker forges; :class:`Issuer` issues access tokens with
  the RFC 9068 §2.2 claims and answers RFC 7662 introspection for the tokens *it* issued;
- :func:`b64url` and :func:`b64url_decode` write and read unpadded base64url;
  :func:`decode_part` reads one part as a JSON object; :func:`decode_unverified` reads
  header and claims **without any check** (for display, or to read ``typ``/``alg``/``kid``
  before deciding which key to use: never to act on a claim);
- :func:`sign` computes the signature part for a signing input, a key and an HMAC
  algorithm; :func:`same_signature` compares two signature parts in constant time
  (``hmac.compare_digest``: a byte-by-byte ``==`` leaks through timing how much matched);
- :func:`naive_validate` is what broken code in the wild does (module section below).

**The broken validator.** Early JWT libraries verified a token with the algorithm its own
header named, so ``alg: none`` meant "no signature needed" and an attacker chose the
check (Tim McLean, "Critical vulnerabilities in JSON Web Token libraries", Auth0, 2015;
CVE-2015-9235 in node-jsonwebtoken). Code built on such a library also commonly skips the
claims checks: it verifies the signature, then uses ``sub`` and ``scope`` without asking
whether the token was issued by the expected issuer, for this service, or is still valid.
:func:`naive_validate` does exactly that, so the lab can show what gets through.

Left out: asymmetric algorithms (RS256, ES256) and JWKS fetching; the lab's issuer shares
an HMAC key with the services, which is realistic only inside one trust domain.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError, _check_number

__all__ = ["ACCESS_TOKEN_TYP", "Issuer", "TokenRejected", "b64url", "b64url_decode", "decode_part",
           "decode_unverified", "encode", "naive_validate", "same_signature", "sign", "unsigned"]

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
ACCESS_TOKEN_TYP = "at+jwt"


class TokenRejected(Exception):
    """A token that must not be accepted; ``reason`` is one short word, ``detail`` says why.

    The reasons the lab uses: ``malformed``, ``typ``, ``alg``, ``kid``, ``signature``,
    ``iss``, ``aud``, ``exp`` (a validator raises the one for the first check that fails).
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    """Unpadded base64url of *data* (RFC 7515 §2), as the three parts of a JWT are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of one unpadded base64url part, or :class:`TokenRejected` (``"malformed"``)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise TokenRejected("malformed", "a part is not unpadded base64url (RFC 7515 §2)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise TokenRejected("malformed", "a part is not base64url") from None


def _json_part(text: str, what: str) -> dict:
    try:
        value = json.loads(b64url_decode(text).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected("malformed", f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRejected("malformed", f"the {what} is not a JSON object")
    return value


def decode_part(part: str) -> dict:
    """The JSON object in one base64url part of a JWT, or :class:`TokenRejected` ("malformed")."""
    return _json_part(part, "part")


def _parts(token: str) -> list[str]:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenRejected("malformed", "a JWT has three dot-separated parts")
    return parts


def decode_unverified(token: str) -> tuple[dict, dict]:
    """``(header, claims)`` without any check: for display and debugging only, never to decide."""
    parts = _parts(token)
    return _json_part(parts[0], "header"), _json_part(parts[1], "claims")


def _dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _check_key(key: object) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or len(key) < 32:
        raise ConfigError(f"an HMAC key must be at least 32 bytes (RFC 7518 §3.2: a key of the "
                          f"hash's size or larger), got {key!r:.40}. Use e.g. secrets.token_bytes(32).")
    return key


def sign(signing_input: str, key: bytes | str, alg: str = "HS256") -> str:
    """The signature part (base64url) of *signing_input* (``header_part + "." + claims_part``).

    *alg* is HS256, HS384 or HS512: HMAC with SHA-256, -384 or -512 (RFC 7518 §3.2). The
    caller chooses *alg* and *key*; this function checks nothing about the token.
    """
    if alg not in _HASHES:
        raise ConfigError(f"alg must be one of {sorted(_HASHES)}, got {alg!r}. ('none' is not a "
                          "signature algorithm; use unsigned() to build an alg=none token.)")
    if not isinstance(signing_input, str):
        raise ConfigError(f"signing_input must be the string header_part + '.' + claims_part, "
                          f"got {signing_input!r:.40}.")
    mac = hmac.new(_check_key(key), signing_input.encode("ascii", "replace"), _HASHES[alg])
    return b64url(mac.digest())


def same_signature(a: str, b: str) -> bool:
    """True if the signature parts *a* and *b* are equal, compared in constant time.

    ``hmac.compare_digest`` on the ASCII bytes: the time taken does not depend on how many
    leading characters match, so an attacker cannot find a valid signature byte by byte.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


def encode(claims: dict, key: bytes | str, *, alg: str = "HS256", kid: str | None = None,
           typ: str = ACCESS_TOKEN_TYP, headers: dict | None = None) -> str:
    """Sign *claims* into a compact JWT with HMAC (*alg* HS256, HS384 or HS512).

    *headers* adds header parameters (e.g. ``{"jku": ...}`` for an attack on a validator
    that lets the token pick its key); ``alg``, ``typ`` and ``kid`` come from the arguments.
    """
    if not isinstance(claims, dict):
        raise ConfigError(f"claims must be a dict such as {{'sub': 'alice'}}, got {claims!r}.")
    if alg not in _HASHES:
        raise ConfigError(f"alg must be one of {sorted(_HASHES)}, got {alg!r}. "
                          "(Use unsigned() to build an alg=none token for an attack.)")
    if headers is not None and not isinstance(headers, dict):
        raise ConfigError(f"headers must be a dict of extra header parameters, got {headers!r}.")
    key = _check_key(key)
    header = dict(headers or {}) | {"alg": alg, "typ": typ}
    if kid is not None:
        header["kid"] = kid
    signing_input = b64url(_dumps(header)) + "." + b64url(_dumps(claims))
    return signing_input + "." + sign(signing_input, key, alg)


def unsigned(claims: dict, typ: str = ACCESS_TOKEN_TYP, alg: str = "none") -> str:
    """An *unsecured* JWT (RFC 7519 §6: ``alg: none``, empty signature): what an attacker forges."""
    header = {"alg": alg, "typ": typ}
    return b64url(_dumps(header)) + "." + b64url(_dumps(claims)) + "."


def naive_validate(token: str, keys: dict) -> dict:
    """The claims of *token*, checked the way broken code checks them: **do not copy this**.

    What it does, in this order: split and decode the three parts (``"malformed"``); read
    ``alg`` **from the token's header** and, when it says ``none`` (any case), accept the
    token unsigned; otherwise look up the key by the header's ``kid`` (or the only key) and
    compare the signature computed with *the header's* algorithm (``"kid"``,
    ``"signature"``). It never checks ``typ``, ``iss``, ``aud``, ``exp`` or ``nbf``.

    So an ``alg: none`` forgery, a token for another audience, an expired token, an ID
    token, or one signed with an algorithm nobody configured all pass. This is the
    behaviour of the libraries and code the module docstring cites; the lab uses it to
    show what gets through before the learner writes the real validation.
    """
    if not isinstance(keys, dict) or not keys:
        raise ConfigError("keys must be a non-empty dict kid -> key (the issuer's key set).")
    parts = _parts(token)
    header, claims = _json_part(parts[0], "header"), _json_part(parts[1], "claims")
    alg = header.get("alg")
    if isinstance(alg, str) and alg.lower() == "none":
        return claims                       # the token said it needs no signature
    kid = header.get("kid")
    if kid not in keys and len(keys) == 1:
        kid = next(iter(keys))
    if kid not in keys:
        raise TokenRejected("kid", f"kid {kid!r} is not one of the keys")
    if alg not in _HASHES:
        raise TokenRejected("signature", f"cannot compute a signature with alg {alg!r}")
    if not same_signature(sign(parts[0] + "." + parts[1], keys[kid], alg), parts[2]):
        raise TokenRejected("signature", "the signature does not match")
    return claims


@dataclass
class Issuer:
    """An authorization server in miniature: one issuer URL, its HMAC keys, access tokens.

    Tokens carry the RFC 9068 §2.2 claims: ``iss``, ``exp``, ``aud``, ``sub``,
    ``client_id``, ``iat``, ``jti`` and, when granted, ``scope`` (space-separated). ``jti``
    is a counter, so tokens are reproducible.

    The issuer remembers every token it issued, so it can answer **introspection** (RFC
    7662) about its own tokens: :meth:`introspect` is the authorization server's view, a
    lookup, not the stateless validation a resource server does with the key (a second
    issuer with the same URL and key makes tokens this one has never seen).
    """

    url: str
    keys: dict = field(default_factory=dict)
    current_kid: str = ""
    ttl: float = 300.0
    _jti: int = 0
    _issued: dict = field(default_factory=dict, repr=False)

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
        token = encode(claims, self.keys[self.current_kid], kid=self.current_kid)
        self._issued[claims["jti"]] = (token, claims)
        return token

    def introspect(self, token: str, now: float) -> dict:
        """RFC 7662 §2.2: ``{"active": True, **claims}`` for a token this issuer issued and that
        has not expired at *now* (Unix seconds, the server's own clock, no leeway), else
        ``{"active": False}`` and nothing more (§2.2: no reason is given to the caller).

        The token is looked up by its ``jti`` and must equal, character for character
        (compared in constant time), the token issued under that ``jti``.
        """
        _check_number("now", now, fix="Pass Unix time in seconds.")
        try:
            _header, claims = decode_unverified(token)
        except TokenRejected:
            return {"active": False}
        known = self._issued.get(claims.get("jti")) if isinstance(claims.get("jti"), str) else None
        if known is None or not same_signature(known[0], token) or now >= known[1]["exp"]:
            return {"active": False}
        return {"active": True} | dict(known[1])


def _parity(seed: int) -> str:
    """Digest of tokens made from *seed*-derived claims, the naive verdicts on their
    tamperings, and the issuer's introspection of each."""
    import random
    rng = random.Random(seed)
    iss = Issuer("https://id.shop.example", {"k1": bytes(rng.getrandbits(8) for _ in range(32))}, "k1")
    out = []
    for i in range(20):
        tok = iss.issue(f"user{rng.randrange(100)}", "payments", now=1_767_225_600 + i)
        bad = tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB")
        for t in (tok, bad, unsigned({"sub": "x", "aud": "payments"})):
            try:
                out.append(str(naive_validate(t, iss.keys).get("sub")))
            except TokenRejected as e:
                out.append(e.reason)
            out.append(str(iss.introspect(t, 1_767_225_601 + i)["active"]))
        out.append(tok)
    return hashlib.sha256("|".join(out).encode()).hexdigest()
