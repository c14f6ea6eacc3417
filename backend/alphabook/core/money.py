"""Money as an exact integer count of a currency's minor units.

Why this exists: a binary float cannot hold 0.10, so ``0.1 + 0.2 != 0.3`` and a payout computed in
floats drifts by fractions of a cent that nobody can account for. Here an amount is an ``int`` of
minor units (cents, pence, fils) tagged with its ISO 4217 code, floats are refused at every entry
point, and nothing is ever rounded silently: input with more decimals than the currency has is an
error, and :func:`split` hands out every last unit so the parts always add back up to the total.
The minor-unit exponent comes from ISO 4217 rather than an assumed "two decimals", because JPY and
KRW have none and KWD, BHD and friends have three; getting that wrong is a factor-of-100 bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType

from alphabook.core.errors import InvalidInput

__all__ = [
    "CURRENCY_EXPONENTS",
    "CurrencyMismatch",
    "InvalidCurrency",
    "Money",
    "currency_exponent",
    "normalize_currency",
    "split",
]


class InvalidCurrency(InvalidInput, ValueError):
    """The code is not an active ISO 4217 currency with a minor unit, so amounts in it are meaningless."""


class CurrencyMismatch(InvalidInput, ValueError):
    """Two amounts in different currencies met; converting needs a rate, which is never implicit."""


# ISO 4217 minor-unit exponents ("E" column) of the active currency and fund codes. Codes without a
# minor unit (precious metals XAU/XAG/XPT/XPD, XDR, XSU, XUA, the bond-market units XBA-XBD and the
# test/no-currency codes XTS/XXX) are deliberately absent: they are not money we hold or pay out.
_EXPONENTS: dict[str, int] = {
    # Zero-decimal currencies: one minor unit is one major unit.
    **dict.fromkeys(
        [
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
            "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
        ],
        0,
    ),
    # Three decimals.
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    # Four decimals (units of account).
    **dict.fromkeys(["CLF", "UYW"], 4),
    # Everything else has two.
    **dict.fromkeys(
        [
            "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN",
            "BAM", "BBD", "BDT", "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD",
            "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CNY",
            "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP",
            "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD",
            "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR",
            "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR",
            "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
            "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO",
            "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR",
            "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
            "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
            "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU",
            "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
        ],
        2,
    ),
}  # fmt: skip

CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(_EXPONENTS)
"""Read-only: a typo'd edit at runtime would silently rescale every amount in that currency."""

# Money.of refuses more major-unit digits than this, so that input like "1e999999999" fails fast
# instead of building a billion-digit integer. 10**40 is far beyond any real balance.
_MAX_MAJOR_DIGITS = 40


def normalize_currency(code: str) -> str:
    """Upper-case and validate ``code`` so "usd" and "USD" can never be two different currencies."""
    if not isinstance(code, str):
        raise TypeError(f"currency must be an ISO 4217 code string, got {type(code).__name__}")
    normalized = code.strip().upper()
    if normalized not in _EXPONENTS:
        raise InvalidCurrency(
            f"unknown currency {code!r}: expected an active ISO 4217 code such as 'USD', 'EUR' or 'JPY'"
        )
    return normalized


def currency_exponent(code: str) -> int:
    """Number of decimals of ``code``'s minor unit (USD 2, JPY 0, KWD 3); unknown codes raise."""
    return _EXPONENTS[normalize_currency(code)]


_USE_STR_OR_DECIMAL = "use a string such as '12.34' or a decimal.Decimal"


def _float_error(what: str, remedy: str = _USE_STR_OR_DECIMAL) -> TypeError:
    return TypeError(
        f"{what} must not be a float (binary floats cannot represent most decimal amounts "
        f"exactly); {remedy}"
    )


