"""The runtime half of the sandbox: the functions RestrictedPython's rewritten code calls, and its builtins.

RestrictedPython compiles ``obj.attr`` to ``_getattr_(obj, "attr")``, ``obj.attr = v`` to
``_write_(obj).attr = v``, ``import x`` to a call of the ``__import__`` found in ``__builtins__``, and
``class C:`` to ``class C(metaclass=__metaclass__)``; :func:`restricted_globals` supplies all of them.
(Our compiler policy also routes item assignment through ``_write_item_`` so that ``arr[i] = x`` costs no
wrapper object.) What each guard allows:

* ``_getattr_``: the per-type allow-lists in :mod:`alphabook.sandbox.attributes`;
* ``_write_``: objects of classes the creator defined, plus ``name``/``index``/``columns`` of pandas
  objects; never modules, library classes or functions (so ``np.mean = f`` cannot monkeypatch);
* ``_write_item_``: lists, dicts, arrays, Series, DataFrames and their ``.loc``/``.iloc`` indexers;
* ``__import__``: only :data:`alphabook.sandbox.proxies.IMPORTABLE`, answered with proxies (and, for
  numpy's C code importing its own helpers, nothing at all: see :func:`guarded_import`);
* ``__metaclass__``: creator classes may derive only from ``object``, other creator classes and the
  built-in exceptions, and are remembered so that their instances can be written to.
"""

from __future__ import annotations

import builtins
import collections
import datetime
import importlib
import operator
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd
from pandas._libs.indexing import NDFrameIndexerBase

from alphabook.sandbox.attributes import FORBIDDEN_ATTRIBUTES, USER_CLASSES, deny, policy_for, type_label
from alphabook.sandbox.proxies import IMPORTABLE, GuardedClass, real_class, root_module

__all__ = ["SAFE_BUILTIN_NAMES", "SAFE_EXCEPTIONS", "guarded_getattr", "restricted_globals"]

importlib.import_module("_strptime")  # datetime.strptime imports it from C: load it before any sandboxed call

SAFE_EXCEPTIONS: Final = (
    ArithmeticError, AssertionError, AttributeError, Exception, FloatingPointError, IndexError, KeyError,
    LookupError, NameError, NotImplementedError, OverflowError, RuntimeError, StopIteration, TypeError, ValueError,
    ZeroDivisionError,
)


def guarded_getattr(obj: Any, name: str) -> Any:
    """``obj.name`` in creator code."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name[:1] == "_" or name in FORBIDDEN_ATTRIBUTES:
        deny(obj, name)
    return policy_for(type(obj))(obj, name)


def safe_getattr(obj: Any, name: str, *default: Any) -> Any:
    """The ``getattr`` builtin, with the same rules as ``obj.name``."""
    if len(default) > 1:
        raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
    try:
        return guarded_getattr(obj, name)
    except AttributeError:
        if default:
            return default[0]
        raise


def safe_hasattr(obj: Any, name: str) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


class _AttributeWriter:
    """What ``_write_`` returns for a pandas object: assignment to a few named attributes only."""

    __slots__ = ("_names", "_target")

    def __init__(self, target: Any, names: frozenset[str]) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_names", names)

    def __setattr__(self, name: str, value: Any) -> None:
        target = object.__getattribute__(self, "_target")
        if name not in object.__getattribute__(self, "_names"):
            raise TypeError(f"{type_label(target)}.{name} cannot be assigned in the sandbox")
        setattr(target, name, value)

    def __delattr__(self, name: str) -> NoReturn:
        raise TypeError(f"{type_label(object.__getattribute__(self, '_target'))}.{name} cannot be deleted")


_ATTRIBUTE_WRITABLE: Final = (
    (pd.DataFrame, frozenset({"columns", "index"})),
    (pd.Series, frozenset({"index", "name"})),
    (pd.Index, frozenset({"name", "names"})),
)
_ITEM_WRITABLE: Final = frozenset({
    list, dict, collections.deque, collections.defaultdict, collections.OrderedDict, collections.Counter,
})
_ITEM_WRITABLE_BASES: Final = (np.ndarray, pd.Series, pd.DataFrame, NDFrameIndexerBase)


def guarded_write(obj: Any) -> Any:
    """The target of ``obj.attr = value`` / ``del obj.attr`` in creator code."""
    if type(obj) in USER_CLASSES or (isinstance(obj, type) and obj in USER_CLASSES):
        return obj
    for base, names in _ATTRIBUTE_WRITABLE:
        if isinstance(obj, base):
            return _AttributeWriter(obj, names)
    raise TypeError(f"{type_label(obj)} cannot be modified in the sandbox")


def guarded_write_item(obj: Any) -> Any:
    """The target of ``obj[key] = value`` / ``del obj[key]`` in creator code."""
    tp = type(obj)
    if tp in _ITEM_WRITABLE or issubclass(tp, _ITEM_WRITABLE_BASES):
        return obj
    raise TypeError(f"items of {type_label(obj)} cannot be assigned in the sandbox")


def guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    """``import``: the allow-listed modules only, as proxies.

    C code running on behalf of creator code reaches this function too: CPython's ``PyImport_Import``
    looks ``__import__`` up in the builtins of the innermost Python frame, which is the creator's (numpy's
    ``ndarray.mean`` imports ``numpy._core._methods`` that way). Those calls pass an empty *list* as
    ``fromlist`` (import statements pass None or a tuple, and the validator has already vetted every
    import statement) and ignore the return value, reading ``sys.modules`` instead; for a module that is
    already loaded they get None, so the library works and creator code still never holds a module.
    """
    module = IMPORTABLE.get(name) if isinstance(name, str) and level == 0 else None
    if module is not None:
        return module if fromlist else root_module(name)
    if type(fromlist) is list and not fromlist and level == 0 and isinstance(name, str) and name in sys.modules:
        return None
    if level != 0:
        raise ImportError("relative imports are not available in the sandbox")
    raise ImportError(f"import of {name!r} is not allowed in the sandbox; available: {', '.join(sorted(IMPORTABLE))}")


def make_class(name: str, bases: tuple[Any, ...], namespace: dict[str, Any], **keywords: Any) -> type:
    """The metaclass of every ``class`` statement in creator code."""
    if keywords:
        raise TypeError(f"class {name}: class keywords are not available in the sandbox")
    for base in bases:
        if not (isinstance(base, type) and (base is object or base in USER_CLASSES or base in SAFE_EXCEPTIONS)):
            raise TypeError(f"class {name} may derive only from object, your own classes or the built-in exceptions, "
                            f"not {type_label(base)}")
    cls = type(name, bases, dict(namespace))
    USER_CLASSES.add(cls)
    return cls


_INPLACE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand, "@=": operator.imatmul,
}


def inplace_var(op: str, target: Any, value: Any) -> Any:
    return _INPLACE[op](target, value)


def guarded_unpack_sequence(it: Any, spec: dict[str, Any], getiter: Callable[[Any], Iterator[Any]]) -> list[Any]:
    """``a, (b, c) = it``: RestrictedPython's protocol (see RestrictedPython.Guards), typed."""
    items = list(getiter(it))
    if len(items) >= spec["min_len"]:
        for index, child in spec["childs"]:
            items[index] = guarded_unpack_sequence(items[index], child, getiter)
    return items


