"""What the course adds to the built JupyterLite app (``site/lite/``), after ``jupyter lite build``.

* **The lab guard** (``docs/assets/javascripts/lab-guard.js`` and its stylesheet), injected
  into the app pages. Before the app starts it: checks that the browser can save files and
  falls back to memory storage with a plain message when it cannot; on a small screen or a
  slow connection, says how much a first start downloads and waits for the learner to
  choose; notices that the learner's saved copy of a lab is older than the published one and
  keeps it as ``name (my copy YYYY-MM-DD).ipynb`` before the new version opens. It also adds
  a toolbar (*Download my notebook*, *Reset this lab*, the learner's kept copies) and
  reports check results into the site's progress store.
* **``course-lab.json``**: the labs (title, version, exercises) and the bytes a cold lab
  start fetches, measured from the build, which the site shows next to every lab button.
* **Settings**: the app exposes itself to the guard (``exposeAppInBrowser``) and autosaves
  every few seconds, so a reload never loses more than that.

Called once, at the end of ``course.build.build_lite``: ``install(SITE / "lite")``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from course.fingerprint import core_dir, kernel_settings

__all__ = ["install", "cold_start_bytes", "warm_list", "lab_manifest", "APPS"]

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "docs" / "assets"
GUARD_JS = ASSETS / "javascripts" / "lab-guard.js"
GUARD_CSS = ASSETS / "stylesheets" / "lab-guard.css"

#: app pages that open a notebook from ``?path=`` and get the guard
APPS = ("notebooks", "lab")
#: autosave interval of the lab app, in seconds (JupyterLab's default is 120)
AUTOSAVE_SECONDS = 5
BOOT = re.compile(r"(\n\s*)await import\(")
MARKER = "<!-- course lab guard -->"


class LiteExtrasError(RuntimeError):
    """The built app does not look as expected; the message says what to check."""


def _js_closure(build: Path) -> set[Path]:
    """The app's JavaScript a notebook page can load: its bundle and every chunk it names."""
    chunks = {p.name.split(".")[0]: p for p in build.glob("*.js")}
    entry = build / "notebooks" / "bundle.js"
    # the core library chunk is always loaded, but names nearly every lazy chunk: count it,
    # do not follow it
    seen: set[Path] = {p for name, p in chunks.items() if name == "jlab_core"}
    stack = [entry]
    while stack:
        path = stack.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = path.read_text(encoding="utf-8", errors="ignore")
        for ref in re.findall(r"\.e\((\d+)\)", text) + re.findall(r"\b(\d+)\.[0-9a-f]{7}\.js", text):
            if ref in chunks and chunks[ref] not in seen:
                stack.append(chunks[ref])
    return seen


def _sent(path: Path) -> int:
    """Bytes sent for a file: its precompressed copy when the build wrote one."""
    gz = path.with_name(path.name + ".gz")
    return gz.stat().st_size if gz.is_file() else path.stat().st_size


def _start_wheels(site_lite: Path) -> list[Path]:
    """The wheels a lab start loads: the lock's preloaded packages and their dependencies."""
    options = kernel_settings(site_lite).get("loadPyodideOptions", {})
    lock_url = options.get("lockFileURL", "")
    if not lock_url:
        return []
    lock = json.loads((site_lite / lock_url).read_text())["packages"]
    todo, done, wheels = list(options.get("packages", [])), set(), []
    while todo:
        name = todo.pop()
        if name in done or name not in lock:
            continue
        done.add(name)
        # the kernel's Pyodide resolves file names against its index URL, the core's folder
        wheel = (core_dir(site_lite) / lock[name]["file_name"]).resolve()
        if wheel.is_file():
            wheels.append(wheel)
        todo.extend(lock[name].get("depends", []))
    return sorted(wheels)