def _to_minor_units(amount: Decimal, exponent: int, shown: object) -> int:
    """Scale exactly, refusing rather than rounding; works on the digits so no Decimal context applies."""
    if not amount.is_finite():
        raise ValueError(f"amount must be a finite number, got {shown!r}")
    sign, digits, _ = amount.as_tuple()
    exp = amount.adjusted() - len(digits) + 1  # the tuple's exponent, typed as a plain int
    coefficient = int("".join(map(str, digits)))
    if coefficient == 0:
        return 0
    if amount.adjusted() >= _MAX_MAJOR_DIGITS:
        raise ValueError(f"amount {shown!r} is implausibly large")
    shift = exp + exponent
    if shift >= 0:
        scale: int = 10**shift
        minor = coefficient * scale
    else:
        # Trailing zeros ("1.500" USD) are fine; a non-zero digit beyond the minor unit is not.
        # Checking the length first avoids building a huge power of ten for "1e-999999999".
        scale = 10 ** min(-shift, len(digits) + 1)
        if -shift > len(digits) or coefficient % scale:
            raise ValueError(
                f"amount {shown!r} has more decimal places than the currency allows ({exponent}); "
                "round it explicitly first"
            )
        minor = coefficient // scale
    return -minor if sign else minor


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``amount_minor`` units of the currency's smallest denomination."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        amount: object = self.amount_minor
        if isinstance(amount, float):
            raise _float_error("Money amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(
                f"amount_minor must be an int count of minor units, got {type(amount).__name__}; "
                "use Money.of() for amounts in major units"
            )
        # int() strips int subclasses (IntEnum, numpy-like ints) so equality and hashing stay plain.
        object.__setattr__(self, "amount_minor", int(amount))
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def of(cls, amount: str | Decimal | int, currency: str) -> Money:
        """Parse a major-unit amount ("12.34" USD -> 1234); anything that would need rounding raises."""
        exponent = currency_exponent(currency)
        if isinstance(amount, float):
            raise _float_error("amount")
        if isinstance(amount, bool):
            raise TypeError("amount must be a string, Decimal or int, not bool")
        if isinstance(amount, int):
            return cls(amount * 10**exponent, currency)
        if isinstance(amount, str):
            try:
                parsed = Decimal(amount.strip())
            except InvalidOperation:
                raise ValueError(
                    f"amount {amount!r} is not a decimal number (expected something like '12.34')"
                ) from None
        elif isinstance(amount, Decimal):
            parsed = amount
        else:
            raise TypeError(f"amount must be a string, Decimal or int, got {type(amount).__name__}")
        return cls(_to_minor_units(parsed, exponent, amount), currency)

    @classmethod
    def from_minor(cls, amount_minor: int, currency: str) -> Money:
        """Same as the constructor; reads better where the minor-unit meaning must be obvious."""
        return cls(amount_minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """A zero with a currency, the explicit start for accumulating (``sum()`` would start at 0)."""
        return cls(0, currency)

    @classmethod
    def sum(cls, items: Iterable[Money], currency: str) -> Money:
        """Total ``items``; the currency is required so an empty total is still a typed amount."""
        total = cls.zero(currency)
        for item in items:
            total = total + item
        return total

    # -- views ----------------------------------------------------------------------------------

    @property
    def exponent(self) -> int:
        """Decimals of this currency's minor unit."""
        return _EXPONENTS[self.currency]

    def to_decimal(self) -> Decimal:
        """The amount in major units, exact at any size (built from digits, not divided)."""
        digits = tuple(int(d) for d in str(abs(self.amount_minor)))
        return Decimal((int(self.amount_minor < 0), digits, -self.exponent))

    def __str__(self) -> str:
        return f"{self.to_decimal():f} {self.currency}"

    def __bool__(self) -> bool:
        return self.amount_minor != 0

    # -- arithmetic -----------------------------------------------------------------------------

    def _same_currency(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot {op} {self.currency} and {other.currency}; convert explicitly first"
            )

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.amount_minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        # Only whole multiples are exact; fractional scaling (fees, rates) must go through split().
        if isinstance(factor, float):
            raise _float_error("multiplier", "multiply by an int, or use split() for shares")
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError(
                f"Money can only be multiplied by an int, got {type(factor).__name__}; "
                "use split() or allocate() for fractional shares"
            )
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount_minor >= other.amount_minor

    def allocate(self, weights: Sequence[int | Decimal]) -> list[Money]:
        """Method form of :func:`split`."""
        return split(self, weights)


def _weight(value: object) -> Fraction:
    if isinstance(value, float):
        raise _float_error("split weight", "use int or decimal.Decimal weights")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise TypeError(f"split weights must be int or Decimal, got {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"split weights must be finite, got {value!r}")
    if value < 0:
        raise ValueError(f"split weights must be >= 0, got {value!r}")
    return Fraction(value)


def split(total: Money, weights: Sequence[int | Decimal]) -> list[Money]:
    """Divide ``total`` in proportion to ``weights`` so that the parts sum to exactly ``total``.

    Rule (largest remainder / Hamilton method), in exact rational arithmetic:

    1. Part *i* first gets ``floor(|total| * w_i / sum(w))`` minor units.
    2. The units still missing (always fewer than the number of parts) go one each to the parts
       with the largest fractional remainder; equal remainders favour the lower index, so earlier
       parts get the extra unit first. 1001 cents at 70:30 -> [701, 300]; 100 at 1:1:1 -> [34, 33, 33].
    3. A negative total is split by its absolute value and every part negated, so splitting -x
       gives exactly the negation of splitting x.

    Every part is therefore within one minor unit of its exact share, a zero weight gets exactly
    zero, and the result depends only on the inputs. Weights are ints or Decimals (never floats),
    each >= 0, at least one, with a positive sum.
    """
    if not isinstance(total, Money):
        raise TypeError(f"split() needs a Money total, got {type(total).__name__}")
    exact_weights = [_weight(w) for w in weights]
    if not exact_weights:
        raise ValueError("split() needs at least one weight")
    weight_sum = sum(exact_weights, Fraction(0))
    if weight_sum <= 0:
        raise ValueError("split() weights must not all be zero")

    units = abs(total.amount_minor)
    shares = [units * w / weight_sum for w in exact_weights]
    parts = [share.numerator // share.denominator for share in shares]
    leftover = units - sum(parts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in by_remainder[:leftover]:
        parts[i] += 1

    sign = -1 if total.amount_minor < 0 else 1
    return [Money(sign * part, total.currency) for part in parts]
