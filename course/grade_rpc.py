"""The channel between the judge and a submission's sandbox: values by data, code by reference.

The grader decides verdicts in a *judge* process (:mod:`course.judge`) that runs the
instructor's cells (setup, public and hidden checks) with a clean ``labs`` and no learner
code. Wherever those cells use a name the learner defines, the judge holds a proxy to the
learner's object in the sandbox (:mod:`course.sandbox_runner`), and this module carries
what crosses between the two:

* **values as data**: ``None``, booleans, numbers, strings, lists and dicts travel as JSON;
  tuples, sets, frozensets, bytes, non-finite floats, dicts with other keys than strings,
  exceptions and instances of ``labs`` classes (dataclasses, enums, config objects) have
  tagged encodings (``{"$tuple": [...]}``, ``{"$obj": "labs.mod:Class", "state": {...}}``).
  The judge rebuilds a ``labs`` object with its own clean class: the learner chooses the
  data of a configuration, never the code that evaluates it;
* **code by reference**: a learner function, generator or object stays in the sandbox and
  the judge gets a handle (``{"$ref": n}``); calling it sends the arguments by value and
  brings the result back by value. A generator is driven with ``send``/``throw``/``close``.
  In the other direction, a judge object a learner function needs (a simulator's ``ctx``,
  a request, a store) is a restricted handle (``{"$jref": n}``): the sandbox may read its
  public attributes (no name starting with ``_``) and call its public methods, nothing
  else. A dict, list or set the judge passes is *shared*: its changes on either side are
  sent along with every message (``sync``), so a learner function that fills a dict the
  check reads afterwards works as in one process;
* **what never crosses**: the source of any instructor cell, a check's expected values
  (they stay in the judge, where the comparison happens), and any judge object other than
  arguments a check passes to a learner function.

Every message is one JSON line of at most :data:`MAX_MESSAGE` bytes, nesting and size of a
value are bounded, and every message from the sandbox is checked against the schema below;
the first violation, a closed channel or an early exit ends the session, and every later
use raises :class:`SubmissionGone` (a ``BaseException``: no ``except Exception`` in a check
or a helper can turn it into a pass; the check cell ends with an error and earns nothing).

Messages: a request ``{"id": n, "op": OP, ...}`` and its reply ``{"re": n, "ok": value}``
or ``{"re": n, "err": exception}``, either with an optional ``"sync": {cid: value}``. While
waiting for a reply, each side serves the other's requests (a learner handler calling
``ctx.call`` while the judge waits for the handler). Operations: ``get`` (a learner's
global, judge to sandbox only), ``call``, ``getattr``, ``send``, ``throw``, ``close``,
``op`` (``len``, ``iter``, ``next``, ``bool``, ``repr``, ``getitem``, ``contains``,
``setitem``).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import importlib
import inspect
import json
import math
import os
import re
import types

__all__ = ["Endpoint", "SubmissionGone", "ProtocolError", "MAX_MESSAGE"]

#: the longest message either side accepts
MAX_MESSAGE = 4_000_000
#: how deep a value may nest, and how many parts it may have in all
MAX_DEPTH = 60
MAX_NODES = 200_000
MAX_TEXT = 2_000   # exception messages, reprs, names
#: dicts, lists and sets the judge passes stay in step on both sides up to this many and size
MAX_SHARED = 500_000
MAX_SHARED_BYTES = 200_000
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}\Z")
QUALNAME = re.compile(r"labs(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
OPS = {"get", "set", "call", "getattr", "send", "throw", "close", "op"}
UNARY = {"len", "iter", "next", "bool", "repr"}
BINARY = {"getitem", "contains"}
TERNARY = {"setitem"}


class SubmissionGone(BaseException):
    """The sandbox broke the protocol, closed the channel or exited: nothing it says later
    is trusted. A ``BaseException`` so that no ``except Exception`` turns it into a pass."""


class ProtocolError(Exception):
    """A message that does not follow the schema."""


class RemoteError(Exception):
    """An exception raised in the other process, of a type this side does not rebuild."""


class _NoDefault:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT = _NoDefault()


def _labs_name(obj) -> str | None:
    """``labs.mod:Qual.name`` when *obj* (a class or function) is defined in ``labs``."""
    mod = getattr(obj, "__module__", None) or ""
    qual = getattr(obj, "__qualname__", None) or ""
    if (mod == "labs" or mod.startswith("labs.")) and "<" not in qual and qual:
        return f"{mod}:{qual}"
    return None


def _resolve(name: str):
    """The ``labs`` class or function called *name*, checked to be defined there."""
    if not isinstance(name, str) or not QUALNAME.match(name):
        raise ProtocolError(f"not a labs name: {name!r:.100}")
    mod, qual = name.split(":")
    obj = importlib.import_module(mod)
    for part in qual.split("."):
        if part.startswith("__"):
            raise ProtocolError("no dunder names")
        obj = getattr(obj, part)
    if _labs_name(obj) is None or not (inspect.isclass(obj) or inspect.isfunction(obj)
                                       or inspect.ismethod(obj)):
        raise ProtocolError(f"{name!r:.100} is not a class or function of labs")
    return obj


def _exc_class(name: str):
    import builtins
    if isinstance(name, str) and name.startswith("builtins:"):
        cls = getattr(builtins, name[9:], None) if NAME.match(name[9:]) else None
        return cls if inspect.isclass(cls) and issubclass(cls, Exception) else None
    try:
        cls = _resolve(name)
    except Exception:
        return None
    return cls if inspect.isclass(cls) and issubclass(cls, Exception) else None


#: objects the judge never hands to a submission, even as a handle: they lead to frames,
#: globals and code (a hidden check's source and values)
_NEVER = (types.ModuleType, types.FrameType, types.CodeType, types.TracebackType,
          types.CellType, types.CoroutineType, types.AsyncGeneratorType)


def _constants() -> dict[int, str]:
    """Bare ``object()`` sentinels of the loaded labs modules, by id (``_MISSING``...)."""
    import sys
    out = {}
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or not (mod_name == "labs" or mod_name.startswith("labs.")):
            continue
        for key, value in list(vars(mod).items()):
            if type(value) is object:
                out.setdefault(id(value), f"{mod_name}:{key}")
    return out


def _resolve_const(name):
    if not isinstance(name, str) or not re.fullmatch(r"labs(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*", name):
        raise ProtocolError("a bad $const")
    mod, key = name.split(":")
    value = getattr(importlib.import_module(mod), key, None)
    if type(value) is not object:
        raise ProtocolError("$const names no sentinel of labs")
    return value


class _Local:
    """The objects this side exported as handles, by number (same object, same number)."""

    def __init__(self) -> None:
        self.objects: dict[int, object] = {}
        self.numbers: dict[int, int] = {}

    def add(self, obj) -> int:
        n = self.numbers.get(id(obj))
        if n is None:
            n = len(self.objects) + 1
            if n > MAX_NODES:
                raise ProtocolError("too many handles")
            self.objects[n] = obj
            self.numbers[id(obj)] = n
        return n

    def get(self, n):
        if not isinstance(n, int) or isinstance(n, bool) or n not in self.objects:
            raise ProtocolError(f"unknown handle {n!r:.40}")
        return self.objects[n]


class Endpoint:
    """One side of the channel. *side* is ``"judge"`` or ``"sandbox"``; *namespace* (the
    sandbox's) answers ``get``."""

    def __init__(self, rfd: int, wfd: int, side: str, namespace: dict | None = None,
                 initial: bytes = b"") -> None:
        assert side in ("judge", "sandbox")
        self.side = side
        self.rfd, self.wfd = rfd, wfd
        self.namespace = namespace
        self.buffer = bytearray(initial)
        self.local = _Local()
        self.proxies: dict[int, object] = {}
        self.next_id = 0
        self.gone: str | None = None
        # shared containers: number -> object, id(object) -> number, last encoding sent/seen
        self.shared: dict[int, object] = {}
        self.shared_numbers: dict[int, int] = {}
        self.dirty: set[int] = set()   # sandbox: shared copies the learner changed
        self.mine = "$ref" if side == "sandbox" else "$jref"     # handles this side exports
        self.theirs = "$jref" if side == "sandbox" else "$ref"
        self.messages = 0
        self.watch = None        # judge: called before each call (globals the learner uses)
        self._watching = False

    # ------------------------------------------------------------------ the wire

    def _send(self, msg: dict) -> None:
        if self.gone:
            raise SubmissionGone(self.gone)
        sync = self._changed_shared()
        if sync:
            msg["sync"] = sync
        data = (json.dumps(msg, separators=(",", ":"), allow_nan=False) + "\n").encode()
        if len(data) > MAX_MESSAGE:
            if self.side == "sandbox":   # too big to send: say so (an error the judge sees)
                msg = {k: v for k, v in msg.items() if k in ("re", "id")}
                msg["err"] = self._encode_exc(ValueError("the value is too large to send to "
                                                         "the grader"))
                data = (json.dumps(msg) + "\n").encode()
            else:
                raise ValueError("a value too large to send to the submission")
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.wfd, view)
                view = view[n:]
        except OSError as err:
            self._die(f"the submission's process closed the channel ({err.strerror})")
        self.messages += 1

    def _recv(self) -> dict:
        if self.gone:
            raise SubmissionGone(self.gone)
        while True:
            at = self.buffer.find(b"\n")
            if at >= 0:
                line = bytes(self.buffer[:at])
                del self.buffer[:at + 1]
                break
            if len(self.buffer) > MAX_MESSAGE:
                self._die("a message longer than the limit")
            try:
                chunk = os.read(self.rfd, 1 << 16)
            except OSError as err:
                chunk = b""
                self._die(f"the channel failed ({err.strerror})")
            if not chunk:
                self._die("the submission's process ended (or closed the channel)")
            self.buffer.extend(chunk)
        try:
            msg = json.loads(line)
        except ValueError:
            self._die("a message that is not JSON")
        if not isinstance(msg, dict):
            self._die("a message that is not an object")
        return msg

    def _die(self, why: str):
        self.gone = why
        raise SubmissionGone(why)

    # ------------------------------------------------------------------ shared containers

    def _changed_shared(self) -> dict:
        """The sandbox's copies of shared containers changed since the last message."""
        if self.side != "sandbox" or not self.dirty:
            return {}
        out = {}
        for n in sorted(self.dirty):
            try:
                out[str(n)] = self._encode_container(self.shared[n])
            except (ValueError, TypeError, RecursionError):
                continue
        self.dirty.clear()
        return out

    def _encode_container(self, obj):
        budget = [MAX_NODES]
        if isinstance(obj, dict):
            return self._dict(obj, 1, budget)
        if isinstance(obj, list):
            return [self._enc(v, 2, budget) for v in obj]
        return {"$set": [self._enc(v, 2, budget) for v in obj]}

    def _apply_sync(self, sync) -> None:
        if not isinstance(sync, dict) or self.side != "judge":
            raise ProtocolError("sync must be an object, from the sandbox")
        for key, enc in sync.items():
            if not key.isdigit() or int(key) not in self.shared:
                raise ProtocolError("sync of an unknown container")
            value = self.decode(enc)
            _replace(self.shared[int(key)], value)

    # ------------------------------------------------------------------ encoding

    def encode(self, value):
        return self._enc(value, 0, [MAX_NODES])

    def _dict(self, d: dict, depth: int, budget):
        if all(isinstance(k, str) and not k.startswith("$") for k in d):
            return {k: self._enc(v, depth + 1, budget) for k, v in d.items()}
        return {"$dict": [[self._enc(k, depth + 1, budget), self._enc(v, depth + 1, budget)]
                          for k, v in d.items()]}

    def _enc(self, v, depth: int, budget):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise ValueError("the value is too large or too deeply nested to send")
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            if abs(v) > 1 << 4000:
                raise ValueError("an integer too large to send")
            return v
        if t is float:
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, _Proxy):
            return {self.theirs: object.__getattribute__(v, "_n")}
        if isinstance(v, types.FunctionType) and getattr(v, "__remote__", None) is self:
            return {self.theirs: v.__remote_n__}
        if self.side == "judge" and t in (dict, list, set) and depth == 1:
            shared = self._share(v, budget)
            if shared is not None:
                return shared
        if t is list or t is _TRACKED[list]:
            return [self._enc(x, depth + 1, budget) for x in v]
        if t is dict or t is _TRACKED[dict]:
            return self._dict(v, depth, budget)
        if t is tuple:
            return {"$tuple": [self._enc(x, depth + 1, budget) for x in v]}
        if t is set or t is frozenset or t is _TRACKED[set]:
            return {"$frozenset" if t is frozenset else "$set":
                    [self._enc(x, depth + 1, budget) for x in v]}
        if t is bytes:
            return {"$bytes": base64.b64encode(v).decode()}
        if isinstance(v, BaseException):
            return self._encode_exc(v)
        if t is object:
            const = _constants().get(id(v))
            if const:
                return {"$const": const}
        if self.side == "sandbox":
            if isinstance(v, type) or isinstance(v, (types.FunctionType, types.BuiltinFunctionType)):
                ln = _labs_name(v)
                if ln:
                    return {"$fn": ln}
            elif _labs_name(t):
                return self._encode_obj(v, _labs_name(t), depth, budget)
        else:
            name = _labs_name(t)
            if name and (isinstance(v, enum.Enum) or (dataclasses.is_dataclass(v)
                                                      and t.__dataclass_params__.frozen)):
                return self._encode_obj(v, name, depth, budget)
            if isinstance(v, _NEVER) or (isinstance(v, types.BuiltinFunctionType) and
                                         isinstance(getattr(v, "__self__", None), types.ModuleType)):
                raise ValueError(f"a {t.__name__} cannot be sent to the submission")
        return self._handle(v)

    def _handle(self, v):
        n = self.local.add(v)
        out = {self.mine: n}
        if callable(v):
            out["call"] = True
            fn = v
            if inspect.isgeneratorfunction(fn):
                out["gen"] = True
            try:
                sig = inspect.signature(fn)
                out["sig"] = [[p.name, int(p.kind), p.default is not p.empty]
                              for p in sig.parameters.values()][:50]
            except (TypeError, ValueError):
                pass
            name = getattr(fn, "__name__", None)
            if isinstance(name, str):
                out["name"] = name[:100]
        if isinstance(v, (types.GeneratorType, _IterAsGen)):
            out["gen"] = True
            out.pop("call", None)
        return out

    def _share(self, v, budget):
        """A dict, list or set of the judge's, sent with a number: the sandbox keeps its copy
        under that number and sends it back whenever the learner's code changes it."""
        enc = self._encode_container(v)
        n = self.shared_numbers.get(id(v))
        if n is None:
            if len(self.shared) >= MAX_SHARED:
                return None
            n = len(self.shared) + 1
            self.shared[n] = v
            self.shared_numbers[id(v)] = n
        return {"$shared": n, "value": enc}

    def _encode_obj(self, v, name, depth, budget):
        if isinstance(v, enum.Enum):
            return {"$enum": name, "name": v.name}
        state = {}
        if hasattr(v, "__dict__"):
            state.update(vars(v))
        for cls in type(v).__mro__:
            for slot in getattr(cls, "__slots__", ()) if isinstance(getattr(cls, "__slots__", ()), (tuple, list)) else (cls.__slots__,):
                if slot not in ("__dict__", "__weakref__") and hasattr(v, slot):
                    state[slot] = getattr(v, slot)
        return {"$obj": name, "state": {k: self._enc(x, depth + 1, budget)
                                        for k, x in state.items() if isinstance(k, str)}}

    def _encode_exc(self, e: BaseException):
        t = type(e)
        name = _labs_name(t) or (f"builtins:{t.__name__}" if t.__module__ == "builtins" else None)
        try:
            args = [self._enc(a, 1, [1000]) for a in e.args]
            if len(json.dumps(args)) > 20 * MAX_TEXT:
                raise ValueError
        except Exception:
            args = [str(e)[:MAX_TEXT]]
        state = {}
        for key, value in list(getattr(e, "__dict__", {}).items())[:20]:
            if isinstance(key, str) and NAME.match(key):
                try:
                    state[key] = self._enc(value, 1, [1000])
                except Exception:
                    pass
        try:
            msg = str(e)[:MAX_TEXT]
        except Exception:
            msg = "?"
        return {"$exc": name or f"other:{t.__name__}"[:100], "args": args, "msg": msg,
                "state": state}

    # ------------------------------------------------------------------ decoding

    def decode(self, data):
        return self._dec(data, 0, [MAX_NODES])

    def _dec(self, d, depth: int, budget):
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise ProtocolError("a value too large or too deeply nested")
        if d is None or isinstance(d, (bool, int, float, str)):
            return d
        if isinstance(d, list):
            return [self._dec(x, depth + 1, budget) for x in d]
        if not isinstance(d, dict):
            raise ProtocolError("not a value")
        if not any(isinstance(k, str) and k.startswith("$") for k in d):
            return {k: self._dec(v, depth + 1, budget) for k, v in d.items()}
        tags = [k for k in d if k.startswith("$")]
        if len(tags) != 1:
            raise ProtocolError("a value with more than one tag")
        tag = tags[0]
        body = d[tag]
        if tag == "$tuple" and isinstance(body, list) and len(d) == 1:
            return tuple(self._dec(x, depth + 1, budget) for x in body)
        if tag in ("$set", "$frozenset") and isinstance(body, list) and len(d) == 1:
            items = [self._dec(x, depth + 1, budget) for x in body]
            try:
                return set(items) if tag == "$set" else frozenset(items)
            except TypeError:
                raise ProtocolError("a set of unhashable values") from None
        if tag == "$dict" and isinstance(body, list) and len(d) == 1:
            out = {}
            for pair in body:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ProtocolError("a $dict entry is not a pair")
                try:
                    out[self._dec(pair[0], depth + 1, budget)] = self._dec(pair[1], depth + 1, budget)
                except TypeError:
                    raise ProtocolError("an unhashable key") from None
            return out
        if tag == "$float" and body in ("nan", "inf", "-inf") and len(d) == 1:
            return float(body)
        if tag == "$bytes" and isinstance(body, str) and len(d) == 1:
            try:
                return base64.b64decode(body, validate=True)
            except ValueError:
                raise ProtocolError("bad $bytes") from None
        if tag == "$exc":
            return self._decode_exc(d)
        if tag == "$const" and len(d) == 1:
            return _resolve_const(body)
        if tag == "$fn" and len(d) == 1:
            return _resolve(body)
        if tag == "$enum" and set(d) == {"$enum", "name"}:
            cls = _resolve(body)
            if not (inspect.isclass(cls) and issubclass(cls, enum.Enum)) or not isinstance(d["name"], str):
                raise ProtocolError("not an enum")
            try:
                return cls[d["name"]]
            except KeyError:
                raise ProtocolError("no such enum member") from None
        if tag == "$obj" and set(d) == {"$obj", "state"} and isinstance(d["state"], dict):
            cls = _resolve(body)
            if not inspect.isclass(cls) or issubclass(cls, BaseException):
                raise ProtocolError("$obj of something that is not a plain class")
            if self.side == "sandbox" or True:
                obj = object.__new__(cls) if cls.__new__ is object.__new__ else cls.__new__(cls)
            for key, value in d["state"].items():
                if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", key) \
                        or key.startswith("__"):
                    raise ProtocolError("a bad attribute name in $obj")
                try:
                    object.__setattr__(obj, key, self._dec(value, depth + 1, budget))
                except (AttributeError, TypeError):
                    raise ProtocolError(f"cannot set {key!r} on {body}") from None
            return obj
        if tag == "$shared" and self.side == "sandbox" and set(d) == {"$shared", "value"}:
            n = body
            if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > MAX_SHARED:
                raise ProtocolError("bad $shared")
            value = self._dec(d["value"], depth + 1, budget)
            if not isinstance(value, (dict, list, set)):
                raise ProtocolError("a shared container that is not one")
            tracked = _track(value, n, self.dirty)
            if n not in self.shared:
                self.shared[n] = tracked
            else:
                _replace(self.shared[n], tracked, quiet=True)
            return self.shared[n]
        if tag == self.mine and len(d) == 1:
            return self.local.get(body)
        if tag == self.theirs:
            return self._proxy(body, d)
        raise ProtocolError(f"an unknown tag {tag!r:.40}")

    def _decode_exc(self, d):
        if set(d) - {"$exc", "args", "msg", "state"} or not isinstance(d.get("args", []), list) \
                or not isinstance(d.get("state", {}), dict):
            raise ProtocolError("bad $exc")
        msg = d.get("msg", "")
        if not isinstance(msg, str):
            raise ProtocolError("bad $exc message")
        cls = _exc_class(d["$exc"])
        args = [self._dec(a, 1, [1000]) for a in d.get("args", [])][:20]
        if cls is not None:
            try:
                err = cls.__new__(cls, *args)
                Exception.__init__(err, *args)
                for key, value in d.get("state", {}).items():
                    if isinstance(key, str) and NAME.match(key):
                        object.__setattr__(err, key, self._dec(value, 1, [1000]))
                return err
            except Exception:
                pass
        name = str(d["$exc"]).split(":")[-1][:100]
        return RemoteError(f"{name}: {msg[:MAX_TEXT]}")

    def _proxy(self, n, d):
        if not isinstance(n, int) or isinstance(n, bool):
            raise ProtocolError("bad handle")
        if set(d) - {self.theirs, "call", "gen", "sig", "name"}:
            raise ProtocolError("bad handle fields")
        if n in self.proxies:
            return self.proxies[n]
        if d.get("call"):
            proxy = self._function(n, d)
        elif d.get("gen"):
            proxy = _drive(self, n)
        else:
            proxy = _Proxy(self, n)
        self.proxies[n] = proxy
        return proxy

    def _function(self, n, d):
        endpoint = self
        if d.get("gen"):
            def function(*args, **kwargs):
                result = endpoint.request("call", ref=n, args=list(args), kwargs=kwargs)
                if isinstance(result, types.GeneratorType):
                    return (yield from result)
                return result
        else:
            def function(*args, **kwargs):
                return endpoint.request("call", ref=n, args=list(args), kwargs=kwargs)
        name = d.get("name")
        if isinstance(name, str) and NAME.match(name):
            function.__name__ = function.__qualname__ = name
        sig = d.get("sig")
        if isinstance(sig, list):
            try:
                params = []
                for p in sig:
                    pname, kind, has_default = p
                    params.append(inspect.Parameter(
                        pname, inspect._ParameterKind(kind),
                        default=_DEFAULT if has_default else inspect.Parameter.empty))
                function.__signature__ = inspect.Signature(params)
            except (TypeError, ValueError):
                raise ProtocolError("a bad signature") from None
        function.__remote__ = self
        function.__remote_n__ = n
        return function

    # ------------------------------------------------------------------ requests

    def request(self, op: str, **fields):
        """Send a request and wait for its reply, serving the other side's requests."""
        if self.watch is not None and op in ("call", "send", "throw") and not self._watching:
            self._watching = True
            try:
                self.watch()
            finally:
                self._watching = False
        self.next_id += 1
        my = self.next_id
        msg = {"id": my, "op": op}
        for key, value in fields.items():
            if key == "args":
                value = [self.encode_arg(v) for v in value]
            elif key == "kwargs":
                value = {k: self.encode_arg(v) for k, v in value.items()}
            elif key in ("value",):
                value = self.encode_arg(value)
            msg[key] = value
        self._send(msg)
        while True:
            reply = self._recv()
            if "re" in reply:
                try:
                    if reply.get("re") != my or set(reply) - {"re", "ok", "err", "sync"} or \
                            (("ok" in reply) == ("err" in reply)):
                        raise ProtocolError("a reply that answers no request")
                    if "sync" in reply:
                        self._apply_sync(reply["sync"])
                    if "err" in reply:
                        err = self.decode(reply["err"])
                        if not isinstance(err, BaseException):
                            raise ProtocolError("err is not an exception")
                    else:
                        return self.decode(reply["ok"])
                except (ProtocolError, ValueError, TypeError, RecursionError, ImportError,
                        AttributeError) as bad:
                    self._die(f"the submission broke the grading protocol: {bad}"[:300])
                raise err
            self._serve_one(reply)

    def encode_arg(self, value):
        return self._enc(value, 1, [MAX_NODES])

    def serve(self) -> None:
        """Answer requests until the channel closes (the sandbox's last act)."""
        while True:
            try:
                msg = self._recv()
            except SubmissionGone:
                return
            self._serve_one(msg)

    def _serve_one(self, msg: dict) -> None:
        try:
            if not isinstance(msg.get("id"), int) or msg.get("op") not in OPS:
                raise ProtocolError("a request without an id or a known op")
            if "sync" in msg:
                self._apply_sync(msg["sync"])
            allowed = {"id", "op", "sync", "ref", "name", "args", "kwargs", "value", "kind"}
            if set(msg) - allowed:
                raise ProtocolError("a request with unknown fields")
            op = msg["op"]
            if op in ("get", "set") and self.side != "sandbox":
                raise ProtocolError("the judge's globals are not for reading")
            target = self.local.get(msg["ref"]) if op not in ("get", "set") else None
            args = msg.get("args", [])
            kwargs = msg.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict) or len(args) > 100:
                raise ProtocolError("bad arguments")
            for key in kwargs:
                if not NAME.match(key):
                    raise ProtocolError("bad keyword")
            args = [self.decode(a) for a in args]
            kwargs = {k: self.decode(v) for k, v in kwargs.items()}
            value = self.decode(msg["value"]) if "value" in msg else None
            name = msg.get("name")
        except (ProtocolError, ValueError, TypeError, RecursionError, ImportError,
                AttributeError) as bad:
            if self.side == "judge":
                self._die(f"the submission broke the grading protocol: {bad}"[:300])
            raise SystemExit(f"bad request from the judge: {bad}")
        try:
            result = self._perform(op, target, name, args, kwargs, value)
            reply = {"re": msg["id"], "ok": self.encode_arg(result) if self.side == "judge"
                     else self.encode(result)}
        except SubmissionGone:
            raise
        except BaseException as err:   # the learner's (or the library's) exception, by value
            if isinstance(err, (KeyboardInterrupt,)):
                raise
            reply = {"re": msg["id"], "err": self._encode_exc(err)}
        self._send(reply)

    def _perform(self, op, target, name, args, kwargs, value):
        if op in ("get", "set", "getattr"):
            if not isinstance(name, str) or not NAME.match(name):
                raise ProtocolError("a name starting with _ or not a name")
        if op == "set":
            self.namespace[name] = value
            return None
        if op == "get":
            if name not in self.namespace:
                raise NameError(f"name {name!r} is not defined")
            return self.namespace[name]
        if self.side == "judge" and op in ("getattr", "op") and not _labs_name(type(target)) \
                and type(target).__module__ != "__main__" and not isinstance(target, _IterAsGen):
            raise ProtocolError("only objects of labs classes can be read")
        if op == "getattr":
            if isinstance(target, types.ModuleType):
                raise AttributeError(name)
            return getattr(target, name)
        if op == "call":
            if not callable(target):
                raise TypeError("not callable")
            return target(*args, **kwargs)
        if op in ("send", "throw", "close") and not isinstance(
                target, (types.GeneratorType, _IterAsGen)):
            raise ProtocolError("not a generator")
        if op == "send":
            return _step(target.send, value)
        if op == "throw":
            if not isinstance(value, BaseException):
                value = RemoteError("thrown")
            return _step(target.throw, value)
        if op == "close":
            target.close()
            return None
        if op == "op":
            kind = name
            if kind == "len":
                return len(target)
            if kind == "iter":
                return _IterAsGen(iter(target))
            if kind == "bool":
                return bool(target)
            if kind == "repr":
                return repr(target)[:MAX_TEXT]
            if kind == "getitem" and len(args) == 1:
                return target[args[0]]
            if kind == "contains" and len(args) == 1:
                return args[0] in target
            if kind == "enter" and not args:
                return target.__enter__()
            if kind == "exit" and len(args) == 1:
                err = args[0] if isinstance(args[0], BaseException) else None
                return bool(target.__exit__(type(err) if err else None, err, None))
            if kind == "setitem" and len(args) == 2:
                target[args[0]] = args[1]
                return None
            raise ProtocolError("unknown op")
        raise ProtocolError("unknown op")


