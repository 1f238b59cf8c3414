"""Every number gcost reads, from any source (a spec's YAML, a budgets file, a command-line option,
an environment variable), goes through this module: parse_int and parse_real, and on them
parse_quantity (K/M/G suffixes, as printed in papers and typed in budgets) and parse_fraction.

The rules are the same everywhere: digits are ASCII (str.isdigit() and int() also accept other
scripts' digits, and int() refuses some of those), a number is at most MAX_NUMBER_CHARS characters
(Python's int() refuses more than 4,300 digits, and no count gcost reads needs 40), NaN and
infinities are refused, and every caller states the range it accepts. Errors are NumberError (a
ValueError) whose message names what was read; `shown` formats any user value for a message
(str() of an int of more than 4,300 digits, which YAML's hex makes from a short line, raises).

The GoogLeNet paper's Table 1 uses K = 1024 for parameters and M = 10**6 for ops; budgets on the
command line use decimal suffixes. The base is therefore always passed explicitly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from .errors import quoted

MAX_NUMBER_CHARS = 40  # characters of a number written as text, sign and decimal point included
MAX_COUNT = 10**18  # the largest count (params, MACs, bytes) gcost reads; more is no network's
MAX_FRACTION = 1_000.0  # the largest fraction (a tolerance of 100,000%): beyond it, no limit is meant
_WHOLE = re.compile(r"[+-]?[0-9]+")  # fullmatch; [0-9], never \d: ASCII digits only
_REAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)\s*$", re.IGNORECASE)
_EXPONENT = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


class NumberError(ValueError):
    """A value that is not a number gcost accepts. `problem` names the rule it broke: "syntax"
    (not a number, or not written in ASCII digits), "length" (more than MAX_NUMBER_CHARS),
    "finite" (NaN or infinite), "low" or "high" (outside the caller's range)."""

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem


def shown(value: object) -> str:
    """A user's value for a message: quoted(), except an int too long to print, told by its size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a number of {_digits(value)} digits"
    try:
        return quoted(value)
    except ValueError:  # a huge int inside a list or mapping: reprlib calls repr() on it
        return f"a {type(value).__name__} holding a number too long to print"


def _digits(value: int) -> str:
    """How many decimal digits `value` has, without str() (exact up to about 6,000 digits)."""
    bits = abs(value).bit_length()
    digits = int((bits - 1) * math.log10(2)) + 1  # 2**(bits - 1) <= |value| < 2**bits
    if bits > 20_000:
        return f"about {digits:,}"
    return f"{digits + (abs(value) >= 10**digits):,}"


def _value_text(value: object) -> str:
    """A number's text inside a message ("out 70000 is too large"; a huge int by its size, in
    parentheses)."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = shown(value)
        return f"({text})" if text.startswith("a number") else text
    return f"{value}"


def _say(what: str, rest: str) -> str:
    return f"{what} {rest}" if what else rest


def number_text(value: str, *, what: str = "", kind: str = "a number", expect: str | None = None) -> str:
    """The text of a number, stripped; refused, before anything converts it, when longer than
    MAX_NUMBER_CHARS (also for syntaxes parsed elsewhere, such as YAML's 0x1F or 1_000)."""
    text = value.strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberError(_say(what, f"must be {expect or kind} of at most {MAX_NUMBER_CHARS} characters, "
                                     f"got {len(text):,} characters"), "length")
    return text


def parse_int(value: object, *, what: str = "", low: int = -MAX_COUNT, high: int = MAX_COUNT,
              text: bool = True, expect: str | None = None) -> int:
    """A whole number from low to high: an int (not a bool), or, when `text`, ASCII digits with an
    optional sign. With `expect` ("a number of levels from 1 to 1000"), every refusal says
    "<what> must be <expect>, got ..."."""
    def refuse(rest: str, problem: str) -> NumberError:
        return NumberError(_say(what, f"must be {expect}, got {shown(value)}" if expect else rest), problem)

    number: int
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text and isinstance(value, str):
        written = number_text(value, what=what, kind="a whole number", expect=expect)
        if not _WHOLE.fullmatch(written):
            raise refuse(f"must be a whole number, got {shown(value)}", "syntax")
        number = int(written)
    else:
        raise refuse(f"must be a whole number, got {shown(value)}", "syntax")
    if number < low:
        raise refuse(f"must be at least {low}, got {shown(number)}", "low")
    if number > high:
        raise refuse(f"{_value_text(number)} is too large (at most {high})", "high")
    return number


