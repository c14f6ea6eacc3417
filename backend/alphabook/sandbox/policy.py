"""Layer 1 of the sandbox: validate a creator's indicator source, then load and call it under guards.

Creators sell code that buyers run, so the code is treated as hostile. Two layers stand between it and
the machine: this one (language level: RestrictedPython compiles the code under our policy and every
attribute, item, write and import it performs goes through our guards) and the operating-system layer
(:mod:`alphabook.sandbox.pool`: a bubblewrap jail and setrlimit limits around a forked worker). Neither is
trusted alone. The flow, which the pool runs inside each forked child::

    compiled = validate_source(text)           # SandboxRejected, with "line N: ...", before anything runs
    indicator = load_indicator(compiled)        # executes the module body in fresh restricted globals
    output = call_indicator(indicator, df, params)   # IndicatorFailed with the creator's line number
    frame = normalise_output(output, df)        # BadResult unless numeric Series aligned to df

Run ``load_indicator`` in the child for every call (a fresh module each time, so nothing a call leaves
behind reaches the next) and ``normalise_output`` in the child too: it may run creator code (``__eq__``
of creator classes) and it reduces the result to float64 arrays, which is all the host should accept.
Where each rule lives: :mod:`~alphabook.sandbox.restricted` (compile time), :mod:`~alphabook.sandbox.guards`
(runtime hooks and builtins), :mod:`~alphabook.sandbox.attributes` (per-type attribute allow-lists),
:mod:`~alphabook.sandbox.proxies` (what ``import numpy`` binds) and :mod:`~alphabook.sandbox.checks`
(arguments of library calls).
"""

from __future__ import annotations

import ast
import types
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.indicators.contract import run_indicator
from alphabook.sandbox.errors import BadResult, IndicatorFailed, LimitExceeded, SandboxRejected
from alphabook.sandbox.guards import is_restricted_frame, restricted_globals
from alphabook.sandbox.proxies import SandboxAttributeError
from alphabook.sandbox.restricted import IndicatorPolicy, Problem, survey

__all__ = [
    "MAX_SOURCE_BYTES",
    "CompiledIndicator",
    "IndicatorParam",
    "call_indicator",
    "load_indicator",
    "normalise_output",
    "validate_source",
]

MAX_SOURCE_BYTES: Final = 200_000
MAX_NESTING: Final = 100  # AST depth; RestrictedPython's transformer and CPython's compiler recurse per level
MAX_NODES: Final = 100_000
MAX_REPORTED: Final = 20
DEFAULT_FILENAME: Final = "<indicator>"


@dataclass(frozen=True)
class IndicatorParam:
    """A parameter ``indicator(df, ...)`` declares: ``default`` is its value when it is a literal."""

    name: str
    has_default: bool = False
    default: Any = None
    default_source: str = ""
    annotation: str = ""  # as written ("int", "Literal['a', 'b']"); the publishing SDK reads types from it


@dataclass(frozen=True)
class CompiledIndicator:
    """Source that passed validation, compiled by RestrictedPython under :class:`IndicatorPolicy`."""

    source: str
    code: types.CodeType
    filename: str = DEFAULT_FILENAME
    params: tuple[IndicatorParam, ...] = ()
    accepts_any_params: bool = False  # declares **params


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _reject(problems: list[Problem]) -> NoReturn:
    unique = sorted(set(problems), key=lambda problem: (problem[0] or 0, problem[1]))
    lines = [f"line {line}: {message}" if line else message for line, message in unique[:MAX_REPORTED]]
    if len(unique) > MAX_REPORTED:
        lines.append(f"... and {len(unique) - MAX_REPORTED} more problems")
    raise SandboxRejected("\n".join(lines), problems=[{"line": line, "message": message} for line, message in unique])


