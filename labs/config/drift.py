"""Config drift: where two environments' *effective* configurations differ.

Two environments built from one artifact should differ only where they are meant to
(hosts, sizes, credentials). Drift is every other difference: a timeout changed by hand
in one environment, a feature flag left on, a variable with a typo that silently fell
back to a default. :func:`drift` compares two resolved configs key path by key path, so
the comparison is of what the services actually run with, not of the files.

Values under keys that look secret (``password``, ``secret``, ``token``, ``key``) are
never shown, only whether they differ; *expected* lists the paths allowed to differ (a
path allows everything under it, so ``[:db]`` allows ``[:db :host]``: keep them narrow).
"""

from __future__ import annotations

from .edn import Keyword, to_edn

__all__ = ["drift", "flatten"]

_SECRET = ("password", "secret", "token", "key")


def flatten(config, prefix=()) -> dict:
    """``{path: value}`` for every leaf of a nested map (vectors are leaves)."""
    out = {}
    if isinstance(config, dict) and config:
        for k, v in config.items():
            out.update(flatten(v, prefix + (k,)))
    else:
        out[prefix] = config
    return out


def _secret(path) -> bool:
    return any(any(s in (k.name if isinstance(k, Keyword) else str(k)).lower() for s in _SECRET)
               for k in path)


def drift(a, b, expected=(), names=("a", "b")) -> list[dict]:
    """Rows ``{"path", names[0], names[1], "expected"}`` for every path whose values differ.

    *expected* is a list of paths (tuples or EDN-style lists) allowed to differ; those rows
    are kept, marked ``expected: True``, so a table shows both kinds.
    """
    fa, fb = flatten(a), flatten(b)
    allowed = {tuple(p) for p in expected}
    rows = []
    for path in list(fa) + [p for p in fb if p not in fa]:
        va, vb = fa.get(path, _MISSING), fb.get(path, _MISSING)
        if va == vb and type(va) is type(vb):
            continue
        show = (lambda v: "(absent)" if v is _MISSING else
                ("(secret)" if _secret(path) and v is not None else to_edn(v)))
        rows.append({"path": to_edn(list(path)), names[0]: show(va), names[1]: show(vb),
                     "expected": any(path[:len(p)] == p for p in allowed)})
    return rows


_MISSING = object()


def _parity(seed: int) -> str:
    """Digest of drift rows between seeded pairs of nested configs."""
    import hashlib
    import random
    from .edn import kw
    rng = random.Random(seed)

    def cfg():
        return {kw("db"): {kw("host"): rng.choice(["a", "b"]), kw("password"): rng.choice(["x", "y"])},
                kw("timeout-ms"): rng.choice([80, 800]), kw("flag"): rng.choice([True, False])}

    out = [str(drift(cfg(), cfg(), expected=[(kw("db"), kw("host"))])) for _ in range(20)]
    return hashlib.sha256("|".join(out).encode()).hexdigest()
