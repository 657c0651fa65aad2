"""The public surface of ``labs``: ``__all__`` matches what is exported, all documented."""

import inspect

import labs


def _public_names():
    return sorted(n for n, v in vars(labs).items()
                  if not n.startswith("_") and not (inspect.ismodule(v) and n not in labs.__all__
                                                    and v.__name__.startswith("labs.")))


def test_all_is_sorted():
    """``__all__`` is kept sorted (plain str order), so diffs stay readable."""
    assert labs.__all__ == sorted(labs.__all__)


def test_all_matches_public_names():
    """Every public name is in ``__all__`` and every ``__all__`` name exists."""
    exported = set(labs.__all__)
    public = {n for n in _public_names() if n not in {"annotations"}}
    # submodules imported only as an implementation detail are not public
    public -= {n for n in public if inspect.ismodule(getattr(labs, n)) and n not in exported}
    assert exported == public


def test_every_export_has_a_docstring():
    """Each exported name has a docstring (the reference page is generated from them)."""
    missing = [n for n in labs.__all__
               if not isinstance(getattr(labs, n), str) and not inspect.getdoc(getattr(labs, n))]
    assert missing == []


def test_each_core_module_declares_all():
    """Every simulation module lists its public names in its own ``__all__``."""
    import importlib
    for mod in ("core", "errors", "distributions", "network", "service", "load", "faults",
                "journal", "metrics", "tracing", "viz", "checkers", "scenarios", "context",
                "messages", "result"):
        m = importlib.import_module(f"labs.{mod}")
        assert m.__all__, mod
        for name in m.__all__:
            assert hasattr(m, name), (mod, name)
