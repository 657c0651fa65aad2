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
FIRST_UID = 61000


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


def _reader(stream, events: queue.Queue, decisions: queue.Queue) -> None:
    """Read JSON events (one a line) from *stream*'s raw fd into *events*. At a ``done``
    event, ask the main loop (on *decisions*) whether it ends the run; if so, stop reading
    and leave the bytes after it (the channel is the judge's from then on)."""
    fd = stream.fileno()
    buf = bytearray()
    while True:
        at = buf.find(b"\n")
        if at < 0:
            if len(buf) > MAX_EVENT_BYTES:
                events.put({"event": "oversized"})
                break
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf.extend(chunk)
            continue
        line = bytes(buf[:at])
        del buf[:at + 1]
        if len(line) > MAX_EVENT_BYTES:
            events.put({"event": "oversized"})
            break
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("event") == "done":
            events.put(dict(event, _rest=bytes(buf)))
            if decisions.get():
                return
            continue
        events.put(event)
    events.put(None)


def _follow(proc, n: int, limits: Limits, final: float, result: dict, index: list) -> tuple:
    """Follow one process's events for *n* cells under the per-cell timeout and the deadline
    *final*; store each ``end`` in ``result["ends"]`` at ``index[cell]``. Returns
    (finished, bytes after ``done``, the cell running when it stopped)."""
    events: queue.Queue = queue.Queue()
    decisions: queue.Queue = queue.Queue()
    stderr: list[bytes] = []

    def read_stderr():
        size = 0
        for chunk in iter(lambda: proc.stderr.read(4096), b""):
            if size < 65536:
                stderr.append(chunk)
            size += len(chunk)

    threading.Thread(target=_reader, args=(proc.stdout, events, decisions), daemon=True).start()
    threading.Thread(target=read_stderr, daemon=True).start()
    current, expected, ready = None, 0, False
    deadline = time.monotonic() + limits.startup
    finished, rest = False, b""
    while True:
        try:
            event = events.get(timeout=max(0.0, min(deadline, final) - time.monotonic()))
        except queue.Empty:
            result["stopped"] = "timeout"
            result["stopped_cell"] = index[current] if current is not None else None
            if time.monotonic() >= final and deadline > final:
                result["detail"] = "the whole notebook ran longer than its time limit"
            break
        if event is None:
            break
        kind = event.get("event")
        cell = event.get("cell")
        if kind == "ready" and not ready and current is None and expected == 0:
            ready = True
            deadline = time.monotonic() + limits.timeout
        elif kind == "start" and ready and current is None and cell == expected \
                and type(cell) is int and cell < n:
            current = cell
            deadline = time.monotonic() + limits.timeout
        elif kind == "end" and current is not None and cell == current:
            event.pop("_rest", None)
            result["ends"][index[cell]] = event
            current, expected = None, cell + 1
            deadline = time.monotonic() + limits.timeout
        elif kind == "network" and current is not None:
            result["network"].append(dict(event, cell=index[current]))
        elif kind == "output-limit" and current is not None:
            result["stopped"], result["stopped_cell"] = "output-limit", index[current]
        elif kind == "oversized":
            result["stopped"], result["stopped_cell"] = "output-limit", \
                index[current] if current is not None else None
            break
        if kind == "done":
            ok = current is None and ready and expected == n
            decisions.put(ok)
            if ok:
                finished, rest = True, event.get("_rest", b"")
                break
    result["stderr"] = stderr
    return finished, rest, current


def _stop(proc) -> None:
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


def _crashed(result: dict, proc, current_index) -> None:
    if result["stopped"] is None:
        result["stopped"], result["stopped_cell"] = "crashed", current_index
        code = proc.returncode
        how = (f"killed by signal {-code}" if code and code < 0 else f"exit code {code}")
        tail = b"".join(result.get("stderr", [])).decode("utf-8", "replace").strip().splitlines()[-3:]
        result["crash_detail"] = how + (": " + " | ".join(tail) if tail else "")


def _run(cells: list[dict], limits: Limits, workdir: Path, sandbox=None, uid: int | None = None,
         steps: list[dict] | None = None) -> dict:
    """Run a submission: its learner cells in a fresh runner process, then the judge.

    With a :class:`course.grade_sandbox.Sandbox` the runner is started inside it, as *uid*;
    without one (``--unsafe-no-sandbox``) it is a plain child process. Only the learner's
    cells go into it (no check, public or hidden). Then, with *steps* (see
    :func:`course.grade_cells.build_judge_steps`), the judge (:mod:`course.judge`, a clean
    process of the grader's) runs the instructor's cells and every check against the
    learner's objects over the runner's channel; only the judge's reports are kept.

    Either way the clock is the grader's: a cell's time starts when the grader sees that
    cell's ``start`` event, events out of order are ignored (a learner's code can write to
    the channel, but cannot reset the clock with a fake ``ready`` or skip ahead), each judge
    step has the same per-cell limit, and the whole run has one deadline.
    """
    learner = [k for k, c in enumerate(cells) if c["role"] == "learner"]
    steps = steps if steps is not None else []
    result = {"ends": {}, "network": [], "stopped": None, "stopped_cell": None}
    whole = limits.submission or (2 * limits.startup
                                  + limits.timeout * (len(learner) + len(steps) + 2))
    final = time.monotonic() + whole
    upto = len(learner)
    for attempt in (0, 1):
        proc = _start_runner([cells[k] for k in learner[:upto]], limits, workdir, sandbox, uid)
        try:
            finished, rest, current = _follow(proc, upto, limits, final, result, learner)
            if not finished:
                _stop(proc)
                _crashed(result, proc, learner[current] if current is not None else None)
                # a learner cell stopped the run: grade the checks before it on a run of the
                # cells before it (one more run at most, within the same deadline)
                stop_at = result["stopped_cell"]
                if attempt == 0 and isinstance(stop_at, int) and result["stopped"] in (
                        "timeout", "crashed", "output-limit") and time.monotonic() < final \
                        and any(c["role"] != "learner" for c in cells[:stop_at]):
                    upto = sum(1 for k in learner if k < stop_at)
                    kept = {k: v for k, v in result["ends"].items() if k < stop_at}
                    saved = {key: result.get(key) for key in ("stopped", "stopped_cell",
                                                              "crash_detail", "detail")}
                    result = {"ends": kept, "network": result["network"], "stopped": None,
                              "stopped_cell": None, "_later": saved}
                    continue
                break
            before = [s for s in steps if s.get("cell") is None or s["cell"] < (
                result.get("_later", {}).get("stopped_cell") or len(cells))]
            result["runner_seconds"] = round(time.monotonic() - (final - whole), 3)
            _judge(proc, before, limits, final, result, rest, sandbox, uid)
            result["judge_seconds"] = round(time.monotonic() - (final - whole)
                                            - result["runner_seconds"], 3)
        finally:
            _stop(proc)
        break
    later = result.pop("_later", None)
    if later and result["stopped"] is None:
        result.update({k: v for k, v in later.items() if v is not None})
    result.pop("stderr", None)
    return result


