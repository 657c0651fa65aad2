"""Serve the built site (``site/``) over HTTP, labs included.

A static server is all the course needs: JupyterLite runs the notebooks and Python in the
browser. What this server does, and what any static host should do too (README, "Serving
the site"):

* **Types.** Browsers refuse to compile WebAssembly served as anything but
  ``application/wasm`` with streaming, and module workers need JavaScript types.
* **Precompressed files.** The build writes ``name.gz`` next to the labs' large text and
  WebAssembly files (``course.build.precompress``); when the browser accepts gzip, the
  ``.gz`` is sent with ``Content-Encoding: gzip`` and the original's type, so a first lab
  start downloads far less. Browsers inflate it themselves, streaming WebAssembly included.
* **Caching.** URLs that carry a content hash never change: the labs app's chunks
  (``1234.abcdef0.js``) and the runtime the build moved to content-addressed URLs
  (``course.fingerprint``: ``static/pyodide-<hash>/``, ``static/pyodide-lock/<hash>/*.whl``,
  the lock): ``Cache-Control: public, max-age=31536000, immutable``, so a second lab start
  asks the server for none of them, and Chromium reuses the WebAssembly it compiled the
  first time. Every other file may change with a rebuild under the same URL (notebooks,
  pages, ``jupyter-lite.json``): ``no-cache`` with an ``ETag``, so the browser keeps its copy
  and only asks whether it is still current (``304 Not Modified``).
"""

from __future__ import annotations

import argparse
import email.utils
import functools
import io
import os
import re
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from course.fingerprint import IMMUTABLE as FINGERPRINTED

__all__ = ["serve", "main", "Handler"]

ROOT = Path(__file__).resolve().parent.parent


#: a file name with a content hash, as JupyterLite's webpack build names its chunks
HASHED = re.compile(r"/[^/]*[.-][0-9a-f]{7,}\.(js|css|wasm)$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
#: suffixes whose precompressed ``.gz`` copy is served when the browser accepts gzip
COMPRESSIBLE = (".js", ".mjs", ".wasm", ".json", ".css", ".html", ".svg", ".zip", ".txt")


def cache_control(url_path: str) -> str:
    """The ``Cache-Control`` value for a URL path of the site."""
    immutable = HASHED.search(url_path) or FINGERPRINTED.search(url_path)
    return IMMUTABLE if immutable else REVALIDATE


def accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and float(q[2:] or 0) == 0)
    return False


def _fresh_copy(path: str) -> bool:
    """A ``.gz`` copy exists and is not older than the file (an edited file wins)."""
    try:
        return os.stat(path + ".gz").st_mtime_ns >= os.stat(path).st_mtime_ns
    except OSError:
        return False


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".json": "application/json",
        ".ipynb": "application/json",
        ".whl": "application/octet-stream",
        ".zip": "application/zip",
        ".svg": "image/svg+xml",
    }

    def send_head(self):
        # Material's instant navigation only follows links listed in sitemap.xml, matched
        # with the port of `site_url`; rewrite the sitemap for the origin actually serving
        # it, so navigation stays instant on any host and port.
        if self.path.split("?")[0] == "/sitemap.xml" and self.headers.get("Host"):
            path = Path(self.translate_path(self.path))
            if path.is_file():
                text = re.sub(r"<loc>https?://[^/<]+", f"<loc>http://{self.headers['Host']}",
                              path.read_text(encoding="utf-8"))
                body = text.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return io.BytesIO(body)
        return self._send_file()

    def _send_file(self):
        """A file with its type, ETag, Cache-Control and, if it has one, its .gz copy."""
        path = self.translate_path(self.path)
        url_path = self.path.split("?")[0].split("#")[0]
        if os.path.isdir(path) or not os.path.isfile(path):
            return super().send_head()  # directories, redirects and 404s as before
        ctype = self.guess_type(path)
        served, encoding = path, None
        if (path.endswith(COMPRESSIBLE) and accepts_gzip(self.headers.get("Accept-Encoding"))
                and _fresh_copy(path)):
            served, encoding = path + ".gz", "gzip"
        try:
            f = open(served, "rb")
        except OSError:
            self.send_error(404, "File not found")
            return None
        st = os.fstat(f.fileno())
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}{"-gz" if encoding else ""}"'
        inm = self.headers.get("If-None-Match")
        if inm and etag in [t.strip() for t in inm.split(",")]:
            f.close()
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", cache_control(url_path))
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(st.st_size))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("Cache-Control", cache_control(url_path))
        self.end_headers()
        return f

    def copyfile(self, source, outputfile):
        """A browser that goes away mid-file (a tab closed, a lab left while its runtime
        loads, the chapter page's warm-up cut short) is normal, not a server error."""
        try:
            super().copyfile(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format, *args):  # quiet: one line per error only
        if len(args) > 1 and str(args[1]).startswith("5"):
            super().log_message(format, *args)


def serve(directory: Path, host: str, port: int) -> None:
    if not (directory / "index.html").is_file():
        sys.exit(f"error: {directory}/index.html is missing.\n  fix: run scripts/build first")
    handler = functools.partial(Handler, directory=str(directory))
    with ThreadingHTTPServer((host, port), handler) as httpd:
        print(f"Serving the course on http://{host}:{port}/ (labs under /lite/). Ctrl-C stops.",
              flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the built course.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--dir", type=Path, default=ROOT / "site", help="folder to serve")
    args = parser.parse_args(argv)
    serve(args.dir, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
