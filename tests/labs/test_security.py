"""Tests of labs.security: JWTs (real HMAC), SPIFFE IDs and peer checks, token exchange, audit."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labs
from labs.security import audit, exchange, identity, jwt

KEY = b"k" * 32
ISS = "https://id.shop.example"


def issuer(**kw):
    return jwt.Issuer(ISS, {"k1": KEY}, "k1", **kw)


def reference_validate(token, keys, *, issuer, audience, now, algorithms=("HS256",), leeway=30,
                       typ=jwt.ACCESS_TOKEN_TYP):
    """The correct validation (RFC 8725 §3, RFC 9068 §4), built here from the library's parts.

    It lives in the tests, not in ``labs``: writing it is the ch11-validate exercise. The
    tests use it to show that the parts the library ships are enough, and that the
    library's own validator (``naive_validate``) is not this.
    """
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise jwt.TokenRejected("malformed", "three parts")
    header = jwt.decode_part(parts[0])
    if header.get("typ") not in (typ, "application/" + typ):
        raise jwt.TokenRejected("typ", repr(header.get("typ")))
    if header.get("alg") not in algorithms:
        raise jwt.TokenRejected("alg", repr(header.get("alg")))
    if header.get("kid") not in keys:
        raise jwt.TokenRejected("kid", repr(header.get("kid")))
    expected = jwt.sign(parts[0] + "." + parts[1], keys[header.get("kid")], header["alg"])
    if not jwt.same_signature(expected, parts[2]):
        raise jwt.TokenRejected("signature", "mismatch")
    claims = jwt.decode_part(parts[1])
    if claims.get("iss") != issuer:
        raise jwt.TokenRejected("iss", repr(claims.get("iss")))
    aud = claims.get("aud")
    if audience not in (aud if isinstance(aud, list) else [aud]):
        raise jwt.TokenRejected("aud", repr(aud))
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or now >= exp + leeway:
        raise jwt.TokenRejected("exp", repr(exp))
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or now < nbf - leeway):
        raise jwt.TokenRejected("nbf", repr(nbf))
    return claims


def reason(token, **kw):
    kw.setdefault("audience", "payments")
    kw.setdefault("now", 1010)
    try:
        reference_validate(token, {"k1": KEY}, issuer=ISS, **kw)
        return "ok"
    except jwt.TokenRejected as e:
        return e.reason


def naive(token, keys=None):
    try:
        return jwt.naive_validate(token, keys or {"k1": KEY})
    except jwt.TokenRejected as e:
        return e.reason


# -- JWT -------------------------------------------------------------------------------
RFC7515_A1 = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
              "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
              "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
RFC7515_A1_KEY = base64.urlsafe_b64decode(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==")


def test_rfc7515_appendix_a1_signature():
    """The HS256 example of RFC 7515 A.1: jwt.sign gives its signature (the HMAC is the real one)."""
    h, c, sig = RFC7515_A1.split(".")
    assert jwt.sign(h + "." + c, RFC7515_A1_KEY, "HS256") == sig
    assert jwt.same_signature(jwt.sign(h + "." + c, RFC7515_A1_KEY), sig)
    assert not jwt.same_signature(jwt.sign(h + "." + c + "x", RFC7515_A1_KEY), sig)
    assert jwt.decode_part(c)["iss"] == "joe"
    # no kid, typ JWT, no aud: the naive check takes it (the only key); the reference does not
    assert naive(RFC7515_A1, {None: RFC7515_A1_KEY})["iss"] == "joe"
    with pytest.raises(jwt.TokenRejected) as e:
        reference_validate(RFC7515_A1, {None: RFC7515_A1_KEY}, issuer="joe", audience="x", now=0,
                           typ="JWT")
    assert e.value.reason == "aud"


def test_base64url_parts():
    assert jwt.b64url(b"\xfb\xff") == "-_8" and jwt.b64url_decode("-_8") == b"\xfb\xff"
    for bad in ["a+b", "ab==", "a", 7]:
        with pytest.raises(jwt.TokenRejected) as e:
            jwt.b64url_decode(bad)
        assert e.value.reason == "malformed"
    with pytest.raises(jwt.TokenRejected, match="object"):
        jwt.decode_part(jwt.b64url(b"[1, 2]"))
    assert jwt.same_signature("abc", "abc") and not jwt.same_signature("abc", "abd")
    assert not jwt.same_signature("abc", None)


@given(st.binary(max_size=64))
def test_b64url_round_trips(data):
    text = jwt.b64url(data)
    assert "=" not in text and jwt.b64url_decode(text) == data


def test_good_token_round_trips():
    tok = issuer().issue("alice", "payments", now=1000, scope="a b")
    claims = reference_validate(tok, {"k1": KEY}, issuer=ISS, audience="payments", now=1001)
    assert claims["sub"] == "alice" and claims["scope"] == "a b" and claims["exp"] == 1300
    assert set(claims) >= {"iss", "exp", "aud", "sub", "client_id", "iat", "jti"}  # RFC 9068 §2.2
    assert jwt.decode_unverified(tok) == ({"alg": "HS256", "kid": "k1", "typ": "at+jwt"}, claims)


def test_the_parts_compose_into_the_right_order_of_checks():
    """Each defect is reported by its own check; claims are never read before the signature."""
    i = issuer()
    good = i.issue("alice", "payments", now=1000)
    assert reason(good) == "ok"
    assert reason("a.b") == "malformed"
    assert reason(jwt.unsigned({"aud": "elsewhere"})) == "alg"            # not "aud"
    assert reason(jwt.unsigned({"aud": "payments"}, alg="NONE")) == "alg"
    assert reason(jwt.encode({"aud": "payments"}, KEY, kid="k1", typ="JWT")) == "typ"
    assert reason(jwt.encode({"aud": "payments"}, KEY, alg="HS512", kid="k1")) == "alg"
    assert reason(jwt.encode({"aud": "payments"}, KEY, kid="k2")) == "kid"
    assert reason(jwt.encode({"aud": "x"}, b"z" * 32, kid="k1")) == "signature"
    assert reason(jwt.Issuer("https://other", {"k1": KEY}, "k1").issue("a", "payments", now=1000)) == "iss"
    assert reason(i.issue("a", "orders", now=1000)) == "aud"
    assert reason(i.issue("a", ["orders", "payments"], now=1000)) == "ok"
    assert reason(i.issue("a", "payments", now=0, ttl=100), now=1000) == "exp"
    assert reason(i.issue("a", "payments", now=0, ttl=990), now=1010) == "ok"       # 20 s < leeway
    assert reason(i.issue("a", "payments", now=1000, nbf=2000)) == "nbf"
    assert reason(good, algorithms=["HS256", "HS512"]) == "ok"
    assert reason(jwt.encode({"iss": ISS, "aud": "p", "exp": 2000}, KEY, kid="k1",
                             typ="application/at+jwt"), audience="p") == "ok"


def test_naive_validate_lets_the_lab_attacks_through():
    """The broken check: it believes the header's alg and never looks at typ, iss, aud or exp."""
    i = issuer()
    forged = jwt.unsigned({"sub": "bob", "aud": "elsewhere"})
    assert naive(forged)["sub"] == "bob"                                   # alg: none
    assert naive(jwt.unsigned({"sub": "bob"}, alg="None"))["sub"] == "bob"
    assert naive(i.issue("a", "orders", now=1000))["aud"] == "orders"      # wrong audience
    assert naive(i.issue("a", "payments", now=0, ttl=1))["exp"] == 1       # long expired
    assert naive(jwt.encode({"sub": "x"}, KEY, alg="HS512", kid="k1"))["sub"] == "x"
    assert naive(jwt.encode({"sub": "x"}, KEY, kid="k1", typ="JWT"))["sub"] == "x"
    assert naive(jwt.Issuer("https://other", {"k1": KEY}, "k1").issue("a", "p", now=0))["iss"] == "https://other"
    # what it does check: the signature, with a known key
    assert naive(jwt.encode({"sub": "x"}, b"z" * 32, kid="k1")) == "signature"
    assert naive(jwt.encode({"sub": "x"}, KEY, kid="k9"), {"k1": KEY, "k2": KEY}) == "kid"
    assert naive("a.b") == "malformed"
    for tok, want in [(forged, "alg"), (i.issue("a", "orders", now=1000), "aud")]:
        assert reason(tok) == want                                         # the reference refuses


