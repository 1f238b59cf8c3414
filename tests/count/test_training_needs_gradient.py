"""A training step exists only where a gradient reaches the model's output (issue 33): a forward
that returns None or no tensor, an integer output (an argmax) or an output its trainable
parameters do not reach (detached) once counted 0 backward MACs and passed a --max-step-macs gate.
Now each is exit 2 in one line saying why. A network with nothing to train (frozen, or pooling
alone) keeps its step of a forward and no backward, as does a unit measured alone without a
gradient (a first pooling layer)."""
from __future__ import annotations

import json

import pytest

from conftest import invoke

MODELS = """
import torch.nn as nn


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)


class ReturnsNone(Conv):
    def forward(self, x):
        self.conv(x)


class ReturnsText(Conv):
    def forward(self, x):
        return "done"


class ReturnsArgmax(Conv):
    def forward(self, x):
        return self.conv(x).argmax(1)


class ReturnsDetached(Conv):
    def forward(self, x):
        return self.conv(x).detach()


def returns_none():
    return ReturnsNone()


def returns_text():
    return ReturnsText()


def returns_argmax():
    return ReturnsArgmax()


def returns_detached():
    return ReturnsDetached()


def frozen():
    return nn.Conv2d(3, 4, 1).requires_grad_(False)


def trains():
    return nn.Conv2d(3, 4, 1)
"""

WHY = {"returns_none": "the model's forward returned None, no tensor to take a loss from",
       "returns_text": "the model's forward returned a value of type str, no tensor to take a loss from",
       "returns_argmax": "the model's output is int64, not floating point: no gradient reaches it",
       "returns_detached": "no gradient reaches the model's output from its parameters (detached"}


@pytest.fixture
def models(tmp_path) -> str:
    path = tmp_path / "outputs.py"
    path.write_text(MODELS)
    return str(path)


def one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("gcost: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("factory", list(WHY))
def test_a_training_step_on_an_output_no_gradient_reaches_is_exit_2_saying_why(runner, models, factory):
    result = invoke(runner, "analyze", "--model", f"{models}:{factory}", "--input", "3x8x8", "--no-latency",
                    "--step", "train")
    line = one_error_line(result)
    assert line.startswith(f"gcost: error: {models}:{factory}: no training step can be counted")
    assert WHY[factory] in line


@pytest.mark.parametrize("limit", ["--max-step-macs", "--max-train-bytes"])
@pytest.mark.parametrize("factory", ["returns_argmax", "returns_none"])
def test_a_training_limit_on_such_a_model_is_an_error_not_a_pass(runner, models, factory, limit):
    result = invoke(runner, "check", "--model", f"{models}:{factory}", "--input", "3x8x8", limit, "5000")
    assert "a limit on a training-step metric" in one_error_line(result) and result.stdout == ""


@pytest.mark.parametrize("factory, step_macs", [("trains", 768 + 768), ("frozen", 768)])
def test_a_model_the_gradient_reaches_or_with_nothing_to_train_still_counts(runner, models, factory, step_macs):
    result = invoke(runner, "check", "--model", f"{models}:{factory}", "--input", "3x8x8", "--max-step-macs", "5000",
                    "--format", "json")
    assert result.exit_code == 0, result.output  # forward 768 MACs, + the weights' gradient 768 where trained
    assert json.loads(result.stdout)["entries"][0]["value"] == step_macs


def test_a_first_pooling_layer_alone_still_has_no_backward(runner, write_spec):
    spec = write_spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: pool, type: maxpool, kernel: 2, stride: 2}\n"
                      "  - {name: c1, type: conv, out: 4, kernel: 1}\n")
    result = invoke(runner, "analyze", str(spec), "--no-latency", "--step", "train", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)["layers"]}
    assert rows["pool"]["backward_macs"] == 0 and rows["c1"]["backward_macs"] == 4 * 3 * 16  # weight grad only
