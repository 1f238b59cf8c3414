"""A non-editable install (a wheel) ships the built-in specs and the gcost command."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def test_wheel_finds_builtin_specs_by_name(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("gcost-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    script = ("import googlenet_cost, sys; assert googlenet_cost.__file__.startswith(sys.argv[1]); "
              "from gcost_cli.main import gcost; gcost(['analyze', 'googlenet', '--no-latency', '--format', 'csv'])")
    done = subprocess.run([sys.executable, "-c", script, str(target)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(target)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("conv1,,conv,7x7/2,112x112x64,9472,118013952")