def test_introspection_knows_only_the_issuers_own_tokens():
    i = issuer()
    tok = i.issue("alice", "payments", now=1000, scope="a")
    seen = i.introspect(tok, 1001)
    assert seen["active"] is True and seen["sub"] == "alice" and seen["scope"] == "a"
    assert i.introspect(tok, 1300) == {"active": False}                    # exp, no leeway
    assert i.introspect(jwt.unsigned({"jti": "t1", "sub": "bob"}), 1001) == {"active": False}
    twin = issuer().issue("alice", "payments", now=1000, scope="a b")      # same key, same jti
    assert twin.split(".")[2] != tok.split(".")[2] and i.introspect(twin, 1001) == {"active": False}
    assert i.introspect("not a token", 1001) == {"active": False}
    # a resource server's validation accepts the twin: it checks the key, not a registry
    assert reason(twin, now=1001) == "ok"


@settings(max_examples=60)
@given(st.integers(min_value=0, max_value=10_000), st.data())
def test_any_changed_character_is_rejected(seed, data):
    """The main invariant: a token changed anywhere is never accepted, by the signature check
    the parts make up, by the naive check (it does check signatures) or by introspection."""
    i = issuer()
    tok = i.issue(f"user{seed}", "payments", now=1000)
    pos = data.draw(st.integers(min_value=0, max_value=len(tok) - 1))
    ch = data.draw(st.sampled_from("ABCXYZabcxyz0189-_."))
    changed = tok[:pos] + ch + tok[pos + 1:]
    if changed == tok:
        return
    assert i.introspect(changed, 1001) == {"active": False}
    for check in (lambda t: reference_validate(t, {"k1": KEY}, issuer=ISS, audience="payments",
                                               now=1001),
                  lambda t: jwt.naive_validate(t, {"k1": KEY})):
        try:
            claims = check(changed)
        except jwt.TokenRejected:
            continue
        # base64url's last character carries unused bits: a change there may decode the same
        assert pos == len(tok) - 1 and claims["sub"] == f"user{seed}"