def guarded_iter_unpack_sequence(it: Any, spec: dict[str, Any],
                                 getiter: Callable[[Any], Iterator[Any]]) -> Iterator[list[Any]]:
    for item in getiter(it):
        yield guarded_unpack_sequence(item, spec, getiter)


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def _real(classinfo: Any) -> Any:
    if isinstance(classinfo, GuardedClass):
        return real_class(classinfo)
    if isinstance(classinfo, tuple):
        return tuple(_real(item) for item in classinfo)
    return classinfo


def safe_isinstance(obj: Any, classinfo: Any) -> bool:
    return isinstance(obj, _real(classinfo))


def safe_issubclass(cls: Any, classinfo: Any) -> bool:
    return issubclass(_real(cls), _real(classinfo))


_TYPE_RESULTS: Final = frozenset({
    int, float, complex, bool, str, bytes, list, tuple, dict, set, frozenset, range, slice, type(None),
    datetime.date, datetime.datetime, datetime.time, datetime.timedelta, datetime.timezone, pd.Timestamp,
    pd.Timedelta, collections.deque, collections.defaultdict, collections.OrderedDict, collections.Counter,
    *SAFE_EXCEPTIONS,
})


def safe_type(obj: Any, *rest: Any) -> type:
    """``type(x)`` for plain values, numpy scalars and creator classes; never the 3-argument class factory."""
    if rest:
        raise TypeError("type() with three arguments is not available in the sandbox; use a class statement")
    tp = type(obj)
    if tp in _TYPE_RESULTS or issubclass(tp, np.generic) or tp in USER_CLASSES:
        return tp
    raise TypeError(f"type() of a {type_label(obj)} is not available in the sandbox; use isinstance()")


class PrintCollector:
    """``print`` in creator code: kept (up to 64 KiB) for ``printed``, never written to the worker's stdout."""

    LIMIT: Final = 1 << 16

    def __init__(self, _getattr_: Any = None) -> None:
        self._parts: list[str] = []
        self._size = 0

    def _call_print(self, *objects: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None,
                    flush: bool = False) -> None:
        if file is not None:
            raise TypeError("print(file=...) is not available in the sandbox")
        separator = " " if sep is None else str(sep)
        text = separator.join(str(item) for item in objects) + ("\n" if end is None else str(end))
        room = self.LIMIT - self._size
        if room > 0:
            self._parts.append(text[:room])
            self._size += min(len(text), room)

    def __call__(self) -> str:
        return "".join(self._parts)


def _plain(names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(builtins, name) for name in names}


_BUILTIN_NAMES = """
abs all any bin bool callable chr classmethod complex dict divmod enumerate filter float format frozenset hash hex
int iter len list map max min next object oct ord pow property range repr reversed round set slice sorted
staticmethod str sum tuple zip
"""
SAFE_BUILTIN_NAMES: Final = frozenset(_BUILTIN_NAMES.split())
_BUILTINS: Final[dict[str, Any]] = {
    **_plain(SAFE_BUILTIN_NAMES),
    **{exception.__name__: exception for exception in SAFE_EXCEPTIONS},
    "None": None, "True": True, "False": False, "Ellipsis": Ellipsis, "NotImplemented": NotImplemented,
    "getattr": safe_getattr, "hasattr": safe_hasattr, "isinstance": safe_isinstance, "issubclass": safe_issubclass,
    "type": safe_type,
    "__build_class__": builtins.__build_class__, "__import__": guarded_import,
}


def restricted_globals() -> dict[str, Any]:
    """Fresh module globals for one load of creator code (nothing is shared between loads but the proxies)."""
    return {
        "__builtins__": dict(_BUILTINS),
        "__name__": "creator_module",
        "__metaclass__": make_class,
        "_getattr_": guarded_getattr,
        "_getitem_": operator.getitem,
        "_write_": guarded_write,
        "_write_item_": guarded_write_item,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_inplacevar_": inplace_var,
        "_apply_": _apply,
        "_print_": PrintCollector,
    }


def is_restricted_frame(frame_globals: dict[str, Any]) -> bool:
    """Whether a traceback frame ran creator code (used to report the creator's line number)."""
    return frame_globals.get("_getattr_") is guarded_getattr

