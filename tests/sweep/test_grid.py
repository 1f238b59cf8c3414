"""The grid: axes read as --set reads values, the product in a fixed order, a seeded sample of it
drawn without listing it, and one-line errors for a grid that cannot be read."""
from __future__ import annotations

import itertools

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.space.grid import (MAX_CANDIDATES, Axis, chosen_indices, edits_text, labelled, parse_axis,
                                       parse_grid, product_size, short_names, values_at)


def test_an_axis_keeps_its_values_as_written():
    axis = parse_axis(" inception_*/5x5_reduce.out=x0.5 | x1|x2 ")
    assert axis == Axis("inception_*/5x5_reduce", "out", ("x0.5", "x1", "x2"))
    assert axis.edit("x1") == "inception_*/5x5_reduce.out=x1"


@pytest.mark.parametrize("text, words", [
    ("inception_3a.out", "write GLOB.KEY=V1|V2"),
    ("conv1.out=16||32", "an empty value"),
    ("conv1.out=16|16", "16 given twice"),
    ("conv1.out=16|x", "conv1.out=x"),  # not a number: --set's own words
    ("conv1.colour=16", "'colour' is not a key --set can change"),
    ("conv1.out=16;conv2.out=8", "write GLOB.KEY=V1|V2"),
])
def test_a_grid_that_cannot_be_read_is_one_line_naming_it(text, words):
    with pytest.raises(GcostError) as raised:
        parse_axis(text)
    assert words in str(raised.value) and "\n" not in str(raised.value)


def test_the_same_key_on_two_axes_is_refused():
    with pytest.raises(GcostError, match="given twice"):
        parse_grid(["conv1.out=8|16", "conv1.out=32"])


def test_the_product_runs_in_row_major_order_the_last_axis_fastest():
    axes = parse_grid(["a.out=1|2|3", "b.out=4|5"])
    expected = list(itertools.product(("1", "2", "3"), ("4", "5")))
    assert [values_at(axes, i) for i in range(product_size(axes))] == expected


def test_a_candidate_s_edits_are_one_set_string_in_the_axes_order():
    axes = parse_grid(["x/a.out=x0.5|x2", "y/b.kernel=3"])
    assert [(label, edits) for _, label, edits in labelled(axes, [1])] == \
        [("a.out=x2 b.kernel=3", "x/a.out=x2;y/b.kernel=3")]
    assert edits_text(axes, ("x0.5", "3")) == "x/a.out=x0.5;y/b.kernel=3"


def test_labels_use_the_whole_target_where_short_names_would_collide():
    axes = parse_grid(["m1/reduce.out=1|2", "m2/reduce.out=3|4", "fc.out=10"])
    assert short_names(axes) == ["m1/reduce.out", "m2/reduce.out", "fc.out"]


def test_a_sample_is_the_seed_s_and_in_the_product_s_order():
    axes = parse_grid([f"l{i}.out=" + "|".join(map(str, range(1, 11))) for i in range(6)])  # a million candidates
    drawn = chosen_indices(axes, 50, seed=7)
    assert drawn == chosen_indices(axes, 50, seed=7)
    assert drawn != chosen_indices(axes, 50, seed=8)
    assert len(set(drawn)) == 50 and drawn == sorted(drawn) and max(drawn) < 10**6


def test_a_sample_as_large_as_the_product_is_the_product():
    axes = parse_grid(["a.out=1|2|3"])
    assert chosen_indices(axes, 3, seed=0) == chosen_indices(axes, 99, seed=5) == [0, 1, 2]


def test_a_product_too_large_to_list_asks_for_a_sample():
    axes = parse_grid([f"l{i}.out=" + "|".join(map(str, range(1, 12))) for i in range(5)])
    assert product_size(axes) > MAX_CANDIDATES
    with pytest.raises(GcostError, match="add --sample N"):
        chosen_indices(axes, None, seed=0)
