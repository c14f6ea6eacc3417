"""alphabook: research trading ideas in Jupyter notebooks, and sell what you build.

In a notebook, ``import alphabook as ab`` gives the SDK (:mod:`alphabook.sdk`): ``ab.use``, ``ab.publish``,
``ab.buy``, ``ab.library``, ``ab.indicators``, ``ab.connect``, ``ab.errors``, and the ``%ab_publish`` and
``%%ab_indicator`` magics. The names load on first use, so the servers importing this package pay nothing for them.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("alphabook")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_SDK_NAMES = frozenset({"Client", "PublishReport", "UsedListing", "buy", "connect", "errors", "indicators",
                        "library", "publish", "use"})


def __getattr__(name: str) -> Any:
    if name == "ai":  # ab.ai.strategy(...): the assistant's package, whose ``strategy`` is the SDK call
        import alphabook.ai

        return alphabook.ai
    if name in _SDK_NAMES:
        from alphabook import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'alphabook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SDK_NAMES, "ai"})


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext alphabook``: the magics (``import alphabook`` in IPython registers them already)."""
    from alphabook.sdk.magics import register

    register(shell)


def _register_magics_in_ipython() -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        load_ipython_extension(shell)


_register_magics_in_ipython()
