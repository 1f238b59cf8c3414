"""The roofline pictures (views/roofline.py, issue 32): without --per-layer every row is placed
(rows with MACs at their expected FLOP/s, rows without MACs at the bandwidth their operators'
rates give), the labels never overlap, and --plot-kind bars draws measured, expected and bound."""
from __future__ import annotations

import pytest
import yaml

import googlenet_cost as gc
from googlenet_cost.roofline.peaks import Peaks
from tests.roofline.test_limits import PEAKS

pytest.importorskip("matplotlib")

LAYERS = [{"name": "c1", "type": "conv", "out": 8, "kernel": 3, "padding": 1},
          {"name": "p1", "type": "maxpool", "kernel": 3, "stride": 2},
          {"name": "n1", "type": "lrn", "size": 5},
          {"name": "c2", "type": "conv", "out": 8, "kernel": 1},
          {"name": "g", "type": "global_avgpool"}]


def _report(peaks: Peaks = PEAKS):
    spec = gc.parse_spec(yaml.safe_dump({"name": "t", "input": [8, 16, 16], "layers": LAYERS}))
    return gc.analyze(spec, roofline=peaks)


def test_without_per_layer_every_row_is_placed_and_labels_never_overlap():
    from googlenet_cost.views.roofline import build

    report = _report()
    figure = build([report], ["t"], "t")
    left, right = figure.axes
    drawn = [len(collection.get_offsets()) for axis in (left, right) for collection in axis.collections]
    assert drawn == [2, 3]  # c1 and c2 on the roofline; p1, n1 and g against the bandwidth roofs
    renderer = figure.canvas.get_renderer()
    for axis in (left, right):
        boxes = [text.get_window_extent(renderer) for text in axis.texts if text.get_text() in {"c1", "c2", "p1",
                                                                                                 "n1", "g"}]
        assert len(boxes) >= 2
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert "expected" in left.get_legend().get_texts()[0].get_text()  # placed by their operators' rates


def test_the_bars_show_expected_and_bound_for_every_top_level_row():
    from googlenet_cost.views.roofline import build_bars

    report = _report()
    figure = build_bars(report, "t")
    (axis,) = figure.axes
    assert [label.get_text() for label in axis.get_legend().get_texts()] == ["expected ms", "bound ms"]
    assert len(axis.patches) == 2 * len(report.layers)
    assert [tick.get_text() for tick in axis.get_yticklabels()][2] == "n1 (kernel)"


@pytest.mark.slow  # matplotlib in a whole command
def test_analyze_writes_the_bars_with_plot_kind(runner, tmp_path, monkeypatch):
    from conftest import invoke
    from googlenet_cost.roofline import cache

    monkeypatch.setattr(cache, "measured_peaks", lambda *a, **k: PEAKS)
    spec, out = tmp_path / "t.yaml", tmp_path / "bars.svg"
    spec.write_text(yaml.safe_dump({"name": "t", "input": [8, 16, 16], "layers": LAYERS}))
    result = invoke(runner, "analyze", str(spec), "--roofline", "--no-latency", "--plot", str(out),
                    "--plot-kind", "bars", "--format", "json")
    assert result.exit_code == 0 and "measured, expected and bound per row" in out.read_text()
