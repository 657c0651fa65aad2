# %% [markdown]
# # One artifact, three environments: configuration with Aero
#
# The shop's `orders` service is one artifact (one uberjar, one image) deployed to dev,
# staging and prod. What differs is its **configuration**: an EDN file in the repository,
# written with Aero's tags (`#env`, `#or`, `#profile`, `#ref`, `#include`, `#long`, …), and
# the environment each deployment gives it: variables, and secrets mounted as files.
#
# `labs.read_config` is an Aero-compatible resolver (the semantics of juxt/aero 1.1.6's
# `core.cljc`, including what `#long #env PORT` does when PORT is unset and what a `#ref`
# cycle does), and `labs.Schema` checks a config against a malli-style schema with
# malli's own messages. First the config works in all three environments; then five
# mistakes that real teams make, each shown in numbers; then you write the config, the
# schema and the drift allow-list yourself.

# %%
from IPython.display import display

import labs
from labs import kw, to_edn

# %% tags=["knob"]
SEED = 14
RATE = 100           # checkouts per second
DURATION = 4_000     # ms of traffic
DEPLOY_AT = 2_000    # ms: when the new configuration is rolled out

# %% [markdown]
# ## 1. The configuration, as the repository holds it
#
# No secret in it: the database password comes from `secrets.edn`, a file the platform
# mounts at run time (a Kubernetes Secret, say), never committed. Operational defaults are
# written down (`800` ms, `8080`), and every environment variable that can override them
# is named.

# %%
CONFIG = """
{:http     {:port #long #or [#env PORT 8080]}
 :db       {:host     #profile {:dev "localhost" :default #env DB_HOST}
            :url      #join ["jdbc:postgresql://" #ref [:db :host] ":5432/shop"]
            :password #profile {:dev "dev-only" :default #include "secrets.edn"}}
 :payments {:url        #or [#env PAYMENTS_URL "http://payments:8080"]
            :timeout-ms #long #or [#env PAYMENTS_TIMEOUT_MS 800]}
 :log-level #keyword #or [#env LOG_LEVEL "info"]
 :features  {:new-checkout #boolean #or [#env NEW_CHECKOUT "false"]}}
"""

ENVIRONMENTS = {
    "dev": {"env": {}, "files": {}},
    "staging": {"env": {"DB_HOST": "db.staging.internal", "LOG_LEVEL": "debug"},
                "files": {"secrets.edn": '"staging-db-password-7f3a"'}},
    "prod": {"env": {"DB_HOST": "db.prod.internal", "PORT": "8443"},
             "files": {"secrets.edn": '"prod-db-password-b91c"'}},
}


def effective(config_text, profile, environments=ENVIRONMENTS):
    e = environments[profile]
    return labs.resolve_config(config_text, profile, env=e["env"], files=e["files"])


resolved = {p: effective(CONFIG, p).config for p in ENVIRONMENTS}
for p, cfg in resolved.items():
    print(f"{p:8}", to_edn(cfg))

# %% [markdown]
# The same three configs as a table, one row per key (secrets shown only as "(secret)"),
# the first view of **drift**: which values differ between environments, and whether they
# should.

# %%
def show_drift(a, b, names, expected=()):
    rows = labs.drift(a, b, expected=expected, names=names)
    display(labs.viz.table([(r["path"], {k: v for k, v in r.items() if k != "path"}) for r in rows]
                           or [("(no differences)", {names[0]: "", names[1]: "", "expected": ""})],
                           title=f"{names[0]} vs {names[1]}: effective configuration"))
    return rows


_ = show_drift(resolved["staging"], resolved["prod"], ("staging", "prod"))

# %% [markdown]
# ## 2. The shop, run with its configuration
#
# `run_env(...)` runs orders and payments for a few seconds. Orders reads its config:
# the payments timeout, the database password (a login without it fails), the port. At
# `DEPLOY_AT` a new configuration is rolled out; with `validate=SCHEMA` orders checks it
# *at start-up* and refuses to start on a bad one (the old instances keep serving, which
# is what a readiness probe and a rolling update give you).

# %%
SCHEMA = labs.Schema("""
[:map
 [:http [:map [:port [:int {:min 1 :max 65535}]]]]
 [:db [:map [:host [:re "^[a-z0-9.-]+$"]]
            [:url [:string {:min 1}]]
            [:password [:string {:min 8}]]]]
 [:payments [:map [:url [:string {:min 1}]]
                  [:timeout-ms [:int {:min 50 :max 10000}]]]]
 [:log-level [:enum :debug :info :warn :error]]
 [:features [:map [:new-checkout :boolean]]]]
""")


