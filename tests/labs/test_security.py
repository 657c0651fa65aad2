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


def reason(token, **kw):
    kw.setdefault("audience", "payments")
    kw.setdefault("now", 1010)
    try:
        jwt.validate(token, {"k1": KEY}, issuer=ISS, **kw)
        return "ok"
    except jwt.TokenRejected as e:
        return e.reason


# -- JWT -------------------------------------------------------------------------------
def test_rfc7515_appendix_a1_signature_verifies():
    """The HS256 example of RFC 7515 A.1 verifies with its key (so the HMAC is the real one)."""
    token = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
             "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
             "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    k = base64.urlsafe_b64decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==")
    # no kid in the header: the key set maps None; no aud: rejected at aud, after the signature
    with pytest.raises(jwt.TokenRejected) as e:
        jwt.validate(token, {None: k}, issuer="joe", audience="x", now=0, typ="JWT")
    assert e.value.reason == "aud"
    bad = token[:-1] + ("k" if token[-1] != "k" else "j")
    with pytest.raises(jwt.TokenRejected) as e:
        jwt.validate(bad[:-3] + "AAA", {None: k}, issuer="joe", audience="x", now=0, typ="JWT")
    assert e.value.reason == "signature"


def test_good_token_round_trips():
    tok = issuer().issue("alice", "payments", now=1000, scope="a b")
    claims = jwt.validate(tok, {"k1": KEY}, issuer=ISS, audience="payments", now=1001)
    assert claims["sub"] == "alice" and claims["scope"] == "a b" and claims["exp"] == 1300
    assert set(claims) >= {"iss", "exp", "aud", "sub", "client_id", "iat", "jti"}  # RFC 9068 §2.2


def test_the_order_of_checks():
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


def test_application_at_jwt_is_accepted():
    tok = jwt.encode({"iss": ISS, "aud": "p", "exp": 2000}, KEY, kid="k1", typ="application/at+jwt")
    assert reason(tok, audience="p") == "ok"


@settings(max_examples=60)
@given(st.integers(min_value=0, max_value=10_000), st.data())
def test_any_changed_character_is_rejected(seed, data):
    """The main invariant: a token changed anywhere is never accepted."""
    tok = issuer().issue(f"user{seed}", "payments", now=1000)
    pos = data.draw(st.integers(min_value=0, max_value=len(tok) - 1))
    ch = data.draw(st.sampled_from("ABCXYZabcxyz0189-_."))
    changed = tok[:pos] + ch + tok[pos + 1:]
    if changed != tok and jwt.decode_unverified.__name__:
        try:
            claims = jwt.validate(changed, {"k1": KEY}, issuer=ISS, audience="payments", now=1001)
        except jwt.TokenRejected:
            return
        # base64url's last character carries unused bits: a change there may decode the same
        assert pos == len(tok) - 1 and claims["sub"] == f"user{seed}"


def test_config_errors():
    with pytest.raises(labs.ConfigError, match="32 bytes"):
        jwt.encode({}, b"short")
    with pytest.raises(labs.ConfigError, match="alg"):
        jwt.encode({}, KEY, alg="none")
    with pytest.raises(labs.ConfigError, match="none"):
        jwt.validate("a.b.c", {"k": KEY}, issuer=ISS, audience="x", now=0, algorithms=["none"])
    with pytest.raises(labs.ConfigError, match="leeway"):
        jwt.validate("a.b.c", {"k": KEY}, issuer=ISS, audience="x", now=0, leeway=3600)
    with pytest.raises(labs.ConfigError, match="https"):
        jwt.Issuer("http://id", {"k": KEY}, "k")
    with pytest.raises(labs.ConfigError, match="current_kid"):
        jwt.Issuer(ISS, {"k": KEY}, "other")


def test_parity_is_deterministic():
    assert jwt._parity(3) == jwt._parity(3) != jwt._parity(4)
    assert identity._parity(3) == identity._parity(3)
    assert exchange._parity(3) == exchange._parity(3)
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


def test_exchange_narrows_audience_and_scope():
    t = tx()
    user = t.issuer.issue("alice", "shop-api", now=1000, scope="orders:read payments:charge")
    resp = t.exchange(user, actor=ORDERS, audience="payments", scope="payments:charge", now=1000)
    assert resp["issued_token_type"] == exchange.ACCESS_TOKEN_TYPE and resp["token_type"] == "Bearer"
    claims = t.issuer.validate(resp["access_token"], "payments", 1001)
    assert (claims["sub"], claims["aud"], claims["scope"], claims["act"]) == (
        "alice", "payments", "payments:charge", {"sub": ORDERS})
    assert claims["exp"] == 1060 and resp["expires_in"] == 60
    with pytest.raises(jwt.TokenRejected):
        t.issuer.validate(resp["access_token"], "shop-api", 1001)


@pytest.mark.parametrize("kw, error", [
    ({"audience": "shipping"}, "invalid_target"),
    ({"scope": "payments:refund"}, "invalid_scope"),
    ({"scope": ""}, "invalid_scope"),
    ({"actor": None}, "invalid_client"),
    ({"actor": "spiffe://shop.example/ns/shop/sa/shipping"}, "invalid_target"),
    ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
    ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
])
def test_exchange_refusals(kw, error):
    t = tx()
    user = t.issuer.issue("alice", "shop-api", now=1000, scope="payments:charge")
    args = {"actor": ORDERS, "audience": "payments", "scope": "payments:charge", "now": 1000} | kw
    with pytest.raises(exchange.ExchangeRefused) as e:
        t.exchange(user, **args)
    assert e.value.error == error


def test_exchange_refuses_bad_subject_tokens_and_caps_lifetime():
    t = tx()
    with pytest.raises(exchange.ExchangeRefused, match="invalid_request"):
        t.exchange(jwt.unsigned({"sub": "bob", "aud": "shop-api", "scope": "payments:charge"}),
                   actor=ORDERS, audience="payments", scope="payments:charge", now=1000)
    short = t.issuer.issue("alice", "shop-api", now=1000, ttl=20, scope="payments:charge")
    resp = t.exchange(short, actor=ORDERS, audience="payments", scope="payments:charge", now=1010)
    assert resp["expires_in"] == 10          # never outlives the subject token


@given(st.sets(st.sampled_from(["a", "b", "c", "d"]), min_size=1),
       st.sets(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1))
def test_exchanged_scope_never_widens(held, wanted):
    """The invariant: the new token's scope is always within the subject token's."""
    t = exchange.TokenExchange(issuer(), "shop-api", {ORDERS: ["payments"]})
    user = t.issuer.issue("alice", "shop-api", now=1000, scope=" ".join(sorted(held)))
    try:
        resp = t.exchange(user, actor=ORDERS, audience="payments", scope=" ".join(sorted(wanted)),
                          now=1000)
    except exchange.ExchangeRefused as e:
        assert e.error == "invalid_scope" and not wanted <= held
        return
    assert set(resp["scope"].split()) == wanted <= held


def test_exchange_config_error():
    with pytest.raises(labs.ConfigError, match="policy"):
        exchange.TokenExchange(issuer(), "shop-api", {ORDERS: "payments"})


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
    assert labs.jwt.validate is jwt.validate
    assert json.loads(json.dumps(jwt.decode_unverified(issuer().issue("a", "b", now=1))[1]))
