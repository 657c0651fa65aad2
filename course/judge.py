"""The judge: run the instructor's cells of one lab, with a clean ``labs`` and no learner
code, against the learner's objects in the sandbox (:mod:`course.grade_rpc`).

Started by the grader (``python -m course.judge``) once the submission's sandbox has run the
learner's cells. The job (one JSON line on stdin) lists *steps* in the lab's source order:

* ``{"kind": "run", "source": …, "cell": k}``: an instructor cell (setup, knob, a check or a
  hidden check; *cell* is the grading cell of a check, ``null`` for the others), run here;
* ``{"kind": "bind", "names": […]}``: where the learner's code was, the names it defines
  become the learner's values (fetched as data) or handles to the learner's functions.

Events go out on stdout as JSON lines, as the sandbox's runner does: ``ready``, ``start``
and ``end`` (with the check reports of that step) per step, ``done``. Only this process's
own :class:`labs.Checks` produce reports: nothing the sandbox sends can become a report.
"""

from __future__ import annotations

import ast
import base64
import builtins
import json
import os
import resource
import sys
import time
import traceback

from course.grade_rpc import Endpoint, SubmissionGone

CHECK_MIME = "application/vnd.course.check+json"


class _Quiet:
    """Output budget of the judge's cells: none is kept (they are the instructor's)."""

    def __init__(self):
        self.cell = -1

    def spend(self, n: int) -> None:
        pass


def _live(value) -> bool:
    """An object of a labs class with state (not a frozen dataclass, an enum, a class)."""
    import dataclasses
    import enum
    from course.grade_rpc import _labs_name
    t = type(value)
    if not (_labs_name(t) or t.__module__ == "__main__") or isinstance(value, (type, enum.Enum)):
        return False
    return not (dataclasses.is_dataclass(value) and t.__dataclass_params__.frozen)


class _Shell:
    """Runs a cell as a notebook does (the value of a last expression is shown) and keeps
    the check reports shown, by ``display()`` or as that value; nothing else is rendered."""

    def __init__(self, outputs: list):
        self.outputs = outputs
        self.user_ns = {"__name__": "__main__", "__builtins__": builtins,
                        "display": self.display}

    def show(self, value) -> None:
        if value is None:
            return
        bundle = None
        method = getattr(type(value), "_repr_mimebundle_", None)
        if method is not None:
            bundle = method(value)
        if isinstance(bundle, dict) and CHECK_MIME in bundle:
            self.outputs.append({CHECK_MIME: bundle[CHECK_MIME]})

    def display(self, *objs, raw: bool = False, **kwargs) -> None:
        for obj in objs:
            if raw and isinstance(obj, dict):
                if CHECK_MIME in obj:
                    self.outputs.append({CHECK_MIME: obj[CHECK_MIME]})
            else:
                self.show(obj)

    def run_cell(self, source: str) -> None:
        tree = ast.parse(source, "<cell>")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<cell>", "exec"), self.user_ns)
        if last is not None:
            self.show(eval(compile(last, "<cell>", "eval"), self.user_ns))


def main() -> int:
    job = json.loads(sys.stdin.readline())
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", closefd=False)

    def send(**event):
        channel.write(json.dumps(event, default=str) + "\n")
        channel.flush()

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    mb = 1024 * 1024
    memory = int(job.get("memory_mb", 2048)) * mb
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ValueError, OSError):
        pass
    from course.sandbox_runner import _CappedText
    outputs: list = []
    budget = _Quiet()
    shell = _Shell(outputs)   # plain exec: the instructor's cells need no IPython here
    sys.stdout = sys.stderr = _CappedText(budget)
    endpoint = Endpoint(int(job["rfd"]), int(job["wfd"]), "judge",
                        initial=base64.b64decode(job.get("initial", "")))
    injected: set = set()
    sent: dict = {}

    def sync_injected():
        """Give the sandbox the judge's current object for each injected name (a check may
        swap one, e.g. a failing server, around a call)."""
        for name in sorted(injected):
            value = shell.user_ns.get(name)
            if _live(value) and sent.get(name) is not value:
                sent[name] = value
                try:
                    endpoint.request("set", name=name, value=value)
                except SubmissionGone:
                    raise
                except Exception:
                    pass

    endpoint.watch = sync_injected
    send(event="ready", pid=os.getpid())
    for index, step in enumerate(job["steps"]):
        outputs.clear()
        send(event="start", cell=index)
        began = time.perf_counter()
        error = None
        if step["kind"] == "bind":
            injected.update(step.get("inject", []))   # the judge's stateful lab objects
            try:
                sync_injected()
            except SubmissionGone as gone:
                error = {"ename": "SubmissionGone", "evalue": str(gone)[:500], "traceback": ""}
            for name in step["names"]:
                try:
                    shell.user_ns[name] = endpoint.request("get", name=name)
                except SubmissionGone as gone:
                    error = {"ename": "SubmissionGone", "evalue": str(gone)[:500], "traceback": ""}
                    break
                except Exception as err:   # undefined, or a value that cannot come here
                    shell.user_ns.pop(name, None)
                    if not isinstance(err, NameError):
                        error = {"ename": type(err).__name__, "evalue": str(err)[:500],
                                 "traceback": ""}
        else:
            try:
                shell.run_cell(step["source"])
            except BaseException as failure:  # noqa: BLE001  (SubmissionGone included)
                error = {"ename": type(failure).__name__, "evalue": str(failure)[:1000],
                         "traceback": traceback.format_exc()[-3000:]}
        reports = [dict(o[CHECK_MIME]) for o in outputs if CHECK_MIME in o] \
            if step.get("cell") is not None else []
        if endpoint.gone:   # the channel broke: nothing from this step on is trusted
            reports = []
        send(event="end", cell=index, error=error, reports=reports,
             gone=endpoint.gone, messages=endpoint.messages,
             seconds=round(time.perf_counter() - began, 3))
    send(event="done", messages=endpoint.messages)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
