"""Content-addressed URLs for the labs' runtime: the Pyodide core and the lock's wheels.

Why: a lab start fetches about 19 MB of runtime (Pyodide's WebAssembly, its standard
library, some twenty wheels) that only change when the course is rebuilt with other
versions. Under an unchanging URL a server must say ``no-cache`` (else a rebuilt site would
be mixed with stale copies: Pyodide checks each wheel's sha256 from the lock and fails on a
stale one), and every start then revalidates every file; Chromium also keeps the compiled
WebAssembly only for a response it did not have to revalidate. Measured with
``scripts/bench_lab.py`` on the bare-Pyodide floor, warm: ``no-cache`` 5.2 s against 3.9 s
with a long-lived URL (the closing note of issue 19 has the runs).

So, after the build has written the lock and the bytecode, this step moves

* the Pyodide core ``static/pyodide/`` to ``static/pyodide-<hash>/`` (the hash of its files),
  keeping its depth, so the lock's relative file names still resolve;
* each wheel of ``static/pyodide-lock/`` to ``static/pyodide-lock/<hash>/<wheel name>`` (the
  first 16 hex digits of the sha256 the lock already records), the wheel's own name kept
  last, as Pyodide installs it by that name;
* the lock itself to ``static/pyodide-lock/pyodide-lock-<hash>.json``,

and rewrites ``jupyter-lite.json`` (``pyodideUrl``, ``lockFileURL``) and the lock's
``file_name`` entries. A changed file gets a new URL; an unchanged one keeps its URL and
its cache. :data:`IMMUTABLE` matches these URLs, for ``course.serve`` and for any static
host (README, "Serving the site"). The kernel's own wheels (``extensions/…/pypi``, indexed
by piplite's ``all.json``) stay where JupyterLite puts them, revalidated; they are 23 kB.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

__all__ = ["IMMUTABLE", "KERNEL_SETTINGS", "core_dir", "fingerprint", "kernel_settings"]

KERNEL_SETTINGS = "@jupyterlite/pyodide-kernel-extension:kernel"
HASH_LEN = 16
#: URL paths written by :func:`fingerprint`: never change content under the same URL
IMMUTABLE = re.compile(r"/static/(?:pyodide-[0-9a-f]{16}/[^/]+"
                       r"|pyodide-lock/(?:[0-9a-f]{16}/[^/]+\.whl|pyodide-lock-[0-9a-f]{16}\.json))$")


def _config_path(site_lite: Path) -> Path:
    return Path(site_lite) / "jupyter-lite.json"


def kernel_settings(site_lite: Path) -> dict:
    """The Pyodide kernel's settings in ``jupyter-lite.json`` (pyodideUrl, lock, packages)."""
    config = json.loads(_config_path(site_lite).read_text())["jupyter-config-data"]
    return config.get("litePluginSettings", {}).get(KERNEL_SETTINGS, {})


def core_dir(site_lite: Path) -> Path:
    """The folder of the Pyodide core the kernel loads (``pyodideUrl``'s folder): the
    index URL against which the lock's file names resolve."""
    url = kernel_settings(site_lite).get("pyodideUrl", "./static/pyodide/pyodide.mjs")
    return (Path(site_lite) / url).parent


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:HASH_LEN]


def fingerprint(site_lite: Path) -> dict:
    """Move the core, the lock's wheels and the lock to content-addressed URLs (above).

    Returns ``{"core": new core folder, "wheels": count moved, "lock": new lock path}``.
    Refuses to run twice on one build (the core folder must still be ``static/pyodide``).
    """
    site_lite = Path(site_lite)
    config_path = _config_path(site_lite)
    config = json.loads(config_path.read_text())
    settings = config["jupyter-config-data"]["litePluginSettings"][KERNEL_SETTINGS]
    old_core = site_lite / "static" / "pyodide"
    if settings.get("pyodideUrl") != "./static/pyodide/pyodide.mjs" or not old_core.is_dir():
        raise ValueError(f"expected the Pyodide core at {old_core} (pyodideUrl "
                         f"./static/pyodide/pyodide.mjs), found {settings.get('pyodideUrl')!r}; "
                         "fingerprint a fresh build only (scripts/build)")
    options = settings["loadPyodideOptions"]
    lock_path = site_lite / options["lockFileURL"]
    lock = json.loads(lock_path.read_text())
    wheels_dir = (site_lite / "static" / "pyodide-lock").resolve()
    plan = []  # check every wheel first: a refused build is left as it was
    for pkg in lock["packages"].values():
        wheel = (old_core / pkg["file_name"]).resolve()
        if wheel.parent != wheels_dir or not wheel.is_file():
            continue  # the kernel's own wheels, under extensions/: left in place
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if pkg.get("sha256") and pkg["sha256"] != sha:
            raise ValueError(f"{wheel.name}: the lock's sha256 does not match the file; "
                             "rebuild (scripts/build)")
        plan.append((pkg, wheel, sha[:HASH_LEN]))
    for pkg, wheel, short in plan:
        target = wheels_dir / short / wheel.name
        target.parent.mkdir(exist_ok=True)
        wheel.replace(target)
        pkg["file_name"] = f"../../static/pyodide-lock/{short}/{wheel.name}"
    moved = len(plan)
    core = site_lite / "static" / f"pyodide-{_digest([p for p in old_core.iterdir() if p.is_file()])}"
    shutil.move(str(old_core), str(core))
    text = json.dumps(lock)
    new_lock = wheels_dir / f"pyodide-lock-{hashlib.sha256(text.encode()).hexdigest()[:HASH_LEN]}.json"
    new_lock.write_text(text)
    lock_path.unlink()
    settings["pyodideUrl"] = f"./static/{core.name}/pyodide.mjs"
    options["lockFileURL"] = f"./static/pyodide-lock/{new_lock.name}"
    config_path.write_text(json.dumps(config, indent=2))
    return {"core": core, "wheels": moved, "lock": new_lock}
