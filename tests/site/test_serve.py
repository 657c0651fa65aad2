"""The course's own server (course.serve): types, cache headers, precompressed files."""

from __future__ import annotations

import functools
import gzip
import os
import threading
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from course.build import precompress
from course.serve import Handler, accepts_gzip, cache_control


@pytest.fixture()
def served(tmp_path):
    (tmp_path / "lite" / "build").mkdir(parents=True)
    (tmp_path / "lite" / "static" / "pyodide").mkdir(parents=True)
    wasm = b"\0asm" + b"\1\0\0\0" + b"x" * 5000
    (tmp_path / "lite" / "static" / "pyodide" / "pyodide.asm.wasm").write_bytes(wasm)
    (tmp_path / "lite" / "build" / "1031.b91a70b.js").write_text("var a = 1;\n" * 500)
    (tmp_path / "lite" / "labs-0.1.0-py3-none-any.whl").write_bytes(b"PK" + os.urandom(3000))
    (tmp_path / "small.json").write_text("{}")
    precompress(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path, wasm
    server.shutdown()
    server.server_close()


def get(url, **headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), b""


def test_precompress_writes_gz_only_where_it_pays(served):
    _, root, _ = served
    assert (root / "lite" / "static" / "pyodide" / "pyodide.asm.wasm.gz").is_file()
    assert (root / "lite" / "build" / "1031.b91a70b.js.gz").is_file()
    assert not (root / "lite" / "labs-0.1.0-py3-none-any.whl.gz").exists()  # not a text type
    assert not (root / "small.json.gz").exists()  # too small to bother


def test_wasm_is_sent_gzipped_with_its_own_type_when_accepted(served):
    base, _, wasm = served
    status, headers, body = get(base + "/lite/static/pyodide/pyodide.asm.wasm", **{"Accept-Encoding": "gzip, br"})
    assert status == 200
    assert headers["Content-Type"] == "application/wasm"
    assert headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert gzip.decompress(body) == wasm
    assert int(headers["Content-Length"]) == len(body) < len(wasm)


def test_plain_file_when_gzip_is_not_accepted(served):
    base, _, wasm = served
    for accept in (None, "identity", "gzip;q=0"):
        status, headers, body = get(base + "/lite/static/pyodide/pyodide.asm.wasm",
                                    **({"Accept-Encoding": accept} if accept else {}))
        assert status == 200 and body == wasm and "Content-Encoding" not in headers, accept


def test_an_edited_file_wins_over_its_older_gz(served):
    base, root, _ = served
    js = root / "lite" / "build" / "1031.b91a70b.js"
    js.write_text("var edited = 2;\n" * 300)
    os.utime(js, ns=(os.stat(js).st_atime_ns, os.stat(str(js) + ".gz").st_mtime_ns + 10**9))
    status, headers, body = get(base + "/lite/build/1031.b91a70b.js", **{"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers and body.startswith(b"var edited")


def test_cache_headers_immutable_only_for_hashed_names(served):
    base, _, _ = served
    _, hashed, _ = get(base + "/lite/build/1031.b91a70b.js")
    assert hashed["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("/lite/static/pyodide/pyodide.asm.wasm", "/lite/labs-0.1.0-py3-none-any.whl",
                 "/small.json"):
        _, headers, _ = get(base + path)
        assert headers["Cache-Control"] == "no-cache", path
        assert headers["ETag"]
    assert cache_control("/lite/static/pyodide/pyodide.mjs") == "no-cache"
    assert cache_control("/lite/extensions/x/static/121.5c5a442bc10a67ee.js").endswith("immutable")
    # the runtime at content-addressed URLs (course.fingerprint) is immutable ...
    for path in ("/lite/static/pyodide-0123456789abcdef/pyodide.asm.wasm",
                 "/lite/static/pyodide-lock/0123456789abcdef/simpy-4.1.2-py3-none-any.whl",
                 "/lite/static/pyodide-lock/pyodide-lock-0123456789abcdef.json"):
        assert cache_control(path).endswith("immutable"), path
    # ... and near misses are not
    for path in ("/lite/static/pyodide-0123/pyodide.asm.wasm",
                 "/lite/static/pyodide-lock/simpy-4.1.2-py3-none-any.whl",
                 "/lite/static/pyodide-lock/pyodide-lock.json",
                 "/lite/files/0123456789abcdef/lab.ipynb"):
        assert cache_control(path) == "no-cache", path


def test_revalidation_answers_304_and_a_change_answers_200(served):
    base, root, _ = served
    url = base + "/lite/static/pyodide/pyodide.asm.wasm"
    _, first, _ = get(url, **{"Accept-Encoding": "gzip"})
    status, headers, body = get(url, **{"Accept-Encoding": "gzip", "If-None-Match": first["ETag"]})
    assert status == 304 and body == b""
    # the plain and the gzipped file are different representations: different tags
    _, plain, _ = get(url)
    assert plain["ETag"] != first["ETag"]
    gz = root / "lite" / "static" / "pyodide" / "pyodide.asm.wasm.gz"
    os.utime(gz, ns=(gz.stat().st_atime_ns, gz.stat().st_mtime_ns + 10**9))
    status, _, _ = get(url, **{"Accept-Encoding": "gzip", "If-None-Match": first["ETag"]})
    assert status == 200


def test_missing_files_and_directories_behave_as_before(served):
    base, _, _ = served
    assert get(base + "/nope.js")[0] == 404
    assert get(base + "/lite")[0] in (200, 301)  # redirect to lite/ (listing or index)


def test_accepts_gzip():
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, gzip;q=0.8")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("br")
    assert not accepts_gzip(None)


# --- the build's levers: bytecode in the wheels (switch COURSE_PYC), the warm list ---------

def test_bytecode_switch_both_ways(monkeypatch, tmp_path):
    import course.build as build

    calls = []
    monkeypatch.setattr(build, "compile_wheels", lambda lite: calls.append(lite))
    assert build.bytecode_step(tmp_path, env={}) is True and calls == [tmp_path]
    assert build.bytecode_step(tmp_path, env={"COURSE_PYC": "0"}) is False and calls == [tmp_path]


def test_built_lock_matches_its_wheels_and_they_carry_bytecode(site):
    import hashlib
    import json
    import zipfile

    from course.fingerprint import IMMUTABLE, core_dir, kernel_settings

    lite = site / "lite"
    settings = kernel_settings(lite)
    lock = json.loads((lite / settings["loadPyodideOptions"]["lockFileURL"]).read_text())
    core = core_dir(lite)
    for name, pkg in lock["packages"].items():
        wheel = (core / pkg["file_name"]).resolve()
        assert hashlib.sha256(wheel.read_bytes()).hexdigest() == pkg["sha256"], name
        url = "/" + wheel.relative_to(site).as_posix()
        # every wheel of the lock but the kernel's own three lives at a content-addressed URL
        if "/extensions/" not in url:
            assert IMMUTABLE.search(url) and pkg["sha256"][:16] in url, url
    assert IMMUTABLE.search("/lite/" + settings["pyodideUrl"][2:])
    assert IMMUTABLE.search("/lite/" + settings["loadPyodideOptions"]["lockFileURL"][2:])
    with zipfile.ZipFile((core / lock["packages"]["labs"]["file_name"]).resolve()) as z:
        names = z.namelist()
    assert "labs/__init__.py" in names  # sources stay, for tracebacks
    assert any(n.startswith("labs/__pycache__/__init__.cpython-3") for n in names)


def test_start_packages_are_preloaded_with_pyodide(site):
    """Every step the kernel's worker would take on its own is preloaded instead."""
    import json

    config = json.loads((site / "lite" / "jupyter-lite.json").read_text())["jupyter-config-data"]
    options = config["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]["loadPyodideOptions"]
    for name in ("micropip", "piplite", "ipykernel", "comm", "pyodide-kernel", "jedi", "ipython",
                 "labs", "simpy"):
        assert name in options["packages"], name


# --- content-addressed URLs (course.fingerprint) --------------------------------------------

def _fake_lite(tmp_path, wheel_bytes=b"wheel"):
    import hashlib
    import json

    lite = tmp_path / "lite"
    core = lite / "static" / "pyodide"
    core.mkdir(parents=True)
    (core / "pyodide.mjs").write_text("export const loadPyodide = 1;")
    (core / "pyodide.asm.wasm").write_bytes(b"\0asm")
    locks = lite / "static" / "pyodide-lock"
    locks.mkdir()
    (locks / "simpy-4.1.2-py3-none-any.whl").write_bytes(wheel_bytes)
    ext = lite / "extensions" / "k" / "pypi"
    ext.mkdir(parents=True)
    (ext / "ipykernel-6.9.2-py3-none-any.whl").write_bytes(b"k")
    lock = {"packages": {
        "simpy": {"file_name": "../../static/pyodide-lock/simpy-4.1.2-py3-none-any.whl",
                  "sha256": hashlib.sha256(wheel_bytes).hexdigest()},
        "ipykernel": {"file_name": "../../extensions/k/pypi/ipykernel-6.9.2-py3-none-any.whl",
                      "sha256": hashlib.sha256(b"k").hexdigest()}}}
    (locks / "pyodide-lock.json").write_text(json.dumps(lock))
    (lite / "jupyter-lite.json").write_text(json.dumps({"jupyter-config-data": {
        "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": {
            "pyodideUrl": "./static/pyodide/pyodide.mjs",
            "loadPyodideOptions": {"lockFileURL": "./static/pyodide-lock/pyodide-lock.json",
                                   "packages": ["simpy"]}}}}}))
    return lite


def test_fingerprint_moves_the_runtime_and_every_reference_resolves(tmp_path):
    import json

    from course.fingerprint import IMMUTABLE, core_dir, fingerprint, kernel_settings

    lite = _fake_lite(tmp_path)
    moved = fingerprint(lite)
    assert moved["wheels"] == 1 and not (lite / "static" / "pyodide").exists()
    settings = kernel_settings(lite)
    assert (lite / settings["pyodideUrl"]).is_file()
    assert core_dir(lite) == moved["core"] and (core_dir(lite) / "pyodide.asm.wasm").is_file()
    lock = json.loads((lite / settings["loadPyodideOptions"]["lockFileURL"]).read_text())
    for pkg in lock["packages"].values():  # relative to the core's folder, as Pyodide reads them
        assert (core_dir(lite) / pkg["file_name"]).resolve().is_file(), pkg
    assert lock["packages"]["ipykernel"]["file_name"].startswith("../../extensions/")
    simpy = lock["packages"]["simpy"]["file_name"]
    assert simpy.endswith("/simpy-4.1.2-py3-none-any.whl")  # the wheel's own name, last
    for url in (settings["pyodideUrl"], settings["loadPyodideOptions"]["lockFileURL"],
                "./static/pyodide-lock/" + simpy.split("static/pyodide-lock/")[1]):
        assert IMMUTABLE.search("/lite/" + url[2:]), url
    # run twice on one build: refused, with what to do
    with pytest.raises(ValueError, match="fresh build"):
        fingerprint(lite)


def test_fingerprint_changes_a_url_exactly_when_its_content_changes(tmp_path):
    from course.fingerprint import fingerprint, kernel_settings

    def urls(folder, wheel):
        lite = _fake_lite(folder, wheel)
        fingerprint(lite)
        s = kernel_settings(lite)
        return s["pyodideUrl"], s["loadPyodideOptions"]["lockFileURL"]

    a = urls(tmp_path / "a", b"wheel one")
    assert urls(tmp_path / "b", b"wheel one") == a  # same content, same URLs: caches stay
    c = urls(tmp_path / "c", b"wheel two")
    assert c[0] == a[0] and c[1] != a[1]  # same core; a changed wheel changes the lock's URL


def test_fingerprint_refuses_a_wheel_that_does_not_match_its_lock(tmp_path):
    import json

    from course.fingerprint import fingerprint

    lite = _fake_lite(tmp_path)
    (lite / "static" / "pyodide-lock" / "simpy-4.1.2-py3-none-any.whl").write_bytes(b"changed")
    with pytest.raises(ValueError, match="sha256 does not match"):
        fingerprint(lite)
    assert json.loads((lite / "jupyter-lite.json").read_text())  # config left readable


def test_a_browser_leaving_mid_file_is_not_a_server_error(served, capsys):
    """Closing a tab while the runtime downloads resets the connection: no traceback."""
    import socket
    import struct
    import time

    base, root, _ = served
    (root / "lite" / "big.wasm").write_bytes(b"\0asm" + b"x" * 20_000_000)
    host, port = base.rsplit("/", 1)[1].split(":")
    for _ in range(3):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"GET /lite/big.wasm HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.0 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
        s.close()
    time.sleep(1)
    status, _, body = get(base + "/small.json")  # and the server still answers
    assert status == 200 and body == b"{}"
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err
