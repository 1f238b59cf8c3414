"""gcost sweep: a network's design space (docs/sweep.md); gcost table export/import: a device's
latency table as a file."""
from __future__ import annotations

import click

from googlenet_cost import metrics as gate_metrics

from .flags import (FORMAT, OUTPUT, Number, batch_option, complete_spec, guard_outputs, timing_from,
                      timing_options)

LATENCY_MODES = ("predicted", "measured", "none")
SWEPT_METRICS = tuple(metric for metric in gate_metrics.METRICS if not metric.training)  # a sweep counts no step


def _limit_options(fn):
    """A --max-* option per metric of the gate's table that a sweep has, read as `gcost check` reads it
    and in its words (a candidate over a limit is pruned: listed, but not on the front)."""
    for metric in reversed(SWEPT_METRICS):
        words = ("Limit on latency in ms, predicted (or measured with --latency measured), e.g. 12.5." if metric.timed
                 else f"Limit on {metric.help}; K/M/G suffixes are decimal.")
        fn = click.option(metric.option, metric.budget_key, metavar="N", help=words)(fn)
    return fn


def _limits(values: dict) -> dict[str, float]:
    from googlenet_cost.errors import GcostError

    limits = {}
    for metric in SWEPT_METRICS:
        raw = values.get(metric.budget_key)
        if raw is None:
            continue
        try:
            limits[metric.key] = metric.parse_limit(raw)
        except ValueError as e:
            raise GcostError(f"{metric.option}: {e}") from None
    return limits


@click.command(short_help="A grid of --set edits: every candidate counted, latency predicted, the Pareto front.")
@click.argument("spec", required=False, default=None, shell_complete=complete_spec)
@click.option("--grid", "grids", multiple=True, metavar="GLOB.KEY=V1|V2|...",
              help="An axis of the grid (repeatable): KEY set to each value on the rows GLOB matches, as --set "
                   "reads it (a number, or xF for F times the layer's own), e.g. "
                   "'inception_*/5x5_reduce.out=x0.5|x1|x2'. The candidates are the product of the axes.")
@click.option("--sample", type=Number(1, 1_000_000, whole=True), help="Draw this many candidates of the product at "
                                                                    "random instead of taking all of them.")
@click.option("--seed", type=Number(0, 2**63 - 1, whole=True), default=0, show_default=True,
              help="The random draw's seed (--sample).")
@click.option("--pareto", "pareto_text", metavar="METRIC:min|max,...",
              help="The front's objectives, two or more of params, macs, bytes, latency. Default: "
                   "params:max,latency:min (params:max,macs:min with --latency none).")
@click.option("--latency", "latency_mode", type=click.Choice(LATENCY_MODES), default="predicted", show_default=True,
              help="predicted: from a latency table of this device's layers, each timed once and stored; measured: "
                   "every candidate timed end to end; none: count only.")
@click.option("--measure", type=Number(0, 10_000, whole=True),
              help="With --latency predicted: time this many candidates end to end (spread over the front) and "
                   "report the predictor's error. Default: 5.")
@click.option("--interpolate", is_flag=True,
              help="Interpolate layers between two timed ones along a channel count, where the grid is dense "
                   "(neighbours at most 2x apart), instead of timing every one.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False),
              help="The latency store (SQLite) to reuse and add to. Default: latency.sqlite in gcost's cache folder.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where counting and timing run: this process, or Ray tasks (pip install 'gcost[ray]').")
@click.option("--ray-address", metavar="ADDR", help="With --executor ray: the cluster to use (default: start a local "
                                                    "one on this machine, on loopback only).")
@click.option("--device-kinds", metavar="LIST",
              help="With --executor ray: build a table on each kind and predict on each, side by side: cpu and "
                   "accelerator types as Ray names them, e.g. cpu,H100,A100 (default: cpu).")
@_limit_options
@FORMAT
@OUTPUT
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Draw every candidate and the front (.png, .svg or .pdf), the front labelled.")
@batch_option(lists=False)
@timing_options
def sweep(spec, grids, sample, seed, pareto_text, latency_mode, measure, interpolate, store_path, executor, ray_address,
          device_kinds, fmt, output, plot_path, batch, **rest):
    """Sweep a grid of --set edits over SPEC (default: googlenet): every candidate counted exactly from
    the closed forms (a candidate that does not build is listed with its reason), pruned by the
    --max-* budgets, its latency predicted from a table of this device's layers (timed once, kept in
    the store), and the Pareto front marked."""
    from googlenet_cost.options import RunOptions
    from googlenet_cost.space.grid import parse_grid
    from googlenet_cost.space.options import SweepOptions
    from googlenet_cost.space.pareto import parse_objectives
    from googlenet_cost.spec.load import load_spec
    from googlenet_cost.spec.model import DEFAULT_SPEC

    timing = {key: value for key, value in rest.items() if not key.startswith("max_")}
    guard_outputs([output, plot_path], [spec or DEFAULT_SPEC], [store_path])
    _check_executor(executor, ray_address, device_kinds)
    if timing["no_latency"]:
        if click.get_current_context().get_parameter_source("latency_mode").name != "DEFAULT" \
                and latency_mode != "none":
            raise click.UsageError(f"--no-latency and --latency {latency_mode} disagree: give one")
        latency_mode = "none"
    if plot_path:
        from googlenet_cost.views.plots import plot_backend

        plot_backend(plot_path)
    timed = timing_from(timing, (batch,)) if latency_mode != "none" else None
    options = SweepOptions(axes=parse_grid(grids), run=RunOptions(batch=batch, timing=timed, dtype=timing["dtype"]),
                           latency=latency_mode, sample=sample, seed=seed, measure=measure,
                           pareto=parse_objectives(pareto_text) if pareto_text else None,
                           limits=_limits(rest), interpolate=interpolate)
    result = _run(load_spec(spec or DEFAULT_SPEC), options, executor, ray_address, device_kinds, store_path,
                  progress_shown=fmt == "table" and output is None)
    _show(result, fmt, output, plot_path)