def run_env(config, new_config=None, validate=None, seed=SEED, rate=RATE, duration=DURATION,
            deploy_at=DEPLOY_AT):
    """One run; returns (result, refused) where refused is the start-up error, if any."""
    sim = labs.Simulation(seed=seed, handler_errors="500")
    refused = None
    if new_config is not None and validate is not None:
        try:
            labs.check_config(validate, new_config)
        except labs.ConfigInvalid as e:
            refused = str(e)

    def current(ctx):
        if new_config is not None and refused is None and ctx.now >= deploy_at:
            return new_config
        return config

    def orders(ctx, req):
        cfg = current(ctx)
        db, pay = cfg[kw("db")], cfg[kw("payments")]
        yield ctx.work(1.0)
        if not db[kw("password")]:
            raise RuntimeError("FATAL: password authentication failed for user \"shop\"")
        reply = yield ctx.call("payments", {"order": req.body["id"]},
                               timeout=pay[kw("timeout-ms")])
        if not reply.ok:
            return labs.Response.error(502, f"payments: {reply.reason or reply.status}")
        return {"placed": req.body["id"]}

    def payments(ctx, req):
        yield ctx.work(labs.LogNormal(median=60.0, sigma=0.5))
        return {"charged": True}

    sim.service("orders", orders, concurrency=64, queue=200)
    sim.service("payments", payments, concurrency=64, queue=200)
    sim.load("orders", rate=rate, duration=duration, arrivals="uniform")
    return sim.run(), refused


