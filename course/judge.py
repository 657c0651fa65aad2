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

import base64
import json
import os
import resource
import sys
import time

from course.grade_rpc import Endpoint, SubmissionGone

CHECK_MIME = "application/vnd.course.check+json"


class _Quiet:
    """Output budget of the judge's cells: none is kept (they are the instructor's)."""

    def __init__(self):
        self.cell = -1

    def spend(self, n: int) -> None:
        pass


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
    from course.sandbox_runner import _CappedText, _shell
    outputs: list = []
    budget = _Quiet()
    shell = _shell(budget, outputs)
    # only the check bundle is worth computing here (no figures rendered for nobody)
    shell.display_formatter.active_types = ["text/plain", CHECK_MIME]
    sys.stdout = sys.stderr = _CappedText(budget)
    endpoint = Endpoint(int(job["rfd"]), int(job["wfd"]), "judge",
                        initial=base64.b64decode(job.get("initial", "")))
    send(event="ready", pid=os.getpid())
    for index, step in enumerate(job["steps"]):
        outputs.clear()
        shell._last_traceback = ""
        send(event="start", cell=index)
        began = time.perf_counter()
        error = None
        if step["kind"] == "bind":
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
                result = shell.run_cell(step["source"], store_history=False, silent=False)
                failure = result.error_before_exec or result.error_in_exec
            except BaseException as err:  # noqa: BLE001
                failure = err
            if failure is not None:
                error = {"ename": type(failure).__name__, "evalue": str(failure)[:1000],
                         "traceback": shell._last_traceback[-3000:]}
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
