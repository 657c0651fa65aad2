"""Grade a folder of submitted lab notebooks: a gradebook CSV and plain-words feedback.

Usage (``scripts/grade``)::

    python -m course.grade SUBMISSIONS_DIR --out OUT_DIR [--lab chNN/name] [--timeout 30]
                           [--jobs 2] [--partial]

What it does with each ``*.ipynb`` in SUBMISSIONS_DIR (and below it):

1. refuses a file over ``--max-bytes`` before reading it (``too-large``), a file that is not
   a notebook (``invalid-notebook``), and a notebook of a lab it does not know
   (``unknown-lab``) or of another lab than ``--lab`` (``wrong-lab``);
2. rebuilds the notebook for grading: the learner's cells, with every check cell replaced
   by the instructor's original from the lab source (a learner who edited or deleted a
   check cell is graded with the original) and each exercise's hidden checks right after
   its public ones;
3. runs the learner's cells (no check cell) in a sandbox of its own
   (``course/sandbox_runner.py`` in ``course/grade_sandbox.py``'s bubblewrap container): no
   network, a memory cap, an output cap, and a per-cell timeout enforced from outside;
4. runs the lab's own cells and every check in the judge (``course/judge.py``, a clean
   process with no learner code), which calls the learner's functions and fetches the
   learner's values over the sandbox's channel (``course/grade_rpc.py``), and scores each
   exercise from the judge's reports only.

Scoring rule: an exercise earns its full points when every one of its checks, public and
hidden, passed; otherwise none. Checks are written to pin down one behaviour together,
and partial credit per check would reward the number of checks an author happened to
write rather than the learner's progress. ``--partial`` gives points in proportion to the
checks passed instead, for instructors who prefer it.

Statuses in the gradebook, per student and exercise: ``passed``, ``failed``,
``not-attempted`` (every check still says "not yet"), ``error`` (the learner's code raised
before the checks), ``network-blocked``, ``timeout``, ``memory-limit``, ``output-limit``,
``crashed`` (the process died), and for a whole submission ``too-large``,
``invalid-notebook``, ``unknown-lab``, ``wrong-lab``. One bad submission never stops the
run nor touches another's grade.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import queue
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from course.notebooks import Lab
from course.grade_run import Limits, _run, network_isolation
from course.grade_cells import build_grading_cells, build_judge_steps, load_labs
from course.grade_sandbox import FIRST_UID, Sandbox, SandboxUnavailable

__all__ = ["grade", "grade_one", "main", "Submission", "Row", "network_isolation",
           "build_grading_cells"]

ROOT = Path(__file__).resolve().parent.parent
CHECK_TAGS = {"check", "hidden-check"}
GRADEBOOK_FIELDS = ["student", "exercise", "points", "max_points", "status", "lab",
                    "submission", "detail"]

#: what each status means, in the words the feedback uses
MEANING = {
    "passed": "all checks passed",
    "failed": "your code ran, but some checks did not pass",
    "not-attempted": "the exercise still looks unstarted (every check said 'not yet')",
    "error": "your code raised an error before the checks ran",
    "network-blocked": "your code tried to use the network, which is off while grading",
    "timeout": "a cell ran longer than the time limit, so grading stopped there",
    "memory-limit": "your code used more memory than allowed",
    "output-limit": "your code printed more output than allowed, so grading stopped there",
    "crashed": "the Python process running your notebook died",
    "too-large": "the file is larger than allowed, so it was not opened",
    "invalid-notebook": "the file is not a readable Jupyter notebook",
    "unknown-lab": "the notebook does not say which lab it is, or names a lab the course "
                   "does not have",
    "wrong-lab": "the notebook is of another lab than the one being graded",
}


@dataclass
class Row:
    student: str
    exercise: str
    points: float
    max_points: int
    status: str
    lab: str
    submission: str
    detail: str = ""


@dataclass
class Submission:
    path: Path
    student: str
    lab: str = ""
    status: str = ""  # set when the whole submission fails before running
    detail: str = ""
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: dict = field(default_factory=dict)  # exercise -> list of reports
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timing: dict = field(default_factory=dict)   # where the time went (runner, judge)


# --------------------------------------------------------------------------- grading one

def _student_of(path: Path, nb: dict | None) -> str:
    if nb:
        meta = nb.get("metadata") or {}
        for value in ((meta.get("course") or {}).get("student") if isinstance(
                meta.get("course"), dict) else None, meta.get("student")):
            if isinstance(value, str) and value.strip():
                return value.strip()
    return path.stem


def _whole(sub: Submission, lab: Lab | None, status: str, detail: str) -> Submission:
    sub.status, sub.detail = status, detail
    if lab is not None:
        sub.lab = lab.name
        sub.rows = [Row(sub.student, ex.id, 0, ex.points, status, lab.name, sub.path.name, detail)
                    for ex in lab.exercises]
    else:
        sub.rows = [Row(sub.student, "", 0, 0, status, sub.lab, sub.path.name, detail)]
    return sub


def grade_one(path: Path, labs: dict[str, Lab], lab_name: str | None, limits: Limits,
              *, partial: bool = False, sandbox=None, uids: "queue.Queue | None" = None) -> Submission:
    """Grade one submission; never raises for anything the submission contains.

    With *sandbox* (a :class:`course.grade_sandbox.Sandbox`) the notebook runs inside it, as
    a uid taken from *uids* for the time of the run (one uid per concurrent submission)."""
    start = time.perf_counter()
    sub = Submission(path, path.stem)
    try:
        return _grade_one(sub, labs, lab_name, limits, partial, sandbox, uids)
    except Exception as err:  # a grader bug must not cost the class its grades
        return _whole(sub, labs.get(lab_name or ""), "crashed",
                      f"the grader failed on this file: {type(err).__name__}: {err}")
    finally:
        sub.seconds = time.perf_counter() - start


def _grade_one(sub: Submission, labs, lab_name, limits: Limits, partial: bool, sandbox=None,
               uids=None) -> Submission:
    path = sub.path
    target = labs.get(lab_name) if lab_name else None
    size = path.stat().st_size
    if size > limits.max_bytes:
        return _whole(sub, target, "too-large",
                      f"{size} bytes, more than the limit of {limits.max_bytes}")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
        if not isinstance(nb, dict):
            raise ValueError("the file is JSON but not a notebook object")
        if isinstance(nb.get("nbformat"), int) and nb["nbformat"] < 4:
            import nbformat   # an old notebook (v3: worksheets): convert it, as Jupyter does
            nb = json.loads(nbformat.writes(nbformat.reads(json.dumps(nb), as_version=4)))
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
        for n, cell in enumerate(nb["cells"], start=1):
            if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
                raise ValueError(f"cell {n} has no valid cell_type")
            source = cell.get("source", "")
            if not (isinstance(source, str) or (isinstance(source, list)
                                                and all(isinstance(x, str) for x in source))):
                raise ValueError(f"cell {n}'s source is neither text nor a list of lines")
    except Exception as err:
        return _whole(sub, target, "invalid-notebook", f"cannot read it as a notebook: {err}"[:300])
    sub.student = _student_of(path, nb)
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    course = meta.get("course") if isinstance(meta.get("course"), dict) else {}
    declared = course.get("lab") if isinstance(course.get("lab"), str) else None
    if lab_name:
        if lab_name not in labs:
            return _whole(sub, None, "unknown-lab", f"the course has no lab {lab_name!r}")
        if declared and declared != lab_name:
            sub.lab = lab_name
            return _whole(sub, target, "wrong-lab",
                          f"this notebook is lab {declared!r}, not {lab_name!r}")
        lab = labs[lab_name]
    else:
        if not declared or declared not in labs:
            sub.lab = declared or ""
            return _whole(sub, None, "unknown-lab",
                          f"lab {declared!r} is not a lab of the course" if declared else
                          "the notebook's metadata names no lab; grade with --lab chNN/name")
        lab = labs[declared]
    sub.lab = lab.name
    kernel = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else None
    if not kernel:
        sub.notes.append("The notebook had no kernel set; it was run with Python.")
    elif kernel.get("language", "python") != "python":
        sub.notes.append(f"The notebook's kernel was {kernel.get('display_name') or kernel.get('name')!r}; "
                         "it was run with Python.")
    cells, notes = build_grading_cells(lab, nb["cells"])
    sub.notes.extend(notes)
    steps = build_judge_steps(lab, cells)
    if sandbox is not None:
        uid = uids.get() if uids is not None else FIRST_UID
        try:
            run = _run(cells, limits, sandbox.workdir(uid), sandbox, uid, steps)
        finally:
            if uids is not None:
                uids.put(uid)
    else:
        with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
            run = _run(cells, limits, Path(tmp), steps=steps)
    _score(sub, lab, cells, run, limits, partial)
    sub.timing = {k: run[k] for k in ("runner_seconds", "judge_seconds", "judge_messages")
                  if k in run}
    return sub


def _score(sub: Submission, lab: Lab, cells: list[dict], run: dict, limits: Limits,
           partial: bool) -> None:
    # which exercise does a learner cell "belong" to: the next check block after it
    owner: dict[int, str] = {}
    pending: list[int] = []
    for k, cell in enumerate(cells):
        if cell["role"] == "learner":
            pending.append(k)
        else:
            for p in pending:
                owner[p] = cell["exercise"]
            pending = []
    stopped, stopped_cell = run["stopped"], run["stopped_cell"]
    network_cells = {e.get("cell") for e in run["network"]}
    for ex in lab.exercises:
        mine = [k for k, c in enumerate(cells) if c["role"] != "learner" and c["exercise"] == ex.id]
        reports: list[dict] = []
        missing = []
        for k in mine:
            end = run["ends"].get(k)
            if end is None:
                missing.append(k)
                continue
            got = [r for r in end.get("reports", []) if r.get("exercise") == ex.id]
            if not got:
                reports.append({"exercise": ex.id, "status": "failed", "passed": 0, "total": 1,
                                "hidden": cells[k]["role"] == "hidden-check",
                                "results": [{"name": "the check cell reported", "status": "failed",
                                             "detail": "the check cell gave no report"
                                             + (f" ({end['error']['ename']}: {end['error']['evalue']})"
                                                if end.get("error") else ""), "hint": ""}]})
            reports.extend(got)
        sub.checks[ex.id] = reports
        passed = sum(r.get("passed", 0) for r in reports)
        total = sum(r.get("total", 0) for r in reports)
        learner_errors = [run["ends"][k]["error"] for k, e in owner.items()
                          if e == ex.id and k in run["ends"] and run["ends"][k].get("error")]
        for err in learner_errors:
            sub.errors.append(f"{ex.id}: {err['ename']}: {err['evalue']}"[:500])
        detail = f"{passed}/{total} checks passed"
        if missing:
            # the run stopped before this exercise's checks finished
            status = stopped or "crashed"
            where = (f"cell {stopped_cell + 1}" if isinstance(stopped_cell, int) else "start-up")
            detail = {"timeout": f"{where} ran longer than {limits.timeout:g}s",
                      "output-limit": f"{where} printed more than {limits.output_bytes} bytes",
                      }.get(status, run.get("crash_detail", "the run stopped") + f" at {where}")
            points = 0.0
        elif reports and all(r.get("status") == "passed" for r in reports):
            status, points = "passed", float(ex.points)
        else:
            points = min(float(ex.points), round(ex.points * min(passed, total) / total, 2)) \
                if partial and total > 0 and passed >= 0 else 0.0
            statuses = {r.get("status") for r in reports}
            if any(k in network_cells for k, e in owner.items() if e == ex.id) or any(
                    "Network is unreachable" in e["evalue"]
                    # the sandbox's own network namespace has only an isolated loopback
                    or e["ename"] == "ConnectionRefusedError" for e in learner_errors):
                status = "network-blocked"
            elif any(e["ename"] == "MemoryError" for e in learner_errors):
                status = "memory-limit"
            elif learner_errors:
                status = "error"
                detail += f"; {learner_errors[0]['ename']}: {learner_errors[0]['evalue']}"[:200]
            elif statuses == {"not-yet"} or _untouched(lab, cells, owner, ex.id):
                status = "not-attempted"
            else:
                status = "failed"
        sub.rows.append(Row(sub.student, ex.id, points, ex.points, status, lab.name,
                            sub.path.name, detail))


def _untouched(lab: Lab, cells: list[dict], owner: dict[int, str], exercise: str) -> bool:
    """True when every learner cell of *exercise* is still exactly as the course published it
    (an untouched exercise is "not attempted", even if its checks fail on the stubs)."""
    published = _published_sources(lab)
    mine = [cells[k]["source"].strip() for k, e in owner.items() if e == exercise]
    return bool(mine) and all(src in published for src in mine)


_PUBLISHED: dict[str, set[str]] = {}


def _published_sources(lab: Lab) -> set[str]:
    if lab.name not in _PUBLISHED:
        from course.notebooks import to_notebook
        _PUBLISHED[lab.name] = {c["source"].strip() for c in to_notebook(lab, "student")["cells"]
                                if c["cell_type"] == "code"}
    return _PUBLISHED[lab.name]


# --------------------------------------------------------------------------- feedback

def feedback(sub: Submission, labs: dict[str, Lab]) -> str:
    lab = labs.get(sub.lab)
    got = sum(r.points for r in sub.rows)
    out = sum(r.max_points for r in sub.rows)
    title = lab.title if lab else (sub.lab or "unknown lab")
    lines = [f"# Feedback for {sub.student}", "",
             f"Lab: **{title}** (`{sub.lab or '?'}`), file `{sub.path.name}`.", "",
             f"**Score: {got:g} of {out:g} points.**", ""]
    if sub.status:
        lines += [f"Your notebook could not be graded: {MEANING.get(sub.status, sub.status)}"
                  f" ({sub.detail}).", "",
                  "Fix: download the lab again from the course site, do the exercises in it, "
                  "and submit the `.ipynb` file that JupyterLab saves.", ""]
    for note in sub.notes:
        lines.append(f"- Note: {note}")
    if sub.notes:
        lines.append("")
    names = {ex.id: ex for ex in lab.exercises} if lab else {}
    for row in sub.rows:
        if not row.exercise or sub.status:
            continue
        ex = names.get(row.exercise)
        lines += [f"## {ex.title if ex else row.exercise} (`{row.exercise}`): "
                  f"{row.points:g}/{row.max_points} points", "",
                  f"Result: **{row.status}**: {MEANING.get(row.status, row.status)}"
                  f" ({row.detail}).", ""]
        public = [r for r in sub.checks.get(row.exercise, []) if not r.get("hidden")]
        hidden = [r for r in sub.checks.get(row.exercise, []) if r.get("hidden")]
        for report in public:
            for res in report.get("results", []):
                mark = {"passed": "passed", "failed": "failed", "not-yet": "not yet"}.get(
                    res.get("status"), res.get("status"))
                text = f"- {res.get('name')}: {mark}"
                if res.get("detail") and res.get("status") != "passed":
                    text += f" ({res['detail']})"
                if res.get("hint") and res.get("status") != "passed":
                    text += f". Hint: {res['hint']}"
                lines.append(text)
        if hidden:
            hp = sum(r.get("passed", 0) for r in hidden)
            ht = sum(r.get("total", 0) for r in hidden)
            lines.append(f"- Further checks the instructor ran: {hp} of {ht} passed.")
        for err in sub.errors:
            if err.startswith(row.exercise + ":"):
                lines.append(f"- Your code raised {err[len(row.exercise) + 2:]}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- the class

def find_submissions(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and p.is_file())


def grade(submissions: Path, out: Path, *, lab: str | None = None, timeout: float = 30,
          jobs: int = 2, notebooks: Path = ROOT / "notebooks", partial: bool = False,
          limits: Limits | None = None, progress=print,
          unsafe_no_sandbox: bool = False) -> list[Submission]:
    """Grade every notebook under *submissions*; write the gradebook and feedback to *out*.

    Each submission runs in its own sandbox (:mod:`course.grade_sandbox`). On a machine that
    cannot run it, this raises :class:`SandboxUnavailable` with the fix, unless
    *unsafe_no_sandbox* is set (then each runs as a plain child process, as the grader's user).
    """
    labs = load_labs(notebooks)
    limits = limits or Limits(timeout=timeout)
    paths = find_submissions(submissions)
    sandbox = None
    if unsafe_no_sandbox:
        progress("WARNING: --unsafe-no-sandbox: learners' code runs as this user, can read and "
                 "change files, and can see other processes. Use it only for trusted notebooks.")
        if not network_isolation():
            progress("note: no network namespace available (unshare); network is blocked at "
                     "the socket layer only")
    else:
        sandbox = Sandbox()   # raises SandboxUnavailable with the fix
    try:
        uids: queue.Queue = queue.Queue()
        for slot in range(max(1, jobs)):
            uids.put(FIRST_UID + slot)
        out.mkdir(parents=True, exist_ok=True)
        (out / "feedback").mkdir(exist_ok=True)
        progress(f"grading {len(paths)} submission(s) with {jobs} worker(s), "
                 f"{limits.timeout:g}s per cell")
        start = time.perf_counter()
        results: list[Submission] = []
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(grade_one, p, labs, lab, limits, partial=partial, sandbox=sandbox,
                                   uids=uids) for p in paths]
            for n, fut in enumerate(as_completed(futures), start=1):
                sub = fut.result()
                results.append(sub)
                elapsed = time.perf_counter() - start
                eta = elapsed / n * (len(paths) - n)
                got = sum(r.points for r in sub.rows)
                top = sum(r.max_points for r in sub.rows)
                counts: dict[str, int] = {}
                for r in sub.rows:
                    counts[r.status] = counts.get(r.status, 0) + 1
                summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                progress(f"[{n:>{len(str(len(paths)))}}/{len(paths)}] {sub.path.name}: "
                         f"{sub.student}, {sub.lab or '?'}: {got:g}/{top:g} pts ({summary}) "
                         f"in {sub.seconds:.1f}s; elapsed {elapsed:.0f}s, ETA {eta:.0f}s")
        results.sort(key=lambda s: (s.student, str(s.path)))
        for sub in results:   # the submission's path, relative to the class folder
            rel = _relative(sub.path, submissions)
            for r in sub.rows:
                r.submission = rel
        by_student: dict[str, list[str]] = {}
        for sub in results:
            by_student.setdefault(sub.student, []).append(_relative(sub.path, submissions))
        for student, files in sorted(by_student.items()):
            if len(files) > 1:
                progress(f"warning: {student!r} has {len(files)} submissions ({', '.join(files)}); "
                         "each is graded and listed separately")
        buf = io.StringIO(newline="")
        writer = csv.writer(buf)
        writer.writerow(GRADEBOOK_FIELDS)
        for sub in results:
            for r in sub.rows:
                writer.writerow([_cell(v) for v in (r.student, r.exercise, f"{r.points:g}",
                                                    r.max_points, r.status, r.lab, r.submission,
                                                    r.detail)])
        for sub in results:
            _write_atomic(out / "feedback" / feedback_name(sub, submissions), feedback(sub, labs))
        _write_atomic(out / "gradebook.csv", buf.getvalue())
        _write_atomic(out / "results.json", json.dumps(
            [{"student": s.student, "submission": s.path.name, "lab": s.lab, "status": s.status,
              "seconds": round(s.seconds, 3), "timing": s.timing, "notes": s.notes, "errors": s.errors,
              "rows": [r.__dict__ for r in s.rows], "checks": s.checks} for s in results],
            indent=1, default=str))
        took = time.perf_counter() - start
        rate = len(paths) / took * 60 if took else 0
        progress(f"graded {len(paths)} submission(s) in {took:.1f}s ({rate:.0f}/min); "
                 f"gradebook: {out / 'gradebook.csv'}, feedback: {out / 'feedback'}/")
        return results
    finally:
        if sandbox is not None:
            sandbox.close()


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return path.name


def feedback_name(sub: Submission, submissions: Path) -> str:
    """A feedback file name that cannot collide: the learner's name made safe and short, and
    8 hex digits of the submission's path (``ada.ipynb``, ``resubmit/ada.ipynb`` and a real
    learner called ``ada-2`` all get files of their own)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in sub.student)[:60].strip("_")
    digest = hashlib.sha256(_relative(sub.path, submissions).encode("utf-8")).hexdigest()[:8]
    return f"{safe or 'learner'}-{digest}.md"


