"""Hostile input, class by class: no crash, no hang, no lost file, and exit codes that cannot lie
to CI. Each test names the class of input it covers."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, invoke, run_together

GOOD = "name: t\ninput: [3, 8, 8]\nlayers:\n  - {name: c1, type: conv, out: 4, kernel: 3, padding: 1}\n"


def gcost(*args, timeout=120, **kwargs):
    return subprocess.run([sys.executable, "-m", "gcost_cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


# Crashes, hangs and runaway memory

@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_parser(request, monkeypatch):
    """Each YAML test that uses this runs with PyYAML's C parser and with its pure-Python one: the
    two stop a hostile document at different points, and gcost's answer must not depend on it."""
    import yaml

    from googlenet_cost import files

    if request.param == "libyaml":
        if not hasattr(yaml, "CSafeLoader"):
            pytest.skip("PyYAML was built without libyaml")
        loader = yaml.CSafeLoader
    else:
        loader = yaml.SafeLoader
    monkeypatch.setattr(files, "_base_loader", lambda: loader)
    files._strict_loader.cache_clear()
    yield request.param
    files._strict_loader.cache_clear()


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")])
def test_yaml_nested_thirty_thousand_levels_is_refused_in_one_line_by_either_parser(
        runner, tmp_path, yaml_parser, opening, closing):
    path = tmp_path / "deep.yaml"
    path.write_text("name: t\ninput: " + opening * 30_000 + "1" + closing * 30_000 + "\n")
    result = invoke(runner, "analyze", str(path), "--no-latency")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(path) in result.stderr and "Traceback" not in result.stderr
    assert "nested deeper than 64 levels" in result.stderr  # gcost's limit, named whichever parser stops first


def test_yaml_nested_within_gcosts_limit_keeps_the_parsers_own_error(runner, tmp_path, yaml_parser):
    path = tmp_path / "broken.yaml"
    path.write_text("name: t\ninput: [[[1, 2]\n")
    result = invoke(runner, "analyze", str(path), "--no-latency")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "malformed YAML: line" in result.stderr and "nested deeper" not in result.stderr


