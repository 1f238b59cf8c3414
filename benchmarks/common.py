"""What every benchmark table states about where it was measured."""
from __future__ import annotations

import os
import platform
from datetime import date


def environment() -> str:
    import torch

    from googlenet_cost.latency import cpu_model

    return (f"{date.today()}, {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"torch {torch.__version__}")