def _start_runner(cells, limits: Limits, workdir: Path, sandbox, uid):
    cpu = int(limits.timeout * (len(cells) + 2) + 60)
    job = {"cells": [{"source": c["source"]} for c in cells],
           "limits": {"memory_mb": limits.memory_mb, "output_bytes": limits.output_bytes,
                      "cpu_seconds": cpu * 3}}
    if sandbox is not None:
        cmd = sandbox.command(workdir, uid, memory_mb=limits.memory_mb, cpu_seconds=cpu * 3,
                              processes=limits.processes)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        cwd = None
    else:
        env = _env(workdir)
        cmd = network_isolation() + [sys.executable, "-m", "course.sandbox_runner"]
        cwd = workdir
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, env=env,
                            start_new_session=True, bufsize=0)
    try:
        proc.stdin.write(json.dumps(job).encode() + b"\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    return proc


def _env(workdir: Path) -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
            "IPYTHONDIR": str(workdir / ".ipython"), "PYTHONPATH": str(ROOT),
            "PYTHONHASHSEED": "0", "MPLBACKEND": "agg", "COURSE_GRADING": "1",
            "LANG": "C.UTF-8"}


#: the judge of the submission run as uid runs as uid + JUDGE_UID_OFFSET
JUDGE_UID_OFFSET = 500


def _judge(runner, steps: list[dict], limits: Limits, final: float, result: dict,
           rest: bytes, sandbox=None, uid: int | None = None) -> None:
    """Run the judge on *steps*, talking to *runner* over its channel; keep its reports.

    With a sandbox, the judge runs in a bubblewrap container of its own (the same read-only
    runtime, its own empty folder, as a uid of its own): it holds no learner code, and the
    data it rebuilds from the learner's answers meets only the clean library."""
    import base64
    import tempfile
    rfd, wfd = runner.stdout.fileno(), runner.stdin.fileno()
    with tempfile.TemporaryDirectory(prefix="judge-") as tmp:
        if sandbox is not None:
            juid = (uid if uid is not None else FIRST_UID) + JUDGE_UID_OFFSET
            cpu = int(limits.timeout * (len(steps) + 2) + 60)
            cmd = sandbox.command(sandbox.workdir(juid), juid, memory_mb=limits.memory_mb,
                                  cpu_seconds=cpu, processes=limits.processes,
                                  module="course.judge")
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
            cwd = None
        else:
            cmd, env, cwd = [sys.executable, "-m", "course.judge"], _env(Path(tmp)), tmp
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd, env=env,
                                start_new_session=True, bufsize=0, pass_fds=(rfd, wfd))
        try:
            job = {"steps": steps, "rfd": rfd, "wfd": wfd, "memory_mb": limits.memory_mb,
                   "initial": base64.b64encode(rest).decode()}
            try:
                proc.stdin.write(json.dumps(job).encode() + b"\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass
            index = [s.get("cell") for s in steps]
            # a step's end that is not a check is kept aside (the grader reads only checks')
            mapped = [k if k is not None else -1 - j for j, k in enumerate(index)]
            judged = {"ends": {}, "network": [], "stopped": None, "stopped_cell": None}
            finished, _, current = _follow(proc, len(steps), limits, final, judged, mapped)
            if not finished:
                _stop(proc)
                if judged["stopped"] is None:
                    _crashed(judged, proc, None)
                    judged["crash_detail"] = "the grader's judge " + judged["crash_detail"]
                # the check that could not finish (or the next one): where the run stopped
                after = [k for k in index[(current or 0):] if k is not None]
                judged["stopped_cell"] = after[0] if after else None
                for key in ("stopped", "stopped_cell", "crash_detail", "detail"):
                    if judged.get(key) is not None:
                        result[key] = judged[key]
            for k, end in judged["ends"].items():
                if k >= 0:
                    result["ends"][k] = end
                elif end.get("error"):   # an instructor cell failed in the judge: the log's
                    result.setdefault("judge_errors", []).append(
                        f"{end['error']['ename']}: {end['error']['evalue']}"[:300])
            result["judge_messages"] = max([e.get("messages", 0) for e in judged["ends"].values()]
                                           or [0])
        finally:
            _stop(proc)
