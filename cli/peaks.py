"""gcost peaks: this machine's peak FLOP/s and memory bandwidth (a roofline's roofs), measured once
and cached, beside the datasheet's on a GPU; or a datasheet's or a file's."""
from __future__ import annotations

import click

from googlenet_cost.timing.settings import DTYPE_BYTES

from .flags import DEVICE_HELP, Number

JSON_SCHEMA = 1


@click.command(short_help="Peak FLOP/s and memory bandwidth of this machine (measured, cached) or a datasheet.")
@click.option("--device", default=None, help=DEVICE_HELP + " [default: auto]")
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default="fp32", show_default=True,
              help="The matrix products' dtype (fp32 on CUDA without TF32).")
@click.option("--threads", type=Number(1, 1_000_000, whole=True),
              help="CPU threads, at most 4 per CPU of the machine. Default: the CPUs this process may run on.")
@click.option("--remeasure", is_flag=True, help="Measure again, replacing the cached peaks.")
@click.option("--peaks", "choice", metavar="NAME|FILE.yaml",
              help="A datasheet's peaks instead (h200, h100-sxm, h100-pcie, a100, l40s, a10, t4, orin), or a "
                   "device of your own in YAML (docs/roofline.md).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
def peaks(device, dtype, threads, remeasure, choice, fmt):
    """Peak FLOP/s (the best of large matrix products and of the convolutions measured, 2 FLOP per
    multiply-add) and memory bandwidth (copy and triad, bytes read + written) of this machine, on a
    CPU the bandwidth of a cache-resident working set, and what operators take: a call, the
    operators without MACs CNNs run and the convolution classes, at a few sizes (about 8 s on 2
    CPUs). Measured once and cached per machine, threads, torch and dtype; re-probed before use."""
    from googlenet_cost.roofline.peaks import resolve_peaks
    from googlenet_cost.roofline.readers import datasheet_for_device

    from .render import emit, fit_width, say_progress

    if choice is not None and (device is not None or threads is not None or remeasure):
        raise click.UsageError("--peaks gives another device's peaks: leave out --device, --threads and --remeasure")
    fit_width()  # an unreadable COLUMNS is warned about (once) before any work
    found = resolve_peaks(choice, device=device or "auto", dtype=dtype, threads=threads, remeasure=remeasure,
                          progress=say_progress)
    entries = [found]
    notes = []
    if choice is None and found.threads is None:  # a GPU: its datasheet beside the measurement
        sheet = datasheet_for_device(found.device, dtype)
        if sheet is not None:
            entries.append(sheet)
        else:
            notes.append(f"no datasheet for {found.device!r} at {dtype}; --peaks NAME shows one")
    if fmt == "json":
        from googlenet_cost.escaping import json_text

        text = json_text({"schema": JSON_SCHEMA, "peaks": [entry.to_dict() for entry in entries]})
        emit(text, lambda: [], None)
        return
    emit(None, lambda: _views(entries, notes), None)


def _views(entries: list, notes: list[str]) -> list:
    from rich.table import Table

    from googlenet_cost.escaping import printable

    from .render import plain_text

    first = entries[0]
    title = printable(f"Peaks of {first.device}, {first.dtype}", one_line=True)
    table = Table(title=plain_text(title), title_justify="left")
    table.add_column("")
    for entry in entries:
        table.add_column(entry.source, justify="right")
    if len(entries) == 2:
        table.add_column("measured / datasheet", justify="right")

    def row(label: str, cells: list, attr: str | None = None) -> None:
        cells = ["-" if cell is None else cell for cell in cells]
        if len(entries) == 2:
            measured, sheet = (getattr(e, attr) for e in entries) if attr else (None, None)
            cells.append(f"{measured / sheet:.2f}" if measured and sheet else "")
        table.add_row(label, *cells)

    row("peak FLOP/s", [_si(e.flops_per_s, "FLOP/s") for e in entries], "flops_per_s")
    row("memory bandwidth", [_si(e.bytes_per_s, "B/s") for e in entries], "bytes_per_s")
    if any(e.cache_bytes_per_s for e in entries):
        row("cache bandwidth", [_si(e.cache_bytes_per_s, "B/s") if e.cache_bytes_per_s else None for e in entries])
        row("cache size", [_binary(e.cache_bytes) if e.cache_bytes else None for e in entries])
    row("ridge point, memory", [f"{e.memory_ridge:.1f} FLOP/byte" for e in entries])
    if any(e.cache_ridge for e in entries):
        row("ridge point, cache", [f"{e.cache_ridge:.1f} FLOP/byte" if e.cache_ridge else None for e in entries])
    if len(entries) == 1:
        row("theoretical FLOP/s", [_si(e.theoretical_flops_per_s, "FLOP/s") if e.theoretical_flops_per_s else None
                                   for e in entries])
    if any(e.operators for e in entries):
        row("one operator call", [f"{e.operators.call_s * 1e6:.1f} us" if e.operators else None for e in entries])
    if any(e.threads for e in entries):
        row("threads", [str(e.threads) if e.threads else None for e in entries])
    if any(e.measured_at for e in entries):
        row("measured at", [e.measured_at for e in entries])
    lines = [f"{entry.source}: {entry.reference}" for entry in entries if entry.reference]
    lines += [f"theoretical: {first.theoretical_reference}"] if len(entries) == 1 and first.theoretical_reference else []
    lines += ["ridge points: the arithmetic intensity above which a kernel can be compute-bound (peak FLOP/s / "
              "bandwidth); the cache's decides a row's roof when its working set fits in cache"] + notes
    views = [table, *(plain_text(line) for line in lines)]
    if first.operators is not None:
        views.append(_operator_table(first.operators))
    return views


def _operator_table(rates) -> object:
    """What the operators take, at each size measured: bytes/s for those without MACs, FLOP/s for
    the MAC classes (expected_ms prices a row's operators at these rates)."""
    from rich.table import Table

    table = Table(title="Operator rates (the median of copies called in turn; what expected_ms uses)",
                  title_justify="left")
    for heading in ("operator", "per call (size: rate)"):
        table.add_column(heading)
    for key, curve in rates.ops.items():
        table.add_row(key, ", ".join(f"{_si(size, 'B')}: {_si(size / seconds, 'B/s')}" for size, seconds in curve))
    for key, curve in rates.macs.items():
        table.add_row(key, ", ".join(f"{_si(size, 'FLOP')}: {_si(size / seconds, 'FLOP/s')}" for size, seconds in curve))
    return table


def _si(value: float, unit: str) -> str:
    """65.91 GFLOP/s, 4.8 TB/s: decimal prefixes, as datasheets print them."""
    for prefix, exponent in (("P", 15), ("T", 12), ("G", 9), ("M", 6), ("K", 3)):
        if value >= 10**exponent:
            return f"{value / 10**exponent:.4g} {prefix}{unit}"
    return f"{value:.4g} {unit}"


def _binary(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"
