"""The grader's sandbox: one throw-away bubblewrap container per submission.

What a submission's process gets (and why):

- **its own empty folder** ``/submission`` (writable, the only one) and a private ``/tmp``;
  it never sees other submissions, the output folder, the project tree or the grader;
- **the runtime read-only**: the Python installation and the venv at their own paths, and a
  *copy* of the ``labs`` package and the runner made once per grading run (``/runtime``), so
  a learner cannot edit the library that later submissions import;
- **no network namespace to join and no host processes to see**: new PID, network, IPC,
  UTS and cgroup namespaces (``bwrap --unshare-pid --unshare-net ...``); the learner's
  process is PID 2 under bwrap's init, and when that init goes, the kernel kills every
  process left in the namespace (a detached double-forked child dies with the run);
- **an unprivileged user**: bwrap runs as root to set up the mounts, then ``setpriv`` drops
  to a uid of its own per worker (61000 + slot), with no capabilities, no new privileges and
  no supplementary groups, so ``nsenter``, ``kill`` of the grader and writes outside
  ``/submission`` fail, and the process-count limit (``RLIMIT_NPROC``) really holds (it
  does not for uid 0);
- **limits set from outside** with ``prlimit`` before the user change (address space,
  processes, file size, CPU, no core dumps): hard limits a non-root process cannot raise.
  Wall-clock limits per cell and per submission are enforced by the grader, which kills
  bwrap (and so the whole namespace).

Verdicts are not decided here: only the learner's cells run in the sandbox, and the
checks run in the grader's judge (:mod:`course.judge`), which reaches the learner's values
and functions over the runner's channel (:mod:`course.grade_rpc`). No check's source or
expected value enters the sandbox.

Needs Debian's ``bubblewrap`` (installed by ``scripts/install --test``) and util-linux's
``setpriv`` and ``prlimit``. Without them the grader refuses to run unless the instructor
passes ``--unsafe-no-sandbox``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["Sandbox", "SandboxUnavailable", "sandbox_problem"]

ROOT = Path(__file__).resolve().parent.parent
FIRST_UID = 61000
_SYSTEM = ("/usr", "/lib", "/lib64", "/bin")


class SandboxUnavailable(RuntimeError):
    """The machine cannot run the sandbox; the message says what is missing and the fix."""


def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here, or ``None`` when it can (checked by running it)."""
    missing = [t for t in ("bwrap", "setpriv", "prlimit") if not shutil.which(t)]
    if missing:
        return (f"missing {', '.join(missing)} (fix: apt-get install bubblewrap util-linux, "
                "or run scripts/install --test)")
    if os.geteuid() != 0:
        return ("the grader must run as root to set up the sandbox's mounts and drop to an "
                "unprivileged user (fix: run scripts/grade as root, e.g. with sudo)")
    try:
        probe = subprocess.run(["bwrap", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap did not run ({err})"
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces here: {probe.stderr.decode(errors='replace').strip()}"
    return None


class Sandbox:
    """One grading run's sandboxes: the read-only runtime copy and the bwrap command line."""

    def __init__(self) -> None:
        problem = sandbox_problem()
        if problem:
            raise SandboxUnavailable(problem)
        self._root = Path(tempfile.mkdtemp(prefix="course-grade-"))
        os.chmod(self._root, 0o711)
        self.runtime = self._root / "runtime"
        (self.runtime / "course").mkdir(parents=True)
        shutil.copytree(ROOT / "labs", self.runtime / "labs",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("__init__.py", "sandbox_runner.py", "grade_rpc.py", "judge.py"):
            shutil.copy2(ROOT / "course" / name, self.runtime / "course" / name)
        for path in [self.runtime, *self.runtime.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        self._python = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
        self._n = 0

    def workdir(self, uid: int) -> Path:
        """A fresh, empty folder owned by *uid*, for one submission."""
        self._n += 1
        path = self._root / f"sub-{self._n}"
        path.mkdir(mode=0o700)
        os.chown(path, uid, uid)
        return path

    def command(self, workdir: Path, uid: int, *, memory_mb: int, cpu_seconds: int,
                processes: int = 64, file_mb: int = 64,
                module: str = "course.sandbox_runner") -> list[str]:
        """The command that runs ``python -m course.sandbox_runner`` inside the sandbox (or
        *module*: the judge runs in a sandbox of its own too, with no learner code in it)."""
        cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        for path in _SYSTEM:
            cmd += ["--ro-bind-try", path, path]
        # the private /tmp first: the interpreter bound below may live under /tmp (a course
        # cloned there), and a tmpfs mounted after it would hide it (bwrap applies in order)
        cmd += ["--tmpfs", "/tmp"]
        made = {Path("/"), Path("/tmp")}
        for prefix in dict.fromkeys(self._python):   # the venv, then the installation
            for parent in reversed(prefix.parents):
                if parent not in made:               # traversable parents (bwrap makes 0700)
                    cmd += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            cmd += ["--ro-bind", str(prefix), str(prefix)]
            made.add(prefix)
        python = self._python[0] / "bin" / "python3"   # the venv's interpreter, by its real path
        cmd += ["--ro-bind", str(self.runtime), "/runtime",
                "--bind", str(workdir), "/submission",
                "--proc", "/proc", "--dev", "/dev",
                "--chdir", "/submission", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/submission",
                "--setenv", "IPYTHONDIR", "/tmp/.ipython", "--setenv", "PYTHONPATH", "/runtime",
                "--setenv", "PYTHONHASHSEED", "0", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
                "--setenv", "MPLBACKEND", "agg", "--setenv", "COURSE_GRADING", "1",
                "--setenv", "LANG", "C.UTF-8",
                "--", "prlimit", f"--nproc={processes}", f"--as={memory_mb * 1024 * 1024}",
                f"--fsize={file_mb * 1024 * 1024}", f"--cpu={cpu_seconds}", "--core=0",
                "--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
                "--", str(python), "-s", "-m", module]
        return cmd

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
