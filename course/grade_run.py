"""Running one submission for the grader: network isolation and the sandboxed process
(``course/sandbox_runner.py``) under a per-cell timeout, a memory cap and an output cap,
all enforced from outside the learner's process. Used by :mod:`course.grade`."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path



__all__ = ['Limits', 'network_isolation']

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- isolation

_ISOLATION: list[str] | None = None


def network_isolation() -> list[str]:
    """The command prefix that gives a process an empty network namespace, or ``[]``.

    ``unshare -n`` works as root; ``unshare -rn`` (a user namespace) works for other users
    on kernels that allow it. Without either, the runner's socket guard still refuses
    connections, but learner code could get around it; the grader says so when it starts.
    """
    global _ISOLATION
    if _ISOLATION is None:
        _ISOLATION = []
        if shutil.which("unshare"):
            for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
                try:
                    ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    continue
                if ok.returncode == 0:
                    _ISOLATION = prefix + ["--"]
                    break
    return _ISOLATION


# --------------------------------------------------------------------------- running

@dataclass
class Limits:
    timeout: float = 30.0
    memory_mb: int = 2048
    output_bytes: int = 1_000_000
    max_bytes: int = 5_000_000
    startup: float = 60.0


def _run(cells: list[dict], limits: Limits, workdir: Path) -> dict:
    """Run *cells* in a fresh runner process; return what happened, cell by cell."""
    job = {"cells": [{"source": c["source"]} for c in cells],
           "limits": {"memory_mb": limits.memory_mb, "output_bytes": limits.output_bytes,
                      "cpu_seconds": int(limits.timeout * (len(cells) + 2) + 60)}}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
           "IPYTHONDIR": str(workdir / ".ipython"), "PYTHONPATH": str(ROOT),
           "PYTHONHASHSEED": "0", "MPLBACKEND": "agg", "COURSE_GRADING": "1",
           "LANG": "C.UTF-8"}
    cmd = network_isolation() + [sys.executable, "-m", "course.sandbox_runner"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=workdir, env=env,
                            start_new_session=True)
    events: queue.Queue = queue.Queue()
    stderr: list[bytes] = []

    def read_events():
        for line in proc.stdout:
            try:
                events.put(json.loads(line))
            except ValueError:
                pass
        events.put(None)

    def read_stderr():
        size = 0
        for chunk in iter(lambda: proc.stderr.read(4096), b""):
            if size < 65536:
                stderr.append(chunk)
            size += len(chunk)

    threads = [threading.Thread(target=read_events, daemon=True),
               threading.Thread(target=read_stderr, daemon=True)]
    for t in threads:
        t.start()
    try:
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    result = {"ends": {}, "network": [], "stopped": None, "stopped_cell": None}
    current, deadline = None, time.monotonic() + limits.startup
    finished = False
    while True:
        try:
            event = events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            result["stopped"], result["stopped_cell"] = "timeout", current
            break
        if event is None:
            break
        kind = event.get("event")
        if kind == "start":
            current = event["cell"]
            deadline = time.monotonic() + limits.timeout
        elif kind == "end":
            result["ends"][event["cell"]] = event
            current = None
            deadline = time.monotonic() + limits.timeout
        elif kind == "network":
            result["network"].append(event)
        elif kind == "output-limit":
            result["stopped"], result["stopped_cell"] = "output-limit", event.get("cell")
        elif kind == "done":
            finished = True
        elif kind == "ready":
            deadline = time.monotonic() + limits.timeout
    if proc.poll() is None and not finished:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if not finished and result["stopped"] is None:
        result["stopped"], result["stopped_cell"] = "crashed", current
        code = proc.returncode
        how = (f"killed by signal {-code}" if code and code < 0 else f"exit code {code}")
        tail = b"".join(stderr).decode("utf-8", "replace").strip().splitlines()[-3:]
        result["crash_detail"] = how + (": " + " | ".join(tail) if tail else "")
    return result


