"""The public surface of ``labs``: ``__all__`` is what resolves, each name is documented and
declared by the module that defines it, and names load lazily."""

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import labs
from tests.conftest import ROOT


def _modules():
    return sorted(m.name for m in pkgutil.walk_packages(labs.__path__, "labs."))


def test_all_is_sorted():
    """``__all__`` is kept sorted (plain str order), so diffs stay readable."""
    assert labs.__all__ == sorted(labs.__all__)


def test_every_name_in_all_resolves():
    """Every ``__all__`` name loads, and a name not in it is an AttributeError that says where
    the public names are."""
    for name in labs.__all__:
        assert getattr(labs, name) is not None, name
    with pytest.raises(AttributeError, match="labs.__all__"):
        labs.NoSuchThing  # noqa: B018


def test_each_name_is_declared_where_it_is_defined():
    """A public class or function comes from the module the table names, which lists it in
    its own ``__all__`` (so the reference page groups it under the right concept)."""
    for name, where in labs._EXPORTS.items():
        if where.startswith("="):
            assert inspect.ismodule(getattr(labs, name)), name
            continue
        module = importlib.import_module(where, "labs")
        assert name in module.__all__, (name, where)


def test_every_export_has_a_docstring():
    """Each exported name has a docstring (the reference page is generated from them)."""
    missing = [n for n in labs.__all__
               if not isinstance(getattr(labs, n), str) and not inspect.getdoc(getattr(labs, n))]
    assert missing == []


@pytest.mark.parametrize("module", _modules())
def test_each_module_declares_all_and_a_docstring(module):
    """Every module lists its public names in its own ``__all__`` and says what it is for."""
    m = importlib.import_module(module)
    assert inspect.getdoc(m), module
    if not hasattr(m, "__path__"):   # packages may re-export or hold only subpackages
        assert isinstance(m.__all__, list), module
    for name in getattr(m, "__all__", []):
        assert hasattr(m, name), (module, name)


def test_import_is_lazy():
    """``import labs`` and a kernel-only lab load no pattern package (the first cell of a lab
    in the browser should not pay for sagas and brokers it does not use)."""
    code = ("import sys, labs\n"
            "sim = labs.Simulation(seed=1)\n"
            "sim.service('a', lambda ctx, req: {'ok': True})\n"
            "sim.load('a', rate=10, duration=100); sim.run()\n"
            "print(sorted(m for m in sys.modules if m.startswith('labs.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    loaded = eval(out)
    assert [m for m in loaded if m.split(".")[1] not in ("kernel", "observe")] == []