def parse_real(value: object, *, what: str = "", low: float = -math.inf, high: float = math.inf,
               low_open: bool = False, text: bool = True, expect: str | None = None) -> float:
    """A finite number from low (excluded when `low_open`) to high: an int or float (not a bool),
    or, when `text`, ASCII decimal text (12, 0.5, 1e-3). With `expect`, every refusal says
    "<what> must be <expect>, got ..."."""
    def refuse(rest: str, problem: str) -> NumberError:
        return NumberError(_say(what, f"must be {expect}, got {shown(value)}" if expect else rest), problem)

    number: int | float
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif text and isinstance(value, str):
        written = number_text(value, what=what, expect=expect)
        if _NOT_FINITE.fullmatch(written):
            raise refuse(f"must be a finite number, got {shown(value)}", "finite")
        if not _REAL.fullmatch(written):
            raise refuse(f"must be a number, got {shown(value)}", "syntax")
        number = float(written)
    else:
        raise refuse(f"must be a number, got {shown(value)}", "syntax")
    if isinstance(number, float) and not math.isfinite(number):
        raise refuse(f"must be a finite number, got {_value_text(number)}", "finite")
    if number < low or (low_open and number == low) or number > high:
        raise refuse(f"{_value_text(number)} is out of range", "low" if number <= low else "high")
    try:
        return float(number)
    except OverflowError:  # an int beyond any float, with no upper bound given
        raise refuse(f"must be a finite number, got {shown(number)}", "finite") from None


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
    """Parse 1234, "1234", "2.7K", "1.6G", at most MAX_COUNT. Raises NumberError with a readable
    message."""
    expected = "expected a number like 7.1M or 1600000"
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise NumberError(f"{expected}, got {shown(text)}", "syntax")
    if isinstance(text, int) and abs(text) > MAX_COUNT:
        raise NumberError(f"{shown(text)} is too large (at most 10^18)", "high")
    raw = text if isinstance(text, str) else str(text)
    if len(raw.strip()) > MAX_NUMBER_CHARS:
        raise NumberError(f"{expected}, of at most {MAX_NUMBER_CHARS} characters, got {len(raw.strip()):,} "
                          "characters", "length")
    match = _QUANTITY.match(raw)
    if not match:
        raise NumberError(f"{expected}, got {quoted(raw)}", "syntax")
    digits, suffix = match.groups()
    number = Decimal(digits)  # the regex admits only short decimals
    scale = Decimal(base) ** _EXPONENT[suffix.upper()]
    if number * scale > MAX_COUNT:
        raise NumberError(f"{quoted(raw.strip())} is too large (at most 10^18)", "high")
    places = len(digits.split(".")[1]) if "." in digits else 0
    half_unit = Decimal(5) * Decimal(10) ** (-places - 1) * scale
    return Quantity(text=raw.strip(), value=float(number * scale), half_unit=float(half_unit))


def parse_count(text: object, *, what: str) -> int:
    """A whole, non-negative count with decimal suffixes (budgets, limits), at most MAX_COUNT."""
    quantity = parse_quantity(text, base=1000)
    if quantity.value != int(quantity.value):
        raise NumberError(f"{what} must be a whole number, got {quoted(quantity.text)}", "syntax")
    return int(quantity.value)


def human(value: float, *, base: int = 1000) -> str:
    """Short form for tables: 6998552 -> '7.00M'."""
    for suffix, exponent in (("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        if abs(value) >= base**exponent:
            return f"{value / base**exponent:.2f}{suffix}"
    return f"{value:g}"


def parse_fraction(text: object, *, what: str) -> float:
    """'0.5%' -> 0.005, '0.005' -> 0.005. A bare number of 1 or more is refused (is '5' 5% or
    500%?), as are NaN, infinities and negative values. Raises NumberError naming `what`."""
    raw = text.strip() if isinstance(text, str) else text
    percent = isinstance(raw, str) and raw.endswith("%")
    try:
        value = parse_real(raw[:-1] if percent else raw, what=what, low=0)
    except NumberError as e:
        if e.problem in ("syntax", "length"):
            raise NumberError(f"{what} must look like 2% or 0.02, got {shown(raw)}", e.problem) from None
        raise NumberError(f"{what} must be a finite, non-negative number like 2% or 0.02, got {shown(raw)}",
                          e.problem) from None
    if not percent and value >= 1:
        written = raw[:40] if isinstance(raw, str) else _value_text(raw)
        raise NumberError(f"{what}: a bare {written} is ambiguous: write {written}% or {value / 100:g}", "high")
    fraction = value / 100 if percent else value
    if fraction > MAX_FRACTION:  # a limit times (1 + fraction) must stay a finite number
        raise NumberError(f"{what} must be at most {MAX_FRACTION * 100:,.0f}%, got {shown(raw)}", "high")
    return fraction
