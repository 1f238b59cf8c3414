"""The worked examples of the source notes, counted from specs written the way a user would."""
from __future__ import annotations

import googlenet_cost as gc

TINY = """
name: tiny
input: [3, 32, 32]
layers:
  - {name: c1, type: conv, out: 10, kernel: 5, stride: 1, padding: 2}   # -> 10x32x32, 760 params
"""


def test_ten_5x5_filters_on_32x32x3_give_32x32x10_and_760_params():
    report = gc.analyze(gc.parse_spec(TINY))
    (row,) = report.layers
    assert row.output_shape == [10, 32, 32]
    assert row.params == 5 * 5 * 3 * 10 + 10 == 760


def test_bottleneck_5x5_on_14x14x480(write_spec):
    from googlenet_cost.spec.load import load_spec

    direct = write_spec("""
name: direct
input: [480, 14, 14]
layers: [{name: c5x5, type: conv, out: 48, kernel: 5, padding: 2}]
""", "direct.yaml")
    reduced = write_spec("""
name: reduced
input: [480, 14, 14]
layers:
  - {name: reduce, type: conv, out: 16, kernel: 1}
  - {name: c5x5, type: conv, out: 48, kernel: 5, padding: 2}
""", "reduced.yaml")
    assert gc.analyze(load_spec(direct)).totals.macs == (14 * 14 * 48) * (5 * 5 * 480) == 112_896_000
    assert gc.analyze(load_spec(reduced)).totals.macs == 5_268_480
