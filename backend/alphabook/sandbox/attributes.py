"""Which attributes of which objects creator code may read: the allow-lists behind ``_getattr_``.

RestrictedPython rewrites every ``obj.attr`` in creator code into ``_getattr_(obj, "attr")``, so this
table is the one place that decides what an object exposes. Lookup is by the object's type: stdlib
scalars and containers expose their public methods; pandas and numpy objects expose an explicit list of
computing methods (``df.rolling``, ``arr.cumsum``), never I/O (``to_pickle``, ``tofile``), raw memory
(``ctypes``, ``data``, ``base``), plotting, ``eval``/``query`` or accessors onto internals (``array``,
``style``, ``flags``); objects of classes the creator defined expose what that code defined; anything
else exposes nothing. The default is refusal, so a type this table has never heard of (a new pandas
accessor, an object found inside an exception) is inert. Library methods (routines; not callable objects
such as ``.loc``) come back wrapped in :class:`~alphabook.sandbox.proxies.GuardedCall`, so their
arguments are checked too.
"""

from __future__ import annotations

import collections
import datetime
import inspect
import itertools
import statistics
import string
import types
import weakref
from collections.abc import Callable
from typing import Any, Final, NoReturn

import numpy as np
import pandas as pd
from pandas._libs.indexing import NDFrameIndexerBase
from pandas.core.groupby.groupby import BaseGroupBy
from pandas.core.indexes.accessors import Properties
from pandas.core.resample import Resampler
from pandas.core.window.rolling import BaseWindow

from alphabook.research.indicators.spec import IndicatorSpec, Param
from alphabook.sandbox.checks import check_pandas_call
from alphabook.sandbox.proxies import GuardedCall, GuardedClass, ModuleProxy, SandboxAttributeError, module_name

__all__ = ["FORBIDDEN_ATTRIBUTES", "USER_CLASSES", "SafeFormat", "deny", "policy_for", "type_label"]

Policy = Callable[[Any, str], Any]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frame, code, generator and traceback attributes lead from any function or generator to module globals
# and so to the real builtins; refused on every object, before any per-type rule.
FORBIDDEN_ATTRIBUTES: Final = _names("""
ag_await ag_code ag_frame cr_await cr_code cr_frame cr_origin co_code co_consts co_filename co_lnotab co_names
co_linetable co_varnames f_back f_builtins f_code f_generator f_globals f_locals f_trace func_closure func_code
func_defaults func_globals gi_code gi_frame gi_running gi_suspended gi_yieldfrom im_class im_func im_self mro
tb_frame tb_lasti tb_next
""")

# Classes defined by creator code (registered by the sandbox's metaclass): their instances may be read and
# written freely, since every method on them is itself restricted code.
USER_CLASSES: Final[weakref.WeakSet[type]] = weakref.WeakSet()

PLAIN_TYPES: Final = (str, int, float, bool, type(None))


def type_label(obj: Any) -> str:
    if isinstance(obj, ModuleProxy):
        return module_name(obj)
    if isinstance(obj, (GuardedCall, GuardedClass)):
        return repr(obj)
    if isinstance(obj, type):
        return obj.__name__
    return type(obj).__name__


def deny(obj: Any, name: str) -> NoReturn:
    raise SandboxAttributeError(f"{type_label(obj)}.{name} is not available in the sandbox")


class SafeFormat:
    """``str.format``/``format_map`` whose fields may not walk attributes or items (``"{0.__class__}"``)."""

    __slots__ = ("_mapping", "_template")

    def __init__(self, template: str, mapping: bool) -> None:
        self._template = template
        self._mapping = mapping

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if self._mapping:
            if len(args) != 1 or kwargs:
                raise TypeError("format_map() takes exactly one mapping")
            return _FORMATTER.vformat(self._template, (), args[0])
        return _FORMATTER.vformat(self._template, args, kwargs)


class _FieldFormatter(string.Formatter):
    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if "." in field_name or "[" in field_name:
            raise ValueError(f"format field {{{field_name}}} looks up an attribute or item, which the sandbox does "
                             "not allow; use an f-string.")
        return super().get_field(field_name, args, kwargs)


