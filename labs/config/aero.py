"""An Aero-compatible configuration resolver: ``read_config(text, profile=...)``.

Semantics follow juxt/aero 1.1.6, ``src/aero/core.cljc`` and ``src/aero/alpha/core.cljc``
(read and run on the JVM for this course). The environment, files, user, hostname and
system properties are passed in explicitly, so a run is deterministic.

=============  ==========================================================================
tag            behaviour (as Aero's ``reader`` / ``eval-tagged-literal`` methods)
=============  ==========================================================================
``#env X``     ``(System/getenv (str X))``: the string, or ``nil`` when unset
``#envf``      ``[fmt & vars]``: ``(format fmt (str (getenv v)) …)``; unset gives ``""``
``#or``        the first truthy element; later elements are **not evaluated**; else ``nil``
``#profile``   ``{:dev a :prod b :default c}``: only the chosen branch is evaluated; a
               missing profile falls back to ``:default``, else ``nil``; set keys allowed
``#user``,     the same, keyed by the ``user`` option or ``$USER`` / the ``hostname``
``#hostname``  option or ``$HOSTNAME``
``#ref``       ``[:a :b]``: the *resolved* value at that path of the same file, forward
               references allowed. A path that never resolves (missing, or a cycle) is
               **not an error**: Aero prints ``WARNING: Unable to resolve "#ref [:b]" at
               [:a]`` and puts ``nil`` there, then goes on
``#include``   the named file, read with the same options (its own ``#ref`` s see only
               itself). With a map of files (Aero's map resolver) a missing name throws
               ``IllegalArgumentException: Cannot open <nil> as a Reader.``; Aero's
               default resolver gives ``{:aero/missing-include "name"}`` instead
``#merge``     ``(apply merge maps)``: shallow, later wins, ``nil`` ignored
``#join``      ``(apply str xs)``: ``nil`` is ``""``
``#long``      ``(Long/parseLong (str v))``: ``#long #env PORT`` with PORT unset parses
               ``""`` and throws ``NumberFormatException: For input string: ""``
``#double``    ``(Double/parseDouble (str v))``, the same way
``#boolean``   ``(Boolean/parseBoolean (str v))``: ``true`` only for "true" in any case;
               an unset variable is ``false``
``#keyword``   a keyword stays; anything else ``(keyword (str v))``; ``nil`` gives ``:``
``#prop``      a system property (``properties`` option), ``#read-edn`` a string as EDN
=============  ==========================================================================

An unknown tag throws ``No reader for tag <tag>``. Errors are :class:`AeroError`
(a :class:`labs.ConfigError`) whose ``java`` attribute names the exception Aero throws
on the JVM and whose message adds the path and line, which Aero does not give.

The resolution is Aero's: repeated passes over the config, storing each resolved path;
a ``#ref`` whose target is not resolved yet is skipped and retried; when a pass makes no
progress, one unresolved ``#ref`` gets the warning and ``nil``, and the passes go on.
Which one: here the first in file order. Aero takes the first of a Clojure hash set of
skipped entries, whose order follows the entries' hashes, so in some cycles Aero breaks a
different member of the cycle (``{:b #ref [:a] :a #ref [:b]}``: Aero warns at ``[:a]``,
this model at ``[:b]``). The values agree whenever every member of the
cycle is a bare ``#ref`` (all become ``nil``), and in every case this course's lab shows.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from ..kernel.errors import ConfigError
from .edn import EdnList, Keyword, Symbol, Tagged, kw, read_edn, to_edn

__all__ = ["AeroError", "Resolution", "clj_str", "read_config", "resolve", "resolve_config"]


class AeroError(ConfigError):
    """What Aero would throw; ``java`` is the JVM exception class name."""

    def __init__(self, java: str, message: str, path=(), line: int = 0) -> None:
        self.java, self.aero_message, self.path, self.line = java, message, tuple(path), line
        where = f" at {to_edn(list(path))}" if path else ""
        where += f" (line {line})" if line else ""
        super().__init__(f"{java}: {message}{where}")


@dataclass
class Resolution:
    """The resolved ``config`` and the ``warnings`` Aero would have printed."""

    config: object
    warnings: list = field(default_factory=list)


class _Incomplete:
    __slots__ = ("ref_path", "ref_form")

    def __init__(self, ref_path, ref_form):
        self.ref_path, self.ref_form = ref_path, ref_form


_FORM = kw("form")   # Aero's path segment for a tagged literal's form
_LONG = re.compile(r"^[+-]?\d+$")
_DOUBLE = re.compile(r"^\s*[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)\s*$")


def clj_str(v) -> str:
    """Clojure's ``str`` of a value: ``nil`` is ``""``, keywords keep their colon."""
    if v is None:
        return ""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return "NaN" if v != v else ("Infinity" if v == float("inf") else
                                     "-Infinity" if v == float("-inf") else repr(v))
    return to_edn(v)


