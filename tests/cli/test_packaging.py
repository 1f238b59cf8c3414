"""A non-editable install (a wheel) ships the built-in specs and the gcost command."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


def _not_sources(folder: str, names: list[str]) -> set[str]:
    """What a copy of the checkout leaves out: build outputs, venvs, caches (at the top only for
    build/: googlenet_cost/build/ is a package)."""
    top = {"build", "dist", ".git", ".hypothesis", ".pytest_cache"} if Path(folder) == ROOT else set()
    return {name for name in names if name in top or name.startswith(".venv") or name == "__pycache__"
            or name.endswith(".egg-info")}


@pytest.mark.slow
def test_wheel_finds_builtin_specs_by_name(tmp_path):
    wheels, target, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_not_sources)  # the checkout's build/ may hold modules since moved
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("gcost-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        shipped = {name for name in names
                   if name.startswith(("googlenet_cost/", "gcost_cli/")) and name.endswith(".py")}
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "googlenet_cost").rglob("*.py")}
    modules |= {f"googlenet_cost/networks/{p.name}" for p in (ROOT / "specs").glob("*.py")}  # setup.cfg's package_dir
    modules |= {f"gcost_cli/{p.relative_to(ROOT / 'cli').as_posix()}" for p in (ROOT / "cli").rglob("*.py")}
    assert shipped == modules  # today's modules, none left over from an earlier build
    assert "googlenet_cost/datasheets.yaml" in names  # the bottom's table, read by timing and the roofline
    assert "gcost = gcost_cli.entry:main" in scripts  # the console script: the name the tests import
    script = ("import googlenet_cost, sys; assert googlenet_cost.__file__.startswith(sys.argv[1]); "
              "from gcost_cli.main import gcost; gcost(['analyze', 'googlenet', '--no-latency', '--format', 'csv'])")
    done = subprocess.run([sys.executable, "-c", script, str(target)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(target)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("conv1,,conv,7x7/2,112x112x64,9472,118013952")
    module = subprocess.run([sys.executable, "-m", "gcost_cli", "peaks", "--peaks", "h100-sxm", "--format", "json"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(target)})
    assert module.returncode == 0, module.stderr  # python -m gcost_cli, and the datasheets found in the wheel
    assert '"peak_flops_per_s": 67000000000000.0' in module.stdout


# The set-up installs from requirements/lock.txt (make test, make demo, CI); `make test-latest`
# installs the newest releases instead and sets GCOST_UNLOCKED, where these comparisons do not hold.
LOCK = ROOT / "requirements" / "lock.txt"
unlocked = pytest.mark.skipif(bool(os.environ.get("GCOST_UNLOCKED")), reason="make test-latest: not the locked set")


def locked_versions() -> dict:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name, version = line.split(" ")[0].split("==")
            pins[canonicalize_name(name)] = version
    return pins


@unlocked
def test_every_installed_distribution_is_pinned_in_the_lock_at_its_version():
    import site
    from importlib import metadata

    from packaging.utils import canonicalize_name

    pins = locked_versions()
    # what pip installed into the environment: its site-packages, not sys.path (ray, which the suite's
    # sweep tests import, puts the psutil and colorama it vendors in ray/thirdparty_files on sys.path)
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions(path=site.getsitepackages())}
    installed.pop("gcost")  # the checkout itself, installed editable
    installed.pop("pip")  # the installer: venv seeds it from the Python it was made with
    assert {name: (version, pins.get(name)) for name, version in installed.items()
            if pins.get(name) != version} == {}


def test_the_lock_satisfies_every_declared_range_and_the_build_requirements():
    import configparser
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = config["options"]["install_requires"].split("\n")
    declared += [line for extra in config["options.extras_require"].values() for line in extra.split("\n")]
    declared += tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    pins = locked_versions()
    for text in filter(None, (line.strip() for line in declared)):
        requirement = Requirement(text)
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None and requirement.specifier.contains(pinned, prereleases=True), (text, pinned)


def test_the_lock_pins_every_line_with_hashes():
    text = LOCK.read_text()
    pinned = [line for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert pinned and all("==" in line and line.endswith("\\") for line in pinned)
    assert text.count("--hash=sha256:") >= len(pinned)
    assert "torch==2.13.0+cpu" in text  # the CPU build: an unpinned torch is a multi-GB CUDA build


def test_make_test_oldest_installs_each_declared_lower_bound():
    import configparser

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = config["options"]["install_requires"].split("\n")
    declared += [line for extra in config["options.extras_require"].values() for line in extra.split("\n")]
    floors = {}
    for text in filter(None, (line.strip() for line in declared)):
        requirement = Requirement(text)
        for spec in requirement.specifier:
            if spec.operator == ">=":
                name = canonicalize_name(requirement.name)
                floors[name] = max(floors.get(name, Version(spec.version)), Version(spec.version))
    oldest = {canonicalize_name(line.split("==")[0]): Version(line.split("==")[1])
              for line in (ROOT / "requirements" / "oldest.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert set(oldest) == set(floors)
    for name, floor in floors.items():
        if name == "torch":  # the floor is read from the sources; 2.13.0 is the oldest at hand
            assert oldest[name] >= floor
        else:  # the bound itself, or its first post-release where the bound was never published
            pinned = oldest[name]
            assert pinned == floor or (pinned.is_postrelease and Version(pinned.base_version) == floor), name
