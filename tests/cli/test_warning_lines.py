"""Every warning gcost prints is one line beginning `warning:` (issue 33), a Python warning from the
analyzed code or a library included: Python itself prints such a warning as the message and then
the source line, without gcost's prefix."""
from __future__ import annotations

from conftest import invoke

MODEL = '''
import warnings
import torch
from torch import nn

class Warns(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        warnings.warn("this model is deprecated\\nuse another", DeprecationWarning)
        return torch.fft.fft2(self.conv(x)).real

def build():
    return Warns()
'''


def test_a_python_warning_of_the_model_is_one_warning_line(runner, tmp_path):
    (tmp_path / "warns.py").write_text(MODEL, encoding="utf-8")
    result = invoke(runner, "analyze", "--model", f"{tmp_path}/warns.py:build", "--input", "3x8x8", "--no-latency",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("warning: ") for line in lines), lines
    said = {line for line in lines if "DeprecationWarning" in line}  # as often as Python's filters show it
    assert said == {f"warning: DeprecationWarning: this model is deprecated\\nuse another ({tmp_path}/warns.py:12)"}
    assert any("operators with no MAC formula" in line for line in lines)  # gcost's own warning, as before


def test_python_shows_warnings_its_own_way_again_after_a_command(runner):
    import warnings

    before = warnings.showwarning
    invoke(runner, "analyze", "example_5x5_conv", "--no-latency", "--format", "json")
    assert warnings.showwarning is before
