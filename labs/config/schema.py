"""A malli-like schema check for configuration, with malli's own error messages.

Schemas are written as malli writes them, in EDN (or as the same data in Python)::

    [:map
     [:http [:map [:port [:int {:min 1 :max 65535}]]]]
     [:db [:map [:url [:string {:min 1}]]
                [:password {:optional true} :string]]]
     [:log-level [:enum :debug :info :warn]]]

Supported: ``:map`` (entry properties ``{:optional true}``; map property ``{:closed
true}`` makes unknown keys errors), ``:int``, ``:double``, ``:string`` (``:min``/``:max``,
for strings the length), ``:boolean``, ``:keyword``, ``:any``, ``:nil``, ``[:enum …]``,
``[:vector s]`` and ``[:re "regex"]``. :meth:`Schema.humanize` returns what
``(malli.error/humanize (malli.core/explain schema value))`` returns in malli 0.20.1:
``{:http {:port ["should be at most 65535"]}}``, with the messages of ``malli.error``'s
``default-errors`` ("missing required key", "invalid type", "should be an integer",
"should be at least 1 character", "should be either :debug, :info or :warn", …).
:func:`check` raises :class:`ConfigInvalid` listing every problem, so a service with a bad
port fails at start-up with a message that says which key and why.
"""

from __future__ import annotations

import re

from ..kernel.errors import ConfigError
from .edn import Keyword, kw, read_edn, to_edn

__all__ = ["ConfigInvalid", "Schema", "check", "check_config"]