def test_same_seed_same_tokens():
    a = [issuer().issue("u", "p", now=t) for t in range(5)]
    assert a == [issuer().issue("u", "p", now=t) for t in range(5)]


def test_config_errors():
    with pytest.raises(labs.ConfigError, match="32 bytes"):
        jwt.encode({}, b"short")
    with pytest.raises(labs.ConfigError, match="alg"):
        jwt.encode({}, KEY, alg="none")
    with pytest.raises(labs.ConfigError, match="unsigned"):
        jwt.sign("a.b", KEY, "none")
    with pytest.raises(labs.ConfigError, match="signing_input"):
        jwt.sign(b"a.b", KEY)
    with pytest.raises(labs.ConfigError, match="headers"):
        jwt.encode({}, KEY, headers=["jku"])
    with pytest.raises(labs.ConfigError, match="non-empty dict"):
        jwt.naive_validate("a.b.c", {})
    with pytest.raises(labs.ConfigError, match="https"):
        jwt.Issuer("http://id", {"k": KEY}, "k")
    with pytest.raises(labs.ConfigError, match="current_kid"):
        jwt.Issuer(ISS, {"k": KEY}, "other")
    with pytest.raises(labs.ConfigError, match="Unix time"):
        issuer().introspect("a.b.c", "now")


def test_encode_extra_headers_cannot_override_alg():
    tok = jwt.encode({"sub": "x"}, KEY, kid="k1", headers={"jku": "https://evil", "alg": "none"})
    header, _ = jwt.decode_unverified(tok)
    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": "k1", "jku": "https://evil"}


def test_the_library_does_not_answer_the_exercises():
    """ch11-validate and ch11-exchange are written by the learner: no correct validator and
    no client-side exchange call in the library (tests/grading checks the published files)."""
    assert not hasattr(jwt, "validate") and not hasattr(jwt.Issuer, "validate")
    assert not hasattr(exchange.TokenExchange, "exchange")


def test_parity_is_deterministic():
    assert jwt._parity(3) == jwt._parity(3) != jwt._parity(4)
    assert identity._parity(3) == identity._parity(3)
    assert exchange._parity(3) == exchange._parity(3) != exchange._parity(4)
    assert audit._parity(3) == audit._parity(3)


# -- identity ----------------------------------------------------------------------------
def test_spiffe_ids():
    sid = identity.parse_spiffe_id("spiffe://k8s-west.example.com/ns/staging/sa/default")
    assert sid.trust_domain == "k8s-west.example.com" and sid.path == "/ns/staging/sa/default"
    assert str(sid) == "spiffe://k8s-west.example.com/ns/staging/sa/default"
    assert identity.parse_spiffe_id("spiffe://example.org").path == ""
    for bad, why in [("http://x/y", "scheme"), ("spiffe:///a", "empty"), ("spiffe://x/a?b", "query"),
                     ("spiffe://x/a#b", "query"), ("spiffe://X/a", "lower-case"),
                     ("spiffe://x:80/a", "port"), ("spiffe://x/a//b", "empty"),
                     ("spiffe://x/a/", "trailing"), ("spiffe://x/../a", "'..'"),
                     ("spiffe://x/a b", "letters"), ("spiffe://x/" + "a" * 2048, "2048")]:
        with pytest.raises(labs.ConfigError, match=why):
            identity.parse_spiffe_id(bad)


