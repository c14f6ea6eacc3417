"""``alphabook kernels``: install the sandboxed Jupyter kernelspecs into the venv the user servers use.

Registered in :mod:`alphabook.cli.main` as a sub-app; ``make run`` and ``make test`` call
``alphabook kernels install`` from the bootstrap, so it must stay quick and safe to repeat.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Jupyter kernelspecs: the sandboxed kernel and the research kernel.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.callback()
def kernels() -> None:
    """Jupyter kernelspecs: the sandboxed kernel and the research kernel."""
    # A callback keeps this a command group when run on its own (python -m alphabook.cli.kernels install),
    # which is how the Makefile calls it, as well as under `alphabook kernels`.


@app.command("install")
def install(
    prefix: Annotated[Path, typer.Option(help="Install into PREFIX/share/jupyter/kernels.")] = Path(sys.prefix),
) -> None:
    """Install (or refresh) the kernelspecs under kernels/, pointing at this venv's Python."""
    from alphabook.sandbox.kernelspecs import install_kernelspecs

    for destination in install_kernelspecs(prefix):
        console.print(f"installed kernelspec [bold]{destination.name}[/bold] in {destination}")


if __name__ == "__main__":
    app()