_FORMATTER: Final = _FieldFormatter()


def _public(obj: Any, name: str) -> Any:
    return getattr(obj, name)


def _string(obj: Any, name: str) -> Any:
    if name in ("format", "format_map"):
        return SafeFormat(obj, name == "format_map")
    return getattr(obj, name)


def _allow(label: str, names: str | frozenset[str], *, wrap: bool = False,
           wrapped: frozenset[str] = frozenset()) -> Policy:
    """Expose ``names``; with ``wrap`` (pandas), every method comes back argument-checked."""
    allowed = frozenset(names.split()) if isinstance(names, str) else names

    def policy(obj: Any, name: str) -> Any:
        if name not in allowed:
            deny(obj, name)
        value = getattr(obj, name)
        if (wrap and inspect.isroutine(value)) or name in wrapped:
            return GuardedCall(f"{label}.{name}", value, check=check_pandas_call)
        return value

    return policy


NDFRAME_NAMES: Final = _names("""
T abs add add_prefix add_suffix agg aggregate align all any apply argmax argmin argsort asfreq asof assign astype at
at_time autocorr axes between between_time bfill clip columns combine combine_first copy corr corrwith count cov
cummax cummin cumprod cumsum describe diff div divide dot drop drop_duplicates droplevel dropna dt dtype dtypes
duplicated empty eq equals ewm expanding explode factorize ffill fillna first_valid_index floordiv ge get groupby gt
hasnans head iat idxmax idxmin iloc index infer_objects insert interpolate is_monotonic_decreasing
is_monotonic_increasing is_unique isin isna isnull item items iterrows itertuples join keys kurt kurtosis
last_valid_index le loc lt map mask max mean median melt memory_usage merge min mod mode mul multiply name ndim ne
nlargest notna notnull nsmallest nunique pct_change pipe pivot pop pow prod product quantile radd rank rdiv reindex
rename rename_axis reorder_levels repeat replace resample reset_index rfloordiv rmod rmul rolling round rpow rsub
rtruediv searchsorted select_dtypes sem set_axis set_index shape shift size skew sort_index sort_values squeeze
stack std sub subtract sum swaplevel tail take to_dict to_frame to_list to_numpy tolist transform transpose
truediv truncate tz_convert tz_localize unique unstack update value_counts values var where xs
""")
INDEX_NAMES: Final = _names("""
T all any append argmax argmin argsort asof astype ceil copy date day day_name day_of_week day_of_year dayofweek
dayofyear days_in_month delete diff difference drop_duplicates dropna dtype duplicated empty equals fillna floor
get_indexer get_loc has_duplicates hasnans hour inferred_freq insert intersection is_monotonic_decreasing
is_monotonic_increasing is_month_end is_month_start is_quarter_end is_quarter_start is_unique is_year_end
is_year_start isin isna isocalendar item map max microsecond min minute month month_name name names nanosecond
nbytes ndim normalize notna nunique quarter rename round searchsorted second shape shift size slice_indexer
sort_values strftime symmetric_difference take time to_frame to_list to_numpy to_series tolist tz tz_convert
tz_localize union unique values weekday where year
""")
DATETIME_FIELDS: Final = """
date day day_name day_of_week day_of_year dayofweek dayofyear days_in_month daysinmonth hour is_month_end
is_month_start is_quarter_end is_quarter_start is_year_end is_year_start isocalendar microsecond minute month
month_name nanosecond normalize quarter second time tz tz_convert tz_localize unit weekday year
"""
_NDARRAY = """
T all any argmax argmin argpartition argsort astype clip compress conj conjugate copy cumprod cumsum diagonal dot
dtype fill flatten imag item itemsize max mean min nbytes ndim nonzero partition prod put ravel real repeat reshape
round searchsorted shape size sort squeeze std strides sum swapaxes take tolist trace transpose var
"""
_SCALAR = """
T all any as_integer_ratio astype conj conjugate dtype imag is_integer item itemsize max mean min nbytes ndim prod
real reshape round shape size squeeze std sum tolist var
"""
_WINDOW = "agg aggregate apply corr count cov kurt max mean median min quantile rank sem skew std sum var"
_GROUPBY = """
agg aggregate all any apply bfill count cumcount cummax cummin cumprod cumsum describe diff ewm expanding ffill
filter first get_group groups head idxmax idxmin indices last max mean median min ngroup ngroups nth nunique ohlc
pct_change prod quantile rank rolling sem shift size skew std sum tail transform var
"""
_GROUPBY_NAMES = _names(_GROUPBY)
_RESAMPLER = """
agg aggregate apply asfreq bfill count ffill first interpolate last max mean median min nearest nunique ohlc prod
quantile sem size std sum transform var
"""
_TIMESTAMP = DATETIME_FIELDS + """
as_unit asm8 ceil ctime floor isoformat isoweekday replace round strftime timestamp to_datetime64 to_numpy
to_pydatetime toordinal tzinfo value week weekofyear
"""
_TIMEDELTA = """
as_unit asm8 ceil components days floor isoformat microseconds nanoseconds round seconds to_numpy to_pytimedelta
to_timedelta64 total_seconds unit value
"""
_PROPERTIES = DATETIME_FIELDS + """
as_unit ceil components days floor microseconds nanoseconds round seconds strftime to_pytimedelta total_seconds
"""
_RNG = """
beta binomial chisquare choice exponential gamma geometric gumbel integers laplace logistic lognormal
multivariate_normal normal permutation permuted poisson random shuffle standard_exponential standard_normal
standard_t triangular uniform
"""


