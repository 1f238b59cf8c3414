"""A sweep's bookkeeping on an executor that times nothing (tests/fake_executor.py): which units it
asks to time, what it stores and reuses, how it predicts, prunes, marks the front and checks the
predictor, each against a value computed here from the fake's own formulas."""
from __future__ import annotations

import json

import pytest

from googlenet_cost.options import RunOptions
from googlenet_cost.space.candidates import edited, network_units
from googlenet_cost.space.grid import parse_grid
from googlenet_cost.space.options import SweepOptions
from googlenet_cost.space.predict import kendall_tau
from googlenet_cost.space.run import run_sweep
from googlenet_cost.space.store import Store
from googlenet_cost.timing.settings import TimingOptions
from tests.fake_executor import FakeExecutor, network_ms, tiny, tiny_path, unit_ms  # noqa: F401 (fixtures)

GRID = ["block/reduce.out=4|8|12", "fc.out=10|20"]


def sweep(spec, store, grid=GRID, executor=None, **options):
    executor = executor or FakeExecutor()
    options.setdefault("run", RunOptions(timing=TimingOptions(device="cpu", threads=1)))
    result = run_sweep(spec, SweepOptions(axes=parse_grid(grid), **options), executor, store)
    return result, executor


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "tables.sqlite") as opened:
        yield opened


def distinct_units(spec, candidates):
    units = {unit for c in candidates for unit in network_units(edited(spec, c.edits))}
    return units | set(network_units(spec))


def test_each_distinct_unit_is_timed_once_and_stored(tiny, store):
    result, executor = sweep(tiny, store, measure=0)
    timed = [unit for _, unit in executor.units_timed]
    assert len(timed) == len(set(timed))
    assert set(timed) == distinct_units(tiny, result.candidates)
    assert len(store) == len(timed) + 1  # and the base network's calibration
    assert result.devices[0].use.measured_layers == len(timed)


def test_a_second_sweep_on_the_store_times_nothing_and_predicts_the_same(tiny, store):
    first, _ = sweep(tiny, store, measure=2)
    again, executor = sweep(tiny, store, measure=2)
    assert executor.units_timed == [] and executor.networks_timed == []
    use = again.devices[0].use
    assert (use.measured_layers, use.measured_networks) == (0, 0)
    assert use.reused == first.devices[0].use.measured_layers + first.devices[0].use.measured_networks
    assert [c.predicted_ms for c in again.candidates] == [c.predicted_ms for c in first.candidates]


def test_a_sweep_resumes_with_what_a_smaller_one_stored(tiny, store):
    part, _ = sweep(tiny, store, grid=["block/reduce.out=4|8", "fc.out=10"], measure=0)
    whole, executor = sweep(tiny, store, measure=0)
    stored = distinct_units(tiny, part.candidates)
    assert {unit for _, unit in executor.units_timed} == distinct_units(tiny, whole.candidates) - stored
    assert executor.networks_timed == []  # the base network's calibration was stored too


def test_predicted_is_the_candidate_s_units_plus_the_base_s_term(tiny, store):
    result, _ = sweep(tiny, store, measure=0)
    base = network_units(tiny)
    term = network_ms(tiny) - sum(map(unit_ms, base))
    assert result.devices[0].calibration.term_ms == pytest.approx(term)
    for candidate in result.candidates:
        expected = sum(map(unit_ms, network_units(edited(tiny, candidate.edits)))) + term
        assert candidate.predicted_ms == pytest.approx(expected)


def test_the_predictor_s_error_is_recomputable_from_the_json(tiny, store):
    result, _ = sweep(tiny, store, measure=3)
    data = json.loads(json.dumps(result.to_dict()))
    pairs = [(c["predicted_ms"], c["measured_ms"]) for c in data["candidates"] if c["measured_ms"] is not None]
    assert len(pairs) == 3 == data["prediction"]["measured"]
    assert data["prediction"]["mape"] == pytest.approx(sum(abs(p - m) / m for p, m in pairs) / 3)
    assert data["prediction"]["kendall_tau"] == pytest.approx(kendall_tau(*zip(*pairs)))
    for c in data["candidates"]:  # the fake's end-to-end time, not the prediction
        if c["measured_ms"] is not None:
            assert c["measured_ms"] == pytest.approx(network_ms(edited(tiny, c["edits"])))


def test_measure_k_spreads_over_the_front_fastest_and_slowest_included(tiny, store):
    result, _ = sweep(tiny, store, measure=2)
    front = sorted((c for c in result.candidates if c.pareto), key=lambda c: c.predicted_ms)
    measured = [c for c in result.candidates if c.measured_ms is not None]
    assert len(front) > 2 and {c.index for c in measured} == {front[0].index, front[-1].index}


