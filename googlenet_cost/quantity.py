"""Numbers with K/M/G suffixes, as printed in papers ("159K", "128M") and typed in budgets ("7.1M").

The GoogLeNet paper's Table 1 uses K = 1024 for parameters and M = 10**6 for ops; budgets on the
command line use decimal suffixes. The base is therefore always passed explicitly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import quoted

_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)\s*$", re.IGNORECASE)
_EXPONENT = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


@dataclass(frozen=True)
class Quantity:
    """A printed figure: its text, its value, and the rounding its digits imply."""

    text: str
    value: float
    half_unit: float  # half of the last printed digit's place, in the same unit as value

    def matches(self, actual: int) -> bool:
        """True when `actual` is within one unit of the last printed digit: the paper may have
        rounded or truncated (Table 1 prints 163,328 weights as "159K", 388,096 as "380K")."""
        return abs(actual - self.value) <= 2 * self.half_unit * (1 + 1e-9)


def parse_quantity(text: object, *, base: int) -> Quantity:
    """Parse 1234, "1234", "2.7K", "1.6G". Raises ValueError with a readable message."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise ValueError(f"expected a number like 7.1M or 1600000, got {quoted(text)}")
    raw = str(text)
    match = _QUANTITY.match(raw)
    if not match:
        raise ValueError(f"expected a number like 7.1M or 1600000, got {quoted(raw)}")
    digits, suffix = match.groups()
    try:
        number = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a number: {quoted(raw)}") from None
    scale = Decimal(base) ** _EXPONENT[suffix.upper()]
    places = len(digits.split(".")[1]) if "." in digits else 0
    half_unit = Decimal(5) * Decimal(10) ** (-places - 1) * scale
    return Quantity(text=raw.strip(), value=float(number * scale), half_unit=float(half_unit))


def parse_count(text: object, *, what: str) -> int:
    """A whole, non-negative count with decimal suffixes (budgets, limits)."""
    quantity = parse_quantity(text, base=1000)
    if quantity.value != int(quantity.value):
        raise ValueError(f"{what} must be a whole number, got {quoted(quantity.text)}")
    return int(quantity.value)


def human(value: float, *, base: int = 1000) -> str:
    """Short form for tables: 6998552 -> '7.00M'."""
    for suffix, exponent in (("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        if abs(value) >= base**exponent:
            return f"{value / base**exponent:.2f}{suffix}"
    return f"{value:g}"


def parse_fraction(text: object, *, what: str) -> float:
    """'0.5%' -> 0.005, '0.005' -> 0.005. A bare number of 1 or more is refused (is '5' 5% or
    500%?), as are NaN, infinities and negative values. Raises ValueError naming `what`."""
    import math

    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        raise ValueError(f"{what} must look like 2% or 0.02, got {quoted(raw)}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite, non-negative number like 2% or 0.02, got {quoted(raw)}")
    if not percent and value >= 1:
        raise ValueError(f"{what}: a bare {raw[:40]} is ambiguous: write {raw[:40]}% or {value / 100:g}")
    return value / 100 if percent else value
