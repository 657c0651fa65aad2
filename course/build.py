"""Build the whole course into one folder, ``site/``: pages, labs, wheels and Pyodide.

Steps, each clean every time (an incremental JupyterLite build once dropped the local
``pyodideUrl`` and sent the kernel to a CDN; a clean build costs seconds and removes that
class of bug):

1. the ``labs`` wheel (``build/dist/``);
2. student and solution notebooks from every lab source (``build/notebooks/``);
3. the MkDocs site, strict, into ``site/``;
4. JupyterLite with the Pyodide kernel into ``site/lite/``: Pyodide's core from the npm
   package, the kernel's wheels, ``simpy``, ``ipywidgets`` and the ``labs`` wheel served
   through the kernel's lock add-on, with nothing left pointing outside the site;
5. a verification pass that fails the build if any lab or runtime file would load from
   another origin.

Usage: ``python -m course.build`` (``scripts/build``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from course.notebooks import LabSourceError, discover_labs, parse_lab, to_notebook

__all__ = ["build", "main", "BuildError"]

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
SITE = ROOT / "site"
NODE = ROOT / "node_modules"

#: Pyodide core files the kernel loads; the npm package ships no wheels.
PYODIDE_CORE = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
                "package.json")
#: What the kernel's lock add-on solves with uv, beyond the kernel's own wheels.
LOCK_SPECS = ("micropip", "simpy==4.1.2", "ipywidgets==8.1.9")
#: Packages loaded with Pyodide itself (``loadPyodideOptions.packages``), beyond the lock
#: add-on's defaults (ipykernel, comm, pyodide-kernel, ipython). The kernel's worker skips
#: its own separate step for each name listed here: ``loadPackage(['micropip'])``, then
#: ``micropip.install(<piplite wheel>)``, then ``piplite.install(...)`` for each of
#: ipykernel, comm, pyodide-kernel, jedi and ipython not listed (jupyterlite-pyodide-kernel
#: 0.8, ``worker.ts``). Listed, they download in parallel while Pyodide starts and install
#: in one step. ``labs`` and ``simpy`` are what every lab's first cell imports.
PREFETCH_EXTRA = ("micropip", "piplite", "jedi", "labs", "simpy")
#: Files of the labs app worth a precompressed copy (served by course.serve when accepted).
PRECOMPRESS = (".js", ".mjs", ".wasm", ".json", ".css", ".html", ".svg", ".zip")


class BuildError(RuntimeError):
    """A build step failed; the message says which and how to fix it."""


def _step(name: str):
    print(f"\n==> {name}", flush=True)
    return time.perf_counter()


def _done(start: float) -> None:
    print(f"    done in {time.perf_counter() - start:.1f}s", flush=True)


def _run(cmd: list[str], what: str, **kwargs) -> None:
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode}): {' '.join(map(str, cmd))}")


def build_wheel() -> Path:
    out = BUILD / "dist"
    out.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", "-w", str(out), str(ROOT)], "building the labs wheel")
    wheels = sorted(out.glob("labs-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one pure-Python labs wheel in {out}, found {wheels}")
    return wheels[0]


def build_notebooks() -> list:
    for variant in ("student", "solution"):
        (BUILD / "notebooks" / variant).mkdir(parents=True, exist_ok=True)
    labs = []
    errors = []
    for source in discover_labs(ROOT / "notebooks"):
        try:
            labs.append(parse_lab(source, ROOT / "notebooks"))
        except LabSourceError as err:
            errors.append(str(err))
    if errors:
        raise BuildError("lab sources with errors:\n" + "\n".join(errors))
    seen: dict[str, str] = {}
    for lab in labs:
        for ex in lab.exercises:
            if ex.id in seen:
                raise BuildError(f"exercise id {ex.id!r} is used by {seen[ex.id]} and {lab.name}; "
                                 "fix: give every exercise a course-wide unique id")
            seen[ex.id] = lab.name
        for variant in ("student", "solution"):
            path = BUILD / "notebooks" / variant / f"{lab.name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(to_notebook(lab, variant), indent=1, ensure_ascii=False)
                            + "\n", encoding="utf-8")
    print(f"    {len(labs)} labs, {sum(len(l.exercises) for l in labs)} exercises")
    return labs


def build_site() -> None:
    if not (NODE / "mermaid").is_dir():
        raise BuildError("node_modules is missing; fix: run scripts/install (npm ci)")
    _run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(SITE)],
         "mkdocs build --strict (the messages above name the page and the problem)", cwd=ROOT,
         env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))


def _stage_pyodide(lite: Path) -> None:
    """Copy Pyodide's core from npm, with a lock that lists only what is really there."""
    src = NODE / "pyodide"
    if not (src / "pyodide.mjs").is_file():
        raise BuildError("node_modules/pyodide is missing; fix: run scripts/install (npm ci)")
    dest = lite / "static" / "pyodide"
    dest.mkdir(parents=True)
    for name in PYODIDE_CORE:
        shutil.copyfile(src / name, dest / name)
    lock = json.loads((src / "pyodide-lock.json").read_text())
    # The npm lock names ~350 packages whose wheels are not in the package; left in, the
    # add-on treats the distribution as partial and points uv and the browser at a CDN.
    # Keep none, and pin the pure-Python versions Pyodide was tested with as constraints.
    pins = sorted({f"{p['name']}=={p['version']}" for p in lock["packages"].values()
                   if p["file_name"].endswith("-none-any.whl")})
    lock["packages"] = {}
    (dest / "pyodide-lock.json").write_text(json.dumps(lock))
    (lite / "pyodide-constraints.txt").write_text("\n".join(pins) + "\n")