def _frame(obj: Any, name: str) -> Any:
    """DataFrame: the listed methods, else a column reached by attribute (``df.close``), as pandas does."""
    if name in NDFRAME_NAMES:
        value = getattr(obj, name)
        return GuardedCall(f"DataFrame.{name}", value, check=check_pandas_call) if inspect.isroutine(value) else value
    try:
        found = name in obj.columns
    except (TypeError, ValueError):
        found = False
    if found:
        return obj[name]
    deny(obj, name)


_GROUPBY_METHODS = _allow("GroupBy", _GROUPBY, wrap=True)


def _groupby(obj: Any, name: str) -> Any:
    """GroupBy: the listed methods, else a column of the grouped frame (``df.groupby(key).close``)."""
    if name not in _GROUPBY_NAMES:
        grouped = getattr(obj, "obj", None)
        if isinstance(grouped, pd.DataFrame) and name in grouped.columns:
            return obj[name]
    return _GROUPBY_METHODS(obj, name)


def _user_defined(cls: type, name: str) -> bool:
    return any(klass in USER_CLASSES and name in klass.__dict__ for klass in cls.__mro__)


def _user_instance(obj: Any, name: str) -> Any:
    try:
        own = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        own = {}
    if name in own or _user_defined(type(obj), name):
        return getattr(obj, name)
    if name == "args" and isinstance(obj, BaseException):
        return obj.args
    deny(obj, name)


def _exception(obj: Any, name: str) -> Any:
    """Library exceptions show only their args, as plain values: numpy's UFuncTypeError carries the ufunc and
    AttributeError carries ``obj`` (the object that lacked the attribute, possibly a real module)."""
    if name == "args":
        return tuple(arg if type(arg) in PLAIN_TYPES else str(arg) for arg in obj.args)
    deny(obj, name)


_STR_CLASS_HIDDEN = frozenset({"format", "format_map"})
_PUBLIC_CLASSES: Final = frozenset({
    bool, bytes, complex, dict, float, frozenset, int, list, set, str, tuple,
    datetime.date, datetime.datetime, datetime.time, datetime.timedelta, datetime.timezone,
})
_CLASS_NAMES: Final[dict[type, frozenset[str]]] = {
    itertools.chain: frozenset({"from_iterable"}),
    collections.OrderedDict: frozenset({"fromkeys"}),
}