@pytest.mark.slow
def test_yaml_nested_thirty_thousand_levels_in_a_real_process_leaves_no_traceback(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: t\ninput: " + "[" * 30_000 + "1" + "]" * 30_000 + "\n")
    done = gcost("analyze", str(path), "--no-latency")
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(path) in done.stderr


def test_an_alias_repr_bomb_is_refused_quickly_and_never_printed(runner):
    start = time.perf_counter()
    result = invoke(runner, "analyze", str(ROOT / "tests" / "bad_specs" / "repr_bomb.yaml"), "--no-latency")
    assert result.exit_code == 2 and "alias bomb" in result.stderr and len(result.stderr) < 300
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_without_reading_them(runner, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    result = invoke(runner, "analyze", device, "--no-latency")
    assert result.exit_code == 2 and "not a regular file" in result.stderr


@pytest.mark.slow
def test_a_fifo_is_refused_instead_of_hanging(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    done = gcost("analyze", str(fifo), "--no-latency", timeout=60)
    assert done.returncode == 2 and "not a regular file" in done.stderr


def test_a_symlink_loop_says_so(runner, tmp_path):
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    result = invoke(runner, "analyze", str(loop), "--no-latency")
    assert result.exit_code == 2 and "symlink loop" in result.stderr


def test_a_python_model_input_has_an_upper_bound(runner):
    result = invoke(runner, "analyze", "--model", "tests.pymodels:tiny", "--input", "3x1000000x1000000", "--no-latency")
    assert result.exit_code == 2 and "is too large" in result.stderr


@pytest.mark.slow
def test_verify_checks_memory_before_using_real_tensors(runner, monkeypatch):
    from googlenet_cost.timing import memory

    monkeypatch.setattr(memory, "cpu_available_bytes", lambda *a, **k: 1_000_000)
    result = invoke(runner, "analyze", "googlenet", "--verify", "--no-latency")
    assert result.exit_code == 2 and "--verify (fvcore on real tensors) needs about" in result.stderr


# Exit codes that lie

@pytest.mark.slow
@pytest.mark.parametrize("option, value, message", [
    ("--tolerance", "5", "ambiguous: write 5% or 0.05"), ("--tolerance", "nan", "finite"),
    ("--tolerance", "inf", "finite"), ("--latency-tolerance", "10", "ambiguous"), ("--max-latency-ms", "inf", "finite")])
def test_gate_numbers_that_could_never_fail_are_usage_errors(runner, option, value, message):
    result = invoke(runner, "check", "googlenet", "--max-params", "7.1M", option, value)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.slow
def test_sys_exit_in_the_model_cannot_pass_the_gate():
    factories = ["exits_in_factory", "exits_in_forward"]
    done = run_together(*([sys.executable, "-m", "gcost_cli", "check", "--model", f"tests.pymodels:{factory}", "--input",
                           "3x8x8", "--max-params", "1"] for factory in factories), cwd=ROOT)
    for factory, process in zip(factories, done):
        assert process.returncode == 2 and "sys.exit(0)" in process.stderr, (factory, process.stderr)


def _wait_for_torch(pid: int) -> None:
    """Until the process has loaded torch's library (it is then well inside gcost's own code)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/maps") as maps:
            if "libtorch" in maps.read():
                return
        time.sleep(0.05)


CONSOLE_SCRIPT = Path(sys.executable).with_name("gcost")


def _interrupted_after(delay_s: float) -> tuple[int, str, float]:
    """Start gcost, send Ctrl-C `delay_s` after torch's library is loaded: its exit code, its stderr, and
    the seconds from the signal to its end."""
    process = subprocess.Popen([str(CONSOLE_SCRIPT), "analyze", "googlenet", "--min-time", "30"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_torch(process.pid)
        time.sleep(delay_s)
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = process.communicate(timeout=60)
        return process.returncode, err, time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/maps") or not CONSOLE_SCRIPT.exists(),
                    reason="needs /proc and the installed gcost command")
def test_ctrl_c_is_130_and_never_aborted_even_while_torch_loads():
    """Interrupted while torch's library loads (torch aborts the process if interrupted inside its
    C initialization, so gcost holds the signal back until the import is done), and later. One
    process per delay, as many at once as there are CPUs."""
    from concurrent.futures import ThreadPoolExecutor

    delays_s = [0.0, 0.05, 0.15, 0.4, 1.0]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = dict(zip(delays_s, pool.map(_interrupted_after, delays_s)))
    for delay_s, (code, err, took_s) in results.items():
        assert code == 130 and "Aborted" not in err and "Traceback" not in err, (delay_s, code, err)
        assert took_s < 20, delay_s  # the interrupt took effect: it did not wait for 30 s of timing


@pytest.mark.slow
def test_a_closed_stdout_is_a_quiet_exit():
    """The reader is gone before gcost writes (as `| head` is once it has its lines): no
    traceback, no message, exit 141; for rich's table and for plain text (JSON), run at once."""
    readers = {fmt: subprocess.Popen([sys.executable, "-m", "gcost_cli", "analyze", "googlenet", "--no-latency",
                                      "--format", fmt], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for fmt in ("table", "json")}
    for reader in readers.values():
        reader.stdout.close()
    for fmt, reader in readers.items():
        err = reader.stderr.read().decode()
        assert reader.wait(timeout=60) == 141 and err == "", fmt


@pytest.mark.slow
def test_a_full_disk_on_stdout_is_a_usage_error():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", "googlenet", "--no-latency", "--format", "json"],
                              cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and "No space left" in done.stderr


GOOGLENET = {"mode": "eval", "step": "inference", "batch": 1, "input": [3, 224, 224], "dtype": "fp32"}
LOCKS = {
    "a spec entry that is a string": {"googlenet": "x"},
    "null metrics": {"googlenet": {**GOOGLENET, "metrics": None}},
    "a string metric": {"googlenet": {**GOOGLENET, "metrics": {"params": "7"}}},
    "a negative metric": {"googlenet": {**GOOGLENET, "metrics": {"params": -1}}},
    "a null layer entry": {"googlenet": {**GOOGLENET, "metrics": {"params": 1}, "layers": {"conv1": None}}},
    "a list where a mapping belongs": {"googlenet": {**GOOGLENET, "metrics": [1, 2]}},
    "no mode": {"googlenet": {**GOOGLENET, "mode": None, "metrics": {"params": 1}}},
}


@pytest.mark.parametrize("specs", list(LOCKS.values()), ids=list(LOCKS))
def test_lock_files_of_the_wrong_shape_are_usage_errors(runner, tmp_path, specs):
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"schema": 3, "specs": specs}))
    result = invoke(runner, "check", "googlenet", "--baseline", str(lock))
    assert result.exit_code == 2 and f"{lock}: not a gcost lock file: specs.googlenet" in result.stderr


