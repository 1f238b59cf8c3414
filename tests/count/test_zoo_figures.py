"""torchvision's models through --model: the exact figures measured by benchmarks/zoo.py (in a
separate environment with torch 2.14.1 and torchvision 0.29.1; the command is in docs/zoo.md).
The suite does not need torchvision: where it is installed, the live models are analyzed and
must give these figures; everywhere, docs/zoo.md must show the same ones."""
from __future__ import annotations

import re

import pytest

from conftest import ROOT

# model: (input, params, weights, MACs, factory arguments)
PINNED = {
    "googlenet": ("3x224x224", 6_624_904, 6_609_344, 1_498_376_192, {"aux_logits": False, "init_weights": False}),
    "inception_v3": ("3x299x299", 27_161_264, 23_799_136, 5_713_216_096, {"aux_logits": True, "init_weights": False}),
    "resnet50": ("3x224x224", 25_557_032, 25_502_912, 4_089_184_256, {}),
    "mobilenet_v2": ("3x224x224", 3_504_872, 3_469_760, 300_774_272, {}),
    "mobilenet_v3_large": ("3x224x224", 5_483_032, 5_451_272, 216_589_760, {}),
    "efficientnet_b0": ("3x224x224", 5_288_548, 5_236_192, 385_814_752, {}),
    "densenet121": ("3x224x224", 7_978_856, 7_894_208, 2_834_161_664, {}),
    "convnext_tiny": ("3x224x224", 28_589_128, 28_524_000, 4_455_531_264, {}),
    "vit_b_16": ("3x224x224", 86_567_656, 86_292_480, 17_563_828_224, {}),
    "swin_t": ("3x224x224", 28_288_354, 28_199_424, 4_490_566_656, {}),
}


@pytest.mark.parametrize("name", list(PINNED))
def test_docs_zoo_table_shows_the_pinned_figures(name):
    shape, params, weights, macs, _ = PINNED[name]
    table = (ROOT / "docs" / "zoo.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == shape and cells[2] == f"{params:,}" and cells[5] == f"{weights:,}" and cells[6] == f"{macs:,}"
    assert cells[9] == "passes"  # --strict: no operator that might hide MACs went uncounted


@pytest.mark.parametrize("name", list(PINNED))
def test_live_torchvision_models_give_the_pinned_figures(name):
    models = pytest.importorskip("torchvision.models")
    from googlenet_cost.sources import ModuleSource

    shape, params, weights, macs, arguments = PINNED[name]
    source = ModuleSource(f"torchvision.models:{name}", lambda: models.get_model(name, **arguments),
                          tuple(int(d) for d in re.findall(r"\d+", shape)))
    totals = source.analyze(strict=True).totals
    assert (totals.params, totals.weights, totals.macs) == (params, weights, macs)
