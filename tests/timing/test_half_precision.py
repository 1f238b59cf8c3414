"""Half precision on the CPU (issue 24): every layer type runs in bf16 and fp16 there (PyTorch's LRN
has no CPU kernel for them: gcost's runs it in fp32 and casts back), and a network with LRN times
and counts at --dtype bf16 (it was an internal error)."""
from __future__ import annotations

import json

import pytest
import torch
import yaml

import googlenet_cost as gc
from googlenet_cost.spec.layers import ACTIVATIONS, LAYER_TYPES

from conftest import invoke

CONV = {"type": "conv", "out": 4, "kernel": 3, "padding": 1}
EVERY_TYPE = [
    {"name": "c", **CONV, "norm": "batchnorm"},
    {"name": "lrn", "type": "lrn", "size": 3},
    {"name": "bn", "type": "batchnorm"},
    *({"name": f, "type": f} for f in ACTIVATIONS),
    {"name": "i", "type": "inception", "1x1": 2, "3x3_reduce": 2, "3x3": 2, "5x5_reduce": 1, "5x5": 2, "pool_proj": 2},
    {"name": "ln", "type": "layernorm"},
    {"name": "ls", "type": "layer_scale"},
    {"name": "cs", "type": "channel_shuffle", "groups": 2},
    {"name": "sp", "type": "branches", "split": True, "branches": [[], [{"name": "p", **CONV, "out": 4}]]},
    {"name": "b", "type": "branches", "merge": "add", "branches": [[], [{"name": "p", **CONV, "out": 8}]]},
    {"name": "g", "type": "branches", "merge": "mul", "branches": [[], [{"name": "pool", "type": "global_avgpool"}]]},
    {"name": "se", "type": "se", "reduce": 2},
    {"name": "s", "type": "sequence", "layers": [{"name": "m", "type": "maxpool", "kernel": 2, "stride": 1}]},
    {"name": "r", "type": "repeat", "times": 2, "layers": [{"name": "a", "type": "avgpool", "kernel": 3, "stride": 1,
                                                           "padding": 1}]},
    {"name": "am", "type": "adaptive_maxpool", "output": [4, 4]},
    {"name": "aa", "type": "adaptive_avgpool", "output": [3, 3]},
    {"name": "gm", "type": "global_maxpool"},
    {"name": "ga", "type": "global_avgpool"},
    {"name": "d", "type": "dropout", "p": 0.5},
    {"name": "f", "type": "flatten"},
    {"name": "lnf", "type": "layernorm"},
    {"name": "lsf", "type": "layer_scale"},
    {"name": "fc", "type": "linear", "out": 5},
    {"name": "sm", "type": "softmax"},
]


def test_the_example_holds_every_layer_type():
    used, stack = set(), list(EVERY_TYPE)
    while stack:
        layer = stack.pop()
        used.add(layer["type"])
        stack += layer.get("layers", []) + [child for path in layer.get("branches", []) for child in path]
    assert used == set(LAYER_TYPES)  # a new layer type must join this test


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
def test_every_layer_type_runs_in_half_precision_on_the_cpu(dtype):
    spec = gc.parse_spec(yaml.safe_dump({"name": "every", "input": [3, 8, 8], "layers": EVERY_TYPE}))
    model = gc.build_model(spec).to(dtype)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 8, dtype=dtype))
    assert out.dtype == dtype and out.shape == (2, 5) and torch.isfinite(out).all()


def test_lrn_in_half_precision_is_fp32_lrn_rounded():
    spec = gc.parse_spec(yaml.safe_dump({"name": "n", "input": [6, 5, 5], "layers": [{"name": "n", "type": "lrn"}]}))
    model = gc.build_model(spec)
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        exact = model(x)
        half = model.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16
    assert torch.allclose(half.float(), exact, rtol=2e-2, atol=2e-2)


def test_a_network_with_lrn_times_and_counts_in_bf16_on_the_cpu(runner, tmp_path):
    path = tmp_path / "lrn.yaml"
    path.write_text(yaml.safe_dump({"name": "lrn_net", "input": [3, 16, 16],
                                    "layers": [{"name": "c", **CONV}, {"name": "n", "type": "lrn"}]}))
    fast = ["--device", "cpu", "--min-iters", "3", "--min-time", "0", "--warmup", "0", "--format", "json"]
    half = invoke(runner, "analyze", str(path), "--dtype", "bf16", *fast)
    assert half.exit_code == 0, half.stderr
    data = json.loads(half.stdout)
    assert data["dtype"] == "bf16" and data["latency"]["dtype"] == "bf16" and data["latency"]["median_ms"] > 0
    full = json.loads(invoke(runner, "analyze", str(path), "--no-latency", "--format", "json").stdout)
    assert data["totals"]["bytes"] * 2 == full["totals"]["bytes"]  # every tensor is floating point here
