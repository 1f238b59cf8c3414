"""gcost table export / import: a device's latency table as an open JSON file, every field of an
imported one checked (the file may come from anyone)."""
from __future__ import annotations

import json

import pytest

from googlenet_cost.space.store import Store
from googlenet_cost.space.table import SCHEMA, Conditions, Entry, Timed, table_document
from tests.conftest import invoke

CPU = Conditions("FakeCPU (2 CPUs)", "2.13.0", "fp32", 1, 1)
GPU = Conditions("NVIDIA H100 80GB HBM3", "2.13.0", "fp16", None, 8)


def entries():
    layer = {"layer": {"type": "conv", "out": 16, "kernel": [3, 3]}, "input": [3, 32, 32]}
    network = {"network": [layer]}
    return [Entry("layer", layer, CPU, Timed(0.25, 0.01, 40), "2026-12-07T10:00:00+00:00"),
            Entry("layer", layer, GPU, Timed(0.02, 0.001, 400), "2026-12-07T10:00:00+00:00"),
            Entry("network", network, CPU, Timed(0.5, 0.02, 30), "2026-12-07T10:00:00+00:00"),
            Entry("candidate", network, CPU, Timed(0.51, 0.02, 30), "2026-12-07T10:00:00+00:00")]


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "tables.sqlite"
    with Store.open(path) as store:
        for item in entries():
            store.put(item)
    return path


def test_export_then_import_into_another_store_gives_the_same_entries(runner, filled, tmp_path):
    out, other = tmp_path / "table.json", tmp_path / "other.sqlite"
    result = invoke(runner, "table", "export", str(out), "--store", str(filled))
    assert result.exit_code == 0 and "4 entries of 2 devices" in result.stderr
    data = json.loads(out.read_text())
    assert data["schema"] == SCHEMA
    first = data["entries"][0]
    assert set(first) >= {"kind", "device", "torch", "dtype", "threads", "batch", "median_ms", "iqr_ms", "count"}
    result = invoke(runner, "table", "import", str(out), "--store", str(other))
    assert result.exit_code == 0 and "imported 4 of 4 entries" in result.stderr
    with Store.open(filled) as a, Store.open(other) as b:
        assert sorted(a.entries(), key=lambda e: e.key) == sorted(b.entries(), key=lambda e: e.key)
    result = invoke(runner, "table", "import", str(out), "--store", str(other))
    assert "imported 0 of 4 entries" in result.stderr and "4 were there" in result.stderr


def test_export_of_one_device(runner, filled, tmp_path):
    out = tmp_path / "gpu.json"
    invoke(runner, "table", "export", str(out), "--store", str(filled), "--device", GPU.device)
    assert [e["device"] for e in json.loads(out.read_text())["entries"]] == [GPU.device]


def test_the_default_store_is_in_the_cache_folder(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("GCOST_CACHE_DIR", str(tmp_path / "cache"))
    table = tmp_path / "t.json"
    table.write_text(table_document(entries()))
    assert invoke(runner, "table", "import", str(table)).exit_code == 0
    assert (tmp_path / "cache" / "latency.sqlite").is_file()
    assert invoke(runner, "table", "export", str(tmp_path / "back.json")).exit_code == 0


def broken(change):
    document = json.loads(table_document(entries()))
    change(document)
    return json.dumps(document)


@pytest.mark.parametrize("text, words", [
    ("{not json", "not a latency table (JSON)"),
    (json.dumps({"schema": "other", "entries": []}), "not a latency table: expected"),
    (broken(lambda d: d["entries"][1].update(median_ms=-1)), "entry 1: median_ms must be a finite number"),
    (broken(lambda d: d["entries"][0].update(median_ms=0)), "entry 0: median_ms"),
    (broken(lambda d: d["entries"][2].pop("torch")), "entry 2: it has no 'torch'"),
    (broken(lambda d: d["entries"][0].update(kind="bogus")), "entry 0: kind must be one of layer, network, candidate"),
    (broken(lambda d: d["entries"][0].update(threads=True)), "entry 0: threads must be a whole number"),
    (broken(lambda d: d["entries"][0].update(input=[3, -1])), "entry 0: a layer entry needs"),
    (broken(lambda d: d["entries"][3].update(device="x" * 400)), "entry 3: device must be text of 1 to 300"),
    (broken(lambda d: d["entries"][0].update(count=1.5)), "entry 0: count must be a whole number"),
])
def test_a_broken_table_file_is_one_line_naming_the_entry_and_imports_nothing(runner, tmp_path, text, words):
    table, store = tmp_path / "t.json", tmp_path / "s.sqlite"
    table.write_text(text)
    result = invoke(runner, "table", "import", str(table), "--store", str(store))
    assert result.exit_code == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not store.exists()


def test_export_refuses_to_write_over_its_store_and_needs_one(runner, filled, tmp_path):
    result = invoke(runner, "table", "export", str(filled), "--store", str(filled))
    assert result.exit_code == 2 and "is also an input" in result.stderr
    result = invoke(runner, "table", "export", str(tmp_path / "t.json"), "--store", str(tmp_path / "none.sqlite"))
    assert result.exit_code == 2 and "no latency store here" in result.stderr
    assert not (tmp_path / "none.sqlite").exists()