def test_a_lock_file_of_deep_brackets_or_nan_is_a_usage_error(runner, tmp_path):
    lock = tmp_path / "lock.json"
    lock.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in invoke(runner, "check", "googlenet", "--baseline", str(lock)).stderr
    lock.write_text('{"schema": 3, "specs": {"googlenet": {"mode": "eval", "step": "inference", "batch": 1, '
                    '"input": [3, 224, 224], "dtype": "fp32", "metrics": {"params": NaN}}}}')
    result = invoke(runner, "check", "googlenet", "--baseline", str(lock))
    assert result.exit_code == 2 and "params must be an integer from 0 to 10^18, got nan" in result.stderr


@pytest.mark.parametrize("value", ["inf", "1e300", "nan"])
def test_reduce_scale_must_be_finite_and_sane(runner, value):
    result = invoke(runner, "compare", "--reduce-scale", value, "--no-latency")
    assert result.exit_code == 2 and "--reduce-scale must be a number above 0" in result.stderr


# Lost files

def test_an_output_that_is_an_input_is_refused_in_every_form(runner, write_spec, tmp_path):
    spec = write_spec(GOOD)
    (tmp_path / "link.yaml").symlink_to(spec)
    os.link(spec, tmp_path / "hard.yaml")
    for output in (spec, tmp_path / "link.yaml", tmp_path / "hard.yaml"):
        for args in (["analyze", str(spec), "--no-latency"], ["baseline", str(spec)],
                     ["compare", str(spec), "--no-latency"]):
            result = invoke(runner, *args, "-o", str(output))
            assert result.exit_code == 2 and "is also an input" in result.stderr, (args, output)
    assert spec.read_text() == GOOD


def test_check_refuses_to_write_over_its_baseline(runner, tmp_path):
    lock = tmp_path / "lock.json"
    invoke(runner, "baseline", "example_5x5_conv", "-o", str(lock))
    before = lock.read_bytes()
    result = invoke(runner, "check", "example_5x5_conv", "--baseline", str(lock), "-o", str(lock))
    assert result.exit_code == 2 and lock.read_bytes() == before


def test_new_outputs_get_the_umask_mode_and_replaced_ones_keep_theirs(runner, tmp_path):
    previous = os.umask(0o022)
    try:
        out = tmp_path / "report.json"
        invoke(runner, "analyze", "example_5x5_conv", "--no-latency", "--format", "json", "-o", str(out))
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        out.chmod(0o640)
        invoke(runner, "analyze", "example_5x5_conv", "--no-latency", "--format", "json", "-o", str(out))
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(previous)


def test_stale_temporary_files_of_a_killed_write_are_cleared(runner, tmp_path):
    out = tmp_path / "report.json"
    stale, fresh = tmp_path / ".report.json.abc123.tmp", tmp_path / ".report.json.def456.tmp"
    stale.write_text("half")
    fresh.write_text("another writer, right now")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    invoke(runner, "analyze", "example_5x5_conv", "--no-latency", "--format", "json", "-o", str(out))
    assert not stale.exists() and fresh.exists() and json.loads(out.read_text())["totals"]["params"] == 760


# Accepted when it should not be

@pytest.mark.parametrize("args, message", [
    (["analyze", "", "--no-latency"], "the spec argument is empty"),
    (["analyze", "googlenet", "--no-latency", "-o", ""], "-o needs a file name")])
def test_empty_arguments_are_refused(runner, args, message):
    result = invoke(runner, *args)
    assert result.exit_code == 2 and message in result.stderr


# Terminal injection

def test_user_text_cannot_reach_the_terminal_raw(runner, write_spec):
    spec = write_spec(GOOD.replace("name: t\n", 'name: t\ndescription: "x\\e[2J[link=file:///etc/passwd]y[/link][/bold]"\n'))
    result = invoke(runner, "analyze", str(spec), "--no-latency")
    assert result.exit_code == 0 and "\x1b[2J" not in result.output


def test_warnings_show_markup_as_text(capsys):
    from gcost_cli.render import warn

    warn("model [bold]x[/bold] \x1b[31mred")
    err = capsys.readouterr().err
    assert "[bold]x[/bold]" in err and "\x1b[31m" not in err and "\\x1b[31m" in err


# Messages

def test_click_usage_errors_are_one_line_like_ours(runner):
    for args in (["analyze", "--bogus"], ["compare", "--batch", "x"], ["nosuch"], ["analyze", "--depth", "deep"]):
        result = invoke(runner, *args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("gcost: error: "), args
