"""IPython magics: ``%ab_publish`` publishes this notebook (or a function), ``%%ab_indicator`` defines and checks one.

``import alphabook as ab`` registers them in IPython, so nothing needs loading; ``%load_ext alphabook`` works
too. IPython's ``magic_arguments`` parses the options, so ``%ab_publish?`` shows them.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from alphabook.core.errors import AlphabookError, InvalidInput
from alphabook.sdk import packaging, publishing
from alphabook.sdk.client import current
from alphabook.sdk.reports import PublishReport

__all__ = ["AlphabookMagics", "register"]


def _listing_options(function: Any) -> Any:
    for option in reversed([
        argument("--name", help="listing name (the slug becomes you/name)"),
        argument("--title"), argument("--category"), argument("--price", help="in currency units, e.g. 9.99"),
        argument("--currency", default="USD"), argument("--licence", choices=["open", "protected"]),
        argument("--version", help="default: the next patch after the newest version"),
        argument("--changelog", default=""), argument("--submit", action="store_true", help="submit for review"),
    ]):
        function = option(function)
    return function


def current_notebook() -> Path:
    """This kernel's notebook: jupyter_server tells the kernel its session path in JPY_SESSION_NAME."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    for candidate in (Path(session), Path.cwd() / Path(session).name):
        if session and candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate
    raise InvalidInput("Which notebook? Name it: %ab_publish my-indicator.ipynb (this kernel was not started "
                       "from a saved notebook).")


@magics_class
class AlphabookMagics(Magics):
    @property
    def ipython(self) -> InteractiveShell:
        assert self.shell is not None, "the magics are registered with a shell"
        return self.shell

    @magic_arguments()
    @argument("target", nargs="?", help="a notebook path or the name of a function; default: this notebook")
    @_listing_options
    @line_magic
    def ab_publish(self, line: str) -> PublishReport | None:
        """Publish a notebook (its cell tagged 'indicator') or a function to alphabook; shows the report."""
        args = parse_argstring(self.ab_publish, line)
        named = self.ipython.user_ns.get(args.target) if args.target else None

        def publish() -> PublishReport:
            what = named if callable(named) else Path(args.target) if args.target else current_notebook()
            return publishing.publish(what, name=args.name, title=args.title, category=args.category,
                                      price=args.price, currency=args.currency, licence=args.licence,
                                      version=args.version, changelog=args.changelog, submit=args.submit)

        return _shown(publish)

    @magic_arguments()
    @argument("name", nargs="?", help="the listing name; default: the function's name")
    @argument("--kind", choices=["indicator", "strategy"], default="indicator")
    @argument("--publish", action="store_true", help="publish it once the checks pass")
    @_listing_options
    @cell_magic
    def ab_indicator(self, line: str, cell: str) -> PublishReport | None:
        """Define the indicator in this cell, then check it in alphabook's sandbox (and publish it with --publish)."""
        args = parse_argstring(self.ab_indicator, line)
        outcome = self.ipython.run_cell(cell, store_history=False)
        if not outcome.success:
            return None
        modules = [f"import {value.__name__} as {key}" for key, value in self.ipython.user_ns.items()
                   if inspect.ismodule(value) and key.isidentifier() and not key.startswith("_")]
        # One blank line stands for the %%ab_indicator line, so reported lines match the cell as it is shown.
        package = packaging.from_source("\n" + cell, name=args.name or _function_name(cell), kind=args.kind,
                                        header=packaging.imports_needed(cell, modules))
        if args.publish:
            return _shown(lambda: publishing.publish_package(current(), package, publishing.Listing(
                name=args.name, title=args.title, category=args.category,
                price=publishing.as_money(args.price, args.currency), licence=args.licence),
                version=args.version, changelog=args.changelog, submit=args.submit))
        return _shown(lambda: _checked(package))


def _checked(package: packaging.Package) -> PublishReport:
    report = publishing.validate_package(current(), package)
    return PublishReport(report=report, message="Checks passed: publish it with --publish or ab.publish()."
                         if report["ok"] else "Checks failed: fix what the report lists.")


def _function_name(cell: str) -> str:
    import ast

    try:
        names = [node.name for node in ast.parse(cell).body if isinstance(node, ast.FunctionDef)]
    except SyntaxError:
        names = []
    return names[-1] if names else "indicator"


def _shown(action: Any) -> PublishReport | None:
    """The report (IPython displays it); an API error is printed as its message, not a traceback."""
    try:
        report: PublishReport = action()
    except AlphabookError as error:
        print(f"alphabook: {error.detail}")
        return None
    return report


def register(shell: InteractiveShell) -> None:
    shell.register_magics(AlphabookMagics)
