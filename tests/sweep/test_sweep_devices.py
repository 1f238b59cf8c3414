"""A sweep's CUDA branch on the fake backend (tests/fake_cuda.py): the table's entries are the GPU's
by its name, without a thread count; and the house's rules for the sweep's package."""
from __future__ import annotations

import subprocess
import sys

from googlenet_cost.options import RunOptions
from googlenet_cost.space.executors import LocalExecutor
from googlenet_cost.space.grid import parse_grid
from googlenet_cost.space.options import SweepOptions
from googlenet_cost.space.run import run_sweep
from googlenet_cost.space.store import Store
from googlenet_cost.timing.loop import LoopLimits
from googlenet_cost.timing.settings import TimingOptions
from tests.fake_cuda import FakeCuda
from tests.fake_executor import tiny, tiny_path  # noqa: F401 (fixtures)
from tests.house.test_imports import graph

FAST = LoopLimits(warmup_min_iters=2, warmup_min_s=0.0, min_iters=3, min_time_s=0.0)


def test_on_a_gpu_the_table_is_the_gpu_s_by_name_and_has_no_thread_count(tiny, tmp_path):
    cuda = FakeCuda(name="NVIDIA A100-SXM4-80GB")
    timing = TimingOptions(device="cuda", limits=FAST)
    options = SweepOptions(parse_grid(["fc.out=10|20"]), RunOptions(timing=timing, dtype="fp16"), measure=1)
    with Store.open(tmp_path / "t.sqlite") as store:
        result = run_sweep(tiny, options, LocalExecutor(timing, cuda, dtype=options.run.dtype), store)
        stored = list(store.entries())
    device = result.devices[0]
    assert (device.kind, device.conditions.device, device.conditions.threads) == ("cuda", "NVIDIA A100-SXM4-80GB", None)
    assert device.conditions.dtype == "fp16"
    assert stored and {entry.conditions for entry in stored} == {device.conditions}
    assert {entry.kind for entry in stored} == {"layer", "network", "candidate"}


def test_the_sweep_s_package_imports_no_view_and_no_command():
    found = {(name, target) for name, targets in graph().items() if name.startswith("googlenet_cost.space")
             for target in targets if target.startswith(("googlenet_cost.views", "cli", "googlenet_cost.api"))}
    assert found == set()


def test_importing_gcost_imports_neither_ray_nor_torch():
    code = ("import sys, googlenet_cost, cli.main; googlenet_cost.sweep; "
            "print('ray' in sys.modules, 'torch' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", "False"]