def declared_parameters(tree: ast.Module) -> tuple[tuple[IndicatorParam, ...], bool]:
    """The parameters of the last top-level ``def indicator`` (none when it is bound some other way)."""
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "indicator"]
    if not functions:
        return (), True
    arguments = functions[-1].args
    positional = [*arguments.posonlyargs, *arguments.args][1:]  # the first one is df
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    declared = [*zip(positional, defaults, strict=True), *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    params = []
    for argument, default in declared:
        annotation = ast.unparse(argument.annotation) if argument.annotation is not None else ""
        if default is None:
            params.append(IndicatorParam(argument.arg, annotation=annotation))
            continue
        try:
            value = ast.literal_eval(default)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = None
        params.append(IndicatorParam(argument.arg, True, value, ast.unparse(default), annotation))
    return tuple(params), arguments.kwarg is not None


def _compile(text: str, filename: str) -> CompiledIndicator:
    nul = text.find("\0")
    if nul >= 0:
        _reject([(_line_at(text, nul), "the code contains a NUL character; save it as plain UTF-8 text.")])
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as error:
        _reject([(_line_at(text, error.start), "the code contains a character that is not valid UTF-8 "
                                               "(an unpaired surrogate).")])
    if len(encoded) > MAX_SOURCE_BYTES:
        line = _line_at(encoded[:MAX_SOURCE_BYTES].decode("utf-8", "ignore"), MAX_SOURCE_BYTES)
        _reject([(line, f"the code is {len(encoded)} bytes; the sandbox accepts up to {MAX_SOURCE_BYTES} bytes.")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences etc. must not become errors under -W error
        try:
            tree = ast.parse(text, filename=filename, mode="exec")
        except SyntaxError as error:
            _reject([(error.lineno, f"{type(error).__name__}: {error.msg}")])
        except (ValueError, OverflowError) as error:
            _reject([(None, f"the code cannot be parsed: {error}")])
        except (RecursionError, MemoryError):  # CPython's parser gives no line: name the longest one
            lines = text.splitlines() or [""]
            longest = max(range(len(lines)), key=lambda number: len(lines[number])) + 1
            _reject([(longest, "the code is nested too deeply to be parsed; split it into smaller expressions.")])
        found = survey(tree, MAX_NESTING, MAX_NODES)
        if found.too_big is not None:
            _reject([found.too_big])
        policy = IndicatorPolicy(found.bound, found.imported)
        policy.visit(tree)
        if policy.problems:
            _reject(policy.problems)
        try:
            code = compile(tree, filename, "exec", dont_inherit=True)
        except SyntaxError as error:  # found by the compiler, not the parser: 'return' outside function, ...
            _reject([(error.lineno, f"{type(error).__name__}: {error.msg}")])
    if not found.defines_indicator:
        _reject([(1, "the code defines no indicator; define a function indicator(df, **params).")])
    params, accepts_any = declared_parameters(tree)
    return CompiledIndicator(source=text, code=code, filename=filename, params=params, accepts_any_params=accepts_any)


def validate_source(source: str, *, filename: str = DEFAULT_FILENAME) -> CompiledIndicator:
    """Compile creator code under the sandbox policy, or raise :class:`SandboxRejected` saying where and why.

    Never raises anything else, whatever ``source`` is (bytes, NUL bytes, surrogates, 10 000 nested
    brackets, a 5 MB file): every failure is a SandboxRejected whose detail starts ``line N:`` when the
    problem has a line.
    """
    if not isinstance(source, str):
        raise SandboxRejected(f"the indicator source must be text (str), not {type(source).__name__}; "
                              "decode it as UTF-8 first.")
    if not isinstance(filename, str) or "\0" in filename or len(filename) > 200:
        filename = DEFAULT_FILENAME
    text = source[1:] if source.startswith("\ufeff") else source
    try:
        return _compile(text, filename)
    except SandboxRejected:
        raise
    except (RecursionError, MemoryError):
        raise SandboxRejected("the code is too deeply nested or too large to analyse; split it up.") from None
    except Exception as error:  # a validator bug must reject, never let code through or crash the caller
        raise SandboxRejected(f"the code could not be analysed ({type(error).__name__}); it was not accepted.",
                              internal=True) from None


def _creator_line(error: BaseException) -> int | None:
    """The last line of creator code on the traceback (creator frames are those with the guarded globals)."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if is_restricted_frame(traceback.tb_frame.f_globals):
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _describe(error: BaseException) -> tuple[str, int | None]:
    line = _creator_line(error)
    kind = "AttributeError" if isinstance(error, SandboxAttributeError) else type(error).__name__
    try:
        message = str(error)
    except Exception:
        message = "(unprintable error)"
    if len(message) > 500:
        message = message[:500] + "..."
    text = f"{kind}: {message}" if message else kind
    return (f"line {line}: {text}" if line else text), line


def _failure(error: Exception) -> InvalidInput:
    detail, line = _describe(error)
    if isinstance(error, MemoryError):
        return LimitExceeded("memory", f"{detail} (ran out of memory)")
    return IndicatorFailed(detail, line=line, error=type(error).__name__)


def load_indicator(compiled: CompiledIndicator) -> Callable[..., Any]:
    """Run the module body in fresh restricted globals and return its ``indicator`` function.

    Errors in the module body are :class:`IndicatorFailed` (``line N: ...``); running out of memory is
    :class:`LimitExceeded`; a module that leaves no callable ``indicator`` is :class:`SandboxRejected`.
    """
    namespace = restricted_globals()
    try:
        exec(compiled.code, namespace)  # noqa: S102 - RestrictedPython-compiled code in guarded globals
    except Exception as error:
        raise _failure(error) from None
    function = namespace.get("indicator")
    if function is None:
        raise SandboxRejected("the code defines no indicator; define a function indicator(df, **params).")
    if not callable(function):
        raise SandboxRejected(f"indicator is a {type(function).__name__}, not a function; define "
                              "indicator(df, **params).")
    return function  # type: ignore[no-any-return]


def call_indicator(fn: Callable[..., Any], df: pd.DataFrame, params: Mapping[str, Any]) -> Any:
    """Call ``fn(df, **params)``; the creator's exceptions become :class:`IndicatorFailed` with their line.

    ``df`` is passed as a shallow copy: with pandas copy-on-write, whatever the code assigns into it
    stays in its own copy. The result is returned as produced (it is already made of real pandas/numpy
    objects: proxies stand in for modules, functions and classes only); check it with
    :func:`normalise_output`.
    """
    frame = df.copy(deep=False) if isinstance(df, pd.DataFrame) else df
    try:
        return fn(frame, **params)
    except Exception as error:
        raise _failure(error) from None


def normalise_output(output: Any, df: pd.DataFrame) -> pd.DataFrame:
    """The indicator contract's checks (:func:`run_indicator`) on a sandboxed result, as :class:`BadResult`."""

    def indicator(_: pd.DataFrame) -> Any:
        return output

    try:
        return run_indicator(indicator, df)
    except InvalidInput as error:
        raise BadResult(error.detail) from None
    except Exception as error:
        raise BadResult(f"the output could not be read: {_describe(error)[0]}") from None
