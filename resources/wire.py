"""Base models: camelCase on the wire, snake_case in Python.

Three strictness levels, chosen per part of a resource:
- `SpecModel` (config kinds' spec): unknown fields are errors, so a typo never goes unnoticed;
- `WireModel` (metadata, conditions, nested refs): also strict, the shapes are fixed;
- `OpenModel` (status, aggregated kinds' spec): unknown fields are kept, because controllers and
  provider adapters add fields over time and a reader must not fail on them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

API_GROUP = "krate.a5c.ai"
API_VERSION = "krate.a5c.ai/v1alpha1"
ORG_NAMESPACE_PREFIX = "krate-org-"


def org_namespace(organization_ref: str) -> str:
    """The namespace that holds an organization's resources and Secrets."""
    return f"{ORG_NAMESPACE_PREFIX}{organization_ref}"


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with camelCase keys, without empty or unset optional fields."""
        dumped = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        pruned = _prune(dumped)
        return pruned if isinstance(pruned, dict) else {}


def _prune(value: Any) -> Any:
    # Empty labels, finalizers or lists are noise in `get -o yaml` output.
    if isinstance(value, dict):
        kept = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


class SpecModel(WireModel):
    """Spec of a config kind: unknown fields are rejected."""


class OpenModel(WireModel):
    """Unknown fields are kept (see the module docstring)."""

    model_config = ConfigDict(extra="allow")