def build_lite(wheel: Path) -> None:
    lite = BUILD / "lite"
    _stage_pyodide(lite)
    config = {
        "LiteBuildConfig": {
            "contents": [str(BUILD / "notebooks" / "student")],
            "output_dir": str(SITE / "lite"),
            "no_sourcemaps": True,
            "no_unused_shared_packages": True,
        },
        "PyodideLockAddon": {
            "enabled": True,
            "specs": list(LOCK_SPECS),
            "constraints": ["-r pyodide-constraints.txt"],
            "wheels": [str(wheel)],
            "prefetch_extra": list(PREFETCH_EXTRA),
        },
    }
    (lite / "jupyter_lite_config.json").write_text(json.dumps(config, indent=1))
    (lite / "jupyter-lite.json").write_text(json.dumps({
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "Microservices in Clojure: labs",
            "disablePyPIFallback": True,
            "defaultKernelName": "python",
        },
    }, indent=1))
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    jupyter = Path(sys.executable).with_name("jupyter")
    log = BUILD / "lite-build.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([str(jupyter), "lite", "build", "--lite-dir", str(lite)],
                                cwd=lite, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:  # show each task as it runs; keep the rest in the log
            sink.write(line)
            if line.startswith(".  "):
                print(f"    {line[3:].strip()}", flush=True)
        proc.wait()
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise BuildError(f"jupyter lite build failed (exit {proc.returncode}); "
                         f"last lines of {log}:\n{tail}")
    bytecode_step(SITE / "lite")
    from course.fingerprint import fingerprint  # long-lived URLs for the runtime (issue 19)
    moved = fingerprint(SITE / "lite")
    print(f"    content-addressed URLs: {moved['core'].name}/, {moved['wheels']} wheels, "
          f"{moved['lock'].name}", flush=True)
    from course.lite_extras import install as install_lite_extras  # lab guard, sizes (issue 8)
    install_lite_extras(SITE / "lite", precompress=precompress)


#: Run in Pyodide itself (Node), so the bytecode is exactly the browser's Python's.
_PYC_JS = r"""
const [pyodideDir, wheelsDir] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideDir + "/pyodide.mjs");
const py = await loadPyodide({ indexURL: pyodideDir + "/" });
py.FS.mkdirTree("/wheels");
py.FS.mount(py.FS.filesystems.NODEFS, { root: wheelsDir }, "/wheels");
console.log(py.runPython(`
import io, os, sys, zipfile, importlib.util
from importlib._bootstrap_external import _code_to_hash_pyc
tag = sys.implementation.cache_tag
site = f"/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages/"
done = []
for name in sorted(os.listdir("/wheels")):
    if not name.endswith(".whl"):
        continue
    path = "/wheels/" + name
    with zipfile.ZipFile(path) as zin:
        names = zin.namelist()
        if any("/__pycache__/" in n for n in names):
            continue
        out = io.BytesIO()
        n = 0
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                zout.writestr(info, data)
                f = info.filename
                if not f.endswith(".py") or ".dist-info/" in f or ".data/" in f:
                    continue
                try:
                    code = compile(data, site + f, "exec", dont_inherit=True)
                except SyntaxError:
                    continue
                head, _, base = f.rpartition("/")
                pyc = (head + "/" if head else "") + "__pycache__/" + base[:-3] + "." + tag + ".pyc"
                zi = zipfile.ZipInfo(pyc, date_time=info.date_time)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(zi, bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), False)))
                n += 1
    with open(path, "wb") as fh:
        fh.write(out.getvalue())
    done.append(f"{name}:{n}")
" ".join(done)
`));
"""


def bytecode_step(site_lite: Path, env=os.environ) -> bool:
    """Compile the wheels' bytecode unless ``COURSE_PYC=0``; says whether it did."""
    if env.get("COURSE_PYC", "1") == "0":
        print("    wheels left without bytecode (COURSE_PYC=0)", flush=True)
        return False
    compile_wheels(site_lite)
    return True


