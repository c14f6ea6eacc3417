"""The notebook SDK: ``import alphabook as ab`` inside alphabook's JupyterHub, then ``ab.use``, ``ab.publish``…

Each name is reached through :mod:`alphabook`'s lazy attributes, so servers that import ``alphabook`` never
load pandas or IPython for it. The HTTP side lives in :mod:`alphabook.sdk.client`.
"""

from __future__ import annotations

from alphabook.core import errors
from alphabook.research import indicators
from alphabook.sdk import library
from alphabook.sdk.client import Client, connect
from alphabook.sdk.publishing import publish
from alphabook.sdk.reports import PublishReport
from alphabook.sdk.use import UsedListing, buy, use

__all__ = ["Client", "PublishReport", "UsedListing", "buy", "connect", "errors", "indicators", "library", "publish",
           "use"]