def _cell(value) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading = + - @ (or tab, CR) would make
    Excel or LibreOffice run it as a formula (OWASP: CSV injection), so it gets a quote."""
    text = str(value)
    if text and text[0] in "=+-@\t\r" and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _write_atomic(path: Path, text: str) -> None:
    """Write *path* whole or not at all (a temporary file in the same folder, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/grade", description=__doc__.splitlines()[0])
    p.add_argument("submissions", type=Path, help="folder of submitted .ipynb files")
    p.add_argument("--out", type=Path, required=True, help="where the gradebook and feedback go")
    p.add_argument("--lab", help="chNN/name: grade every file as this lab "
                   "(default: the lab named in each notebook's metadata)")
    p.add_argument("--timeout", type=float, default=30, help="seconds per cell (default 30)")
    p.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    p.add_argument("--memory-mb", type=int, default=2048, help="memory cap per submission")
    p.add_argument("--max-bytes", type=int, default=5_000_000, help="largest file opened")
    p.add_argument("--output-bytes", type=int, default=1_000_000,
                   help="most output a submission may print")
    p.add_argument("--partial", action="store_true",
                   help="points in proportion to checks passed (default: all or nothing)")
    p.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                   help="the lab sources (default: notebooks/)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run learners' code without the sandbox (only for trusted notebooks, "
                        "on a machine without bubblewrap)")
    args = p.parse_args(argv)
    if not args.submissions.is_dir():
        p.error(f"{args.submissions} is not a folder of submissions")
    limits = Limits(timeout=args.timeout, memory_mb=args.memory_mb, max_bytes=args.max_bytes,
                    output_bytes=args.output_bytes)
    try:
        grade(args.submissions, args.out, lab=args.lab, jobs=args.jobs, notebooks=args.notebooks,
              partial=args.partial, limits=limits, progress=lambda s: print(s, flush=True),
              unsafe_no_sandbox=args.unsafe_no_sandbox)
    except SandboxUnavailable as err:
        print(f"scripts/grade: the grading sandbox cannot run here: {err}.\n  Learners' code "
              "would run unconfined. If every notebook is trusted, pass --unsafe-no-sandbox.",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
