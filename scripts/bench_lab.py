#!/usr/bin/env python3
"""Benchmark (not a test): how long a lab takes to answer, against the bare-Pyodide floor.

One run measures, in Debian's Chromium under the course's own server (``course.serve``):

* **the floor**: a bare page, served only by this benchmark (``/__bench__/floor.html``,
  never part of the site), that loads the site's own Pyodide core and runs one line;
  cold (fresh profile) and warm (same profile, page reopened);
* **the lab**, cold and warm: from opening its URL to the first code cell's output;
* **from the chapter**: a fresh profile opens the chapter page that links the lab, stays on
  it for ``--read`` seconds (20 by default) as a reader would, presses *Open the lab*, and
  times the lab from that click to the first output;
* the **ratio** of each to the floor, a **breakdown** of one cold lab start (app scripts,
  kernel worker, Pyodide core, each wheel, the kernel's console lines, kernel idle, first
  cell) from the network events and the page's own marks, and the **bytes** fetched by kind.

Medians of ``--runs`` runs (at least 3). Prints the environment (Chromium, cores, load).

    .venv/bin/python scripts/bench_lab.py [--lab ch01/availability] [--runs 3] [--read 20]
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.serve import Handler  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

#: The floor: the site's Pyodide core, loaded the way the kernel loads it, one line run.
FLOOR_HTML = b"""<!doctype html><meta charset="utf-8"><title>floor</title>
<script type="module">
const base = new URL("/lite/__CORE__/", location.href).href;
const { loadPyodide } = await import(base + "pyodide.mjs");
const py = await loadPyodide({ indexURL: base });
window.__floorResult = String(py.runPython("sum(range(10))"));
</script>
"""
FLOOR_DONE = "() => window.__floorResult === '45'"

FIRST_PROMPT = "document.querySelector('.jp-CodeCell .jp-InputPrompt').textContent.trim()"
QUEUED = f"() => /^\\[(\\*|\\d+)\\]:$/.test({FIRST_PROMPT})"
RAN = f"() => /^\\[\\d+\\]:$/.test({FIRST_PROMPT})"

#: Marks taken in the lab page itself: the app object, the kernel created, the kernel idle.
MARKS_JS = """(() => {
  if (!location.pathname.includes('/lite/')) return;
  const marks = window.__benchMarks = {};
  const t = setInterval(() => {
    try {
      const app = window.jupyterapp;
      if (!app) return;
      if (marks.app === undefined) marks.app = performance.now();
      const w = app.shell.currentWidget;
      const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
      if (!k) return;
      if (marks.kernel === undefined) marks.kernel = performance.now();
      if (k.status === 'idle') { marks.idle = performance.now(); clearInterval(t); }
    } catch (e) {}
  }, 20);
})();"""


def floor_html() -> bytes:
    """The floor page, loading the core from where this build put it (course.fingerprint)."""
    from course.fingerprint import core_dir

    lite = ROOT / "site" / "lite"
    return FLOOR_HTML.replace(b"__CORE__", core_dir(lite).relative_to(lite).as_posix().encode())


class BenchHandler(Handler):
    """The site as built (course.serve), plus the floor page, which is never published."""

    def send_head(self):
        if self.path.split("?")[0] == "/__bench__/floor.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(floor_html())))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            import io
            return io.BytesIO(floor_html())
        return super().send_head()


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def site_weight(site: Path) -> list[tuple[str, int]]:
    lite = site / "lite"
    from course.fingerprint import core_dir

    pyodide, wheels = core_dir(lite), lite / "static" / "pyodide-lock"
    kernel_wheels = sum(p.stat().st_size for p in (lite / "extensions").rglob("*.whl"))
    compressed = sum(p.stat().st_size for p in site.rglob("*") if p.suffix in (".gz", ".br"))
    total = size(site) - compressed
    app = size(lite) - size(pyodide) - size(wheels) - kernel_wheels
    app -= sum(p.stat().st_size for p in lite.rglob("*") if p.suffix in (".gz", ".br"))
    core = size(pyodide) - sum(p.stat().st_size for p in pyodide.rglob("*")
                               if p.suffix in (".gz", ".br"))
    parts = [("lab app (JupyterLite)", app), ("Pyodide core", core),
             ("wheels", size(wheels) + kernel_wheels),
             ("vendored page scripts (Mermaid, Scittle)", size(site / "assets" / "vendor")),
             ("pages and theme", total - size(lite) + sum(
                 p.stat().st_size for p in lite.rglob("*") if p.suffix in (".gz", ".br"))
              - size(site / "assets" / "vendor"))]
    parts.append(("total (without precompressed copies)", total))
    if compressed:
        parts.append(("precompressed copies (.gz), served instead", compressed))
    return parts


def kind_of(url: str) -> str:
    path = urlparse(url).path
    if path.endswith(".wasm"):
        return "WebAssembly"
    if path.endswith("python_stdlib.zip"):
        return "Python stdlib"
    if path.endswith(".whl"):
        return "wheels"
    if path.endswith((".js", ".mjs")):
        return "JavaScript"
    if path.endswith((".json", ".ipynb")):
        return "JSON, notebooks"
    return "pages, styles, fonts, other"


class Recorder:
    """Network and console events of one browser context, stamped from a common start."""

    def __init__(self, ctx, origin: str):
        self.t0 = time.perf_counter()
        self.events: list[tuple[float, str, str]] = []
        self.bytes: dict[str, int] = {}
        self.fetched: list[tuple[float, str, int]] = []
        self.outside: list[str] = []
        self.origin = origin
        ctx.on("request", self._request)
        ctx.on("requestfinished", self._finished)
        ctx.on("console", self._console)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def _request(self, request) -> None:
        if not request.url.startswith((self.origin + "/", "data:", "blob:", "about:")):
            self.outside.append(request.url)

    def _finished(self, request) -> None:
        if not request.url.startswith(self.origin + "/"):
            return
        try:
            response = request.response()
            # JupyterLite's service worker answers the app's requests by fetching them
            # itself: count its network fetch, not the page's answer from it as well
            if response is not None and response.from_service_worker:
                return
            n = int(response.headers.get("content-length", "0")) if response else 0
            status = response.status if response else 0
        except Exception:
            n, status = 0, 0
        if status == 304:
            n = 0
        self.fetched.append((self.now(), request.url, n))
        kind = kind_of(request.url)
        self.bytes[kind] = self.bytes.get(kind, 0) + n

    def _console(self, msg) -> None:
        text = msg.text
        if re.match(r"(Loading|Loaded|Didn't find|No new packages)", text):
            self.events.append((self.now(), "console", text[:110]))


def launch(p, profile: str):
    return p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=ARGS,
                                                headless=True)


def run_first_cell(page, start: float) -> float:
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    editor = page.locator(".jp-CodeCell .jp-InputArea-editor").first
    for _ in range(5):  # the notebook may still be laying out: retry until queued
        editor.click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(QUEUED, timeout=3_000, polling=20)
            break
        except Exception:
            continue
    page.wait_for_function(RAN, timeout=180_000, polling=20)
    return time.perf_counter() - start


def floor_once(p, profile: str, base: str) -> float:
    ctx = launch(p, profile)
    try:
        page = ctx.new_page()
        start = time.perf_counter()
        page.goto(base + "/__bench__/floor.html")
        page.wait_for_function(FLOOR_DONE, timeout=120_000, polling=20)
        return time.perf_counter() - start
    finally:
        ctx.close()


def lab_once(p, profile: str, base: str, lab: str, record: bool = False):
    ctx = launch(p, profile)
    rec = Recorder(ctx, base) if record else None
    try:
        ctx.add_init_script(MARKS_JS)
        page = ctx.new_page()
        workers: list[float] = []
        page.on("worker", lambda w: workers.append(time.perf_counter()))
        start = time.perf_counter()
        if rec:
            rec.t0 = start
        page.goto(f"{base}/lite/notebooks/index.html?path={lab}.ipynb")
        took = run_first_cell(page, start)
        if not rec:
            return took
        marks = page.evaluate("window.__benchMarks || {}")
        nav = page.evaluate("performance.timeOrigin") / 1000.0
        return took, rec, marks, workers, start, nav
    finally:
        ctx.close()


def chapter_once(p, profile: str, base: str, lab: str, read_s: float):
    """Fresh profile: read the chapter for read_s seconds, then open the lab from its button."""
    ctx = launch(p, profile)
    rec = Recorder(ctx, base)
    try:
        page = ctx.new_page()
        page.goto(f"{base}/{chapter_of(lab)}")
        page.wait_for_selector(f'a.lab-button[data-lab="{lab}"]')
        page.wait_for_timeout(3_000)
        page_bytes = sum(n for _, _, n in rec.fetched)
        page.wait_for_timeout(read_s * 1000 - 3_000)
        read_bytes = sum(n for _, _, n in rec.fetched)
        start = time.perf_counter()
        page.locator(f'a.lab-button[data-lab="{lab}"]').first.click()
        took = run_first_cell(page, start)
        return took, page_bytes, read_bytes, rec.outside
    finally:
        ctx.close()


def chapter_of(lab: str) -> str:
    """The site path of the chapter page whose lab button opens ``lab``."""
    for page in sorted((ROOT / "site" / "chapters").glob("*/index.html")):
        if f'data-lab="{lab}"' in page.read_text(encoding="utf-8"):
            return page.parent.relative_to(ROOT / "site").as_posix() + "/"
    raise SystemExit(f"error: no chapter page has a button for {lab}")


def environment() -> list[str]:
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"Chromium: {version.strip().split(' built')[0]} ({CHROMIUM}, headless)",
            f"CPU cores: {os.cpu_count()}   load average (1, 5, 15 min): {load}",
            f"Python: {sys.version.split()[0]}   date (UTC): "
            f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())}"]


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):5.2f} s   runs: " + ", ".join(f"{t:.2f}" for t in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="ch01/availability")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--read", type=float, default=20.0, help="seconds on the chapter page")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be at least 3 (medians of at least three runs)")
    site = ROOT / "site"
    if not (site / "lite" / "files" / f"{args.lab}.ipynb").is_file():
        print(f"error: site/lite/files/{args.lab}.ipynb not found; run scripts/build", file=sys.stderr)
        return 1
    print("Environment")
    for line in environment():
        print("  " + line)
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(BenchHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    from playwright.sync_api import sync_playwright

    floor_cold, floor_warm, cold, warm, chapter = [], [], [], [], []
    breakdown = None
    page_bytes = read_bytes = 0
    outside: list[str] = []
    with sync_playwright() as p:
        for i in range(args.runs):  # interleaved, so a burst of load elsewhere hits all alike
            with tempfile.TemporaryDirectory() as profile:
                floor_cold.append(floor_once(p, profile, base))
                floor_warm.append(floor_once(p, profile, base))
            with tempfile.TemporaryDirectory() as profile:
                if i == 0:
                    breakdown = lab_once(p, profile, base, args.lab, record=True)
                    cold.append(breakdown[0])
                    outside += breakdown[1].outside
                else:
                    cold.append(lab_once(p, profile, base, args.lab))
                warm.append(lab_once(p, profile, base, args.lab))
            with tempfile.TemporaryDirectory() as profile:
                took, page_bytes, read_bytes, out = chapter_once(p, profile, base, args.lab, args.read)
                chapter.append(took)
                outside += out
            print(f"  run {i + 1}: floor {floor_cold[-1]:.2f}/{floor_warm[-1]:.2f} s, lab "
                  f"{cold[-1]:.2f}/{warm[-1]:.2f} s, from the chapter {chapter[-1]:.2f} s "
                  f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    server.shutdown()

    fc, fw = statistics.median(floor_cold), statistics.median(floor_warm)
    print(f"\nFloor: bare page, the site's Pyodide core, one line ({args.runs} runs, median)")
    print(f"  cold (fresh profile): {fmt(floor_cold)}")
    print(f"  warm (cached):        {fmt(floor_warm)}")
    print(f"\nLab {args.lab}: opening to first output ({args.runs} runs, median)")
    print(f"  cold (fresh profile): {fmt(cold)}   = {statistics.median(cold) / fc:.2f}x cold floor")
    print(f"  warm (cached):        {fmt(warm)}   = {statistics.median(warm) / fw:.2f}x warm floor")
    print(f"  from the chapter after {args.read:.0f} s of reading (fresh profile), click to output:")
    print(f"                        {fmt(chapter)}   = {statistics.median(chapter) / fw:.2f}x warm floor")
    print(f"  chapter page bytes in its first 3 s: {page_bytes / 1e6:.2f} MB; "
          f"after {args.read:.0f} s of reading: {read_bytes / 1e6:.2f} MB")

    took, rec, marks, workers, start, nav = breakdown
    offset = nav - (start - (time.perf_counter() - time.time()))  # page clock vs ours
    print(f"\nBreakdown of one cold lab start (s from opening; first output at {took:.2f} s)")
    rows: list[tuple[float, str]] = []
    js = [t for t, u, _ in rec.fetched if kind_of(u) == "JavaScript" and "/static/pyodide" not in u
          and (not workers or t < workers[0] - start)]
    if js:
        rows.append((max(js), "app scripts loaded (last app JavaScript before the kernel worker)"))
    for name, label in (("app", "app object up (window.jupyterapp)"), ("kernel", "kernel created"),
                        ("idle", "kernel idle (boot done)")):
        if name in marks:
            rows.append((marks[name] / 1000.0 + offset, label))
    if workers:
        rows.append((workers[0] - start, "kernel worker started"))
    for t, url, n in rec.fetched:
        path = urlparse(url).path
        if path.endswith((".wasm", ".zip", ".whl", "pyodide.mjs", "pyodide.asm.mjs", "pyodide-lock.json")):
            rows.append((t, f"fetched {path.rsplit('/', 1)[-1]} ({n / 1e3:.0f} kB)"))
    rows += [(t, f"worker: {text}") for t, _, text in rec.events]
    rows.append((took, "first cell done (imports of the first cell included)"))
    for t, label in sorted(rows):
        print(f"  {t:6.2f}  {label}")
    print("\nBytes a cold lab start fetched, by kind (Content-Length as sent)")
    for kind, n in sorted(rec.bytes.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<28} {n / 1e6:7.2f} MB")
    print(f"  {'total':<28} {sum(rec.bytes.values()) / 1e6:7.2f} MB   "
          f"({len(rec.fetched)} requests)")
    print(f"\nRequests to other origins during the lab and chapter runs: {len(outside)}"
          + "".join(f"\n  {u}" for u in outside[:10]))
    print("\nSite size by part")
    for name, n in site_weight(site):
        print(f"  {name:<44} {n / 1e6:7.1f} MB")
    print("\nEnvironment at the end")
    print("  " + environment()[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