class _Stopped:
    """A generator's return value, as a reply to ``send``/``throw``."""


def _step(method, value):
    try:
        return {"$yield": method(value)}
    except StopIteration as stop:
        return {"$return": stop.value}


class _IterAsGen:
    """An iterator driven with ``send`` like a generator (``send(None)`` is ``next``)."""

    def __init__(self, it):
        self.it = it

    def send(self, value):
        return next(self.it)

    def throw(self, err):
        raise err

    def close(self):
        pass


def _replace(obj, value, quiet: bool = False) -> None:
    """Put *value*'s contents into *obj* (a shared container keeps its identity)."""
    base = (dict if isinstance(obj, dict) else list if isinstance(obj, list)
            else set if isinstance(obj, set) else None)
    if base is None or not isinstance(value, base):
        raise ProtocolError("a shared container changed its type")
    if base is dict:
        dict.clear(obj)
        dict.update(obj, value)
    elif base is list:
        list.__setitem__(obj, slice(None), value)
    else:
        set.clear(obj)
        set.update(obj, value)


def _tracked(base):
    """A subclass of dict, list or set that marks its shared root changed on any mutation."""
    names = {dict: ("__setitem__", "__delitem__", "clear", "pop", "popitem", "setdefault",
                    "update", "__ior__"),
             list: ("__setitem__", "__delitem__", "append", "extend", "insert", "pop", "remove",
                    "clear", "sort", "reverse", "__iadd__", "__imul__"),
             set: ("add", "discard", "remove", "pop", "clear", "update", "difference_update",
                   "intersection_update", "symmetric_difference_update", "__ior__", "__iand__",
                   "__isub__", "__ixor__")}[base]
    ns = {"__slots__": ("_root", "_dirty")}
    for name in names:
        def method(self, *a, _m=getattr(base, name), **k):
            self._dirty.add(self._root)
            return _m(self, *a, **k)
        method.__name__ = name
        ns[name] = method
    return type(f"shared_{base.__name__}", (base,), ns)


