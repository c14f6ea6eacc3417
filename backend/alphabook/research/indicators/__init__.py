"""Technical indicators for research: one registry, one call, whichever library does the computing.

``compute("rsi", df, timeperiod=14)`` runs any of 240-odd indicators on an OHLCV frame (UTC
DatetimeIndex, float64 ``open, high, low, close, volume``) and returns output aligned to the frame.
TA-Lib is the engine for everything it has (fast and exact); pandas-ta-classic's own implementations
fill in what TA-Lib lacks (Ichimoku, the squeeze, Ehlers' filters, rolling statistics); alphabook's own
kernel computes the volume profile. ``get(name)`` and ``list_indicators(category)`` describe each
indicator (parameters with valid ranges, outputs, warm-up, and where the libraries' definitions differ)
so notebooks, the API and optimisers can build on the metadata without computing anything.
"""

from alphabook.research.indicators.contract import Indicator, run_indicator
from alphabook.research.indicators.profile import volume_profile
from alphabook.research.indicators.registry import UnknownIndicator, compute, get, list_indicators, registry
from alphabook.research.indicators.spec import IndicatorSpec, InvalidParameter, Param

__all__ = [
    "Indicator",
    "IndicatorSpec",
    "InvalidParameter",
    "Param",
    "UnknownIndicator",
    "compute",
    "get",
    "list_indicators",
    "registry",
    "run_indicator",
    "volume_profile",
]
