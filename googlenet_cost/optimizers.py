"""The optimizers a training step can use and the state each keeps per parameter. At the bottom of
the house: options.py (the choice), count/training.py (a step's memory) and timing/prepare.py (the
memory check before a step is timed) read this one table, and none of them imports another for it."""
from __future__ import annotations

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # fp32 tensors of state per parameter
OPTIMIZERS = tuple(OPTIMIZER_STATES)
