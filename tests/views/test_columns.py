"""The column table (views/columns.py): every view reads COLUMNS, so one record is one column
everywhere: --columns and its help, the table, Markdown, CSV, the notebook's HTML, the pandas
frame and the totals row. On hand-built reports, without torch."""
from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.views import columns as table
from googlenet_cost.views.columns import Column, column_names, columns_help, columns_of, parse_columns
from googlenet_cost.views.formats import render
from googlenet_cost.views.table import to_rich_table
from googlenet_cost.views.text import PrintableReport, frame_records, report_html, report_text
from test_formats import hand_report

CHANNELS = Column("channels", "channels", lambda r: f"{r.output_shape[0]:,}", lambda r: r.output_shape[0],
                  frame=lambda r, batch: r.output_shape[0], total=lambda report: "all", aliases=("ch",),
                  numeric=True, in_csv=True)


@pytest.fixture
def with_channels(monkeypatch):
    """The table with one more record, a column no view has heard of."""
    monkeypatch.setattr(table, "COLUMNS", (*table.COLUMNS, CHANNELS))


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_new_record_is_a_columns_name_with_its_aliases(with_channels):
    assert parse_columns("name,ch,channels") == ("layer", "channels")
    assert "channels" in columns_help()


def test_without_the_record_the_name_is_refused():
    with pytest.raises(GcostError, match="unknown column 'ch'"):
        parse_columns("ch")


def test_a_new_record_reaches_the_table_markdown_csv_html_and_frame(with_channels):
    report = hand_report()
    chosen = parse_columns("name,channels")
    rendered, _ = to_rich_table(report, columns=chosen)
    assert rendered.plain is not None and "channels" in rendered.plain[2]
    assert any(line.rstrip("│ ").endswith("64") for line in rendered.plain)  # conv1's 64 channels, right-aligned
    assert "| layer | channels |\n|---|---:|" in render(report, "markdown", columns=chosen)
    assert "**all**" in render(report, "markdown", columns=chosen)  # its totals cell
    assert [row["channels"] for row in csv_rows(render(report, "csv", columns=chosen))] == ["64", "32", "16", "16", "10"]
    assert "channels" in csv_rows(render(report, "csv"))[0]  # in_csv: every CSV has it
    assert [record["channels"] for record in frame_records(report)] == [64, 32, 16, 16, 10]
    assert "channels" in report_text(PrintableReport.of(report), 200, columns=chosen)


def test_shown_decides_the_default_table(monkeypatch):
    report = hand_report()
    assert "channels" not in [c.key for c in columns_of(report)]
    monkeypatch.setattr(table, "COLUMNS", (*table.COLUMNS, dataclasses.replace(CHANNELS, shown=lambda r: True)))
    assert columns_of(report)[-1].key == "channels"
    assert ">channels<" in report_html(report)


def test_every_name_in_the_help_is_a_column_name():
    """The help is made from the table: each name it gives is accepted, and every column is in it."""
    words = columns_help().split("e.g. ", 1)[1].replace(" (also ", ",").replace("and Table 1's ", "")
    named = [word.strip(" ).") for word in words.split(",")]
    assert all(word in column_names() for word in named), named
    assert {column_names()[word] for word in named} == set(table.table_columns())


def test_the_cli_help_is_the_table_s(runner):
    from gcost_cli.main import gcost

    done = runner.invoke(gcost, ["analyze", "--help"], terminal_width=10_000)
    assert " ".join(columns_help().split()) in " ".join(done.output.split())


def test_every_column_has_a_header_and_the_dropped_ones_an_order():
    report = hand_report()
    for column in table.table_columns().values():
        assert column.heading(report), column.key
    drops = [column.drop for column in table.COLUMNS if column.drop is not None]
    assert sorted(drops) == list(range(1, len(drops) + 1))  # one order, no ties
    assert len(column_names()) == len(set(column_names()))


def test_columns_offer_weights_flops_and_activations_and_the_error_lists_every_name(runner):
    from conftest import invoke

    data = json.loads(invoke(runner, "analyze", "example_3x3_bottleneck", "--no-latency", "--format", "json").stdout)
    text = invoke(runner, "analyze", "example_3x3_bottleneck", "--no-latency", "--format", "csv",
                  "--columns", "name,weights,flops,activations").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["name"], int(r["weights"]), int(r["flops"]), int(r["activations"])) for r in rows] == \
        [(r["name"], r["weights"], 2 * r["macs"], r["activations"]) for r in data["layers"]]
    bad = invoke(runner, "analyze", "example_3x3_bottleneck", "--no-latency", "--columns", "name,mac")
    assert bad.exit_code == 2 and "name" in bad.stderr.split("known:")[1] and "weights" in bad.stderr