def test_a_candidate_that_does_not_build_is_listed_with_its_reason_and_never_timed(tiny, store):
    result, executor = sweep(tiny, store, grid=["block/b.groups=1|3"], measure=0)
    valid, invalid = result.candidates
    assert valid.valid and not invalid.valid and invalid.counts is None
    assert invalid.reason == "layer 'block/b': groups 3 must divide both input channels 8 and out 16 (input 8x32x32)"
    assert not invalid.pareto and invalid.predicted_ms is None
    assert {unit for _, unit in executor.units_timed} == distinct_units(tiny, [valid])


def test_budgets_prune_before_timing(tiny, store):
    result, executor = sweep(tiny, store, limits={"params": 3_000}, measure=0)
    over = [c for c in result.candidates if c.over]
    assert over and all(c.counts.params > 3_000 and c.over == ("params",) for c in over)
    assert all(c.predicted_ms is None and not c.pareto for c in over)
    assert {unit for _, unit in executor.units_timed} == \
        distinct_units(tiny, [c for c in result.candidates if not c.over])


def test_a_latency_budget_prunes_on_the_prediction(tiny, store):
    everything, _ = sweep(tiny, store, measure=0)
    limit = sorted(c.predicted_ms for c in everything.candidates)[2]
    result, _ = sweep(tiny, store, limits={"latency_ms": limit}, measure=0)
    assert [c.index for c in result.candidates if "latency_ms" in c.over] == \
        [c.index for c in everything.candidates if c.predicted_ms > limit]


def test_each_device_kind_gets_its_own_table_and_predictions(tiny, store):
    result, executor = sweep(tiny, store, executor=FakeExecutor(kinds=("cpu", "H100")), measure=1)
    assert [d.kind for d in result.devices] == ["cpu", "H100"]
    for c in result.candidates:
        assert c.latency["H100"].predicted_ms == pytest.approx(2 * c.latency["cpu"].predicted_ms)
    data = result.to_dict()
    assert set(data["candidates"][0]["by_device"]) == {"cpu", "H100"}
    assert [d["prediction"]["measured"] for d in data["devices"]] == [1, 1]
    kinds = [kind for kind, _ in executor.units_timed]
    assert kinds.count("cpu") == kinds.count("H100") > 0


def test_latency_measured_times_every_candidate_and_reuses_them(tiny, store):
    result, executor = sweep(tiny, store, latency="measured")
    assert len(executor.networks_timed) == len(result.candidates) and executor.units_timed == []
    assert all(c.predicted_ms is None and c.measured_ms == pytest.approx(network_ms(edited(tiny, c.edits)))
               for c in result.candidates)
    _, again = sweep(tiny, store, latency="measured")
    assert again.networks_timed == []


def test_counting_only_opens_no_store_and_times_nothing(tiny):
    result, executor = sweep(tiny, None, latency="none", run=RunOptions())
    assert executor.units_timed == [] and result.devices == () and result.to_dict()["store"] is None
    assert [o.text for o in result.objectives] == ["params:max", "macs:min"]


def test_a_machine_whose_speed_changed_during_the_sweep_is_said(tiny, store):
    from googlenet_cost.views.sweep import warnings

    grid = ["block/reduce.out=4|8", "fc.out=10"]  # 8 and 10: the base network itself, one of the two checked
    steady, _ = sweep(tiny, store, grid=grid, measure=2)
    assert steady.devices[0].calibration.again_ms == pytest.approx(steady.devices[0].calibration.measured_ms)
    assert warnings(steady) == []
    result, _ = sweep(tiny, Store.open(None), grid=grid, measure=2, executor=FakeExecutor(later=1.3))
    calibration = result.devices[0].calibration
    assert calibration.drift == pytest.approx(0.3) and calibration.drifted
    assert result.to_dict()["devices"][0]["calibration"]["base_again_ms"] == pytest.approx(1.3 * calibration.measured_ms)
    said = warnings(result)
    assert len(said) == 1 and "the machine's speed changed during the sweep" in said[0] and "(+30%)" in said[0]


def test_what_a_network_s_timing_says_about_itself_is_passed_on(tiny, store):
    executor = FakeExecutor(warning="batch 1: latency varies a lot")
    result, _ = sweep(tiny, store, grid=["fc.out=10|20"], measure=1, executor=executor)
    assert result.warnings == ("cpu, the base network: batch 1: latency varies a lot",
                               "cpu, fc.out=10: batch 1: latency varies a lot")  # the fastest: the one checked
