"""files.py's writer, the one path every file gcost writes takes (issue 33): atomic, never through a
symlink, FIFO or device (refused for an output, replaced by name for gcost's own files), private
modes for its own files; the reader of its own files; the lock beside the peaks cache; the
appender of a CI runner's files. Each test names what it would catch."""
from __future__ import annotations

import os
import stat
import threading
import time

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.files import (append_text, atomic_write_text, exclusive_lock, read_own_file,
                                  special_kind)


def test_an_output_is_written_whole_with_the_umasks_mode_and_a_replaced_one_keeps_its_mode(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "one")
    umask = os.umask(0)
    os.umask(umask)
    assert path.read_text() == "one" and stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_an_own_file_is_private_even_where_a_public_one_stood(tmp_path):
    path = tmp_path / "peaks.json"
    path.write_text("old")
    path.chmod(0o666)
    atomic_write_text(path, "{}", own=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "{}"


@pytest.mark.parametrize("make, kind", [
    (lambda path, target: path.symlink_to(target), "a symlink"),
    (lambda path, target: os.mkfifo(path), "a FIFO"),
])
def test_an_output_named_by_a_link_or_fifo_is_refused_and_nothing_written_through(tmp_path, make, kind):
    target, path = tmp_path / "target.txt", tmp_path / "out.txt"
    target.write_text("precious")
    make(path, target)
    with pytest.raises(GcostError, match=f"is {kind}; gcost writes regular files only"):
        atomic_write_text(path, "report")  # a FIFO with no reader: an open would block forever
    assert target.read_text() == "precious" and special_kind(path) == kind


def test_an_own_file_replaces_a_symlink_by_name_and_the_target_is_untouched(tmp_path):
    target, path = tmp_path / "system.conf", tmp_path / "peaks.json"
    target.write_text("precious")
    path.symlink_to(target)
    atomic_write_text(path, "{}", own=True)
    assert not path.is_symlink() and path.read_text() == "{}" and target.read_text() == "precious"


def test_an_own_file_replaces_a_fifo_without_blocking(tmp_path):
    path = tmp_path / "peaks.json"
    os.mkfifo(path)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (atomic_write_text(path, "{}", own=True), done.set()), daemon=True)
    worker.start()
    assert done.wait(10), "the writer blocked on the FIFO"
    assert stat.S_ISREG(os.lstat(path).st_mode) and path.read_text() == "{}"


def test_a_device_is_refused_as_an_output(tmp_path):
    with pytest.raises(GcostError, match="is a device"):
        atomic_write_text("/dev/null", "x")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_own_files_are_read_only_when_regular_and_never_through_links_or_fifos(tmp_path):
    path = tmp_path / "peaks.json"
    path.write_text("data")
    assert read_own_file(path, max_bytes=100) == b"data"
    with pytest.raises(ValueError, match="larger than 2 bytes"):
        read_own_file(path, max_bytes=2)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(ValueError, match="a symlink"):
        read_own_file(link, max_bytes=100)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ValueError, match="a FIFO"):
        read_own_file(fifo, max_bytes=100)
    assert time.monotonic() - start < 5
    with pytest.raises(FileNotFoundError):
        read_own_file(tmp_path / "none.json", max_bytes=100)


def test_the_appender_keeps_what_was_there_and_refuses_links_and_fifos(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("earlier step\n")
    append_text(path, "gcost\n")
    assert path.read_text() == "earlier step\ngcost\n"
    target, link = tmp_path / "target", tmp_path / "link"
    target.write_text("precious")
    link.symlink_to(target)
    with pytest.raises(OSError):
        append_text(link, "x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        append_text(fifo, "x")  # no reader: without O_NONBLOCK the open would block forever
    assert target.read_text() == "precious"


def test_the_lock_serialises_two_holders_and_replaces_a_symlink_by_name(tmp_path):
    lock, target = tmp_path / "peaks.lock", tmp_path / "target"
    target.write_text("precious")
    lock.symlink_to(target)
    inside, overlaps = [0], []

    def hold() -> None:
        with exclusive_lock(lock) as held:
            assert held
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.05)
            inside[0] -= 1

    workers = [threading.Thread(target=hold) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert overlaps == [1, 1, 1] and target.read_text() == "precious" and not lock.is_symlink()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_lock_held_too_long_is_given_up_and_said(tmp_path):
    lock = tmp_path / "peaks.lock"
    with exclusive_lock(lock) as first:
        with exclusive_lock(lock, wait_s=0.1) as second:
            assert first and not second
