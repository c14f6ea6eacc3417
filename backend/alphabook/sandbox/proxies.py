"""What creator code gets when it imports: allow-listed stand-ins, never the real modules.

``import numpy as np`` binds a :class:`ModuleProxy` whose members are exactly the computing functions
listed here. A real module object would be one attribute away from ``os`` (``np.os``), file I/O
(``np.load``, ``pd.read_pickle``), pickle, ``ctypes`` and process-wide settings (``pd.set_option``); a
proxy has none of those because it never had them. Functions that take a dtype, a function name or an
engine are wrapped in :class:`GuardedCall` (arguments checked by :mod:`alphabook.sandbox.checks`); ufuncs,
scalar types and pure stdlib functions are handed over as they are, because nothing about calling them
can reach further than their result, and every result is again subject to the attribute guard in
:mod:`alphabook.sandbox.guards`.
"""

from __future__ import annotations

import collections
import datetime
import functools
import itertools
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd

from alphabook.research.indicators.registry import compute, get
from alphabook.sandbox.checks import check_numpy_result, check_pandas_call

__all__ = ["IMPORTABLE", "GuardedCall", "GuardedClass", "ModuleProxy", "SandboxAttributeError", "module_members",
           "real_class", "root_module"]

Check = Callable[[str, tuple[Any, ...], dict[str, Any]], None]
After = Callable[[str, Any], Any]


class SandboxAttributeError(AttributeError):
    """An attribute the sandbox does not hand out (an AttributeError, so ``hasattr`` answers False)."""


class ModuleProxy:
    """A read-only namespace standing in for a module; only its listed members exist."""

    __slots__ = ("_members", "_name")

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", MappingProxyType(dict(members)))

    def __getattribute__(self, attr: str) -> Any:
        # Real getattr reaches here only from ``from numpy import x`` (IMPORT_FROM) and from library code
        # probing an object it was handed; creator code's own attribute access goes through the guard.
        if attr == "__class__":
            return ModuleProxy
        name = object.__getattribute__(self, "_name")
        if attr.startswith("_"):
            raise SandboxAttributeError(f"{name}.{attr} is not available in the sandbox")
        try:
            return object.__getattribute__(self, "_members")[attr]
        except KeyError:
            raise SandboxAttributeError(f"{name}.{attr} is not available in the sandbox") from None

    def __setattr__(self, attr: str, value: Any) -> NoReturn:
        raise TypeError(f"{module_name(self)} cannot be modified in the sandbox")

    def __delattr__(self, attr: str) -> NoReturn:
        raise TypeError(f"{module_name(self)} cannot be modified in the sandbox")

    def __repr__(self) -> str:
        return f"<module {module_name(self)!r} (sandboxed)>"


def module_name(proxy: ModuleProxy) -> str:
    name: str = object.__getattribute__(proxy, "_name")
    return name


def module_members(proxy: ModuleProxy) -> Mapping[str, Any]:
    members: Mapping[str, Any] = object.__getattribute__(proxy, "_members")
    return members


class GuardedCall:
    """A library function or method whose arguments (and, for numpy, results) are checked on every call."""

    __slots__ = ("_after", "_check", "_function", "_label")

    def __init__(self, label: str, function: Callable[..., Any], check: Check | None = None,
                 after: After | None = None) -> None:
        self._label = label
        self._function = function
        self._check = check
        self._after = after

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._check is not None:
            self._check(self._label, args, kwargs)
        result = self._function(*args, **kwargs)
        return result if self._after is None else self._after(self._label, result)

    @property
    def __name__(self) -> str:  # pandas labels aggregations by function name; creator code cannot read dunders
        return self._label.rpartition(".")[2]

    def __repr__(self) -> str:
        return f"<function {self._label} (sandboxed)>"


