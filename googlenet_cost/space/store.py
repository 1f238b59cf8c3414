"""The latency store: a table's entries in an embedded SQLite file (stdlib sqlite3).

One file holds the entries of any number of devices, each entry keyed by what was timed and how
(table.entry_key: the device's identity among the rest). By default it is `latency.sqlite` in
gcost's cache folder (the one the measured peaks live in); `--store FILE` names another.

Why SQLite: a sweep writes each entry the moment it is timed, in its own transaction, so a sweep
that is killed or interrupted (Ctrl-C) keeps everything timed before it stopped and the next one
resumes from there; the file is in write-ahead-log mode with a busy timeout, so several sweeps
(processes, or machines on one shared folder that supports locking) read and write one store at
once without corrupting it. Two sweeps timing the same entry at once keep the first one written."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import GcostError
from .table import Conditions, Entry, Timed

STORE_SCHEMA = "gcost.latency-store/1"
STORE_NAME = "latency.sqlite"
BUSY_S = 60.0  # how long a write waits for another sweep's transaction before giving up
KEYS_PER_QUERY = 500
COLUMNS = ("key", "kind", "config", "device", "torch", "dtype", "threads", "batch", "median_ms", "iqr_ms", "count",
           "measured_at")
CREATE = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL, device TEXT NOT NULL, torch TEXT NOT NULL,
    dtype TEXT NOT NULL, threads INTEGER, batch INTEGER NOT NULL, median_ms REAL NOT NULL, iqr_ms REAL NOT NULL,
    count INTEGER NOT NULL, measured_at TEXT NOT NULL);
"""


def default_store_path() -> Path | None:
    """latency.sqlite in gcost's cache folder; None where there is no home folder for one."""
    from ..roofline.cache import cache_folder

    folder = cache_folder()
    return None if folder is None else folder / STORE_NAME


def open_store(path: str | Path | None, say: Callable[[str], None], *, create: bool = True) -> Store:
    """The store at `path`, else the default one (its folder made); in memory, said, where there is no
    cache folder. Without `create` (export), a store that does not exist is an error, not a new file."""
    if path is None:
        path = default_store_path()
        if path is None:
            say("no cache folder for the latency store (set GCOST_CACHE_DIR): it is kept in memory for this run only")
            return Store.open(None)
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise GcostError(f"cannot make the cache folder: {e.strerror}", file=str(path.parent)) from None
    if not create and not Path(path).exists():
        raise GcostError("no latency store here (gcost sweep makes one; give --store FILE)", file=str(path))
    return Store.open(path)


@dataclass
class Store:
    """An open store. `path` None: in memory only (no cache folder), gone when the sweep ends."""

    path: Path | None
    connection: sqlite3.Connection

    @classmethod
    def open(cls, path: str | Path | None) -> Store:
        where = str(path) if path is not None else None
        if path is not None:
            path = Path(path)
            if path.is_dir():
                raise GcostError("the latency store is a folder: give a file, e.g. tables.sqlite", file=where)
            if not path.parent.is_dir():
                raise GcostError(f"the latency store's folder {str(path.parent)[:80]!r} does not exist", file=where)
        try:
            connection = sqlite3.connect(":memory:" if path is None else str(path), timeout=BUSY_S,
                                         isolation_level=None)  # autocommit: each write is its own transaction
        except sqlite3.Error as e:
            raise GcostError(f"cannot open the latency store: {e}", file=where) from None
        store = cls(path, connection)
        try:
            with store._errors():
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: a crash of gcost loses nothing
                connection.executescript(CREATE)
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (STORE_SCHEMA,))
                schema = connection.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0]
                columns = [row[1] for row in connection.execute("PRAGMA table_info(entries)")]
            if schema != STORE_SCHEMA or tuple(columns) != COLUMNS:
                raise GcostError(f"not a gcost latency store of this version (schema {schema[:40]!r}): give "
                                 "another --store", file=where)
        except BaseException:
            connection.close()
            raise
        return store

    def _errors(self):
        return _database_errors(str(self.path) if self.path is not None else "the latency store (in memory)")

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The entries stored under these keys (those there are)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, Entry] = {}
        with self._errors():
            for start in range(0, len(keys), KEYS_PER_QUERY):
                chunk = keys[start:start + KEYS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                for row in self.connection.execute(f"SELECT {','.join(COLUMNS)} FROM entries WHERE key IN ({marks})",
                                                   chunk):
                    found[row[0]] = _entry(row)
        return found

    def put(self, entry: Entry) -> bool:
        """Store one entry now (committed before this returns); False when it was there already."""
        values = (entry.key, entry.kind, json.dumps(entry.config, sort_keys=True, allow_nan=False),
                  entry.conditions.device, entry.conditions.torch, entry.conditions.dtype, entry.conditions.threads,
                  entry.conditions.batch, entry.timed.median_ms, entry.timed.iqr_ms, entry.timed.count,
                  entry.measured_at)
        with self._errors():
            cursor = self.connection.execute(f"INSERT OR IGNORE INTO entries VALUES ({','.join('?' * len(COLUMNS))})",
                                             values)
        return cursor.rowcount == 1

    def entries(self) -> Iterator[Entry]:
        with self._errors():
            rows = self.connection.execute(f"SELECT {','.join(COLUMNS)} FROM entries ORDER BY device, kind, key")
            for row in rows:
                yield _entry(row)

    def __len__(self) -> int:
        with self._errors():
            return self.connection.execute("SELECT COUNT(*) FROM entries").fetchone()[0]


class _database_errors:
    """sqlite3's errors (a file that is no database, a read-only folder, a lock held past BUSY_S)
    as one-line GcostErrors naming the store."""

    def __init__(self, where: str):
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, sqlite3.Error):
            raise GcostError(f"latency store: {str(error)[:200]}", file=self.where) from None
        return False


def _entry(row: tuple) -> Entry:
    (_, kind, config, device, torch_version, dtype, threads, batch, median_ms, iqr_ms, count, measured_at) = row
    return Entry(kind, json.loads(config), Conditions(device, torch_version, dtype, threads, batch),
                 Timed(median_ms, iqr_ms, count), measured_at)
