"""What every benchmark table states about where it was measured."""
from __future__ import annotations

import os
import platform
from datetime import date


def environment() -> str:
    import torch

    from googlenet_cost.timing.cpus import cpu_model

    return (f"{date.today()}, {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def publish(file_name: str, text: str) -> None:
    """Write a measured table to docs/ (atomically) and show it. $BENCHMARKS_DOCS_DIR writes it
    elsewhere (gpu_check.py --dry-run: a rehearsal must not replace measured tables)."""
    from pathlib import Path

    from googlenet_cost.files import atomic_write_text

    folder = os.environ.get("BENCHMARKS_DOCS_DIR") or Path(__file__).resolve().parent.parent / "docs"
    atomic_write_text(Path(folder) / file_name, text)
    print(text)
