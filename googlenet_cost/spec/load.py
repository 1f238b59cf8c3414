"""Loading a spec: read the file, parse the YAML into a Spec (spec/model.py and spec/parse.py: keys
and values), then validate what needs the stages after it: the `budget:` block
(metrics.parse_limits) and every shape, aux heads included (spec/plan.plan_rows, whose rows
the Spec keeps). One step above the spec data and its consumers, so spec/model.py imports neither."""
from __future__ import annotations

from pathlib import Path

from ..errors import GcostError, SpecError
from ..files import load_yaml, read_text
from .model import Spec, resolve_spec_path, spec_from_data


def load_spec(path_or_name: str | Path) -> Spec:
    """Load and validate a spec file, or a built-in spec by name ("googlenet")."""
    path = resolve_spec_path(path_or_name)
    try:
        text = read_text(path)
    except GcostError as e:
        raise SpecError(e.message, file=str(path_or_name)) from None
    return parse_spec(text, where=str(path_or_name))


def parse_spec(text: str, *, where: str = "<spec>") -> Spec:
    """Validate spec text (YAML) into a Spec; `where` names it in errors."""
    from ..metrics import parse_limits
    from .plan import plan_rows

    try:
        data = load_yaml(text, where=where)
    except GcostError as e:
        raise SpecError(e.message, file=where, layer=e.layer) from None
    try:
        spec = spec_from_data(data, where)
        try:
            parse_limits(spec.budget, where="budget")
        except GcostError as e:
            raise SpecError(f"budget: {e.message}") from None
        plan_rows(spec, train=True)
    except SpecError as e:
        raise e.located(file=where) from None
    return spec


def spec_description(path: str | Path) -> str:
    """The `description:` of a spec file, read without validating the rest (gcost specs lists every
    shipped spec; analyzing one validates it whole)."""
    data = load_yaml(read_text(path), where=str(path))
    value = data.get("description", "") if isinstance(data, dict) else ""
    return value if isinstance(value, str) else ""
