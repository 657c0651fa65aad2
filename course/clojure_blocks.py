"""Clojure and EDN blocks in the course pages: find them, classify them, check them.

One source of truth for what a block *is*, used by the MkDocs hook (which marks the blocks
a learner can run in the page) and by the tests (which evaluate or read every block):

* a **pure** ```` ```clojure ```` block is evaluated on JVM Clojure *and* on nbb
  (ClojureScript on SCI, the interpreter Scittle runs in the browser), each block in a
  fresh namespace; results written beside the code (``;; => value`` after a top-level form)
  are compared as values, and where both hosts run, the two hosts' values must agree;
* ``;; throws ExceptionInfo "message part"`` after a form expects that form to throw;
* a block whose first line is ``;; requires: <library and version, or a server>`` is only
  *read* (balanced forms, reader syntax, unknown tags such as ``#ig/ref`` accepted), unless
  a ``;; debian: <package> …`` line follows: then Debian packages the library, and the
  block is *evaluated* on the JVM with those packages' jars (and the jars of the Debian
  packages they depend on) on the classpath, its ``;; =>`` comments checked;
* a block whose first line is ``;; host: jvm — <why>`` (or ``;; host: cljs — <why>``) is
  pure but host-specific: evaluated on that host only, and reported as exempt on the other
  with the reason given;
* every ```` ```edn ```` block is read as EDN, with Aero's tags (``#env``, ``#profile``,
  ``#ref``, …) and namespaced tags (``#ig/ref``) accepted.

The writers' guide is ``docs/reference/writing-clojure-blocks.md``. Nothing is skipped
silently: a block that cannot be classified is an error naming ``file:line`` and the fix.

Usage: ``python -m course.clojure_blocks [docs]`` checks every block and prints a report.
The parts: :mod:`course.clojure_syntax` (what a block is, the lexer),
:mod:`course.clojure_pages` (finding, classifying and marking blocks), this module (the
hosts and the check).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .clojure_pages import extract_blocks, mark_runnable, page_markdown, scan_docs
from .clojure_syntax import (AERO_TAGS, HOST_NAMES, HOSTS, Block, BlockError, Expect,
                             HostMissing, Step, split_forms)

__all__ = [
    "Block", "BlockError", "Expect", "Step", "HostMissing", "Report",
    "extract_blocks", "scan_docs", "page_markdown", "split_forms", "check_blocks", "mark_runnable",
    "find_clojure", "find_nbb", "debian_classpath", "NBB_VERSION", "APT_PACKAGES",
    "DEBIAN_LIBRARIES",
]

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
JVM_RUNNER = HERE / "clojure_runner.clj"
NBB_RUNNER = HERE / "clojure_runner.cljs"
#: the npm pin of nbb the checks were written against
NBB_VERSION = "1.6.214"
#: Debian packages that provide /usr/bin/clojure
APT_PACKAGES = ("clojure",)
#: Debian's Clojure libraries that `;; debian:` blocks may use; `scripts/install --test`
#: installs them (keep the two lists in step: tests/site/test_clojure_blocks.py checks it)
DEBIAN_LIBRARIES = ("libring-core-clojure", "libring-jetty-adapter-clojure",
                    "libcheshire-clojure", "libdata-json-clojure", "libcore-async-clojure",
                    "libtools-logging-clojure")

# --------------------------------------------------------------------------- the hosts


def find_clojure() -> list[str]:
    exe = os.environ.get("CLOJURE") or shutil.which("clojure")
    if not exe:
        raise HostMissing(
            "JVM Clojure is not installed, so the pure Clojure blocks cannot be checked.\n"
            f"  fix: apt-get install {' '.join(APT_PACKAGES)} (scripts/install --test does it), "
            "or set CLOJURE=/path/to/clojure")
    return [exe]


def find_nbb() -> list[str]:
    exe = os.environ.get("NBB")
    candidates = [exe] if exe else []
    candidates += [str(ROOT / "node_modules" / ".bin" / "nbb"), shutil.which("nbb") or ""]
    for c in candidates:
        if c and Path(c).exists():
            if not shutil.which("node"):
                break
            return [c]
    raise HostMissing(
        "nbb (ClojureScript on Node) is not installed, so the pure Clojure blocks cannot be "
        "checked the way the browser runs them.\n"
        f"  fix: npm install nbb@{NBB_VERSION} in the project (it is pinned in package.json), "
        "with Node 20 on PATH; or set NBB=/path/to/nbb")


def _dpkg(args: list[str]) -> str | None:
    try:
        proc = subprocess.run(["dpkg-query", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def debian_classpath(packages) -> str:
    """The jars under /usr/share/java of Debian *packages* and of every installed package
    they depend on (recursively), as a classpath. Raises :class:`HostMissing` naming the
    ``apt-get install`` for a package that is not installed."""
    missing = [p for p in packages
               if "install ok installed" not in (_dpkg(["-W", "-f=${Status}", p]) or "")]
    if missing:
        raise HostMissing(
            f"the Debian package(s) {' '.join(missing)} named in a `;; debian:` line are not "
            f"installed.\n  fix: apt-get install -y {' '.join(missing)} (scripts/install --test "
            "installs course.clojure_blocks.DEBIAN_LIBRARIES)")
    seen, todo, jars = set(), list(packages), []
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        files = _dpkg(["-L", pkg])
        if files is None:                 # a virtual or absent dependency: nothing to add
            continue
        jars += [f for f in files.split() if f.startswith("/usr/share/java/") and f.endswith(".jar")]
        depends = _dpkg(["-W", "-f=${Depends}", pkg]) or ""
        for alt in depends.split(","):
            name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
            if name and (name.endswith("-java") or name.endswith("-clojure")):
                todo.append(name)
    return ":".join(sorted(set(jars)))


@dataclass
class Report:
    blocks: list[Block]
    evaluated: dict[str, list[Block]]
    read_only: list[Block]
    exempt: dict[str, list[tuple[Block, str]]]
    failures: list[str]
    library: list[Block] = field(default_factory=list)

    def summary(self) -> str:
        out = [f"Clojure/EDN blocks found: {len(self.blocks)}"]
        for h in HOSTS:
            out.append(f"  evaluated on {h}: {len(self.evaluated[h])}")
        out.append(f"  evaluated on jvm with Debian's libraries: {len(self.library)}")
        out.append(f"  read only (syntax and tags): {len(self.read_only)}")
        for h in HOSTS:
            for b, reason in self.exempt[h]:
                out.append(f"  exempt on {h}: {b.where} — {reason}")
        if self.failures:
            out.append(f"FAILURES ({len(self.failures)}):")
            out += ["  " + f.replace("\n", "\n    ") for f in self.failures]
        return "\n".join(out)


def _job(blocks: list[Block], host: str, nbb_values: dict | None = None) -> list[dict]:
    job = []
    for b in blocks:
        entry = {"id": b.where, "mode": "eval" if host in b.hosts else "read", "lang": b.lang,
                 "code": b.code, "line": b.line, "steps": []}
        if entry["mode"] == "eval":
            for k, s in enumerate(b.steps):
                step = {"text": s.text, "line": s.line}
                if s.expect:
                    step["expect"] = s.expect.kind
                    step["value"] = s.expect.value
                    step["cls"] = s.expect.cls
                    step["msg"] = s.expect.message
                    other = (nbb_values or {}).get((b.where, k))
                    if other is not None:
                        step["other"] = other
                entry["steps"].append(step)
        job.append(entry)
    return job


def _to_edn_string(s: str | None) -> str:
    if s is None:
        return "nil"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _job_edn(job: list[dict]) -> str:
    """The job as EDN, so both runners read it with their own reader (no JSON library)."""
    def val(v):
        if isinstance(v, dict):
            return "{" + " ".join(f":{k} {val(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + " ".join(val(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return _to_edn_string(v)
    tags = " ".join(f'"{t}"' for t in sorted(AERO_TAGS))
    return ("{:aero-tags [" + tags + "]\n :blocks [" + "\n".join(val(e) for e in job)
            + "]}\n")


def _run_host(host: str, job: list[dict], timeout: float,
              classpath: str | None = None) -> dict[str, dict]:
    cmd = find_clojure() + [str(JVM_RUNNER)] if host == "jvm" else find_nbb() + [str(NBB_RUNNER)]
    env = None
    if classpath:   # Debian's /usr/bin/clojure appends $CLASSPATH to its own
        env = dict(os.environ, CLASSPATH=classpath)
    with tempfile.TemporaryDirectory(prefix="clj-blocks-") as tmp:
        job_file = Path(tmp) / "job.edn"
        job_file.write_text(_job_edn(job), encoding="utf-8")
        try:
            proc = subprocess.run(cmd + [str(job_file)], capture_output=True, text=True,
                                  timeout=timeout, cwd=tmp, stdin=subprocess.DEVNULL, env=env)
            stdout, stderr, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as err:
            stdout = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
            stderr, rc = f"timed out after {timeout:.0f}s", None
    results: dict[str, dict] = {}
    started = None
    for ln in stdout.splitlines():
        if ln.startswith("@@START "):
            started = ln[len("@@START "):]
        elif ln.startswith("@@RESULT "):
            r = json.loads(ln[len("@@RESULT "):])
            results[r["id"]] = r
            started = None
    if rc != 0 or len(results) != len(job):
        running = f" while checking {started}" if started else ""
        raise RuntimeError(f"the {host} checker stopped{running} (exit {rc}) after "
                           f"{len(results)} of {len(job)} blocks:\n{stderr[-3000:]}")
    return results


def check_blocks(blocks: list[Block], timeout: float = 300) -> Report:
    """Evaluate the pure blocks on nbb, then on the JVM (one process each), and read the rest.

    nbb runs first so that the JVM run can compare its values with nbb's: a value that is
    equal to the expected one on each host but differs between them (a ratio on the JVM and
    a double in ClojureScript, a character and a one-letter string) is a failure too.
    """
    library = [b for b in blocks if b.kind == "library"]
    evaluated = {h: [b for b in blocks if h in b.hosts and b.kind == "pure"] for h in HOSTS}
    read_only = [b for b in blocks if b.kind == "read"]
    exempt = {h: [(b, f"host: {b.host} — {b.host_reason}") for b in blocks
                  if b.kind == "pure" and h not in b.hosts] for h in HOSTS}
    failures: list[str] = []

    nbb_blocks = evaluated["nbb"]
    nbb_results = _run_host("nbb", _job(nbb_blocks, "nbb"), timeout) if nbb_blocks else {}
    nbb_values = {}
    for b in nbb_blocks:
        r = nbb_results[b.where]
        for k, s in enumerate(r["steps"]):
            if s.get("ok") and b.steps[k].expect and b.steps[k].expect.kind == "value":
                nbb_values[(b.where, k)] = s["actual"]
    # the JVM evaluates its pure blocks and reads every other block (EDN and `requires`)
    jvm_blocks = [b for b in blocks if b.kind == "read" or (b.kind == "pure" and "jvm" in b.hosts)]
    jvm_results = _run_host("jvm", _job(jvm_blocks, "jvm", nbb_values), timeout) if jvm_blocks else {}
    # blocks that need a library Debian packages: one JVM per set of packages
    groups: dict[tuple[str, ...], list[Block]] = {}
    for b in library:
        groups.setdefault(tuple(sorted(b.debian)), []).append(b)
    for pkgs, group in groups.items():
        try:
            cp = debian_classpath(pkgs)
        except HostMissing as err:
            failures += [f"{b.where} (jvm with {' '.join(pkgs)}): {err}" for b in group]
            continue
        jvm_results.update(_run_host("jvm", _job(group, "jvm"), timeout, classpath=cp))
    for host, results in (("nbb", nbb_results), ("jvm", jvm_results)):
        for b in blocks:
            r = results.get(b.where)
            if r is None:
                continue
            if r.get("error"):
                failures.append(f"{b.where} ({host}, {'read' if b.kind == 'read' else 'eval'}): "
                                f"{r['error']}")
            for k, s in enumerate(r.get("steps", [])):
                if not s.get("ok"):
                    failures.append(f"{b.path}:{b.steps[k].line} ({host}): {s['message']}")
    return Report(blocks, evaluated, read_only, exempt, failures, library)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    docs = Path(argv[0]) if argv else ROOT / "docs"
    try:
        report = check_blocks(scan_docs(docs, docs.parent))
    except (BlockError, HostMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())