def warm_list(site_lite: Path) -> list[str]:
    """What the chapter pages may fetch ahead, while the learner reads (progress.js).

    The Pyodide core, the lock and the wheels a lab start loads: the files a lab start waits
    for longest and that every lab shares. Paths relative to ``site/lite/``.
    """
    site_lite = Path(site_lite).resolve()
    settings = kernel_settings(site_lite)
    files = [settings.get("pyodideUrl", "./static/pyodide/pyodide.mjs")]
    core = core_dir(site_lite)
    files += ["./" + (core / n).relative_to(site_lite).as_posix()
              for n in ("pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
              if (core / n).is_file()]
    lock_url = settings.get("loadPyodideOptions", {}).get("lockFileURL")
    if lock_url:
        files.append(lock_url)
    files += ["./" + w.relative_to(site_lite).as_posix() for w in _start_wheels(site_lite)]
    return [f[2:] if f.startswith("./") else f for f in files]


def cold_start_bytes(site_lite: Path) -> dict:
    """Bytes a first (cold) lab start fetches, by part, measured from the built files.

    Pyodide's core, the wheels the kernel loads at start (the lock's prefetched packages
    and their dependencies, plus the kernel's own wheels) and the app's JavaScript.
    """
    core = sum(_sent(p) for p in core_dir(site_lite).iterdir()
               if p.is_file() and p.suffix != ".gz")
    counted = set(_start_wheels(site_lite))
    wheels = sum(p.stat().st_size for p in counted)
    pypi = site_lite / "extensions" / "@jupyterlite" / "pyodide-kernel-extension" / "static" / "pypi"
    wheels += sum(p.stat().st_size for p in pypi.glob("*.whl")
                  if p.name.startswith(("piplite", "pyodide_kernel", "ipykernel"))
                  and p.resolve() not in counted)
    app = sum(_sent(p) for p in _js_closure(site_lite / "build"))
    app += sum(_sent(p) for p in (site_lite / "extensions").rglob("*.js"))
    return {"core": core, "wheels": wheels, "app": app, "total": core + wheels + app}


def lab_manifest(site_lite: Path) -> dict:
    """Every published lab: its title, version and exercises, from the built notebooks."""
    labs = {}
    for path in sorted((site_lite / "files").rglob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        course = nb.get("metadata", {}).get("course", {})
        if not course:
            continue
        exercises: list[str] = []
        for cell in nb.get("cells", []):
            ex = cell.get("metadata", {}).get("exercise")
            if isinstance(ex, str) and ex not in exercises:
                exercises.append(ex)
        labs[course.get("lab", path.relative_to(site_lite / "files").with_suffix("").as_posix())] = {
            "path": path.relative_to(site_lite / "files").as_posix(),
            "title": course.get("title", ""),
            "version": course.get("version", ""),
            "exercises": exercises,
        }
    return labs


def _inject(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    if MARKER in text:
        return
    if not BOOT.search(text) or "</head>" not in text:
        raise LiteExtrasError(f"{page}: no `await import(` boot call or </head> to hook into; "
                              "fix: check course/lite_extras.py against this JupyterLite version")
    # hold the app's start until the guard has checked storage, size and versions
    text = BOOT.sub(r"\1if (window.courseLabGate) { await window.courseLabGate; }\1await import(",
                    text, count=1)
    tags = (f'{MARKER}\n    <link rel="stylesheet" href="../course/lab-guard.css">\n'
            f'    <script src="../course/lab-guard.js"></script>\n')
    text = text.replace("<head>", "<head>\n    " + tags, 1)
    page.write_text(text, encoding="utf-8")


def _patch_config(site_lite: Path) -> None:
    path = site_lite / "jupyter-lite.json"
    config = json.loads(path.read_text())
    data = config.setdefault("jupyter-config-data", {})
    data["exposeAppInBrowser"] = "true"
    overrides = data.setdefault("settingsOverrides", {})
    overrides.setdefault("@jupyterlab/docmanager-extension:plugin", {}).update(
        {"autosave": True, "autosaveInterval": AUTOSAVE_SECONDS})
    path.write_text(json.dumps(config, indent=2))


def install(site_lite: Path, precompress=None) -> None:
    """Add the lab guard, the labs manifest and the settings to the built app.

    ``precompress(folder)``, when given, writes the ``.gz`` copies a server may send instead
    (``course.build.precompress``); the manifest then states the bytes actually sent.
    """
    site_lite = Path(site_lite)
    for asset in (GUARD_JS, GUARD_CSS):
        if not asset.is_file():
            raise LiteExtrasError(f"{asset} is missing")
    dest = site_lite / "course"
    dest.mkdir(exist_ok=True)
    shutil.copyfile(GUARD_JS, dest / "lab-guard.js")
    shutil.copyfile(GUARD_CSS, dest / "lab-guard.css")
    for app in APPS:
        page = site_lite / app / "index.html"
        if page.is_file():
            _inject(page)
    _patch_config(site_lite)
    if precompress:
        precompress(site_lite)
    size = cold_start_bytes(site_lite)
    manifest = {"download": size, "warm": warm_list(site_lite), "labs": lab_manifest(site_lite)}
    (site_lite / "course-lab.json").write_text(json.dumps(manifest, indent=1))
    (site_lite / "course-lab.json.gz").unlink(missing_ok=True)
    print(f"    lab guard installed; a cold lab start fetches about "
          f"{size['total'] / 1e6:.0f} MB (core {size['core'] / 1e6:.1f}, "
          f"wheels {size['wheels'] / 1e6:.1f}, app {size['app'] / 1e6:.1f})", flush=True)
