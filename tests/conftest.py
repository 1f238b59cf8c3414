from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
BAD_SPECS = sorted((Path(__file__).parent / "bad_specs").glob("*.yaml"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def write_spec(tmp_path):
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def failing_rename(monkeypatch):
    """Every rename fails, as a crash or a full disk would fail one mid-write."""
    import os

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)


def invoke(runner: CliRunner, *args: str):
    from cli.main import gcost

    return runner.invoke(gcost, list(args), catch_exceptions=False)


from hypothesis import HealthCheck, settings  # noqa: E402

# A fixed example budget keeps the property tests to seconds in CI; raise it locally with
# HYPOTHESIS_PROFILE=thorough.
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
import os  # noqa: E402

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
