"""Secrets committed in a config file: literal values under secret-looking keys.

A config in the repository may say *where* a secret comes from (``#env DB_PASSWORD``, an
``#include`` of a file mounted at run time) but never hold one. :func:`committed_secrets`
reads the raw EDN (before resolution, so every profile's branch is inspected, not only
the one a test happened to use) and reports each string literal found under a key whose
name contains ``password``, ``secret``, ``token`` or ``key``, with its line. Aero's README
gives the same advice: keep secrets out of the config, and prefer a private file read with
``#include`` to environment variables, which leak through ``ps e`` and crash reports.
"""

from __future__ import annotations

from .edn import Keyword, Tagged, read_edn, to_edn

__all__ = ["committed_secrets"]

_SECRET = ("password", "secret", "token", "key")


def _secretish(k) -> bool:
    name = k.name if isinstance(k, Keyword) else str(k)
    return any(s in name.lower() for s in _SECRET)


def committed_secrets(text: str) -> list[dict]:
    """``[{"path", "line", "value"}]`` for literal strings under secret-looking keys (value masked)."""
    out: list = []

    def walk(x, path, line, under_secret):
        if isinstance(x, Tagged):
            if x.tag in ("env", "envf", "include", "prop"):
                return                       # a reference to a secret, not the secret
            walk(x.form, path, x.line or line, under_secret)
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, path + (k,), line, under_secret or _secretish(k))
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, path, line, under_secret)
        elif isinstance(x, str) and under_secret and x:
            at = text.find(to_edn(x))
            out.append({"path": to_edn(list(path)),
                        "line": text.count("\n", 0, at) + 1 if at >= 0 else line,
                        "value": x[:2] + "…"})

    walk(read_edn(text), (), 0, False)
    return out


def _parity(seed: int) -> str:
    """Digest of the findings in seeded configs, some with literal secrets."""
    import hashlib
    import random
    rng = random.Random(seed)
    out = []
    for i in range(20):
        pw = rng.choice(['#env DB_PASSWORD', f'"pw-{i}"', '#include "s.edn"'])
        key = rng.choice(['#profile {:dev "k-dev" :prod #env API_KEY}', '#env API_KEY'])
        out.append(str(committed_secrets(f"{{:db {{:password {pw}}}\n :api-key {key}}}")))
    return hashlib.sha256("|".join(out).encode()).hexdigest()
