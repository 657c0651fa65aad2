"""The layering of ``labs`` stays honest: a lower layer never imports a higher one, and
notebooks and pages use only the public API (``import labs`` / ``from labs import X``)."""

import ast
import re

import pytest

from tests.conftest import ROOT

LABS = ROOT / "labs"
# Each top-level part of the package and the parts it may import (besides itself).
KERNEL = {"kernel", "observe"}
ALLOWED = {
    "kernel": KERNEL,
    "observe": KERNEL,
    "resilience": KERNEL,
}
PATTERNS = {"messaging", "data", "traffic", "delivery", "security", "config", "verification"}
for _p in PATTERNS:   # a pattern family builds on the kernel, observation and resilience
    ALLOWED[_p] = KERNEL | {"resilience"} | PATTERNS
ALLOWED["shop"] = ALLOWED["scenarios"] = set(ALLOWED) | PATTERNS


def _part(path):
    rel = path.relative_to(LABS).parts
    return rel[0].removesuffix(".py") if rel[0] != "__init__.py" else None


def _imported_parts(path):
    """The top-level parts of ``labs`` that *path* imports (relative or absolute)."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(LABS).parts) - 1   # package depth of the module's folder
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(path.relative_to(LABS).parts[:-1])
                up = node.level - 1
                if up > depth:
                    continue
                parts = base[:len(base) - up] + (node.module.split(".") if node.module else [])
                if parts:
                    found.add(parts[0].removesuffix(".py"))
                else:  # `from .. import x`: each name is a part
                    found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("labs."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("labs."))
    return found


MODULES = sorted(p for p in LABS.rglob("*.py") if _part(p))


def test_every_part_has_a_layer():
    """A new folder in labs/ must be placed in the layering (add it to ALLOWED above)."""
    assert {_part(p) for p in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(LABS)) for p in MODULES])
def test_module_imports_only_lower_layers(path):
    part = _part(path)
    wrong = _imported_parts(path) - ALLOWED[part] - {part}
    assert wrong == set(), f"labs/{path.relative_to(LABS)} ({part}) imports {sorted(wrong)}"


def test_kernel_imports_no_pattern_package():
    """The simulation kernel knows nothing of resilience parts or pattern families."""
    for path in (LABS / "kernel").rglob("*.py"):
        assert not (_imported_parts(path) & (PATTERNS | {"resilience", "shop", "scenarios"})), path


def test_notebooks_use_only_the_public_api():
    """Lab sources import ``labs`` or names from it, never an internal module path."""
    bad = []
    for src in sorted((ROOT / "notebooks").rglob("*.py")):
        for n, line in enumerate(src.read_text().splitlines(), 1):
            if re.match(r"\s*(from|import)\s+labs\.", line):
                bad.append(f"{src.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bad == []


def test_no_module_is_over_about_400_lines():
    """Modules are split by concept before they grow past ~400 lines (a guide, with slack)."""
    long = {str(p.relative_to(ROOT)): n for p in MODULES
            if (n := len(p.read_text().splitlines())) > 480}
    assert long == {}


def test_every_module_imports_on_its_own():
    """Each module imports first in a fresh interpreter (an import cycle hidden by the order
    the package usually loads in fails here, as it did in Pyodide's parity run)."""
    import subprocess
    import sys

    names = sorted("labs." + p.relative_to(LABS).with_suffix("").as_posix().replace("/", ".")
                   .removesuffix(".__init__") for p in LABS.rglob("*.py"))
    script = ("import importlib, subprocess, sys\n"
              "bad = []\n"
              "for n in sys.argv[1:]:\n"
              "    r = subprocess.run([sys.executable, '-c', 'import ' + n], capture_output=True, text=True)\n"
              "    if r.returncode: bad.append(n + ': ' + r.stderr.strip().splitlines()[-1])\n"
              "print('\\n'.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True,
                         cwd=LABS.parent, check=True).stdout.strip()
    assert out == "", out
