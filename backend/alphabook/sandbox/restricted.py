"""The compile-time half of the sandbox: RestrictedPython's transformer with alphabook's rules added.

RestrictedPython (``RestrictingNodeTransformer``) already refuses names and attributes starting with
``_``, frame/generator/traceback attributes, ``exec``/``eval``, ``*`` imports, async code, ``nonlocal``,
``match`` and ``except*``, and rewrites attribute, item and iteration access into guard calls. On top of
that, :class:`IndicatorPolicy`

* refuses imports outside the allow-list (and ``from m import x`` where the proxy has no ``x``);
* refuses, by name, library entry points that only do I/O, evaluate strings or reach raw memory
  (``to_pickle``, ``read_csv``, ``eval``, ``query``, ``ctypes``, ``tofile``...), builtins the sandbox
  does not provide (``open``, ``globals``...) and assignments into imported modules (``np.mean = f``).
  These are early, readable refusals; the runtime allow-lists would stop all of them anyway;
* sends item assignment through ``_write_item_`` (cheap for arrays) instead of ``_write_``;
* accepts augmented assignment of attributes and items (``self.n += 1``, ``out[i] += x``), which
  RestrictedPython refuses, by expanding it into guarded reads and writes;
* accepts annotated assignments (``x: float = 0.0``) by dropping the annotation.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)

from alphabook.sandbox.attributes import FORBIDDEN_ATTRIBUTES
from alphabook.sandbox.proxies import IMPORTABLE, module_members

__all__ = ["IndicatorPolicy", "Problem", "Survey", "survey"]

Problem = tuple[int | None, str]
VisitResult = ast.AST | Iterable[ast.AST] | None  # what ast.NodeTransformer visitors return


def _names(text: str) -> list[str]:
    return text.split()


_FILES = "reads or writes files"
_STRING_CODE = "evaluates code given as a string"
_MEMORY = "reaches raw memory"
_MODULES = "reaches modules the sandbox does not provide"
_SETTINGS = "changes process-wide settings"
DENIED_ATTRIBUTES: Final[dict[str, str]] = {
    **dict.fromkeys(_names("load loads save savez savez_compressed savetxt loadtxt genfromtxt fromfile fromregex "
                           "tofile dump dumps memmap npyio"), _FILES),
    **dict.fromkeys(_names("eval query"), _STRING_CODE),
    **dict.fromkeys(_names("ctypes ctypeslib frombuffer as_strided"), _MEMORY),
    **dict.fromkeys(_names("os sys subprocess builtins importlib f2py distutils testing api io util plotting "
                           "modules system popen"), _MODULES),
    **dict.fromkeys(_names("options set_option get_option reset_option option_context set_printoptions seterr"),
                    _SETTINGS),
    **dict.fromkeys(_names("plot hist boxplot style"), "draws output (plotting back-ends are imported by name)"),
    **dict.fromkeys(_names("vectorize frompyfunc"), "builds functions the sandbox cannot check"),
}
SAFE_TO_NAMES: Final = frozenset({
    "to_datetime", "to_datetime64", "to_dict", "to_frame", "to_list", "to_numeric", "to_numpy", "to_pydatetime",
    "to_pytimedelta", "to_series", "to_timedelta", "to_timedelta64",
})
FORBIDDEN_BUILTINS: Final[dict[str, str]] = {
    **dict.fromkeys(_names("open input"), "the sandbox has no files or terminal"),
    **dict.fromkeys(_names("eval exec compile breakpoint"), "the sandbox runs only the code it was given"),
    **dict.fromkeys(_names("globals locals vars dir help"), "the sandbox does not expose namespaces"),
    **dict.fromkeys(_names("setattr delattr super memoryview bytearray exit quit"), "not provided by the sandbox"),
}


def attribute_problems(name: str) -> list[str]:
    """Why the attribute ``name`` is refused at compile time (empty when it is not)."""
    if name.startswith("_") and name != "_":
        return [f'"{name}" is an invalid attribute name because it starts with "_".']
    if name in INSPECT_ATTRIBUTES or name in FORBIDDEN_ATTRIBUTES:
        return [f'"{name}" is a restricted name (frames, code and generators are not reachable in the sandbox).']
    if name in DENIED_ATTRIBUTES:
        return [f'".{name}" is not available in the sandbox: it {DENIED_ATTRIBUTES[name]}.']
    if name.startswith("read_") or (name.startswith("to_") and name not in SAFE_TO_NAMES):
        return [f'".{name}" is not available in the sandbox: it {_FILES}.']
    return []


@dataclass
class Survey:
    """One pass over the tree: its size, every name it binds, the names imports bind, and whether the module
    binds ``indicator`` at top level (an iterative walk, so hostile nesting cannot exhaust the stack)."""

    bound: set[str] = field(default_factory=set)
    imported: set[str] = field(default_factory=set)
    defines_indicator: bool = False
    too_big: Problem | None = None


def survey(tree: ast.AST, max_depth: int, max_nodes: int) -> Survey:
    found = Survey()
    stack: list[tuple[ast.AST, int, int | None, bool]] = [(tree, 1, None, False)]
    count = 0
    while stack:
        node, depth, line, nested = stack.pop()
        line = getattr(node, "lineno", line)
        count += 1
        if depth > max_depth:
            found.too_big = (line, f"the code is nested more than {max_depth} levels deep; split it into smaller "
                                   "expressions.")
            return found
        if count > max_nodes:
            found.too_big = (line, f"the code has more than {max_nodes} syntax elements; the sandbox accepts smaller "
                                   "modules.")
            return found
        names: list[str] = []
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                names.append(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.arg):
            names.append(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.asname or alias.name.partition(".")[0] for alias in node.names]
            found.imported.update(names)
        found.bound.update(names)
        if "indicator" in names and not nested and not isinstance(node, ast.arg):
            found.defines_indicator = True
        inner = nested or isinstance(node, _SCOPES)
        stack.extend((child, depth + 1, line, inner) for child in ast.iter_child_nodes(node))
    return found


_SCOPES: Final = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _name(identifier: str, ctx: ast.expr_context | None = None) -> ast.Name:
    return ast.Name(identifier, ctx or ast.Load())


def _call(function: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(function), args=list(args), keywords=[])


class IndicatorPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus alphabook's; problems are collected as ``(line, message)``."""

    def __init__(self, bound: set[str], imported: set[str]) -> None:
        super().__init__()
        self.problems: list[Problem] = []
        self.bound = bound
        self.imported = imported

    def error(self, node: ast.AST, info: str) -> None:
        self.problems.append((getattr(node, "lineno", None), info))
        super().error(node, info)

    def _check_store_target(self, node: ast.Attribute | ast.Subscript) -> None:
        root = _root_name(node.value)
        if root is not None and root in self.imported:
            self.error(node, f"{root} is an imported module or function; it cannot be modified in the sandbox.")

    def visit_Attribute(self, node: ast.Attribute) -> VisitResult:  # noqa: N802 - ast.NodeVisitor's naming
        for problem in attribute_problems(node.attr):
            if not (node.attr.startswith("_") or node.attr in INSPECT_ATTRIBUTES):  # RestrictedPython reports those
                self.error(node, problem)
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._check_store_target(node)
        return super().visit_Attribute(node)

    def visit_Subscript(self, node: ast.Subscript) -> VisitResult:  # noqa: N802
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._check_store_target(node)
        result = super().visit_Subscript(node)
        if (isinstance(result, ast.Subscript) and isinstance(result.value, ast.Call)
                and isinstance(result.value.func, ast.Name) and result.value.func.id == "_write_"):
            result.value.func.id = "_write_item_"
        return result

    def visit_AugAssign(self, node: ast.AugAssign) -> VisitResult:  # noqa: N802
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        self._check_store_target(target)
        operator = ast.Constant(IOPERATOR_TO_STR[type(node.op)])
        holder = self.gen_tmp_name()
        statements: list[ast.stmt] = [ast.Assign(targets=[_name(holder, ast.Store())], value=self._expr(target.value))]
        if isinstance(target, ast.Attribute):
            for problem in attribute_problems(target.attr):
                self.error(node, problem)
            current: ast.expr = _call("_getattr_", _name(holder), ast.Constant(target.attr))
            store: ast.expr = ast.Attribute(_call("_write_", _name(holder)), target.attr, ast.Store())
        else:
            key = self.gen_tmp_name()
            statements.append(ast.Assign(targets=[_name(key, ast.Store())], value=self._expr(target.slice)))
            current = _call("_getitem_", _name(holder), _name(key))
            store = ast.Subscript(_call("_write_item_", _name(holder)), _name(key), ast.Store())
        value = _call("_inplacevar_", operator, current, self._expr(node.value))
        statements.append(ast.Assign(targets=[store], value=value))
        for statement in statements:
            copy_locations(statement, node)
            ast.fix_missing_locations(statement)
        return statements

    def _expr(self, node: ast.expr) -> ast.expr:
        result = self.visit(node)
        if not isinstance(result, ast.expr):  # pragma: no cover - expression visitors return expressions
            raise TypeError(f"expected an expression, got {type(result).__name__}")
        return result

    def visit_AnnAssign(self, node: ast.AnnAssign) -> VisitResult:  # noqa: N802
        """``x: T = v`` becomes ``x = v`` (the annotation is never evaluated); ``x: T`` alone becomes ``pass``."""
        replacement: ast.stmt
        replacement = ast.Pass() if node.value is None else ast.Assign(targets=[node.target], value=node.value)
        copy_locations(replacement, node)
        result: VisitResult = self.visit(replacement)
        return result

    def visit_ClassDef(self, node: ast.ClassDef) -> VisitResult:  # noqa: N802
        """RestrictedPython rebuilds the class from a parsed template (to add ``metaclass=__metaclass__``),
        which puts it on line 1; give it back its own line so errors in class creation point at it."""
        result = super().visit_ClassDef(node)
        if isinstance(result, ast.ClassDef) and result is not node:
            copy_locations(result, node)
            for keyword in result.keywords:
                copy_locations(keyword, node)
                copy_locations(keyword.value, node)
        return result

    def visit_Name(self, node: ast.Name) -> VisitResult:  # noqa: N802
        if isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_BUILTINS and node.id not in self.bound:
            self.error(node, f"{node.id}() is not available in the sandbox: {FORBIDDEN_BUILTINS[node.id]}.")
        return super().visit_Name(node)

    def visit_Call(self, node: ast.Call) -> VisitResult:  # noqa: N802
        function = node.func
        if (isinstance(function, ast.Name) and function.id in ("getattr", "hasattr") and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            for problem in attribute_problems(node.args[1].value):
                self.error(node, problem)
        return super().visit_Call(node)

    def visit_Import(self, node: ast.Import) -> VisitResult:  # noqa: N802
        for alias in node.names:
            if alias.name not in IMPORTABLE:
                self.error(node, f"import of {alias.name!r} is not allowed in the sandbox; available: "
                                 f"{', '.join(sorted(IMPORTABLE))}.")
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> VisitResult:  # noqa: N802
        module = node.module or ""
        if node.level:
            self.error(node, "relative imports are not available in the sandbox.")
        elif module not in IMPORTABLE:
            self.error(node, f"import from {module!r} is not allowed in the sandbox; available: "
                             f"{', '.join(sorted(IMPORTABLE))}.")
        else:
            members = module_members(IMPORTABLE[module])
            for alias in node.names:
                if alias.name != "*" and alias.name not in members:
                    self.error(node, f"{module}.{alias.name} is not available in the sandbox.")
        return super().visit_ImportFrom(node)
