"""The report's sentences (views/prose.py)."""
from __future__ import annotations

from googlenet_cost.views.prose import conventions
from test_formats import hand_report


def test_conventions_state_the_counting_rule_and_paper_figures_only_when_there_are_some():
    from dataclasses import replace

    text = conventions(hand_report())
    assert "FLOPs = 2 x MACs" in text and "weights are the parameters read as a matrix or kernel" in text
    assert "Paper figures" in text
    no_paper = replace(hand_report(), layers=[replace(r, paper=None) for r in hand_report().layers])
    assert "Paper figures" not in conventions(no_paper)