def errors_over_time(result, bucket=250):
    groups = {}
    for r in result.requests:
        b = int(r.start // bucket) * bucket
        ok, n = groups.get(b, (0, 0))
        groups[b] = (ok + (not r.ok), n + 1)
    return [(b, round(100.0 * bad / n, 1)) for b, (bad, n) in sorted(groups.items())]


def summary(result, refused=None, after=DEPLOY_AT):
    late = [r for r in result.requests if r.start >= after]
    return {"requests": len(result.requests),
            "failed after deploy %": round(100.0 * sum(not r.ok for r in late) / max(1, len(late)), 1),
            "refused to start": "yes" if refused else "no"}


base_result, _ = run_env(resolved["prod"])
display(labs.viz.table([("prod, as configured", summary(base_result))]))

# %% [markdown]
# ## 3. Break it: a variable missing in prod, which dev never noticed
#
# A new release moves the password out of `secrets.edn` into a variable, `#env
# DB_PASSWORD`, because "that is how the new platform does it". In dev the `:dev` branch
# still has its literal, so every test passes. In prod nobody set `DB_PASSWORD`: Aero
# gives `nil`, and nothing complains until the first login.

# %%
CONFIG_V2 = CONFIG.replace('#include "secrets.edn"', "#env DB_PASSWORD")
prod_v2 = effective(CONFIG_V2, "prod").config
print("prod password after the change:", to_edn(prod_v2[kw("db")][kw("password")]))

no_check, _ = run_env(resolved["prod"], new_config=prod_v2)
with_check, refused = run_env(resolved["prod"], new_config=prod_v2, validate=SCHEMA)
display(labs.viz.table([("deploy without start-up validation", summary(no_check)),
                        ("deploy with start-up validation", summary(with_check, refused))]))
print(refused)
labs.quote("missing_var_failed_pct", summary(no_check)["failed after deploy %"], "{:.1f}")
labs.quote("missing_var_validated_failed_pct", summary(with_check, refused)["failed after deploy %"], "{:.1f}")

# %%
labs.viz.line({"without validation": errors_over_time(no_check),
               "with validation": errors_over_time(with_check)},
              x="time (ms)", y="failed checkouts (%)",
              title=f"A config missing DB_PASSWORD rolled out at {DEPLOY_AT} ms")

# %% [markdown]
# Without validation the new instances start, pass a naive health check, and fail every
# checkout. With the schema checked at start-up, the new instances never become ready:
# the rollout stops with a message that names the key, and customers see nothing.

# %% [markdown]
# ## 4. Break it: `#long #env` of an unset variable
#
# `#long #env PORT` looks like "the port, as a number". When PORT is unset, Aero's `#env`
# gives `nil`, and `#long` calls `(Long/parseLong (str nil))`, that is `parseLong("")`:

# %%
try:
    labs.read_config('{:http {:port #long #env PORT}}', "prod", env={})
except labs.AeroError as e:
    print(e)
print(to_edn(labs.read_config('{:http {:port #long #or [#env PORT 8080]}}', "prod", env={})))

# %% [markdown]
# That one at least fails at start-up. Write `#long #or [#env PORT 8080]`: the default
# is explicit, and the conversion sees a value.
#
# ## 5. Break it: a secret committed in a profile
#
# `labs.committed_secrets` reads the raw file, every profile's branch, not only the one a
# test used, and lists literal strings under secret-looking keys:

# %%
for s in labs.committed_secrets(CONFIG):
    print(s)
LEAKY = CONFIG.replace('#include "secrets.edn"', '"prod-db-password-b91c"')
print("after a 'quick fix':", labs.committed_secrets(LEAKY))
labs.quote("committed_in_config", len(labs.committed_secrets(CONFIG)))

# %% [markdown]
# Even `"dev-only"` is reported: a dev password in the repository is harmless only
# until someone reuses it. The fix is the same in every profile: `#env` or `#include`.
#
# ## 6. Break it: a `#ref` cycle
#
# Someone writes the host in terms of the URL and the URL in terms of the host. Aero does
# not throw: it prints a warning, puts `nil` in for one `#ref` of the cycle, and goes on.
# Here (checked against Aero 1.1.6 on the JVM) the URL is built with an empty host, and
# the host becomes that URL: a non-empty string, which a schema that only asks for "a
# string" accepts. The schema above asks for a host name.

# %%
CYCLE = CONFIG.replace(
    """:db       {:host     #profile {:dev "localhost" :default #env DB_HOST}
            :url      #join ["jdbc:postgresql://" #ref [:db :host] ":5432/shop"]""",
    """:db       {:url      #join ["jdbc:postgresql://" #ref [:db :host] ":5432/shop"]
            :host     #ref [:db :url]""")
assert CYCLE != CONFIG
cyc = effective(CYCLE, "prod")
print(cyc.warnings)
print(":db is", to_edn(cyc.config[kw("db")]))
print(to_edn(SCHEMA.humanize(cyc.config)))

# %% [markdown]
# ## 7. Break it: drift between staging and prod
#
# In prod, `PAYMENTS_TIMEOUT_MS` was set by hand during an incident to `80` (someone
# meant 800) and never removed. Staging, where the release was tested, has the default.
# Only the effective configs show it, and only the run shows what it costs.

# %%
ENV_DRIFT = {**ENVIRONMENTS, "prod": {"env": {**ENVIRONMENTS["prod"]["env"],
                                              "PAYMENTS_TIMEOUT_MS": "80"},
                                      "files": ENVIRONMENTS["prod"]["files"]}}
staging_cfg = effective(CONFIG, "staging", ENV_DRIFT).config
prod_drifted = effective(CONFIG, "prod", ENV_DRIFT).config
drift_rows = show_drift(staging_cfg, prod_drifted, ("staging", "prod"))

staging_run, _ = run_env(staging_cfg)
prod_run, _ = run_env(prod_drifted)
display(labs.viz.table([("staging", summary(staging_run, after=0)),
                        ("prod (timeout 80 ms)", summary(prod_run, after=0))]))
labs.quote("drift_prod_failed_pct", summary(prod_run, after=0)["failed after deploy %"], "{:.1f}")
labs.quote("drift_staging_failed_pct", summary(staging_run, after=0)["failed after deploy %"], "{:.1f}")
labs.quote("drift_rows", len(drift_rows))

# %%
labs.viz.bar({"staging": summary(staging_run, after=0)["failed after deploy %"],
              "prod": summary(prod_run, after=0)["failed after deploy %"]},
             x="environment", y="failed checkouts (%)",
             title="Same artifact, same load: a timeout that drifted")

# %% [markdown]
# ## 8. Break it: a bad port that only validation catches
#
# `PORT=80800` (a typo for 8080) resolves without complaint: it is a perfectly good
# `long`. Jetty would fail when it binds; a schema says so before anything starts.

# %%
bad_port = effective(CONFIG, "prod", {**ENVIRONMENTS, "prod": {
    "env": {**ENVIRONMENTS["prod"]["env"], "PORT": "80800"},
    "files": ENVIRONMENTS["prod"]["files"]}}).config
print(to_edn(bad_port[kw("http")]))
try:
    labs.check_config(SCHEMA, bad_port)
except labs.ConfigInvalid as e:
    print(e)

# %% [markdown] exercise={"id": "ch14-config", "title": "Write a config that resolves in three profiles with no secret in it", "outcome": "Write an Aero configuration with #profile, #env, #or, #long, #ref and #include that resolves correctly for dev, staging and prod and contains no secret", "points": 4, "minutes": 20}
# ## Exercise 1: the inventory service's configuration
#
# Write `INVENTORY_CONFIG`, an Aero EDN string, so that for each environment in
# `INVENTORY_ENVS` it resolves to exactly the config in `WANTED` below, and
# `labs.committed_secrets(INVENTORY_CONFIG)` finds nothing. Rules:
#
# * `:http :port` is `PORT` as a number, 8080 when unset;
# * `:db :host` is `"localhost"` in dev and `DB_HOST` elsewhere; `:db :url` is built from
#   the host with `#ref` (`"jdbc:postgresql://<host>:5432/inventory"`);
# * `:db :password` comes from the mounted file `db-password.edn` in **every** profile
#   (dev mounts one too);
# * `:cache :ttl-s` is `CACHE_TTL_S` as a number, default 30; `:cache :enabled` is true in
#   prod only.

# %%
INVENTORY_ENVS = {
    "dev": {"env": {}, "files": {"db-password.edn": '"dev-local-password"'}},
    "staging": {"env": {"DB_HOST": "db.staging.internal", "CACHE_TTL_S": "5"},
                "files": {"db-password.edn": '"staging-password-11"'}},
    "prod": {"env": {"DB_HOST": "db.prod.internal", "PORT": "8443"},
             "files": {"db-password.edn": '"prod-password-22"'}},
}


def _want(host, password, port=8080, ttl=30, enabled=False):
    return {kw("http"): {kw("port"): port},
            kw("db"): {kw("host"): host, kw("url"): f"jdbc:postgresql://{host}:5432/inventory",
                       kw("password"): password},
            kw("cache"): {kw("ttl-s"): ttl, kw("enabled"): enabled}}


WANTED = {"dev": _want("localhost", "dev-local-password"),
          "staging": _want("db.staging.internal", "staging-password-11", ttl=5),
          "prod": _want("db.prod.internal", "prod-password-22", port=8443, enabled=True)}

### BEGIN SOLUTION
INVENTORY_CONFIG = """
{:http  {:port #long #or [#env PORT 8080]}
 :db    {:host     #profile {:dev "localhost" :default #env DB_HOST}
         :url      #join ["jdbc:postgresql://" #ref [:db :host] ":5432/inventory"]
         :password #include "db-password.edn"}
 :cache {:ttl-s   #long #or [#env CACHE_TTL_S 30]
         :enabled #profile {:prod true :default false}}}
"""
### END SOLUTION
### STUB INVENTORY_CONFIG = None


def inventory(profile, envs=INVENTORY_ENVS):
    e = envs[profile]
    return labs.resolve_config(INVENTORY_CONFIG, profile, env=e["env"], files=e["files"]).config


if INVENTORY_CONFIG:
    for p in WANTED:
        print(p, to_edn(inventory(p)))

# %% tags=["check"] exercise="ch14-config"
_c = labs.Checks("ch14-config")
for _p in ("dev", "staging", "prod"):
    _c.equal(f"{_p} resolves to the wanted config",
             lambda _p=_p: INVENTORY_CONFIG and to_edn(inventory(_p)), to_edn(WANTED[_p]),
             hint="resolve it and compare key by key with WANTED")
_c.equal("no secret committed in the file",
         lambda: INVENTORY_CONFIG and labs.committed_secrets(INVENTORY_CONFIG), [],
         hint="the password comes from #include \"db-password.edn\" in every profile")
_c.true("the URL is built with #ref", lambda: INVENTORY_CONFIG and "#ref" in INVENTORY_CONFIG)
_c.report()

# %% tags=["hidden-check"] exercise="ch14-config"
def _env_with(profile, **changes):
    e = INVENTORY_ENVS[profile]
    env = {k: v for k, v in {**e["env"], **changes}.items() if v is not None}
    return {profile: {"env": env, "files": e["files"]}}


def _raises_on_missing_file():
    try:
        inventory("prod", {"prod": {"env": INVENTORY_ENVS["prod"]["env"], "files": {}}})
        return False
    except labs.AeroError:
        return True


(labs.Checks("ch14-config", hidden=True)
 .equal("prod with PORT unset falls back to 8080",
        lambda: inventory("prod", _env_with("prod", PORT=None))[kw("http")][kw("port")], 8080)
 .equal("CACHE_TTL_S=120 becomes the number 120",
        lambda: inventory("prod", _env_with("prod", CACHE_TTL_S="120"))[kw("cache")][kw("ttl-s")], 120)
 .equal("a new host reaches the URL through #ref",
        lambda: inventory("staging", _env_with("staging", DB_HOST="db2"))[kw("db")][kw("url")],
        "jdbc:postgresql://db2:5432/inventory")
 .true("a missing mounted secret stops start-up (not a silent nil)", _raises_on_missing_file)
 .equal("dev never sees a prod host, whatever DB_HOST says",
        lambda: inventory("dev", _env_with("dev", DB_HOST="db.prod.internal"))[kw("db")][kw("host")],
        "localhost")
 .report())

# %% [markdown] exercise={"id": "ch14-schema", "title": "A validation schema that catches the planted mistakes", "outcome": "Write a malli schema for a service's configuration that rejects a bad port, a missing secret, a wrong type and an unknown log level, with messages that name the key", "points": 3, "minutes": 15}
# ## Exercise 2: a schema that catches the mistakes
#
# Write `MY_SCHEMA` (malli syntax, as EDN text) for the orders config of section 1, so that
# each of the broken configs in `PLANTED` is rejected **at the key that is wrong**,
# and the three good configs pass. Use `[:int {:min … :max …}]`, `[:string {:min …}]`,
# `[:enum …]`, `:boolean`, `[:re "regex"]` (a host is a DNS name: lower-case letters,
# digits, dots and dashes) and nested `:map`s.

# %%
def _broken(path, value, base=None):
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or resolved["prod"]).items()}
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return cfg


