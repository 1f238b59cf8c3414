"""Figures on files: matplotlib (the optional `plot` extra) on a file-only backend, written atomically."""
from __future__ import annotations

import io
from typing import Any

PLOT_FORMATS = (".png", ".svg", ".pdf")


def plot_backend(path: str):
    """matplotlib's pyplot on a file-only backend, or a GcostError saying what is missing. Called
    before any analysis, so a bad --plot fails fast."""
    from ..errors import GcostError

    if not path.lower().endswith(PLOT_FORMATS):
        raise GcostError("--plot needs a .png, .svg or .pdf file name", file=path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # absent, or present and broken (matplotlib < 3.7.3 beside numpy 2)
        from ..errors import first_line

        raise GcostError(f"--plot needs a working matplotlib (pip install 'gcost[plot]'): {first_line(e, 160)}") from None
    return plt


def save_figure(figure: Any, path: str) -> None:
    """Write `figure` to `path` in the format its suffix names, atomically, and close it."""
    import matplotlib.pyplot as plt

    from ..files import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.lower().rsplit(".", 1)[1])
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