_TRACKED = {base: _tracked(base) for base in (dict, list, set)}


def _track(value, root: int, dirty: set):
    """*value* with every dict, list and set in it (at any depth) tracked for *root*."""
    t = type(value)
    if t is dict:
        out = _TRACKED[dict]((k, _track(v, root, dirty)) for k, v in value.items())
    elif t is list:
        out = _TRACKED[list](_track(v, root, dirty) for v in value)
    elif t is set:
        out = _TRACKED[set](value)
    else:
        return value
    out._root, out._dirty = root, dirty
    return out


def _unwrap_step(result):
    if isinstance(result, dict) and set(result) in ({"$yield"}, {"$return"}):
        return result
    raise SubmissionGone("the submission broke the grading protocol: a generator step "
                         "that is neither a yield nor a return")


def _drive(endpoint: Endpoint, n: int):
    """A real generator (``type(g) is GeneratorType``) that drives a remote one."""
    def run():
        step = _unwrap_step(endpoint.request("send", ref=n, value=None))
        while "$yield" in step:
            try:
                sent = yield step["$yield"]
            except GeneratorExit:
                try:
                    endpoint.request("close", ref=n)
                except Exception:
                    pass
                raise
            except Exception as err:
                step = _unwrap_step(endpoint.request("throw", ref=n, value=err))
            else:
                step = _unwrap_step(endpoint.request("send", ref=n, value=sent))
        return step["$return"]
    return run()