PLANTED = {
    "port 80800": ((kw("http"), kw("port")), 80800),
    "password nil (an unset #env)": ((kw("db"), kw("password")), None),
    "timeout as a string (no #long)": ((kw("payments"), kw("timeout-ms")), "800"),
    "log level :loud": ((kw("log-level"),), kw("loud")),
    "host from the #ref cycle": ((kw("db"), kw("host")), "jdbc:postgresql://:5432/shop"),
}

### BEGIN SOLUTION
MY_SCHEMA = """
[:map
 [:http [:map [:port [:int {:min 1 :max 65535}]]]]
 [:db [:map [:host [:re "^[a-z0-9.-]+$"]]
            [:url [:string {:min 1}]]
            [:password [:string {:min 8}]]]]
 [:payments [:map [:url [:string {:min 1}]]
                  [:timeout-ms [:int {:min 50 :max 10000}]]]]
 [:log-level [:enum :debug :info :warn :error]]
 [:features [:map [:new-checkout :boolean]]]]
"""
### END SOLUTION
### STUB MY_SCHEMA = None

if MY_SCHEMA:
    for name, (path, value) in PLANTED.items():
        print(f"{name:32}", to_edn(labs.Schema(MY_SCHEMA).humanize(_broken(path, value))))


def _rejects_at(schema_text, path, value):
    problems = labs.Schema(schema_text).explain(_broken(path, value))
    return any(tuple(p) == tuple(path) for p, _, _ in problems)

