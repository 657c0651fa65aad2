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
    """What one submission may use. *timeout* is per cell; *submission* bounds the whole run
    (default: startup plus *timeout* for each cell), whatever the learner's code prints."""

    timeout: float = 30.0
    memory_mb: int = 2048
    output_bytes: int = 1_000_000
    max_bytes: int = 5_000_000
    startup: float = 60.0
    submission: float | None = None
    processes: int = 64


#: the longest event line the grader reads from a runner (a check report with many checks
#: fits easily); a longer line is a protocol violation and ends the run
MAX_EVENT_BYTES = 1_000_000


def _run(cells: list[dict], limits: Limits, workdir: Path, sandbox=None, uid: int | None = None) -> dict:
    """Run *cells* in a fresh runner process; return what happened, cell by cell.

    With a :class:`course.grade_sandbox.Sandbox` the runner is started inside it, as *uid*;
    without one (``--unsafe-no-sandbox``) it is a plain child process. Either way the clock
    is the grader's: a cell's time starts when the grader sees that cell's ``start`` event,
    events out of order are ignored (a learner's code can write to the channel, but cannot
    reset the clock with a fake ``ready`` or skip ahead), and the whole run has a deadline.
    """
    cpu = int(limits.timeout * (len(cells) + 2) + 60)
    job = {"cells": [{"source": c["source"]} for c in cells],
           "limits": {"memory_mb": limits.memory_mb, "output_bytes": limits.output_bytes,
                      "cpu_seconds": cpu}}
    if sandbox is not None:
        cmd = sandbox.command(workdir, uid, memory_mb=limits.memory_mb, cpu_seconds=cpu,
                              processes=limits.processes)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        cwd = None
    else:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
               "IPYTHONDIR": str(workdir / ".ipython"), "PYTHONPATH": str(ROOT),
               "PYTHONHASHSEED": "0", "MPLBACKEND": "agg", "COURSE_GRADING": "1",
               "LANG": "C.UTF-8"}
        cmd = network_isolation() + [sys.executable, "-m", "course.sandbox_runner"]
        cwd = workdir
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=env,
                            start_new_session=True)
    events: queue.Queue = queue.Queue()
    stderr: list[bytes] = []

    def read_events():
        while True:
            line = proc.stdout.readline(MAX_EVENT_BYTES + 1)
            if not line:
                break
            if len(line) > MAX_EVENT_BYTES:
                events.put({"event": "oversized"})
                break
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.put(event)
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
    began = time.monotonic()
    whole = limits.submission or (limits.startup + limits.timeout * (len(cells) + 1))
    final = began + whole
    current, expected, ready = None, 0, False
    deadline = began + limits.startup
    finished = False
    while True:
        try:
            event = events.get(timeout=max(0.0, min(deadline, final) - time.monotonic()))
        except queue.Empty:
            result["stopped"], result["stopped_cell"] = "timeout", current
            if time.monotonic() >= final and deadline > final:
                result["detail"] = f"the whole notebook ran longer than {whole:g} s"
            break
        if event is None:
            break
        kind = event.get("event")
        cell = event.get("cell")
        if kind == "ready" and not ready and current is None and expected == 0:
            ready = True
            deadline = time.monotonic() + limits.timeout
        elif kind == "start" and ready and current is None and cell == expected:
            current = cell
            deadline = time.monotonic() + limits.timeout
        elif kind == "end" and current is not None and cell == current:
            result["ends"][cell] = event
            current, expected = None, cell + 1
            deadline = time.monotonic() + limits.timeout
        elif kind == "network" and current is not None:
            result["network"].append(event)
        elif kind == "output-limit" and current is not None:
            result["stopped"], result["stopped_cell"] = "output-limit", current
        elif kind == "oversized":
            result["stopped"], result["stopped_cell"] = "output-limit", current
            break
        elif kind == "done" and current is None and expected == len(cells):
            finished = True
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # bwrap, and with it the whole namespace
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
