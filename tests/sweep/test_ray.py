"""--executor ray on a real local Ray cluster (2 CPUs, a small object store, no dashboard, loopback
only), never a mock: the same grid gives the local run's counts, the table its CPU actor builds is
the one a local sweep reuses, and a device kind the cluster lacks is one line, exit 2."""
from __future__ import annotations

import json

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.options import RunOptions
from googlenet_cost.space.executors import LocalExecutor
from googlenet_cost.space.grid import parse_grid
from googlenet_cost.space.options import SweepOptions
from googlenet_cost.space.run import run_sweep
from googlenet_cost.space.store import Store
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.settings import TimingOptions
from tests.conftest import invoke
from tests.fake_executor import tiny, tiny_path  # noqa: F401 (fixtures)

pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a cluster takes seconds to start; they run in make test (CI)

GRID = ["block/reduce.out=2|3|4|5|6|7|8", "block/b.groups=1|2|3|4", "fc.out=10|20"]  # 56, some not building
FAST = TimingOptions(device="cpu", threads=1, limits=LoopLimits(warmup_min_s=0.0, min_time_s=0.05, min_iters=3))


@pytest.fixture(scope="module")
def cluster():
    from googlenet_cost.space.ray_executor import import_ray

    ray = import_ray(local=True)
    ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_the_ray_run_counts_what_the_local_one_counts(cluster, tiny):
    from googlenet_cost.space.ray_executor import RayExecutor

    options = SweepOptions(parse_grid(GRID), latency="none")
    executor = RayExecutor(None, dtype="fp32", address=None)
    here = run_sweep(tiny, options, LocalExecutor(None, dtype="fp32"), None).to_dict()
    there = run_sweep(tiny, options, executor, None).to_dict()
    executor.close()
    assert cluster.is_initialized()  # a cluster the executor did not start is left running
    assert there["executor"] == "ray" and here["executor"] == "local"
    assert len(there["candidates"]) == 56 and any(not c["valid"] for c in there["candidates"])
    assert there["candidates"] == here["candidates"]


def test_the_table_its_cpu_actor_builds_is_the_one_a_local_sweep_reuses(cluster, tiny, tmp_path):
    from googlenet_cost.space.ray_executor import RayExecutor

    options = SweepOptions(parse_grid(["block/reduce.out=4|8", "fc.out=10|20"]), RunOptions(timing=FAST), measure=1)
    with Store.open(tmp_path / "t.sqlite") as store:
        executor = RayExecutor(FAST, dtype="fp32", address=None, kinds=("cpu",))
        remote = run_sweep(tiny, options, executor, store)
        executor.close()
        local = run_sweep(tiny, options, LocalExecutor(FAST, dtype="fp32"), store)
    assert remote.devices[0].use.measured_layers > 0
    assert (local.devices[0].use.measured_layers, local.devices[0].use.measured_networks) == (0, 0)
    assert remote.devices[0].conditions == local.devices[0].conditions
    assert [c.predicted_ms for c in local.candidates] == [c.predicted_ms for c in remote.candidates]


def test_a_device_kind_the_cluster_lacks_is_one_line(cluster):
    from googlenet_cost.space.ray_executor import RayExecutor

    with pytest.raises(GcostError) as raised:
        RayExecutor(FAST, dtype="fp32", address=None, kinds=("cpu", "H100"))
    assert str(raised.value).startswith("--device-kinds H100: no node of the Ray cluster offers it")


def test_the_command_line_runs_on_the_cluster(cluster, runner, tiny_path, tmp_path):
    result = invoke(runner, "sweep", str(tiny_path), "--grid", "fc.out=10|20", "--executor", "ray",
                    "--device-kinds", "cpu", "--threads", "1", "--min-time", "0.05", "--min-iters", "3",
                    "--warmup", "0", "--measure", "1", "--store", str(tmp_path / "t.sqlite"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["executor"] == "ray" and data["devices"][0]["kind"] == "cpu"
    assert all(c["predicted_ms"] > 0 for c in data["candidates"]) and data["prediction"]["measured"] == 1