# %% tags=["check"] exercise="ch14-schema"
_s = labs.Checks("ch14-schema")
for _name, (_path, _value) in PLANTED.items():
    _s.true(f"rejects {_name} at {to_edn(list(_path))}",
            lambda _path=_path, _value=_value: MY_SCHEMA and _rejects_at(MY_SCHEMA, _path, _value),
            because="the schema accepts it, or reports another key")
for _p in ("dev", "staging", "prod"):
    _s.equal(f"the good {_p} config passes", lambda _p=_p: MY_SCHEMA and
             labs.Schema(MY_SCHEMA).explain(resolved[_p]), [])
_s.report()

# %% tags=["hidden-check"] exercise="ch14-schema"
_more = {"port 0": ((kw("http"), kw("port")), 0),
         "timeout -5": ((kw("payments"), kw("timeout-ms")), -5),
         "empty DB host": ((kw("db"), kw("host")), ""),
         "flag as the string \"false\"": ((kw("features"), kw("new-checkout")), "false")}
_hs = labs.Checks("ch14-schema", hidden=True)
for _name, (_path, _value) in _more.items():
    _hs.true(f"also rejects {_name}", lambda _path=_path, _value=_value: _rejects_at(MY_SCHEMA, _path, _value))
# the failure injected into a running shop: a rollout whose config lost DB_PASSWORD
_inj, _inj_refused = run_env(resolved["prod"], new_config=prod_v2, validate=labs.Schema(MY_SCHEMA))
_hs.true("the rollout missing DB_PASSWORD is refused at start-up", lambda: _inj_refused is not None)
_hs.equal("and no checkout fails", lambda: summary(_inj, _inj_refused)["failed after deploy %"], 0.0)
_cyc_cfg = effective(CYCLE, "prod").config
_hs.true("the whole config of the #ref cycle is rejected", lambda: not labs.Schema(MY_SCHEMA).validate(_cyc_cfg))
_hs.report()

