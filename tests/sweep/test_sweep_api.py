"""googlenet_cost.sweep(): the same sweep as the command line, a result that prints as its table,
renders as escaped HTML in a notebook and gives a DataFrame."""
from __future__ import annotations

import json
import sys

import pytest

import googlenet_cost
from googlenet_cost.errors import GcostError
from googlenet_cost.space.store import Store
from tests.conftest import invoke
from tests.fake_executor import tiny_path  # noqa: F401 (a fixture)


def test_the_api_gives_what_the_command_line_gives(runner, tiny_path):
    result = googlenet_cost.sweep(str(tiny_path), grid={"block/reduce.out": [4, "x2"], "fc.out": [10, 20]},
                                  latency="none", pareto="params:max,bytes:min", budget={"max_params": "2.3K"})
    line = invoke(runner, "sweep", str(tiny_path), "--grid", "block/reduce.out=4|x2", "--grid", "fc.out=10|20",
                  "--latency", "none", "--pareto", "params:max,bytes:min", "--max-params", "2.3K", "--format", "json")
    expected = json.loads(line.stdout)
    mine = result.to_dict()
    assert mine["candidates"] == expected["candidates"] and mine["objectives"] == expected["objectives"]
    assert any(c["over"] == ["params"] for c in mine["candidates"])


def test_it_prints_as_the_table_and_renders_escaped_html(tiny_path):
    result = googlenet_cost.sweep(str(tiny_path), grid=["fc.out=5|10"], latency="none")
    text = str(result)
    assert "fc.out=5" in text and "front" in text and "2 on the front of params:max, macs:min" in " ".join(text.split())
    html = result._repr_html_()
    assert html.startswith('<div class="gcost-sweep">') and html.count("<tr>") == 3


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch, tiny_path):
    result = googlenet_cost.sweep(str(tiny_path), grid=["fc.out=5|10"], latency="none")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(GcostError, match="to_pandas needs pandas"):
        result.to_pandas()


def test_a_timed_sweep_uses_the_store_it_is_given(tiny_path, tmp_path):
    from googlenet_cost.timing.loop import LoopLimits
    from googlenet_cost.timing.settings import TimingOptions

    timing = TimingOptions(device="cpu", threads=1, limits=LoopLimits(warmup_min_s=0.0, min_time_s=0.02, min_iters=3))
    store = tmp_path / "mine.sqlite"
    result = googlenet_cost.sweep(str(tiny_path), grid={"fc.out": [10, 20]}, timing=timing, store=store, measure=1)
    assert result.to_dict()["store"]["path"] == str(store)
    with Store.open(store) as opened:
        assert len(opened) == result.to_dict()["store"]["measured_layers"] + 2  # + the base and one candidate


@pytest.mark.parametrize("keywords, error", [
    ({"grid": {"fc.out": 10}}, TypeError),
    ({"grid": {"fc.out": [True]}}, TypeError),
    ({"grid": ["fc.out=5"], "executor": "dask"}, ValueError),
    ({"grid": ["fc.out=5"], "device_kinds": ["cpu"]}, GcostError),
    ({"grid": ["fc.out=5"], "budget": {"max_speed": 1}}, GcostError),
])
def test_keywords_it_cannot_read(tiny_path, keywords, error):
    with pytest.raises(error):
        googlenet_cost.sweep(str(tiny_path), latency="none", **keywords)
