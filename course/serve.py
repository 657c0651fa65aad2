"""Serve the built site (``site/``) over HTTP, labs included.

A static server is all the course needs: JupyterLite runs the notebooks and Python in the
browser. The MIME types below matter: browsers refuse to compile WebAssembly served as
anything but ``application/wasm`` with streaming, and module workers need JavaScript types.
"""

from __future__ import annotations

import argparse
import functools
import io
import re
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["serve", "main", "Handler"]

ROOT = Path(__file__).resolve().parent.parent


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
        return super().send_head()

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