class _Proxy:
    """A handle to an object of the other process: public attributes and calls only."""

    __slots__ = ("_e", "_n")

    def __init__(self, endpoint: Endpoint, n: int):
        object.__setattr__(self, "_e", endpoint)
        object.__setattr__(self, "_n", n)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return object.__getattribute__(self, "_e").request(
            "getattr", ref=object.__getattribute__(self, "_n"), name=name)

    def __setattr__(self, name, value):
        raise AttributeError("an object of the other process is read-only")

    def _op(self, kind, *args):
        return object.__getattribute__(self, "_e").request(
            "op", ref=object.__getattribute__(self, "_n"), name=kind, args=list(args))

    def __call__(self, *args, **kwargs):
        return object.__getattribute__(self, "_e").request(
            "call", ref=object.__getattribute__(self, "_n"), args=list(args), kwargs=kwargs)

    def __len__(self):
        return self._op("len")

    def __enter__(self):
        return self._op("enter")

    def __exit__(self, etype, err, tb):
        return self._op("exit", err if isinstance(err, Exception) else None)

    def __iter__(self):
        return self._op("iter")

    def __bool__(self):
        return bool(self._op("bool"))

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value):
        self._op("setitem", key, value)

    def __contains__(self, key):
        return bool(self._op("contains", key))

    def __repr__(self):
        try:
            text = self._op("repr")
        except Exception:
            text = "?"
        return f"<remote {str(text)[:200]}>"

    # equality and hashing stay by identity: a learner's __eq__ never decides a check
    __eq__ = object.__eq__
    __hash__ = object.__hash__
