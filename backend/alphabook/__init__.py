"""alphabook: research trading ideas in Jupyter notebooks, and sell what you build."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alphabook")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