def compile_wheels(site_lite: Path) -> None:
    """Add Python 3.x bytecode (``__pycache__/*.cpython-3xx.pyc``) to the lock's wheels.

    The browser's Python then imports IPython, traitlets, jedi, ``labs``... without
    compiling their sources at every lab start. The bytecode is written by the site's own
    Pyodide (run in Node), so it matches the browser's Python exactly; it is
    *unchecked-hash* bytecode (PEP 552), valid whatever the files' times, and the sources
    stay in the wheel for tracebacks. The lock's sha256 of each wheel is updated. The
    kernel's own three wheels (served from the extension, indexed by piplite) are left as
    they are. ``COURSE_PYC=0`` builds without it.
    """
    import hashlib

    wheels = site_lite / "static" / "pyodide-lock"
    lock_path = wheels / "pyodide-lock.json"
    script = BUILD / "compile-wheels.mjs"
    script.write_text(_PYC_JS)
    result = subprocess.run(["node", str(script), str((site_lite / "static" / "pyodide").resolve()),
                             str(wheels.resolve())], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"compiling the wheels' bytecode in Pyodide failed:\n{result.stderr[-2000:]}")
    lock = json.loads(lock_path.read_text())
    for pkg in lock["packages"].values():
        wheel = (site_lite / "static" / "pyodide" / pkg["file_name"]).resolve()
        if wheel.parent == wheels.resolve() and wheel.is_file():
            pkg["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock_path.write_text(json.dumps(lock))
    print(f"    bytecode added to {result.stdout.strip().count(':')} wheels", flush=True)


def precompress(folder: Path, min_bytes: int = 1024, min_gain: float = 0.1) -> tuple[int, int]:
    """Write ``name.gz`` (gzip -9, reproducible) next to each compressible file of ``folder``.

    Only where it saves at least ``min_gain`` of the file. Returns (bytes before, after) of
    the files that got a copy. A static host serves the copy with ``Content-Encoding:
    gzip`` when the browser accepts it (course.serve does; README, "Serving the site").
    """
    import gzip

    before = after = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix not in PRECOMPRESS or path.stat().st_size < min_bytes:
            continue
        data = path.read_bytes()
        packed = gzip.compress(data, compresslevel=9, mtime=0)
        gz = path.with_name(path.name + ".gz")
        if len(packed) > len(data) * (1 - min_gain):
            gz.unlink(missing_ok=True)
            continue
        gz.write_bytes(packed)
        before, after = before + len(data), after + len(packed)
    return before, after


def verify_lite() -> dict:
    """Fail unless every runtime file of the labs is served by the site itself."""
    out = SITE / "lite"
    config = json.loads((out / "jupyter-lite.json").read_text())["jupyter-config-data"]
    settings = config.get("litePluginSettings", {}).get(
        "@jupyterlite/pyodide-kernel-extension:kernel", {})
    problems = []
    url = settings.get("pyodideUrl", "")
    if not url.startswith("./") or not (out / url).is_file():
        problems.append(f"pyodideUrl is {url!r}, not a file of the site")
    core = (out / url).parent
    lock_url = settings.get("loadPyodideOptions", {}).get("lockFileURL", "")
    lock_path = out / lock_url
    if not lock_url.startswith("./") or not lock_path.is_file():
        problems.append(f"lockFileURL is {lock_url!r}, not a file of the site")
    else:
        lock = json.loads(lock_path.read_text())
        for name, pkg in sorted(lock["packages"].items()):
            target = (core / pkg["file_name"]).resolve()
            if "://" in pkg["file_name"] or not target.is_file():
                problems.append(f"package {name} loads from {pkg['file_name']}")
        if "labs" not in lock["packages"]:
            problems.append("the labs wheel is not in the Pyodide lock")
    if not config.get("disablePyPIFallback"):
        problems.append("disablePyPIFallback is not set")
    if problems:
        raise BuildError("the labs would load files from outside the site:\n  "
                         + "\n  ".join(problems)
                         + "\n  fix: build clean (scripts/build) and check build/lite/")
    return settings


def build() -> None:
    total = time.perf_counter()
    for path in (BUILD, SITE):
        shutil.rmtree(path, ignore_errors=True)
    t = _step("1/5 labs wheel")
    wheel = build_wheel()
    print(f"    {wheel.name}")
    _done(t)
    t = _step("2/5 notebooks from lab sources")
    build_notebooks()
    _done(t)
    t = _step("3/5 site (mkdocs build --strict)")
    build_site()
    _done(t)
    t = _step("4/5 labs app (jupyter lite build, Pyodide lock solved with uv)")
    build_lite(wheel)
    _done(t)
    t = _step("5/5 verify: everything served by the site")
    verify_lite()
    _done(t)
    print(f"\nBuilt site/ in {time.perf_counter() - total:.1f}s")


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    try:
        build()
    except BuildError as err:
        print(f"\nbuild failed: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
