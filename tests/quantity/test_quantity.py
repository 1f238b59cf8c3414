"""Printed figures ("159K", paper K = 1024) and budget numbers ("7.1M", decimal)."""
from __future__ import annotations

import pytest

from googlenet_cost.quantity import parse_count, parse_quantity


@pytest.mark.parametrize("text,base,value", [("159K", 1024, 159 * 1024), ("2.7K", 1024, 2.7 * 1024),
                                             ("128M", 1000, 128e6), ("1000K", 1024, 1_024_000), (760, 1000, 760)])
def test_parse_quantity(text, base, value):
    assert parse_quantity(text, base=base).value == pytest.approx(value)


@pytest.mark.parametrize("text,actual,ok", [
    ("159K", 163_328, True),    # 159.5K: printed truncated
    ("380K", 388_096, True),    # 379.0K: one unit off, as printed
    ("364K", 375_552, False),   # 366.75K: inception 4a, off by 2.75 units
    ("2.7K", 9_408, False),     # conv1
    ("2.7K", 2_712, True),      # the depthwise-separable hypothesis
    ("1000K", 1_024_000, True),
])
def test_matches_within_one_unit_of_the_last_digit(text, actual, ok):
    assert parse_quantity(text, base=1024).matches(actual) is ok


def test_parse_count_is_decimal_and_whole():
    assert parse_count("7.1M", what="x") == 7_100_000
    assert parse_count("1.6G", what="x") == 1_600_000_000
    assert parse_count(42, what="x") == 42
    for bad in ("1.5", "lots", "-3", True, None):
        with pytest.raises(ValueError):
            parse_count(bad, what="x")
