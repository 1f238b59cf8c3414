"""gcost check / gcost baseline: a model-size regression gate for CI.

Exit codes: 0 every metric within its limit, 1 a regression, 2 a usage or spec error."""
from __future__ import annotations

import click

from googlenet_cost.gate import metrics as gate_metrics

from .options import (FORMAT, MAX_BATCH, OUTPUT, Number, complete_spec, guard_outputs, model_options,
                      step_options)


def _limit_options(fn):
    """A --max-* option per metric of the gate's table (gate/metrics.py), its value passed under
    the metric's budget key (max_params, ...)."""
    for metric in reversed(gate_metrics.METRICS):
        fn = click.option(metric.option, metric.budget_key, metavar="N",
                          help=f"Limit on {metric.help}; K/M/G suffixes are decimal.")(fn)
    return fn


def _given_limits(values: dict) -> dict:
    """{max_params: "7.1M", ...}: the --max-* options given, by budget key, in the table's order."""
    return {metric.budget_key: values[metric.budget_key] for metric in gate_metrics.METRICS
            if values.get(metric.budget_key) is not None}


@click.command(short_help="Fail (exit 1) when a network exceeds its budget or grew past its baseline.")
@click.argument("specs", nargs=-1, shell_complete=complete_spec)
@model_options("Also check a Python model")
@_limit_options
@click.option("--budgets", "budgets_path", type=click.Path(dir_okay=False),
              help="YAML file of per-spec limits: {googlenet: {max_params: 7.1M}}.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Lock file from `gcost baseline`: no metric may grow beyond the tolerance.")
@click.option("--tolerance", default="0%", show_default=True, help="Allowed growth over the baseline.")
@click.option("--allow-new", is_flag=True,
              help="A network missing from the baseline is checked against its other limits only "
                   "(without it, that is an error: a renamed spec would escape the gate).")
@click.option("--latency-tolerance", default="10%", show_default=True,
              help="Allowed latency over its limit or baseline.")
@click.option("--latency", "with_latency", is_flag=True, help="Time the models and compare with the baseline.")
@click.option("--device", default="auto", show_default=True, help="Device for latency.")
@click.option("--train", is_flag=True, help="Training mode: auxiliary heads included.")
@step_options
@click.option("--batch", type=Number(1, MAX_BATCH, whole=True), default=1, show_default=True,
              help="Batch of the training step (--max-train-bytes) and of --latency timing.")
@click.option("--strict", is_flag=True, help="Operators with no MAC formula fail (Python models).")
@FORMAT
@OUTPUT
def check(specs, model_ref, model_args, input_text, budgets_path, baseline_path, tolerance, allow_new,
          latency_tolerance, with_latency, device, train, step, optimizer, batch, strict, fmt, output, **limits):
    """Fail (exit 1) when a network exceeds its size budget or grew past its baseline."""
    from googlenet_cost.gate.check import run_check
    from googlenet_cost.options import RunOptions
    from googlenet_cost.sources import open_sources
    from googlenet_cost.views import check as check_view

    from .render import emit, warn

    guard_outputs([output], list(specs), [budgets_path, baseline_path])
    options = RunOptions(batch=batch, train=train, step=step, optimizer=optimizer, strict=strict)
    result = run_check(open_sources(specs, model_ref, input_text, model_args), options, flags=_given_limits(limits),
                       budgets_path=budgets_path, baseline_path=baseline_path, tolerance=tolerance,
                       latency_tolerance=latency_tolerance, with_latency=with_latency, allow_new=allow_new,
                       device=device)
    emit(check_view.render(result, fmt), lambda: check_view.to_rich(result), output)
    if fmt == "table" or output:
        for line in check_view.details(result):
            warn(line)
    if not result.entries and (fmt != "table" or output):  # the table view already said it
        click.echo(check_view.summary_line(result), err=True)
    click.get_current_context().exit(result.return_code)


@click.command(short_help="Record today's params, weights, MACs and activations in a lock file.")
@click.argument("specs", nargs=-1, shell_complete=complete_spec)
@model_options("Also record a Python model")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The lock file to write (atomically), e.g. gcost.lock.json.")
@click.option("--latency", "with_latency", is_flag=True, help="Also record the median latency.")
@click.option("--device", default="auto", show_default=True, help="Device for --latency.")
@click.option("--train", is_flag=True, help="Training mode: auxiliary heads included.")
@step_options
@click.option("--batch", type=Number(1, MAX_BATCH, whole=True), default=1, show_default=True,
              help="Batch of the training step recorded with --step train, and of --latency timing.")
def baseline(specs, model_ref, model_args, input_text, output, with_latency, device, train, step, optimizer, batch):
    """Record today's numbers (params, weights, MACs, activations, per layer) in a lock file."""
    from googlenet_cost.files import atomic_write_text
    from googlenet_cost.gate.check import run_baseline
    from googlenet_cost.gate.lock import lock_document
    from googlenet_cost.options import RunOptions
    from googlenet_cost.sources import open_sources

    guard_outputs([output], list(specs))
    options = RunOptions(batch=batch, train=train, step=step, optimizer=optimizer)
    reports = run_baseline(open_sources(specs, model_ref, input_text, model_args), options,
                           with_latency=with_latency, device=device)
    atomic_write_text(output, lock_document(reports))
    click.echo(f"wrote {output}: {', '.join(reports)}", err=True)
