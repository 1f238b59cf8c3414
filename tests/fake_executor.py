"""A sweep executor that times nothing (googlenet_cost/space/executors.py's Executor): counting is
the real one, and every unit and network gets a made-up latency derived from its own MACs, so the
sweep's bookkeeping (what it asks to time, what it stores and reuses, how it predicts) runs in
milliseconds and can be checked exactly. The real executors are tested apart (tests/sweep/). Also the tiny network the sweep's tests sweep, and
its fixtures (`from tests.fake_executor import tiny, tiny_path`)."""
from __future__ import annotations

import pytest

from googlenet_cost.space.candidates import count_all
from googlenet_cost.space.executors import Device
from googlenet_cost.space.table import Conditions, Timed
from googlenet_cost.spec.plan import plan_rows

UNIT_MS_PER_MMAC = 0.01  # a unit's made-up median: 0.01 ms per million MACs, plus UNIT_BASE_MS
UNIT_BASE_MS = 0.05
NETWORK_EXTRA_MS = 0.3  # a network timed end to end: its MACs' share, plus this


def unit_ms(unit) -> float:
    layer, in_shape = unit
    return UNIT_BASE_MS + UNIT_MS_PER_MMAC * layer.cost(in_shape).macs / 1e6


def network_ms(spec) -> float:
    macs = sum(row.cost.macs for row in plan_rows(spec, train=False) if row.parent is None)
    return NETWORK_EXTRA_MS + UNIT_MS_PER_MMAC * macs / 1e6


class FakeExecutor:
    name = "fake"

    def __init__(self, kinds=("cpu",), device="FakeCPU 9000 (2 CPUs)", threads=1, later=1.0, warning=None):
        self.kinds, self.device, self.threads = kinds, device, threads
        self.later = later  # every network timed after the first takes this many times as long (a drifting machine)
        self.warning = warning  # what each network's timing says about itself
        self.units_timed: list = []
        self.networks_timed: list = []
        self.warmed: list = []
        self.closed = False

    def count(self, spec, items, *, batch, itemsize, units, progress=None):
        return count_all(spec, items, batch=batch, itemsize=itemsize, units=units)

    def devices(self):
        return [Device(kind, Conditions(f"{self.device} [{kind}]", "2.13.0+fake", "fp32", self.threads, 1))
                for kind in self.kinds]

    def warm(self, device, spec):
        self.warmed.append((device.kind, spec))

    def measure_units(self, device, units, done):
        for position, unit in enumerate(units):
            self.units_timed.append((device.kind, unit))
            done(position, Timed(unit_ms(unit) * (1 + self.kinds.index(device.kind)), 0.001, 10))

    def measure_networks(self, device, specs, done):
        for position, spec in enumerate(specs):
            factor = self.later if self.networks_timed else 1.0
            self.networks_timed.append((device.kind, spec))
            done(position, Timed(network_ms(spec) * factor * (1 + self.kinds.index(device.kind)), 0.01, 30,
                                 warnings=(self.warning,) if self.warning else ()))

    def close(self):
        self.closed = True


# A network small enough to count and time in milliseconds, with units of every kind the plan
# makes: a plain conv, a branches module, a pool, a flatten and a linear layer.
TINY = """
name: tiny
input: [3, 32, 32]
layers:
  - {name: stem, type: conv, out: 16, kernel: 3, padding: 1}
  - name: block
    type: branches
    merge: concat
    branches:
      - [{name: a, type: conv, out: 8, kernel: 1}]
      - [{name: reduce, type: conv, out: 8, kernel: 1}, {name: b, type: conv, out: 16, kernel: 3, padding: 1}]
  - {name: pool, type: global_avgpool}
  - {name: flat, type: flatten}
  - {name: fc, type: linear, out: 10}
"""


@pytest.fixture
def tiny_path(write_spec):
    return write_spec(TINY, "tiny.yaml")


@pytest.fixture
def tiny(tiny_path):
    from googlenet_cost.spec.load import load_spec

    return load_spec(str(tiny_path))
