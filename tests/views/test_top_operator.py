"""--per-layer's operators (issue 32): each profiled operator carries the FLOPs and bytes counting
gave the same name in the same row, the table shows each row's top operator with its share of the
row's time, and compare's "mostly X-bound" reads each row's roof (a kernel-limited row still sits
under a memory or compute roof). Hand-built rows: no timing."""
from __future__ import annotations

from dataclasses import replace

from googlenet_cost.analysis import with_layer_latency
from googlenet_cost.report import LayerRow, OpCount, Report, SourceInfo, totals_of
from googlenet_cost.roofline.roofs import Peaks
from googlenet_cost.timing.per_layer import LayerLatency, OpTime
from googlenet_cost.views.compare_text import bound_words
from googlenet_cost.views.columns import parse_columns
from googlenet_cost.views.formats import to_csv
from googlenet_cost.views.table import to_rich_table


def row(name, **fields):
    base = dict(name=name, parent=None, type="lrn", kernel="", output_shape=[8], params=0, weights=0, macs=0,
                receptive_field=[], bytes=100)
    return LayerRow(**{**base, **fields})


def report(rows, machine=None) -> Report:
    return Report(spec=SourceInfo("t"), counting={}, input_shape=[3, 8, 8], batch=1, mode="eval", layers=rows,
                  totals=totals_of(rows), machine=machine)


def latency(by_row, ops) -> LayerLatency:
    return LayerLatency(by_row=by_row, ops=ops, total_ms=sum(by_row.values()), coverage=1.0, coverage_of="forward",
                        iterations=5, activity="cpu", warnings=[])


def test_profiled_operators_get_the_counted_flops_and_bytes_of_their_name_summed_over_calls():
    counted = (OpCount("aten::mul", 1, 0, 300), OpCount("aten::avg_pool3d", 1, 0, 500), OpCount("aten::mul", 1, 0, 200))
    timed = (OpTime("aten::avg_pool3d", 1, 3.0), OpTime("aten::mul", 2, 1.0), OpTime("aten::squeeze", 1, 0.01))
    [joined] = with_layer_latency([row("norm", operators=counted)], latency({"norm": 4.0}, {"norm": timed}))
    assert [(op.name, op.flops, op.bytes) for op in joined.ops] == [
        ("aten::avg_pool3d", 0, 500), ("aten::mul", 0, 500), ("aten::squeeze", None, None)]
    assert joined.latency_ms == 4.0
    assert joined.ops[1].to_dict() == {"name": "aten::mul", "calls": 2, "median_ms": 1.0, "flops": 0, "bytes": 500}


def test_the_table_and_csv_show_each_rows_top_operator_and_its_share():
    rows = [row("norm", latency_ms=4.0, ops=(OpTime("aten::avg_pool3d", 1, 3.0), OpTime("aten::pow", 1, 1.0))),
            row("drop", type="dropout", latency_ms=0.02, ops=())]
    table, _ = to_rich_table(report(rows), width=200)
    cells = {str(column.header): [str(cell) for cell in column._cells] for column in table.renderable.columns}
    assert cells["top operator"] == ["avg_pool3d 75%", ""]
    text = to_csv(report(rows), columns=parse_columns("name,top_op"))
    assert text.splitlines() == ["name,parent,top_op", "norm,,aten::avg_pool3d", "drop,,"]


def test_no_profiled_operators_no_top_operator_column():
    table, _ = to_rich_table(report([row("norm", latency_ms=4.0)]), width=200)
    assert "top operator" not in [str(column.header) for column in table.renderable.columns]


def test_mostly_memory_bound_reads_each_rows_roof_not_its_limit():
    peaks = Peaks(device="cpu", dtype="fp32", threads=1, flops_per_s=1e11, bytes_per_s=1e10)
    rows = [row("norm", bound_ms=3.0, limit="kernel", roof="memory"),
            row("conv", type="conv", macs=10, bound_ms=1.0, limit="compute", roof="compute")]
    assert bound_words(report(rows, peaks)).startswith("mostly memory-bound on this machine (75% ")
    rows = [replace(rows[0], roof="compute"), rows[1]]
    assert bound_words(report(rows, peaks)).startswith("mostly compute-bound on this machine (100% ")
