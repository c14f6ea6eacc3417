"""Turn a notebook, a function or a cell into what the marketplace stores: one module and a parameter schema.

A notebook follows three conventions: the cell tagged ``indicator`` (or ``strategy``) holds the function,
the cell tagged ``parameters`` (papermill's tag) holds its parameters, and the first Markdown cell describes
it. Parameters are plain assignments; the annotation gives the type and a trailing comment the range or the
choices and a description::

    length: int = 14        # 2..200  bars in the average
    source = "close"        # one of: open, high, low, close

Without a parameters cell the function's signature is the schema. The module is the tagged cell, preceded
by the imports it needs from the notebook's other cells; :func:`locate` turns the sandbox's ``line N`` back
into the notebook's own cell and line. nbformat reads the notebook and :mod:`ast` does the parsing.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Package", "from_function", "from_notebook", "from_source", "imports_needed", "listing_name", "locate"]

ENTRY = "indicator"
_RANGE = re.compile(r"^\s*(?P<low>-?\d+(?:\.\d+)?)?\s*\.\.\s*(?P<high>-?\d+(?:\.\d+)?)?\s*[,;:]?\s*(?P<rest>.*)$")
_CHOICES = re.compile(r"^\s*one of\s*:?\s*(?P<choices>[^#]*?)(?:\s*[;—-]\s+(?P<rest>.*))?$", re.IGNORECASE)
_LINE = re.compile(r"\bline (\d+)")
_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "choice", "Literal": "choice"}


@dataclass(frozen=True)
class Package:
    """A listing version in the making: the module, its schema, and what the notebook says about it."""

    kind: str
    code: str
    parameter_schema: list[dict[str, Any]]
    name: str
    title: str
    description: str = ""
    problems: tuple[str, ...] = ()
    origin: str = "the code"
    header_lines: int = 0


def from_source(source: str, *, name: str, kind: str = "indicator", title: str = "", description: str = "",
                parameters_source: str | None = None, origin: str = "the cell", header: str = "") -> Package:
    """A package from the function's cell (and optionally a parameters cell); problems are listed, not raised."""
    problems: list[str] = []
    code, renamed = _entry_point(source, problems)
    schema = _schema_of_cell(parameters_source, problems) if parameters_source else _schema_of_signature(code)
    header = header if header.strip() else ""
    full = header + code
    return Package(kind=kind, code=full, parameter_schema=schema, name=listing_name(name), title=title or
                   _title_of(renamed or name), description=description, problems=tuple(problems), origin=origin,
                   header_lines=header.count("\n"))


def from_notebook(notebook: Mapping[str, Any], path: str) -> Package:
    """A package from a notebook's tagged cells (see the module docstring)."""
    cells = list(notebook.get("cells", []))
    tagged = {tag: index for index, cell in enumerate(cells)
              for tag in (cell.get("metadata", {}).get("tags") or []) if cell.get("cell_type") == "code"}
    stem = Path(path).stem
    markdown = next((_text(cell) for cell in cells if cell.get("cell_type") == "markdown"), "")
    title, description = _title_and_description(markdown)
    kind = "strategy" if "strategy" in tagged else "indicator"
    if kind not in tagged:
        return Package(kind=kind, code="", parameter_schema=[], name=listing_name(stem), title=title or
                       _title_of(stem), description=description, problems=(
                           "No code cell is tagged 'indicator' (or 'strategy'): tag the cell that defines the "
                           "function (View → Cell toolbar, or the property inspector's Cell Tags).",))
    index = tagged[kind]
    source = _text(cells[index])
    others = [_text(cell) for number, cell in enumerate(cells) if cell.get("cell_type") == "code"
              and number not in (index, tagged.get("parameters"))]
    parameters = _text(cells[tagged["parameters"]]) if "parameters" in tagged else None
    return from_source(source, name=stem, kind=kind, title=title, description=description,
                       parameters_source=parameters, origin=f"{kind} cell (cell {index + 1})",
                       header=imports_needed(source, others))


def from_function(function: Callable[..., Any], *, kind: str = "indicator") -> Package:
    """A package from a function defined in a notebook or module: its source, plus the imports it uses."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        raise TypeError(f"The source of {function!r} is not available; define it in a cell or a file, "
                        "or publish the notebook.") from None
    module = inspect.getmodule(function)
    namespace = dict(getattr(function, "__globals__", {}))
    imports = [f"import {value.__name__}" if key == value.__name__ else f"import {value.__name__} as {key}"
               for key, value in namespace.items() if inspect.ismodule(value) and key.isidentifier()]
    doc = inspect.getdoc(function) or ""
    title, description = _title_and_description(doc)
    origin = f"function {function.__name__}" + (f" in {module.__name__}" if module and module.__name__ != "__main__"
                                                 else "")
    return from_source(source, name=function.__name__, kind=kind, title=title, description=doc if doc else
                       description, origin=origin, header=imports_needed(source, imports))


def locate(detail: str, package: Package) -> str:
    """The sandbox's "line N" (in the assembled module) as the line of the notebook cell or function."""
    def where(match: re.Match[str]) -> str:
        line = int(match.group(1)) - package.header_lines
        if line < 1:
            return f"line {match.group(1)} of the imports taken from other cells"
        return f"{package.origin}, line {line}"

    return _LINE.sub(where, detail)


