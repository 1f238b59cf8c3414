"""Typed records across the folder lines (issue 35): what crosses from one folder to another is a
dataclass read by attribute; its JSON is made in `to_dict()` alone, in the shape docs/json.md gives."""
from __future__ import annotations

import json

import googlenet_cost as gc
from googlenet_cost.report import SourceInfo
from googlenet_cost.sources import ModuleSource
from googlenet_cost.timing.cpus import Contention
from googlenet_cost.timing.stats import GpuState, LatencyStats, Phases, SelfCheck, Sensors
from googlenet_cost.timing.threads import ThreadChoice


def test_a_specs_report_describes_it_with_a_source_info_whose_json_is_the_specs():
    spec = gc.load_spec("example_5x5_conv")
    report = gc.analyze(spec)
    assert isinstance(report.spec, SourceInfo) and report.spec.name == "example_5x5_conv"
    data = report.to_dict()["spec"]
    assert list(data) == ["name", "path", "source", "description", "input_shape"]  # docs/json.md's order
    assert data == spec.to_dict() and data["input_shape"] == list(spec.input_shape)


def test_a_python_models_source_info_names_its_reference_and_python():
    source = ModuleSource("tests.pymodels:tiny", lambda: None, (3, 8, 8))
    assert source.info() == SourceInfo("tests.pymodels:tiny", source="python", input_shape=(3, 8, 8))
    assert source.info().to_dict() == {"name": "tests.pymodels:tiny", "path": None, "source": "python",
                                       "description": None, "input_shape": [3, 8, 8]}


def _stats(**details) -> LatencyStats:
    return LatencyStats(device="d", device_type="cuda", dtype="fp32", batch=1, median_ms=1.0, iqr_ms=0.0,
                        p10_ms=1.0, p90_ms=1.0, p99_ms=None, mean_ms=1.0, stdev_ms=0.0, iterations=10,
                        warmup_iterations=5, throughput_per_s=1000.0, tflops=1.0, peak_fraction=None,
                        peak_memory_bytes=None, cuda_graph=False, channels_last=False, compiled=False, **details)


def test_latency_details_are_records_and_their_json_is_the_documented_objects():
    reading = Sensors(sm_clock_mhz=1980, temperature_c=41, power_mw=310_000)
    stats = _stats(phases=Phases(2.0, 3.0, float("nan")), gpu_state=GpuState(reading, None),
                   self_check=SelfCheck(0.98, 0.012))
    data = json.loads(json.dumps(stats.to_dict(), allow_nan=False))
    assert data["phases"] == {"forward_ms": 2.0, "backward_ms": 3.0, "optimizer_ms": None}  # NaN: null
    assert data["gpu_state"] == {"before": {"sm_clock_mhz": 1980, "temperature_c": 41, "power_mw": 310_000},
                                 "after": None}
    # without --cuda-graph the graph's two keys are there, null (docs/json.md)
    assert data["self_check"] == {"events_vs_wall": 0.98, "timer_overhead_ms": 0.012, "graph_matches_eager": None,
                                  "graph_max_difference": None}
    assert [name for name, _ in stats.phases.parts()] == ["forward", "backward", "optimizer"]


def test_gpu_state_is_read_from_the_sensors_readings_by_moment():
    readings = {"before": {"sm_clock_mhz": 1980, "temperature_c": 40, "power_mw": None}, "after": None}
    assert GpuState.of(readings) == GpuState(Sensors(1980, 40, None), None)
    assert GpuState.of({}) == GpuState(None, None)


def test_the_thread_decision_is_kept_whole_and_its_json_is_its_own():
    choice = ThreadChoice(1, "other work kept 1.5 of 2 CPUs busy", Contention(2, 1.5, None, None), 1.234567)
    stats = _stats(contention=choice)
    assert stats.contention is choice
    assert stats.to_dict()["contention"] == choice.to_dict() and stats.to_dict()["contention"]["speedup"] == 1.235