def test_workloads_and_peer_policy():
    w = identity.Workloads("shop.example", "shop")
    assert w.id("orders") == "spiffe://shop.example/ns/shop/sa/orders"

    class Req:
        def __init__(self, source):
            self.source = source
    assert w.peer(Req("client")) is None and w.peer(Req("orders")) == w.id("orders")
    p = identity.PeerPolicy({"payments": [w.id("orders")]})
    assert p.check("payments", w.id("orders")) is None
    assert p.check("payments", None) == "no SVID"
    assert p.check("payments", w.id("shipping")) == "peer not allowed"
    assert p.check("inventory", w.id("orders")) == "peer not allowed"       # default deny
    with pytest.raises(labs.ConfigError, match="list"):
        identity.PeerPolicy({"payments": "spiffe://x/y"})


# -- exchange ------------------------------------------------------------------------------
ORDERS = "spiffe://shop.example/ns/shop/sa/orders"


def tx():
    return exchange.TokenExchange(issuer(), "shop-api", {ORDERS: ["payments"]}, ttl=60)


def form(subject_token, **kw):
    return {"grant_type": exchange.GRANT_TYPE, "subject_token": subject_token,
            "subject_token_type": exchange.ACCESS_TOKEN_TYPE, "audience": "payments",
            "scope": "payments:charge"} | kw


def test_exchange_narrows_audience_and_scope():
    t = tx()
    user = t.issuer.issue("alice", "shop-api", now=1000, scope="orders:read payments:charge")
    resp = t.token_endpoint(form(user), actor=ORDERS, now=1000)
    assert resp["issued_token_type"] == exchange.ACCESS_TOKEN_TYPE and resp["token_type"] == "Bearer"
    claims = reference_validate(resp["access_token"], {"k1": KEY}, issuer=ISS,
                                audience="payments", now=1001)
    assert (claims["sub"], claims["aud"], claims["scope"], claims["act"]) == (
        "alice", "payments", "payments:charge", {"sub": ORDERS})
    assert claims["exp"] == 1060 and resp["expires_in"] == 60
    assert reason(resp["access_token"], audience="shop-api", now=1001) == "aud"
    # the new token can itself be exchanged only if its audience is the accepted one
    with pytest.raises(exchange.ExchangeRefused, match="invalid_request"):
        t.token_endpoint(form(resp["access_token"]), actor=ORDERS, now=1001)


def test_a_chain_of_delegation_is_nested():
    t = exchange.TokenExchange(issuer(), "shop-api", {ORDERS: ["shop-api"]})
    user = t.issuer.issue("alice", "shop-api", now=1000, scope="a", act={"sub": "spiffe://x/y"})
    resp = t.token_endpoint(form(user, audience="shop-api", scope="a"), actor=ORDERS, now=1000)
    assert jwt.decode_unverified(resp["access_token"])[1]["act"] == {
        "sub": ORDERS, "act": {"sub": "spiffe://x/y"}}


@pytest.mark.parametrize("kw, actor, error", [
    ({"audience": "shipping"}, ORDERS, "invalid_target"),
    ({"scope": "payments:refund"}, ORDERS, "invalid_scope"),
    ({"scope": ""}, ORDERS, "invalid_scope"),
    ({}, None, "invalid_client"),
    ({}, "spiffe://shop.example/ns/shop/sa/shipping", "invalid_target"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, ORDERS, "invalid_request"),
    ({"grant_type": "client_credentials"}, ORDERS, "unsupported_grant_type"),
    ({"audience": None}, ORDERS, "invalid_request"),
    ({"scope": None}, ORDERS, "invalid_request"),
])
def test_exchange_refusals(kw, actor, error):
    t = tx()
    user = t.issuer.issue("alice", "shop-api", now=1000, scope="payments:charge")
    f = {k: v for k, v in form(user, **kw).items() if v is not None}
    with pytest.raises(exchange.ExchangeRefused) as e:
        t.token_endpoint(f, actor=actor, now=1000)
    assert e.value.error == error


def test_exchange_refuses_bad_subject_tokens_and_caps_lifetime():
    t = tx()
    for bad in [jwt.unsigned({"sub": "bob", "aud": "shop-api", "scope": "payments:charge"}),
                t.issuer.issue("alice", "shop-api", now=0, ttl=10, scope="payments:charge"),
                issuer().issue("alice", "shop-api", now=1000, scope="payments:charge"),
                t.issuer.issue("alice", "orders", now=1000, scope="payments:charge")]:
        with pytest.raises(exchange.ExchangeRefused, match="invalid_request"):
            t.token_endpoint(form(bad), actor=ORDERS, now=1000)
    short = t.issuer.issue("alice", "shop-api", now=1000, ttl=20, scope="payments:charge")
    resp = t.token_endpoint(form(short), actor=ORDERS, now=1010)
    assert resp["expires_in"] == 10          # never outlives the subject token