# %% [markdown] exercise={"id": "ch14-drift", "title": "Say which differences between staging and prod are expected", "outcome": "Write a drift allow-list narrow enough that an unplanned difference between two environments' effective configurations is always reported", "points": 2, "minutes": 10}
# ## Exercise 3: expected differences, and nothing more
#
# Some keys must differ between staging and prod (the database host and URL, the
# password, the port, the log level); anything else is drift. Write
# `EXPECTED_DIFFERENCES`, a list of key paths (tuples of keywords, like
# `(kw("db"), kw("host"))`), so that `unexpected(staging, prod)` reports **only** the
# timeout drift of section 7. Be exact: a path such as `(kw("payments"),)` would also
# hide the next drift under `:payments`.

# %%
def unexpected(a, b, expected=None):
    rows = labs.drift(a, b, expected=EXPECTED_DIFFERENCES if expected is None else expected,
                      names=("staging", "prod"))
    return [r["path"] for r in rows if not r["expected"]]


### BEGIN SOLUTION
EXPECTED_DIFFERENCES = [(kw("db"), kw("host")), (kw("db"), kw("url")), (kw("db"), kw("password")),
                        (kw("http"), kw("port")), (kw("log-level"),)]
### END SOLUTION
### STUB EXPECTED_DIFFERENCES = None

if EXPECTED_DIFFERENCES is not None:
    print(unexpected(staging_cfg, prod_drifted))

# %% tags=["check"] exercise="ch14-drift"
(labs.Checks("ch14-drift")
 .equal("only the timeout is unexpected", lambda: None if EXPECTED_DIFFERENCES is None
        else unexpected(staging_cfg, prod_drifted), ["[:payments :timeout-ms]"],
        hint="list each path that may differ: [:db :host], [:db :url], …")
 .equal("staging and prod as configured: nothing unexpected", lambda: None
        if EXPECTED_DIFFERENCES is None else unexpected(resolved["staging"], resolved["prod"]), [])
 .report())

# %% tags=["hidden-check"] exercise="ch14-drift"
_flag_env = {**ENVIRONMENTS, "prod": {"env": {**ENVIRONMENTS["prod"]["env"], "NEW_CHECKOUT": "true",
                                              "PAYMENTS_URL": "http://payments-v2:8080"},
                                      "files": ENVIRONMENTS["prod"]["files"]}}
_prod_flag = effective(CONFIG, "prod", _flag_env).config
(labs.Checks("ch14-drift", hidden=True)
 .equal("a feature flag and a payments URL flipped in prod are both reported",
        lambda: sorted(unexpected(resolved["staging"], _prod_flag)),
        ["[:features :new-checkout]", "[:payments :url]"])
 .report())

# %% [markdown]
# ## What to try next
#
# * Set `DEPLOY_AT = 0` and rerun section 3: a fresh deployment with no old version to
#   fall back on. Validation still refuses to start, which is what you want: a crash loop
#   with a clear message beats a running service that fails every request.
# * Change the payments latency or set `PAYMENTS_TIMEOUT_MS` to `"200"` in prod: how much
#   drift is tolerable? That number belongs in the config with a comment, not in a head.
# * Add `:tags #merge [...]` or a `#user` branch to `CONFIG` and look at the effective
#   config for each profile.