class _Resolver:
    def __init__(self, opts: dict) -> None:
        self.opts = opts
        self.env: dict = {}           # resolved path (tuple) -> value, as Aero's env
        self.warnings: list = opts["_warnings"]

    # -- passes ------------------------------------------------------------------------
    def run(self, root):
        node = root
        while True:
            before = len(self.env)
            self.first_incomplete = None
            value = self.expand(node, ())
            if not isinstance(value, _Incomplete) and not self._has_incomplete:
                return value
            if len(self.env) == before:
                inc = self.first_incomplete
                msg = (f'WARNING: Unable to resolve "#ref {to_edn(inc.ref_form)}" at '
                       f"{to_edn(list(inc.ref_path))}")
                self.warnings.append(msg)
                if self.opts["print_warnings"]:
                    print(msg, file=sys.stderr)
                self.env[inc.ref_path] = None

    def _store(self, path, value):
        """Record a resolved value and everything inside it (Aero's next pass walks it)."""
        self.env[path] = value
        if isinstance(value, dict):
            for k, v in value.items():
                if path + (k,) not in self.env:
                    self._store(path + (k,), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if path + (i,) not in self.env:
                    self._store(path + (i,), v)

    def expand(self, x, path):
        self._has_incomplete = False
        return self._expand(x, path)

    def _note(self, inc):
        self._has_incomplete = True
        if self.first_incomplete is None:
            self.first_incomplete = inc
        return inc

    def _expand(self, x, path):
        if path in self.env:
            return self.env[path]
        if isinstance(x, dict):
            out, incomplete = {}, None
            for k, v in x.items():
                r = self._expand(v, path + (k,))
                if isinstance(r, _Incomplete):
                    incomplete = incomplete or r
                    out[k] = v
                else:
                    self._store(path + (k,), r)
                    out[k] = r
            return incomplete if incomplete else out
        if isinstance(x, (list, frozenset)):
            items, incomplete = [], None
            for i, v in enumerate(x if isinstance(x, list) else sorted(x, key=to_edn)):
                r = self._expand(v, path + (i,))
                if isinstance(r, _Incomplete):
                    incomplete = incomplete or r
                else:
                    self._store(path + (i,), r)
                items.append(r)
            if incomplete:
                return incomplete
            if isinstance(x, frozenset):
                return frozenset(items)
            return EdnList(items) if isinstance(x, EdnList) else items
        if isinstance(x, Tagged):
            return self._tagged(x, path)
        return x

    def _tagged(self, t: Tagged, path):
        tag = t.tag
        if tag == "ref":
            target = self._expand(t.form, path + (_FORM,))
            if isinstance(target, _Incomplete):
                return target
            key = tuple(target) if isinstance(target, list) else (target,)
            if key in self.env:
                return self.env[key]
            return self._note(_Incomplete(path, t.form))
        if tag in ("profile", "user", "hostname"):
            form = self._expand_scalar_repeatedly(t.form, path)
            if isinstance(form, _Incomplete):
                return form
            if not isinstance(form, dict):
                raise AeroError("IllegalArgumentException",
                                f"#{tag} needs a map of cases, got {to_edn(form)}", path, t.line)
            case = {"profile": self.opts["profile"],
                    "user": self.opts["user"] or self.opts["env"].get("USER"),
                    "hostname": self.opts["hostname"] or self.opts["env"].get("HOSTNAME")}[tag]
            cases = {}
            for k, v in form.items():
                for kk in (sorted(k, key=to_edn) if isinstance(k, frozenset) else [k]):
                    cases[kk] = v
            branch = cases.get(case, cases.get(kw("default")))
            return self._expand(branch, path)
        if tag == "or":
            form = self._expand_scalar_repeatedly(t.form, path)
            if isinstance(form, _Incomplete):
                return form
            for i, item in enumerate(form or []):
                r = self._expand(item, path + (i,))
                if isinstance(r, _Incomplete):
                    return r
                if r is not None and r is not False:
                    return r
            return None
        value = self._expand(t.form, path + (_FORM,))
        if isinstance(value, _Incomplete):
            return value
        return self._reader(tag, value, path, t.line)

    def _expand_scalar_repeatedly(self, form, path):
        while isinstance(form, Tagged):
            form = self._tagged(form, path + (_FORM,))
            if isinstance(form, _Incomplete):
                return form
        return form

    def _reader(self, tag, value, path, line):
        env = self.opts["env"]
        if tag == "env":
            return env.get(clj_str(value))
        if tag == "envf":
            fmt, *names = value
            args = [clj_str(env.get(clj_str(n))) for n in names]
            return _java_format(fmt, args, path, line)
        if tag == "prop":
            return self.opts["properties"].get(clj_str(value))
        if tag == "long":
            s = clj_str(value)
            if not _LONG.match(s) or not -2**63 <= int(s) < 2**63:
                raise AeroError("NumberFormatException", f'For input string: "{s}"', path, line)
            return int(s)
        if tag == "double":
            s = clj_str(value)
            if not _DOUBLE.match(s):
                raise AeroError("NumberFormatException",
                                "empty String" if not s.strip() else f'For input string: "{s}"',
                                path, line)
            return float(s.strip().rstrip("fFdD").replace("Infinity", "inf"))
        if tag == "boolean":
            return clj_str(value).lower() == "true"
        if tag == "keyword":
            return value if isinstance(value, Keyword) else kw(clj_str(value)) if clj_str(value) else Keyword("")
        if tag == "join":
            return "".join(clj_str(v) for v in value)
        if tag == "merge":
            out = None
            for m in value:
                if m is None:
                    continue
                if not isinstance(m, dict):
                    raise AeroError("ClassCastException", f"#merge takes maps, got {to_edn(m)}", path, line)
                out = dict(out or {})
                out.update(m)
            return out
        if tag == "include":
            return self._include(clj_str(value), path, line)
        if tag == "read-edn":
            return None if value is None else read_edn(clj_str(value))
        raise AeroError("ExceptionInfo", f"No reader for tag {tag}", path, line)

    def _include(self, name, path, line):
        files = self.opts["files"]
        if name not in files:
            if self.opts["missing_include"] == "marker":
                return {kw("aero/missing-include"): name}
            raise AeroError("IllegalArgumentException", "Cannot open <nil> as a Reader.",
                            path, line)
        sub = dict(self.opts)
        return _Resolver(sub).run(read_edn(files[name]))


def _java_format(fmt, args, path, line):
    out, i, n = [], 0, 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%" and i + 1 < len(fmt):
            d = fmt[i + 1]
            if d == "%":
                out.append("%")
            elif d == "s":
                if n >= len(args):
                    raise AeroError("MissingFormatArgumentException", "Format specifier '%s'", path, line)
                out.append(args[n])
                n += 1
            else:
                raise AeroError("UnknownFormatConversionException",
                                f"Conversion = '{d}' (this model supports %s and %%)", path, line)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def resolve(text: str, profile="default", *, env: dict | None = None, files: dict | None = None,
            user: str | None = None, hostname: str | None = None,
            properties: dict | None = None, missing_include: str = "raise",
            print_warnings: bool = False) -> Resolution:
    """Resolve Aero config *text* for *profile*; the config and the warnings Aero prints."""
    if isinstance(profile, str):
        profile = kw(profile)
    if not isinstance(profile, Keyword):
        raise ConfigError(f"profile must be a keyword name such as 'prod', got {profile!r}.")
    if missing_include not in ("raise", "marker"):
        raise ConfigError("missing_include must be 'raise' (Aero's map resolver) or 'marker' "
                          f"(Aero's default resolver), got {missing_include!r}.")
    for name, d in (("env", env), ("files", files), ("properties", properties)):
        if d is not None and not isinstance(d, dict):
            raise ConfigError(f"{name} must be a dict of str to str, got {type(d).__name__}.")
    warnings: list = []
    opts = {"profile": profile, "env": dict(env or {}), "files": dict(files or {}),
            "user": user, "hostname": hostname, "properties": dict(properties or {}),
            "missing_include": missing_include, "print_warnings": print_warnings,
            "_warnings": warnings}
    config = _Resolver(opts).run(read_edn(text))
    return Resolution(config, warnings)


resolve_config = resolve   # the name exported as labs.resolve_config


def read_config(text: str, profile="default", **kw_) -> object:
    """``aero.core/read-config`` on a string: the resolved config (warnings go to stderr)."""
    kw_.setdefault("print_warnings", True)
    return resolve(text, profile, **kw_).config


def _parity(seed: int) -> str:
    """Digest of a seeded config resolved in three profiles with seeded environments."""
    import hashlib
    import random
    rng = random.Random(seed)
    text = """{:port #long #or [#env PORT 8080]
              :db {:host #profile {:dev "localhost" :default #env DB_HOST}
                   :url #join ["jdbc:postgresql://" #ref [:db :host] "/shop"]}
              :flags #merge [{:a true} #profile {:prod {:a false :b true} :default {}}]
              :debug #boolean #env DEBUG
              :level #keyword #or [#env LEVEL "info"]}"""
    out = []
    for i in range(12):
        env = {k: v for k, v in [("PORT", str(rng.randrange(1, 9999))), ("DB_HOST", f"db{i}"),
                                 ("DEBUG", rng.choice(["true", "TRUE", "no"])),
                                 ("LEVEL", "warn")] if rng.random() < 0.6}
        prof = rng.choice(["dev", "staging", "prod"])
        out.append(to_edn(resolve(text, prof, env=env).config))
    return hashlib.sha256("|".join(out).encode()).hexdigest()
