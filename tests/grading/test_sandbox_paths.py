"""The grading sandbox finds the course's interpreter wherever the course was cloned."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from course.grade import FIRST_UID
from course.grade_sandbox import Sandbox


def test_an_interpreter_under_tmp_is_not_hidden_by_the_private_tmp(sandbox):
    """A course cloned under /tmp: its venv must stay visible under the sandbox's own /tmp
    (every submission once crashed there with exit 127, the venv hidden by the tmpfs)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        venv = Path(tmp) / "clone" / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        venv.parent.chmod(0o755)
        Path(tmp).chmod(0o755)
        box = Sandbox()
        box._python = [venv.resolve(), Path(sys.base_prefix).resolve()]
        cmd = box.command(box.workdir(FIRST_UID), FIRST_UID, memory_mb=512, cpu_seconds=20,
                          module="this")
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "Beautiful is better than ugly" in run.stdout
