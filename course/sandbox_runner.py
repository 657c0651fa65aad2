"""Run one submission's cells in this fresh process, for the grader (``course/grade.py``).

Started by the grader as ``python -m course.sandbox_runner`` (under ``unshare -n`` when the
machine allows it), one process per submission, never reused: a learner's code cannot see
another learner's state. Why not a Jupyter kernel: a kernel costs a second process, ZeroMQ
sockets and a second or more of start-up per submission; IPython's ``InteractiveShell`` in
a plain process runs the same cells with the same notebook semantics (last expression
displayed, magics, ``display()``) in a fraction of the time.

Protocol: the job (JSON) arrives on stdin; events go out as JSON lines on the original
stdout, which the runner keeps for itself before pointing fd 1 and 2 at ``/dev/null``:

* ``{"event": "ready"}`` once set up, then for each cell ``{"event": "start", "cell": i}``
  and ``{"event": "end", "cell": i, "error": …, "reports": […]}``;
* ``{"event": "network", …}`` when the learner's code tries to reach the network;
* ``{"event": "output-limit", …}`` (then exit 3) when the output passes the cap;
* ``{"event": "done"}``.

The grader enforces the per-cell timeout from outside (it kills the process group), so a
learner's ``except BaseException`` or a loop in C cannot outlast it.

Limits set here, before any learner code runs: address space (``RLIMIT_AS``), CPU time,
file size, no core dumps; network blocked at the socket layer (on top of the empty network
namespace the grader provides when it can).
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import socket
import sys

CHECK_MIME = "application/vnd.course.check+json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Channel:
    def __init__(self, fd: int):
        self.fd = fd
        self._out = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=False)

    def send(self, **event) -> None:
        self._out.write(json.dumps(event, default=str) + "\n")
        self._out.flush()


class _Budget:
    """Output the learner's cells may produce in total; past it the run stops."""

    def __init__(self, limit: int, channel: _Channel):
        self.limit, self.used, self.channel, self.cell = limit, 0, channel, -1

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            self.channel.send(event="output-limit", cell=self.cell, used=self.used,
                              limit=self.limit)
            os._exit(3)


class _CappedText(io.TextIOBase):
    def __init__(self, budget: _Budget):
        self.budget = budget

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        self.budget.spend(len(s))
        return len(s)

    def isatty(self) -> bool:
        return False


def _limit(kind: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, hard if hard != resource.RLIM_INFINITY else value))
    except (ValueError, OSError):
        pass


def _block_network(channel: _Channel, state: dict) -> None:
    """Refuse every IP connection with a clear error, and tell the grader."""

    class NetworkBlocked(OSError):
        pass

    def refuse(what, target=None):
        if state["cell"] is not None:   # not while serving the judge: the channel is its own
            channel.send(event="network", cell=state["cell"], what=what, target=repr(target)[:200])
        raise NetworkBlocked(f"network access is blocked while grading ({what} {target!r})")

    inet = (socket.AF_INET, socket.AF_INET6)
    original = {name: getattr(socket.socket, name) for name in
                ("connect", "connect_ex", "sendto", "bind")}

    def guard(name):
        def method(self, *args, **kwargs):
            if self.family in inet:
                refuse(name, args[0] if args else None)
            return original[name](self, *args, **kwargs)
        method.__name__ = name
        return method

    for name in original:
        setattr(socket.socket, name, guard(name))
    socket.getaddrinfo = lambda host, *a, **k: refuse("getaddrinfo", host)
    socket.gethostbyname = lambda host, *a, **k: refuse("gethostbyname", host)


def _shell(budget: _Budget, outputs: list):
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    def keep(data: dict) -> None:
        budget.spend(sum(len(json.dumps(v, default=str)) for v in data.values()))
        outputs.append(data)

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            keep(dict(data))

        def clear_output(self, wait=False):
            pass

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            keep(dict(format_dict))

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        displayhook_class = Hook
        display_pub_class = Publisher

        def _showtraceback(self, etype, evalue, stb):
            text = ANSI.sub("", "\n".join(stb))
            budget.spend(len(text))
            self._last_traceback = text

        def showsyntaxerror(self, filename=None, running_compiled_code=False):
            etype, value, _ = sys.exc_info()
            self._last_traceback = f"{etype.__name__}: {value}"

    from traitlets.config import Config
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.autocall = 0
    shell = Shell.instance(config=config)
    shell._last_traceback = ""
    return shell


def main() -> int:
    requests = os.dup(0)   # the job, then (after the cells) the judge's requests
    job = json.loads(_read_line(requests))
    channel = _Channel(os.dup(1))
    channel_fd = channel.fd
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    limits = job.get("limits", {})
    mb = 1024 * 1024
    _limit(resource.RLIMIT_AS, int(limits.get("memory_mb", 2048)) * mb)
    _limit(resource.RLIMIT_CPU, int(limits.get("cpu_seconds", 600)))
    _limit(resource.RLIMIT_FSIZE, int(limits.get("file_mb", 64)) * mb)
    _limit(resource.RLIMIT_CORE, 0)
    budget = _Budget(int(limits.get("output_bytes", 1_000_000)), channel)
    outputs: list = []
    shell = _shell(budget, outputs)
    sys.stdout = sys.stderr = _CappedText(budget)
    state = {"cell": -1}
    _block_network(channel, state)
    channel.send(event="ready", pid=os.getpid())
    for index, cell in enumerate(job["cells"]):
        state["cell"] = budget.cell = index
        outputs.clear()
        shell._last_traceback = ""
        channel.send(event="start", cell=index)
        error = None
        try:
            result = shell.run_cell(cell["source"], store_history=False, silent=False)
            failure = result.error_before_exec or result.error_in_exec
        except BaseException as err:  # noqa: BLE001  (a learner's SystemExit and the like)
            failure = err
        if failure is not None:
            error = {"ename": type(failure).__name__, "evalue": str(failure)[:1000],
                     "traceback": shell._last_traceback[-3000:]}
        reports = [dict(o[CHECK_MIME]) for o in outputs if CHECK_MIME in o]
        channel.send(event="end", cell=index, error=error, reports=reports)
    channel.send(event="done")
    state["cell"] = budget.cell = None
    # the judge's turn: it asks for the learner's values and calls the learner's functions
    from course.grade_rpc import Endpoint
    Endpoint(requests, channel_fd, "sandbox", namespace=shell.user_ns).serve()
    sys.stdout.flush()
    os._exit(0)


def _read_line(fd: int, limit: int = 200_000_000) -> bytes:
    """The first line of *fd*, read without reading past it (the rest is the judge's)."""
    out = bytearray()
    while len(out) < limit:
        b = os.read(fd, 1 << 16) if not out.endswith(b"\n") else b""
        if not b:
            break
        out.extend(b)
        if b"\n" in b:
            break
    line, _, rest = bytes(out).partition(b"\n")
    if rest:
        raise SystemExit("the job must be alone on the first line")
    return line


if __name__ == "__main__":
    sys.exit(main())