class GuardedClass:
    """A library class creator code may construct and use with ``isinstance``, but not reach into."""

    __slots__ = ("_check", "_constructible", "_label", "_real")

    def __init__(self, label: str, real: type, check: Check | None = check_pandas_call,
                 constructible: bool = True) -> None:
        self._label = label
        self._real = real
        self._check = check
        self._constructible = constructible

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._constructible:
            raise TypeError(f"{self._label} cannot be constructed directly in the sandbox; use numpy.array.")
        if self._check is not None:
            self._check(self._label, args, kwargs)
        return self._real(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<class {self._label} (sandboxed)>"


def real_class(guarded: GuardedClass) -> type:
    """The class behind a :class:`GuardedClass` (for ``isinstance``); not reachable from creator code."""
    real: type = object.__getattribute__(guarded, "_real")
    return real


def _numpy_members(names: Iterable[str], module: Any, prefix: str) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name in names:
        value = getattr(module, name, None)
        if value is None:
            continue  # absent from this numpy version
        if isinstance(value, (np.ufunc, type, float, int)):
            members[name] = value
        else:
            members[name] = GuardedCall(f"{prefix}.{name}", value, check=check_pandas_call, after=check_numpy_result)
    return members


_NUMPY_FUNCTIONS = """
abs absolute add all allclose amax amin any append arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh
argmax argmin argpartition argsort argwhere around array array_equal asarray ascontiguousarray atleast_1d
atleast_2d average bincount broadcast_to cbrt ceil clip column_stack concatenate copy copysign corrcoef correlate
convolve cos cosh count_nonzero cov cross cumprod cumsum cumulative_prod cumulative_sum deg2rad degrees delete diag diff
digitize divide divmod dot ediff1d einsum empty empty_like equal exp exp2 expand_dims expm1 eye fabs flatnonzero
flip fliplr flipud float_power floor floor_divide fmax fmin fmod frexp full full_like gcd gradient greater
greater_equal heaviside histogram hstack hypot identity inner insert interp intersect1d isclose isfinite isin
isinf isnan isneginf isposinf isscalar lcm ldexp less less_equal lexsort linspace log log10 log1p log2 logaddexp
logaddexp2 logical_and logical_not logical_or logical_xor logspace matmul max maximum mean median meshgrid min
minimum mod modf multiply nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmedian nanmin
nanpercentile nanprod nanquantile nanstd nansum nanvar ndim negative nonzero not_equal ones ones_like outer pad
partition percentile piecewise polyfit polyval positive power prod ptp quantile rad2deg radians ravel reciprocal
remainder repeat reshape rint roll round searchsorted select shape sign signbit sin sinh size sort split sqrt
square squeeze stack std subtract sum swapaxes take tan tanh tile trace transpose trapezoid tril triu true_divide
trunc union1d unique var vstack where zeros zeros_like
"""
_NUMPY_TYPES = """
bool_ float16 float32 float64 floating generic inexact int8 int16 int32 int64 integer number signedinteger
uint8 uint16 uint32 uint64 unsignedinteger datetime64 timedelta64 errstate finfo iinfo
"""
_LINALG = "cholesky det eig eigh eigvals eigvalsh inv lstsq matrix_rank norm pinv qr slogdet solve svd LinAlgError"
_FFT = "fft ifft rfft irfft fftfreq rfftfreq fftshift ifftshift"


def _numpy() -> ModuleProxy:
    members = _numpy_members(_NUMPY_FUNCTIONS.split(), np, "numpy")
    members.update({name: getattr(np, name) for name in _NUMPY_TYPES.split()})
    members.update(nan=np.nan, inf=np.inf, pi=np.pi, e=np.e, euler_gamma=np.euler_gamma, newaxis=None,
                   ndarray=GuardedClass("numpy.ndarray", np.ndarray, constructible=False))
    members["linalg"] = ModuleProxy("numpy.linalg", _numpy_members(_LINALG.split(), np.linalg, "numpy.linalg"))
    members["fft"] = ModuleProxy("numpy.fft", _numpy_members(_FFT.split(), np.fft, "numpy.fft"))
    # A Generator's own state is per object and per process; the module-level RNG (np.random.seed) is shared.
    members["random"] = ModuleProxy("numpy.random", {
        "default_rng": GuardedCall("numpy.random.default_rng", np.random.default_rng),
    })
    window = GuardedCall("numpy.lib.stride_tricks.sliding_window_view", np.lib.stride_tricks.sliding_window_view,
                         after=check_numpy_result)  # a read-only, bounds-checked view (unlike as_strided)
    stride_tricks = ModuleProxy("numpy.lib.stride_tricks", {"sliding_window_view": window})
    members["lib"] = ModuleProxy("numpy.lib", {"stride_tricks": stride_tricks})
    return ModuleProxy("numpy", members)


_PANDAS_FUNCTIONS = """
bdate_range concat cut date_range factorize get_dummies infer_freq isna isnull merge merge_asof notna notnull qcut
timedelta_range to_datetime to_numeric to_timedelta unique
"""
_PANDAS_CLASSES = "DataFrame DatetimeIndex Index RangeIndex Series"


def _pandas() -> ModuleProxy:
    members: dict[str, Any] = {
        name: GuardedCall(f"pandas.{name}", getattr(pd, name), check=check_pandas_call)
        for name in _PANDAS_FUNCTIONS.split()
    }
    members.update({name: GuardedClass(f"pandas.{name}", getattr(pd, name)) for name in _PANDAS_CLASSES.split()})
    members.update(NA=pd.NA, NaT=pd.NaT, Timestamp=pd.Timestamp, Timedelta=pd.Timedelta)
    return ModuleProxy("pandas", members)


def _select(module: Any, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split() if hasattr(module, name)}


_STATISTICS = """
NormalDist StatisticsError correlation covariance fmean geometric_mean harmonic_mean linear_regression mean median
median_grouped median_high median_low mode multimode pstdev pvariance quantiles stdev variance
"""
_ITERTOOLS = """
accumulate chain combinations combinations_with_replacement compress count cycle dropwhile filterfalse groupby islice
pairwise permutations product repeat starmap takewhile tee zip_longest
"""


def _build() -> dict[str, ModuleProxy]:
    indicators = ModuleProxy("alphabook.research.indicators", {"compute": compute, "get": get})
    return {
        "math": ModuleProxy("math", {name: getattr(math, name) for name in dir(math) if not name.startswith("_")}),
        "statistics": ModuleProxy("statistics", _select(statistics, _STATISTICS)),
        "numpy": _numpy(),
        "pandas": _pandas(),
        "datetime": ModuleProxy("datetime", _select(datetime, "date datetime time timedelta timezone MINYEAR MAXYEAR")),
        "functools": ModuleProxy("functools", _select(functools, "cache cmp_to_key lru_cache partial reduce")),
        "itertools": ModuleProxy("itertools", _select(itertools, _ITERTOOLS)),
        "collections": ModuleProxy("collections", _select(collections, "Counter OrderedDict defaultdict deque")),
        "alphabook.research.indicators": indicators,
        "alphabook.research": ModuleProxy("alphabook.research", {"indicators": indicators}),
    }


_MODULES: Final = _build()
_ROOTS: Final = {
    **{name: proxy for name, proxy in _MODULES.items() if "." not in name},
    "alphabook": ModuleProxy("alphabook", {"research": _MODULES["alphabook.research"]}),
}


def _submodules(proxy: ModuleProxy) -> dict[str, ModuleProxy]:
    """numpy.linalg, numpy.lib.stride_tricks, ...: every proxy nested in ``proxy``, by dotted name."""
    found = {}
    for member in module_members(proxy).values():
        if isinstance(member, ModuleProxy):
            found[module_name(member)] = member
            found.update(_submodules(member))
    return found


_MODULES.update(_submodules(_MODULES["numpy"]))

IMPORTABLE: Final[Mapping[str, ModuleProxy]] = MappingProxyType({
    name: proxy for name, proxy in _MODULES.items() if name != "alphabook.research"
})


def root_module(name: str) -> ModuleProxy:
    """What ``import a.b.c`` binds to ``a`` (the caller has checked that ``a.b.c`` is importable)."""
    return _ROOTS[name.partition(".")[0]]