def _class(cls: Any, name: str) -> Any:
    """Class objects: creator classes expose what they define; a few stdlib classes their constructors."""
    if cls in USER_CLASSES:
        if _user_defined(cls, name):
            return getattr(cls, name)
    elif cls in _PUBLIC_CLASSES:
        if not (cls is str and name in _STR_CLASS_HIDDEN):
            return getattr(cls, name)
    elif name in _CLASS_NAMES.get(cls, ()):
        return getattr(cls, name)
    deny(cls, name)


def _namedtuple(obj: Any, name: str) -> Any:
    if name in type(obj)._fields or name in ("count", "index"):
        return getattr(obj, name)
    deny(obj, name)


_PUBLIC_INSTANCES: Final[tuple[type, ...]] = (
    int, float, complex, bool, bytes, list, tuple, dict, set, frozenset, range, slice,
    type({}.keys()), type({}.values()), type({}.items()),
    datetime.date, datetime.datetime, datetime.time, datetime.timedelta, datetime.timezone,
    collections.deque, collections.defaultdict, collections.OrderedDict, collections.Counter,
)
_EXACT: Final[dict[type, Policy]] = {
    str: _string,
    type: _class,
    ModuleProxy: _public,  # ModuleProxy.__getattribute__ serves its members and nothing else
    types.GeneratorType: _allow("generator", "close send throw"),
    np.ufunc: _allow("ufunc", "accumulate at identity nargs nin nout outer reduce reduceat"),
    statistics.NormalDist: _allow("NormalDist", "cdf inv_cdf mean median mode overlap pdf quantiles samples stdev "
                                                "variance zscore"),
    IndicatorSpec: _allow("IndicatorSpec", "category definition describe_params engine function inputs kind name "
                                           "outputs params title unstable warmup"),
    Param: _allow("Param", "check choices default describe help kind maximum minimum name"),
    **dict.fromkeys(_PUBLIC_INSTANCES, _public),
}
# Checked in order, so subclasses come before their bases (a Resampler is a BaseGroupBy).
_BY_BASE: Final[tuple[tuple[type, Policy], ...]] = (
    (pd.DataFrame, _frame),
    (pd.Series, _allow("Series", NDFRAME_NAMES, wrap=True)),
    (pd.Index, _allow("Index", INDEX_NAMES, wrap=True)),
    (NDFrameIndexerBase, deny),  # .loc/.iloc/.at/.iat: indexing only
    (BaseWindow, _allow("Rolling", _WINDOW, wrap=True)),
    (Resampler, _allow("Resampler", _RESAMPLER, wrap=True)),
    (BaseGroupBy, _groupby),
    (Properties, _allow("Series.dt", _PROPERTIES, wrap=True)),
    (pd.Timestamp, _allow("Timestamp", _TIMESTAMP, wrap=True)),
    (pd.Timedelta, _allow("Timedelta", _TIMEDELTA, wrap=True)),
    (np.ndarray, _allow("ndarray", _NDARRAY, wrapped=frozenset({"astype"}))),
    (np.generic, _allow("numpy scalar", _SCALAR, wrapped=frozenset({"astype"}))),
    (np.dtype, _allow("dtype", "byteorder char itemsize kind name str")),
    (np.random.Generator, _allow("Generator", _RNG, wrap=True)),
    (np.finfo, _allow("finfo", "bits dtype eps epsneg max min precision resolution smallest_normal tiny")),
    (np.iinfo, _allow("iinfo", "bits dtype max min")),
    (BaseException, _exception),
)
_CACHE: Final[dict[type, Policy]] = dict(_EXACT)


def _resolve(tp: type) -> Policy:
    for base, policy in _BY_BASE:
        if issubclass(tp, base):
            return policy
    if issubclass(tp, tuple) and isinstance(getattr(tp, "_fields", None), tuple):
        return _namedtuple
    return deny


def policy_for(tp: type) -> Policy:
    """The attribute policy for objects of type ``tp`` (creator classes first: they are never cached)."""
    policy = _CACHE.get(tp)
    if policy is not None:
        return policy
    if tp in USER_CLASSES:
        return _user_instance
    policy = _resolve(tp)
    if policy is not _namedtuple:  # pandas makes a new namedtuple class per itertuples() call
        _CACHE[tp] = policy
    return policy
