"""The API bounds input_size and input_data as `--input` bounds its sizes: no zero and no negative
size, in the same words, naming input_size (issue 33). Before, (1, 0, 5) gave a report of shape
[0, 5] and (1, -3) torch's own error from its meta registrations."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import googlenet_cost as gc
from conftest import invoke
from googlenet_cost.errors import GcostError


def flat() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(5, 2))


def cli_words(runner, text: str) -> str:
    result = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", text, "--no-latency")
    assert result.exit_code == 2
    return result.stderr.strip().removeprefix("gcost: error: ")


@pytest.mark.parametrize("size", [(1, 0, 5), (1, -3), (1, 5, -1), (0, 5), (-1, 5), [(1, 5), (1, 0)]],
                         ids=["zero", "negative", "negative last", "zero batch", "negative batch", "second input"])
def test_input_size_refuses_zero_and_negative_sizes_as_input_does(runner, size):
    with pytest.raises(GcostError) as raised:
        gc.summary(flat(), input_size=size)
    said = str(raised.value)
    assert said == f"input_size sizes must be at least 1, got {size!r}".replace("[", "(").replace("]", ")")
    assert said.split(", got")[0].replace("input_size", "--input") == cli_words(runner, "3x0x8").split(", got")[0]


def test_input_data_refuses_an_empty_dimension():
    with pytest.raises(GcostError, match=r"^input_data sizes must be at least 1, got \(1, 0, 5\)$"):
        gc.summary(flat(), input_data=torch.zeros(1, 0, 5))
    with pytest.raises(GcostError, match=r"^input_data\['x'\] sizes must be at least 1"):
        gc.summary(flat(), input_data={"x": torch.zeros(1, 5, 0)})


def test_too_large_names_input_size():
    with pytest.raises(GcostError, match=r"^input_size \(1, 3, 2097152\) is too large: at most 4 sizes"):
        gc.summary(flat(), input_size=(1, 3, 2 ** 21))
    with pytest.raises(GcostError, match=r"^input_size \(2097152, 5\): the batch 2,097,152 is too large"):
        gc.summary(flat(), input_size=(2 ** 21, 5))