def _check_executor(executor: str, address: str | None, kinds: str | None) -> None:
    if executor != "ray" and (address is not None or kinds is not None):
        raise click.UsageError("--ray-address and --device-kinds go with --executor ray")


def _run(spec, options, executor: str, address: str | None, kinds: str | None, store_path: str | None, *,
         progress_shown: bool):
    from googlenet_cost.space.executors import LocalExecutor
    from googlenet_cost.space.run import run_sweep
    from googlenet_cost.space.store import open_store

    from .render import Progress, say_progress

    timing = options.run.timing
    if executor == "ray":
        from googlenet_cost.space.ray_executor import RayExecutor, parse_kinds

        runner = RayExecutor(timing, dtype=options.run.dtype, address=address, kinds=parse_kinds(kinds),
                             progress=say_progress)
    else:
        runner = LocalExecutor(timing, dtype=options.run.dtype)
    store = open_store(store_path, say_progress) if options.latency != "none" else None
    try:
        with Progress(enabled=progress_shown) as progress:
            return run_sweep(spec, options, runner, store, progress=progress)
    finally:
        runner.close()
        if store is not None:
            store.close()


def _show(result, fmt: str, output: str | None, plot_path: str | None) -> None:
    from googlenet_cost.views import sweep as sweep_view

    from .render import emit, warn

    emit(sweep_view.render(result, fmt), lambda: sweep_view.to_rich(result), output)
    for message in sweep_view.warnings(result):
        warn(message)
    if plot_path:
        from googlenet_cost.views.sweep_plot import plot_front

        plot_front(result, plot_path)
        click.echo(f"wrote {plot_path}", err=True)


@click.group(short_help="A device's latency table: export the store to an open file, import one.")
def table() -> None:
    """The latency tables gcost sweep builds, as files: `export` writes the store's entries as JSON
    (docs/sweep.md, 'The table file'), `import` adds a file's entries to a store."""


STORE_HELP = "The latency store (SQLite). Default: latency.sqlite in gcost's cache folder."


@table.command("export", short_help="Write the store's entries to a JSON file.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--store", "store_path", type=click.Path(dir_okay=False), help=STORE_HELP)
@click.option("--device", "device_identity", metavar="IDENTITY",
              help="Only the entries of this device, as the entries name it (e.g. 'AMD EPYC (2 CPUs)').")
def export(file: str, store_path: str | None, device_identity: str | None) -> None:
    """Write the store's entries (every device's, or one's) to FILE as JSON, atomically."""
    from googlenet_cost.files import atomic_write_text
    from googlenet_cost.space.store import open_store
    from googlenet_cost.space.table import table_document

    from .render import say_progress

    guard_outputs({"FILE": file}, [], [store_path])
    with open_store(store_path, say_progress, create=False) as store:
        entries = [e for e in store.entries() if device_identity is None or e.conditions.device == device_identity]
        guard_outputs({"FILE": file}, [], [str(store.path)] if store.path else [])
        atomic_write_text(file, table_document(entries))
    devices = len({entry.conditions.device for entry in entries})
    click.echo(f"wrote {file}: {len(entries):,} entries of {devices:,} device{'s' if devices != 1 else ''}", err=True)


@table.command("import", short_help="Add a JSON file's entries to the store.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--store", "store_path", type=click.Path(dir_okay=False), help=STORE_HELP)
def import_table(file: str, store_path: str | None) -> None:
    """Add FILE's entries (written by gcost table export) to the store; entries it has already are kept."""
    from googlenet_cost.files import read_text
    from googlenet_cost.space.store import open_store
    from googlenet_cost.space.table import MAX_FILE_BYTES, read_table

    from .render import say_progress

    entries = read_table(read_text(file, max_bytes=MAX_FILE_BYTES), file)
    with open_store(store_path, say_progress) as store:
        added = sum(store.put(entry) for entry in entries)
        where = store.path or "the store"
    click.echo(f"imported {added:,} of {len(entries):,} entries into {where} ({len(entries) - added:,} were there)",
               err=True)