@given(st.sets(st.sampled_from(["a", "b", "c", "d"]), min_size=1),
       st.sets(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1))
def test_exchanged_scope_never_widens(held, wanted):
    """The invariant: the new token's scope is always within the subject token's."""
    t = exchange.TokenExchange(issuer(), "shop-api", {ORDERS: ["payments"]})
    user = t.issuer.issue("alice", "shop-api", now=1000, scope=" ".join(sorted(held)))
    try:
        resp = t.token_endpoint(form(user, scope=" ".join(sorted(wanted))), actor=ORDERS, now=1000)
    except exchange.ExchangeRefused as e:
        assert e.error == "invalid_scope" and not wanted <= held
        return
    assert set(resp["scope"].split()) == wanted <= held


def test_exchange_config_error():
    with pytest.raises(labs.ConfigError, match="policy"):
        exchange.TokenExchange(issuer(), "shop-api", {ORDERS: "payments"})
    with pytest.raises(labs.ConfigError, match="accepts"):
        exchange.TokenExchange(issuer(), "", {ORDERS: ["payments"]})
    with pytest.raises(labs.ConfigError, match="ttl"):
        exchange.TokenExchange(issuer(), "shop-api", {ORDERS: ["payments"]}, ttl=0)
    with pytest.raises(labs.ConfigError, match="labs.Issuer"):
        exchange.TokenExchange("https://id", "shop-api", {ORDERS: ["payments"]})
    with pytest.raises(labs.ConfigError, match="form must be a dict"):
        tx().token_endpoint("grant_type=x", actor=ORDERS, now=1000)


# -- audit ---------------------------------------------------------------------------------
def shop(seed, guard):
    sim = labs.Simulation(seed=seed)
    a = audit.AccessAudit()

    def store(ctx, req):
        yield ctx.work(1.0)
        if not guard or req.body["user"] == "alice":
            a.effect(ctx, "read", req.body["id"], req.body["user"])
            return {"ok": True}
        return labs.Response.error(403, "no")

    def front(ctx, req):
        ctx.log("hello", authorization="Bearer " + jwt.unsigned({"x": 1}) + "abcd")
        r = yield ctx.call("store", req.body)
        return r

    rng = sim.stream("test:audit")
    sim.service("store", store)
    sim.service("front", a.entry(front))
    sim.load("front", rate=100, duration=500, arrivals="uniform",
             body=lambda _r, i: (lambda u: {"id": i, "user": u,
                                            "attack": None if u == "alice" else "bob"})(
                 rng.choice(["alice", "bob"])))
    return sim.run(), a


def test_audit_lists_exactly_the_attacks_that_caused_effects():
    result, a = shop(1, guard=False)
    attacks = [t for t, label in a.labels.items() if label]
    assert attacks and len(a.wrongly_allowed()) == len(attacks)
    assert all(isinstance(v, labs.checkers.Violation) for v in a.wrongly_allowed())
    result, a = shop(1, guard=True)
    assert a.wrongly_allowed() == [] and a.legit_denied() == []
    assert a.by_attack()["bob"]["refused"] == a.by_attack()["bob"]["requests"]


def test_same_seed_same_journal_and_secrets_found():
    r1, _ = shop(4, True)
    r2, _ = shop(4, True)
    assert r1.journal_hash() == r2.journal_hash()
    found = labs.secrets_in_logs(r1, ["hunter2"])
    assert found and found[0]["found"] == "a JWT" and "eyJ" not in str(found[0])
    assert audit.looks_like_jwt("x " + issuer().issue("a", "b", now=1)) is True
    assert audit.looks_like_jwt("no token here") is False


def test_exports():
    for name in ["Issuer", "TokenRejected", "TokenExchange", "ExchangeRefused", "Workloads",
                 "PeerPolicy", "SpiffeId", "parse_spiffe_id", "AccessAudit", "secrets_in_logs"]:
        assert getattr(labs, name) is not None
    assert labs.jwt.naive_validate is jwt.naive_validate and labs.jwt.sign is jwt.sign
    assert json.loads(json.dumps(jwt.decode_unverified(issuer().issue("a", "b", now=1))[1]))