class ConfigInvalid(ConfigError):
    """A configuration that does not match its schema; ``problems`` is ``[(path, message, value)]``."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        lines = [f"  {to_edn(list(p))} {m} (got {to_edn(v)})" for p, m, v in problems]
        super().__init__("the configuration is invalid; fix these keys before starting:\n"
                         + "\n".join(lines))


_TYPES = {"int", "double", "string", "boolean", "keyword", "any", "nil", "map", "enum",
          "vector", "re"}


def _parse(s):
    """Normalise a schema to (type, props, children)."""
    if isinstance(s, Keyword):
        if s.name not in _TYPES or s.ns:
            raise ConfigError(f"unknown schema type {s}; this helper knows "
                              f"{', '.join(':' + t for t in sorted(_TYPES))}.")
        return (s.name, {}, [])
    if isinstance(s, list) and s and isinstance(s[0], Keyword):
        t = s[0].name
        if t not in _TYPES:
            raise ConfigError(f"unknown schema type {s[0]} in {to_edn(s)}.")
        rest = s[1:]
        props = rest[0] if rest and isinstance(rest[0], dict) else {}
        if rest and isinstance(rest[0], dict):
            rest = rest[1:]
        props = {k.name if isinstance(k, Keyword) else k: v for k, v in props.items()}
        if t == "map":
            entries = []
            for e in rest:
                if not isinstance(e, list) or len(e) not in (2, 3):
                    raise ConfigError(f"a :map entry is [key schema] or [key {{:optional true}} schema], "
                                      f"got {to_edn(e)}.")
                key = e[0]
                eprops = e[1] if len(e) == 3 else {}
                eprops = {k.name if isinstance(k, Keyword) else k: v for k, v in eprops.items()}
                entries.append((key, eprops, _parse(e[-1])))
            return ("map", props, entries)
        if t in ("vector",):
            return (t, props, [_parse(rest[0])])
        return (t, props, list(rest))
    raise ConfigError(f"cannot read schema {to_edn(s)}: write :int or [:int {{:min 1}}] and so on.")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _minmax(props, value, size, pred_msg, unit=""):
    lo, hi = props.get("min"), props.get("max")
    if lo is not None and lo == hi and size != lo:
        return f"should be {lo}{unit(lo) if unit else ''}"
    if lo is not None and size < lo:
        return f"should be at least {lo}{unit(lo) if unit else ''}"
    if hi is not None and size > hi:
        return f"should be at most {hi}{unit(hi) if unit else ''}"
    return None


def _chars(n):
    return " character" + ("" if n == 1 else "s")


class Schema:
    """A schema read from malli-style EDN text or data; see the module docstring."""

    def __init__(self, schema) -> None:
        self.source = read_edn(schema) if isinstance(schema, str) else schema
        self._s = _parse(self.source)

    def explain(self, value) -> list:
        """Every problem as ``(path, message, value)``, in schema order (empty: valid)."""
        out: list = []
        self._walk(self._s, value, (), out)
        return out

    def validate(self, value) -> bool:
        """True if *value* matches."""
        return not self.explain(value)

    def humanize(self, value):
        """Malli's humanized errors: nested maps of lists of messages, or ``None`` if valid."""
        problems = self.explain(value)
        if not problems:
            return None
        out: dict = {}
        for path, msg, _ in problems:
            if not path:
                return [msg]
            node = out
            for k in path[:-1]:
                node = node.setdefault(k, {})
            node.setdefault(path[-1], []).append(msg)
        return out

    def _walk(self, s, v, path, out):
        t, props, children = s
        msg = None
        if t == "any":
            return
        if t == "nil":
            msg = None if v is None else "should be nil"
        elif t == "int":
            msg = "should be an integer" if not _is_int(v) else _minmax(props, v, v, "")
        elif t == "double":
            msg = "should be a double" if not isinstance(v, float) else _minmax(props, v, v, "")
        elif t == "string":
            msg = "should be a string" if not isinstance(v, str) else _minmax(props, v, len(v), "", _chars)
        elif t == "boolean":
            msg = None if isinstance(v, bool) else "should be a boolean"
        elif t == "keyword":
            msg = None if isinstance(v, Keyword) else "should be a keyword"
        elif t == "enum":
            ok = any(v == c and type(v) is type(c) for c in children)
            if not ok:
                shown = [to_edn(c) for c in children]
                msg = ("should be " + shown[0] if len(shown) == 1 else
                       "should be either " + ", ".join(shown[:-1]) + " or " + shown[-1])
        elif t == "re":
            msg = None if isinstance(v, str) and re.search(children[0], v) else "should match regex"
        elif t == "vector":
            if not isinstance(v, list):
                msg = "invalid type"
            else:
                for i, item in enumerate(v):
                    self._walk(children[0], item, path + (i,), out)
        elif t == "map":
            if not isinstance(v, dict):
                msg = "invalid type"
            else:
                known = set()
                for key, eprops, child in children:
                    known.add(key)
                    if key not in v:
                        if not eprops.get("optional"):
                            out.append((path + (key,), "missing required key", None))
                        continue
                    self._walk(child, v[key], path + (key,), out)
                if props.get("closed"):
                    for key in v:
                        if key not in known:
                            out.append((path + (key,), "disallowed key", v[key]))
        if msg:
            out.append((path, msg, v))


def check(schema, config) -> object:
    """Return *config* if it matches *schema* (a :class:`Schema` or its EDN), else raise :class:`ConfigInvalid`."""
    schema = schema if isinstance(schema, Schema) else Schema(schema)
    problems = schema.explain(config)
    if problems:
        raise ConfigInvalid(problems)
    return config


check_config = check   # the name exported as labs.check_config


def _parity(seed: int) -> str:
    """Digest of humanized errors for seeded configs against one schema."""
    import hashlib
    import random
    rng = random.Random(seed)
    s = Schema("[:map [:port [:int {:min 1 :max 65535}]] [:name [:string {:min 1}]] "
               "[:level [:enum :info :warn]] [:tags {:optional true} [:vector :keyword]]]")
    out = []
    for _ in range(30):
        cfg = {kw("port"): rng.choice([0, 80, 80800, "80", None]),
               kw("name"): rng.choice(["", "orders", 3]),
               kw("level"): rng.choice([kw("info"), kw("loud"), "info"])}
        if rng.random() < 0.5:
            cfg[kw("tags")] = [kw("a"), rng.choice([kw("b"), "c"])]
        if rng.random() < 0.2:
            del cfg[kw("name")]
        out.append(to_edn(s.humanize(cfg)))
    return hashlib.sha256("|".join(out).encode()).hexdigest()
