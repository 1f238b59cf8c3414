"""The latency store: entries kept exactly, several processes writing one store at once, a sweep
killed or interrupted keeping what it timed and the next one resuming from there."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.space.store import Store
from googlenet_cost.space.table import Conditions, Entry, Timed
from tests.conftest import run_together
from tests.fake_executor import tiny_path  # noqa: F401 (a fixture)

CONDITIONS = Conditions("FakeCPU (2 CPUs)", "2.13.0", "fp32", 1, 1)


def entry(number: int, median: float = 1.0) -> Entry:
    return Entry("layer", {"layer": {"type": "conv", "out": number}, "input": [3, 8, 8]}, CONDITIONS,
                 Timed(median, 0.1, 10), "2026-12-07T00:00:00+00:00")


def test_an_entry_comes_back_as_it_was_stored_and_the_first_one_stays(tmp_path):
    with Store.open(tmp_path / "s.sqlite") as store:
        assert store.put(entry(1, 2.5)) is True
        assert store.put(entry(1, 9.9)) is False  # another sweep timed it meanwhile: the first is kept
        found = store.get([entry(1).key, entry(2).key])
    assert list(found) == [entry(1).key] and found[entry(1).key] == entry(1, 2.5)
    with Store.open(tmp_path / "s.sqlite") as reopened:
        assert len(reopened) == 1 and list(reopened.entries()) == [entry(1, 2.5)]


def test_a_store_is_in_write_ahead_log_mode(tmp_path):
    Store.open(tmp_path / "s.sqlite").close()
    with sqlite3.connect(tmp_path / "s.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_another_sqlite_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE entries (a, b)")
    with pytest.raises(GcostError, match="not a gcost latency store"):
        Store.open(path)
    with sqlite3.connect(path) as connection:
        assert [row[1] for row in connection.execute("PRAGMA table_info(entries)")] == ["a", "b"]


WRITER = """
import sys
from tests.sweep.test_store import entry
from googlenet_cost.space.store import Store
first, count = int(sys.argv[2]), int(sys.argv[3])
with Store.open(sys.argv[1]) as store:
    for number in list(range(first, first + count)) + list(range(10_000, 10_050)):  # 50 shared by both
        store.put(entry(number))
"""


@pytest.mark.slow
def test_two_processes_writing_one_store_at_once_lose_nothing_and_corrupt_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    Store.open(path).close()
    command = [sys.executable, "-c", WRITER, path]
    results = run_together(command + ["0", "300"], command + ["1000", "300"], timeout=120, cwd=os.getcwd())
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store.open(path) as store:
        assert len(store) == 650
        assert len(store.get(entry(n).key for n in [*range(300), *range(1000, 1300), *range(10_000, 10_050)])) == 650


def sweep_command(spec, store, min_time="0.05"):
    """A sweep of 14 candidates and 12 layers; each layer timed for a fifth of `min_time`. Its front
    (params:min, macs:min) is the one smallest candidate, so every run times the same candidate end
    to end; a front by latency would let sweeps sharing a store pick different ones by chance."""
    return [sys.executable, "-m", "gcost_cli", "sweep", str(spec), "--grid", "block/reduce.out=2|3|4|5|6|7|8",
            "--grid", "fc.out=10|20", "--threads", "1", "--store", str(store), "--measure", "1",
            "--pareto", "params:min,macs:min",
            "--min-time", min_time, "--min-iters", "3", "--warmup", "0", "--format", "json"]


def layer_entries(path) -> int:
    if not os.path.exists(path):
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM entries WHERE kind = 'layer'").fetchone()[0]
    except sqlite3.OperationalError:  # its tables are not made yet
        return 0


def stop_after_some_entries(command, path, how, least: int = 3):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while layer_entries(path) < least and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the sweep ended before it could be stopped"
    process.send_signal(how)
    out, err = process.communicate(timeout=60)
    return process.returncode, err, layer_entries(path)


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_sweep_stopped_midway_keeps_its_entries_and_the_next_resumes(tiny_path, tmp_path, how):
    path = tmp_path / "tables.sqlite"
    code, err, kept = stop_after_some_entries(sweep_command(tiny_path, path, min_time="0.5"), path, how)
    if how == signal.SIGINT:
        assert code == 130 and "interrupted" in err
    else:
        assert code == -signal.SIGKILL
    assert kept >= 3
    resumed = subprocess.run(sweep_command(tiny_path, path), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    store = json.loads(resumed.stdout)["store"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store["reused"] >= kept and store["measured_layers"] == layer_entries(path) - kept


@pytest.mark.slow
def test_two_sweeps_at_once_on_one_store_then_a_third_times_nothing(tiny_path, tmp_path):
    path = tmp_path / "tables.sqlite"
    first, second = run_together(sweep_command(tiny_path, path), sweep_command(tiny_path, path), timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), (first.stderr, second.stderr)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = connection.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM entries").fetchone()
    assert keys[0] == keys[1]
    third = subprocess.run(sweep_command(tiny_path, path), capture_output=True, text=True, timeout=300)
    data = json.loads(third.stdout)
    assert (data["store"]["measured_layers"], data["store"]["measured_networks"]) == (0, 0)
    assert data["prediction"]["measured"] == 1
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert [c["params"] for c in a["candidates"]] == [c["params"] for c in b["candidates"]]
