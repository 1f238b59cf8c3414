"""Completeness of the layer registry, checked here rather than by an assert at import time."""
from googlenet_cost.build.builder import BUILDERS
from googlenet_cost.spec.layers import LAYER_TYPES
from googlenet_cost.spec.parse import PARSERS


def test_every_registered_layer_type_has_a_parser_and_a_builder():
    assert set(PARSERS) == set(LAYER_TYPES)
    assert set(LAYER_TYPES) == set(BUILDERS)


def test_gcost_specs_lists_every_shipped_spec_with_its_description_without_validating_them(runner, monkeypatch):
    import googlenet_cost.spec.load as load
    from googlenet_cost.spec.model import builtin_specs
    from tests.conftest import invoke

    def refuse(*args, **kwargs):
        raise AssertionError("gcost specs validated a spec")

    monkeypatch.setattr(load, "load_spec", refuse)
    monkeypatch.setenv("COLUMNS", "1000")  # one line per spec
    result = invoke(runner, "specs")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == sorted(builtin_specs())
    googlenet = next(line for line in lines if line.startswith("googlenet "))
    assert "GoogLeNet" in googlenet
