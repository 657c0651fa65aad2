#!/usr/bin/env python3
"""Benchmark (not a test): time from opening a lab to its first output, and site weight.

Opens a lab of the built site in Debian's Chromium, runs its first code cell, and measures
the time until that cell has run in the Pyodide kernel (its prompt shows a number): *cold*
with a fresh browser profile (nothing cached), then *warm* (same profile, page reopened).
Prints the site's size by part.

    .venv/bin/python scripts/bench_lab.py [--lab ch01/availability] [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.serve import Handler  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


FIRST_PROMPT = "document.querySelector('.jp-CodeCell .jp-InputPrompt').textContent.trim()"
QUEUED = f"() => /^\\[(\\*|\\d+)\\]:$/.test({FIRST_PROMPT})"
RAN = f"() => /^\\[\\d+\\]:$/.test({FIRST_PROMPT})"


def site_weight(site: Path) -> list[tuple[str, int]]:
    lite = site / "lite"
    pyodide, wheels = lite / "static" / "pyodide", lite / "static" / "pyodide-lock"
    kernel_wheels = sum(p.stat().st_size for p in (lite / "extensions").rglob("*.whl"))
    total = size(site)
    app = size(lite) - size(pyodide) - size(wheels) - kernel_wheels
    parts = [("lab app (JupyterLite)", app), ("Pyodide core", size(pyodide)),
             ("wheels", size(wheels) + kernel_wheels),
             ("vendored page scripts (Mermaid, Scittle)", size(site / "assets" / "vendor")),
             ("pages and theme", total - size(lite) - size(site / "assets" / "vendor"))]
    return parts + [("total", total)]


def first_output(browser_type, profile: str, url: str) -> float:
    ctx = browser_type.launch_persistent_context(profile, executable_path="/usr/bin/chromium",
                                                 args=ARGS, headless=True)
    try:
        page = ctx.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
        editor = page.locator(".jp-CodeCell .jp-InputArea-editor").first
        for _ in range(5):  # the notebook may still be laying out: retry until queued
            editor.click()
            page.keyboard.press("Shift+Enter")
            try:
                page.wait_for_function(QUEUED, timeout=3_000)
                break
            except Exception:
                continue
        page.wait_for_function(RAN, timeout=180_000)
        return time.perf_counter() - start
    finally:
        ctx.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="ch01/availability")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    site = ROOT / "site"
    if not (site / "lite" / "files" / f"{args.lab}.ipynb").is_file():
        print(f"error: site/lite/files/{args.lab}.ipynb not found; run scripts/build", file=sys.stderr)
        return 1
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = (f"http://127.0.0.1:{server.server_address[1]}/lite/notebooks/index.html"
           f"?path={args.lab}.ipynb")
    from playwright.sync_api import sync_playwright

    cold, warm = [], []
    with sync_playwright() as p:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as profile:
                cold.append(first_output(p.chromium, profile, url))
                warm.append(first_output(p.chromium, profile, url))
    server.shutdown()
    print(f"Lab {args.lab}: time from opening to first output ({args.runs} runs, median)")
    print(f"  cold (fresh profile): {statistics.median(cold):5.1f} s   runs: "
          + ", ".join(f"{t:.1f}" for t in cold))
    print(f"  warm (cached):        {statistics.median(warm):5.1f} s   runs: "
          + ", ".join(f"{t:.1f}" for t in warm))
    print("\nSite size by part")
    for name, n in site_weight(site):
        print(f"  {name:<42} {n / 1e6:7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