# --- pieces ---------------------------------------------------------------------------------------------


def _text(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _title_and_description(markdown: str) -> tuple[str, str]:
    lines = markdown.strip().splitlines()
    if lines and lines[0].lstrip().startswith("#"):
        return lines[0].lstrip("# ").strip(), "\n".join(lines[1:]).strip()
    first = lines[0].strip() if lines else ""
    return first.rstrip(".")[:120], markdown.strip()


def _title_of(name: str) -> str:
    words = re.sub(r"[_\-]+", " ", name).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled indicator"


def listing_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "indicator"


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _entry_point(source: str, problems: list[str]) -> tuple[str, str | None]:
    """The cell's code with its function callable as ``indicator`` (renamed in place, line numbers kept)."""
    tree = _parse(source)
    if tree is None:
        return source, None  # the sandbox's validation names the line
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if any(node.name == ENTRY for node in functions):
        return source, None
    if len(functions) != 1:
        problems.append(f"Define one function (ideally named '{ENTRY}(df, ...)'); this cell defines "
                        f"{len(functions) or 'no'} functions.")
        return source, None
    node = functions[0]
    lines = source.splitlines(keepends=True)
    index = next(i for i in range(node.lineno - 1, len(lines)) if re.search(rf"\bdef\s+{node.name}\b", lines[i]))
    lines[index] = re.sub(rf"\bdef\s+{node.name}\b", f"def {ENTRY}", lines[index], count=1)
    return "".join(lines).rstrip("\n") + f"\n\n{node.name} = {ENTRY}\n", node.name


def imports_needed(source: str, others: list[str]) -> str:
    """The import statements of other cells that bind a name the function's cell uses and does not bind."""
    tree = _parse(source)
    if tree is None:
        return ""
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    bound = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
             if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
    wanted: list[str] = []
    for other in others:
        other_tree = _parse(other)
        for node in other_tree.body if other_tree else []:
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = {alias.asname or alias.name.split(".")[0] for alias in node.names}
            if names & (used - bound):
                statement = ast.unparse(node)
                if statement not in wanted:
                    wanted.append(statement)
    return "".join(statement + "\n" for statement in wanted) + ("\n" if wanted else "")


def _schema_of_signature(code: str) -> list[dict[str, Any]]:
    """The schema ``indicator(df, ...)`` declares, read the way the sandbox's policy reads it."""
    from alphabook.sandbox.policy import declared_parameters

    tree = _parse(code)
    if tree is None:
        return []
    params, _ = declared_parameters(tree)
    return [_spec(param.name, _annotation(_parse_expression(param.annotation)), param.default, "")
            for param in params if isinstance(param.default, int | float | bool | str)]


def _parse_expression(text: str) -> ast.expr | None:
    try:
        return ast.parse(text, mode="eval").body if text else None
    except SyntaxError:
        return None


def _schema_of_cell(source: str, problems: list[str]) -> list[dict[str, Any]]:
    tree = _parse(source)
    if tree is None:
        problems.append("The parameters cell is not valid Python.")
        return []
    lines = source.splitlines()
    schema = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, annotation, default = node.target.id, _annotation(node.annotation), node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, annotation, default = node.targets[0].id, None, node.value
        else:
            continue
        value = _literal(default)
        if value is None:
            problems.append(f"Parameter {name}: its default must be a number, true/false or a string.")
            continue
        comment = lines[node.lineno - 1].partition("#")[2].strip() if "#" in lines[node.lineno - 1] else ""
        schema.append(_spec(name, annotation, value, comment))
    return schema


def _literal(node: ast.expr | None) -> int | float | bool | str | None:
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return None
    return value if isinstance(value, int | float | bool | str) else None


def _annotation(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Name):
        return _TYPES.get(node.id)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name | ast.Attribute):
        return _TYPES.get(node.value.id if isinstance(node.value, ast.Name) else node.value.attr)
    return None


def _spec(name: str, annotation: str | None, default: int | float | bool | str, comment: str) -> dict[str, Any]:
    kind = annotation or ("bool" if isinstance(default, bool) else "int" if isinstance(default, int) else
                          "float" if isinstance(default, float) else "choice")
    spec: dict[str, Any] = {"name": name, "type": kind, "default": default}
    choices = _CHOICES.match(comment)
    ranged = _RANGE.match(comment)
    if choices:
        spec["choices"] = [item.strip().strip("'\"") for item in choices.group("choices").split(",") if item.strip()]
        comment = choices.group("rest") or ""
    elif ranged and (ranged.group("low") or ranged.group("high")):
        if ranged.group("low"):
            spec["minimum"] = float(ranged.group("low"))
        if ranged.group("high"):
            spec["maximum"] = float(ranged.group("high"))
        comment = ranged.group("rest")
    if kind == "choice" and "choices" not in spec:
        spec["choices"] = [str(default)]
    if comment.strip():
        spec["description"] = comment.strip()[:300]
    return spec
