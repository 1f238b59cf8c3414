"""A small Python model is counted on real CPU tensors rather than the meta device, whose first pass
imports torch._dynamo and sympy (about a second: the first summary() of a small model took 2-4 s);
a large one still runs on meta. Both give the same counts."""
from __future__ import annotations

import torch
from torch import nn

import googlenet_cost as gc
from googlenet_cost.count.counting import measure_model
from googlenet_cost.count.module_counts import small_enough_for_cpu
from googlenet_cost.inputs import Inputs


class Recording(nn.Module):
    """A conv and a classifier (the test records the device its forward runs on)."""

    def __init__(self, width: int):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, width, 3, padding=1), nn.Linear(width, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


def test_a_small_model_is_counted_on_the_cpu_a_large_one_on_meta(monkeypatch):
    seen = []
    original = Recording.forward

    def forward(self, x):
        seen.append(x.device.type)
        return original(self, x)

    monkeypatch.setattr(Recording, "forward", forward)
    gc.summary(Recording(16), input_size=(1, 3, 32, 32))
    assert seen == ["cpu"]
    seen.clear()
    gc.summary(Recording(4096), input_size=(1, 3, 224, 224))  # 53K params x 150K input elements: meta
    assert seen == ["meta"]


def test_the_bound_reads_params_and_input_elements():
    small, inputs = Recording(16).to("meta"), Inputs.single((3, 32, 32))
    assert small_enough_for_cpu(small, inputs, 1)
    assert not small_enough_for_cpu(small, Inputs.single((3, 4096, 4096)), 1)
    assert not small_enough_for_cpu(small, inputs, 10_000)


def test_both_devices_count_the_same():
    model = Recording(16)
    on_cpu = measure_model(model, (3, 32, 32), 2, device="cpu", depth=2).rows
    on_meta = measure_model(Recording(16).to("meta"), (3, 32, 32), 2, device="meta", depth=2).rows
    assert [(r.name, r.output_shape, r.params, r.weights, r.macs, r.traffic) for r in on_cpu] == \
        [(r.name, r.output_shape, r.params, r.weights, r.macs, r.traffic) for r in on_meta]
