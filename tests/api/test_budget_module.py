"""assert_within_budget on an nn.Module object with its input size, as on a spec."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from googlenet_cost.testing import assert_within_budget
from resnet_like import ResNetLike
from test_summary import RESNET_MACS

SIZE = (1, 3, 32, 32)


def test_a_module_within_its_budget_passes():
    model = ResNetLike()
    params = sum(p.numel() for p in model.parameters())
    assert_within_budget(model, SIZE, max_params=params, max_macs=RESNET_MACS)
    assert_within_budget(model, input_data=torch.zeros(SIZE), max_macs="1M")


@pytest.mark.parametrize("limits, words", [
    ({"max_macs": RESNET_MACS - 1}, f"macs {RESNET_MACS:,} > {RESNET_MACS - 1:,}"),
    ({"max_params": "1K"}, "params"),
], ids=["macs", "params"])
def test_a_module_over_its_budget_fails_naming_the_metric(limits, words):
    with pytest.raises(AssertionError) as raised:
        assert_within_budget(ResNetLike(), SIZE, **limits)
    assert str(raised.value).startswith("ResNetLike is over budget: ") and words in str(raised.value)


def test_a_training_limit_measures_a_step_at_the_input_batch():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    forward = 6 * 6 * 4 * 27
    with pytest.raises(AssertionError, match="step_macs"):
        assert_within_budget(model, (2, 3, 8, 8), max_step_macs=forward)  # backward MACs come on top
    assert_within_budget(model, (2, 3, 8, 8), max_step_macs=3 * forward)


def test_a_spec_still_works_and_refuses_an_input_size():
    assert_within_budget("example_5x5_conv", max_params=760)
    with pytest.raises(AssertionError, match="params 760 > 759"):
        assert_within_budget("example_5x5_conv", max_params=759)
    with pytest.raises(TypeError, match="a spec carries its own input shape"):
        assert_within_budget("example_5x5_conv", SIZE, max_params=760)


def test_a_module_without_its_input_is_a_type_error():
    with pytest.raises(TypeError, match="needs its input"):
        assert_within_budget(ResNetLike(), max_params=1)
