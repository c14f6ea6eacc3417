"""What a person sees when something is empty, slow or wrong: words and a next step, never a stack trace.

Domain services raise :class:`~alphabook.core.errors.AlphabookError` with a ``detail`` written for people; those
are shown as they are. Anything else is logged with its traceback and shown as a short apology.
"""

from __future__ import annotations

import asyncio
import functools
import html
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import panel as pn

from alphabook.core.errors import AlphabookError

log = logging.getLogger("dashboards")
P = ParamSpec("P")
T = TypeVar("T")


def words(error: BaseException) -> str:
    """The message a person should read for ``error``."""
    if isinstance(error, AlphabookError):
        return error.detail
    return "Something went wrong on our side; it has been logged. Try again in a moment."


def problem(error: BaseException) -> pn.pane.Alert:
    if not isinstance(error, AlphabookError):
        log.error("dashboard action failed", exc_info=error)
    return pn.pane.Alert(html.escape(words(error)), alert_type="danger", sizing_mode="stretch_width")


def notice(message: str, *, action: tuple[str, str] | None = None, kind: str = "info") -> pn.pane.Alert:
    """An empty state or a hint: what is (not) here and, with ``action`` (label, URL), what to do next.

    ``message`` is text, escaped here: it often repeats what somebody typed (a title, a name), and the pane
    would otherwise render any HTML in it."""
    link = f' <a href="{html.escape(action[1])}">{html.escape(action[0])}</a>' if action else ""
    return pn.pane.Alert(f"{html.escape(message)}{link}", alert_type=kind, sizing_mode="stretch_width")


@contextmanager
def _showing(target: pn.Column, shown: Any) -> Iterator[None]:
    """A loading indicator on ``shown`` while the block runs; its error, in words, in ``target``."""
    shown.loading = True
    try:
        yield
    except Exception as error:
        target[:] = [problem(error)]
    finally:
        shown.loading = False


def guarded(target: pn.Column, *, busy: pn.viewable.Viewable | None = None) -> Callable[[Callable[P, Any]],
                                                                                         Callable[P, Any]]:
    """Run a callback with a loading indicator on ``busy`` (or ``target``), showing its error in ``target``.

    A coroutine callback stays one: it should ``await off_the_loop(...)`` for slow work (a sandbox run, a
    backtest), so that Bokeh's one event loop, which serves every visitor, keeps serving them meanwhile, and the
    loading indicator reaches the browser before the work starts."""

    def wrap(callback: Callable[P, Any]) -> Callable[P, Any]:
        shown: Any = busy if busy is not None else target
        if inspect.iscoroutinefunction(callback):
            @functools.wraps(callback)
            async def run_later(*args: P.args, **kwargs: P.kwargs) -> Any:
                with _showing(target, shown):
                    return await callback(*args, **kwargs)
                return None

            return run_later

        @functools.wraps(callback)
        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            with _showing(target, shown):
                return callback(*args, **kwargs)
            return None

        return run

    return wrap


async def off_the_loop(work: Callable[[], T]) -> T:
    """``work()`` in a worker thread (it must not touch widgets: do that with its result, back on the loop)."""
    return await asyncio.to_thread(work)
