"""The `labs` API reference, generated from the package's docstrings at build time.

Why generated: the reference can then never list a name the package does not export, nor
miss one it does. Every name in ``labs.__all__`` gets a section with its signature and
docstring, grouped by the module (the concept) it comes from.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

__all__ = ["render_reference"]

ROOT = Path(__file__).resolve().parent.parent


def _labs():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for name in [m for m in sys.modules if m == "labs" or m.startswith("labs.")]:
        del sys.modules[name]  # always document the code on disk, not a stale import
    return importlib.import_module("labs")


def _signature(obj) -> str:
    try:
        try:
            return str(inspect.signature(obj, eval_str=True))
        except Exception:  # an annotation that cannot be evaluated: show it as written
            return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def _doc(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    # *param* emphasis and ``code`` from reST read fine in Markdown once literals are single
    return re.sub(r"``([^`]+)``", r"`\1`", doc)


def _methods(cls) -> list[str]:
    lines = []
    for name, member in sorted(vars(cls).items()):
        if name.startswith("_"):
            continue
        target = member.fget if isinstance(member, property) else member
        if isinstance(member, (staticmethod, classmethod)):
            target = member.__func__
        if not callable(target) and not isinstance(member, property):
            continue
        first = (_doc(target).split("\n\n")[0].replace("\n", " ")) if _doc(target) else ""
        sig = "" if isinstance(member, property) else _signature(target).replace("(self, ", "(").replace("(self)", "()")
        kind = "property " if isinstance(member, property) else ""
        lines.append(f"- {kind}`{name}{sig}`" + (f": {first}" if first else ""))
    return lines


def render_reference() -> str:
    labs = _labs()
    names = list(labs.__all__)
    by_module: dict[str, list[str]] = {}
    for name in names:
        obj = getattr(labs, name)
        module = getattr(obj, "__module__", None) or "labs"
        if not module.startswith("labs"):
            module = "labs"
        by_module.setdefault(module, []).append(name)
    out = [f"`labs` {getattr(labs, '__version__', '')} exports {len(names)} names.\n"]
    for module in sorted(by_module):
        mod = sys.modules.get(module)
        summary = (_doc(mod).split("\n\n")[0].replace("\n", " ") if mod and _doc(mod) else "")
        out.append(f"## `{module}`\n\n{summary}\n")
        for name in sorted(by_module[module]):
            obj = getattr(labs, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                kind = "class" if inspect.isclass(obj) else "function"
                out.append(f"### `{name}` {{ #{name} }}\n\n*{kind}*\n\n"
                           f"```python\n{name}{_signature(obj)}\n```\n")
                doc = _doc(obj)
                if doc:
                    out.append(textwrap.dedent(doc) + "\n")
                if inspect.isclass(obj):
                    methods = _methods(obj)
                    if methods:
                        out.append("\n".join(methods) + "\n")
            else:
                out.append(f"### `{name}` {{ #{name} }}\n\n*value* `{name} = {obj!r}`\n")
    return "\n".join(out)
