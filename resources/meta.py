"""The kubectl-style envelope shared by every kind: apiVersion, kind, metadata, spec, status."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from resources.conditions import Condition, ConditionStatus, ConditionType
from resources.wire import API_VERSION, OpenModel, WireModel

# Kubernetes object names: DNS-1123 subdomain (lower case, digits, '-', '.').
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"


class ObjectMeta(WireModel):
    name: str = Field(pattern=NAME_PATTERN)
    namespace: str | None = Field(default=None, pattern=NAME_PATTERN)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int | None = None
    uid: str | None = None
    creation_timestamp: datetime | None = None
    resource_version: str | None = None
    # Set by the API server or by kubectl; accepted so that `get -o yaml` output can be re-applied.
    deletion_timestamp: datetime | None = None
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[dict[str, Any]] = Field(default_factory=list)
    managed_fields: list[dict[str, Any]] = Field(default_factory=list)


class Status(OpenModel):
    """Fields every kind's status has; each kind narrows `phase` to its own enum."""

    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None

    def condition(self, type_: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def is_true(self, type_: ConditionType) -> bool:
        found = self.condition(type_)
        return found is not None and found.status == ConditionStatus.TRUE


class Resource(WireModel):
    """Base of the nine kinds. Subclasses set `KIND` and narrow `kind`, `spec` and `status`."""

    KIND: ClassVar[str] = ""
    CONFIG: ClassVar[bool] = False
    """Config kinds live in etcd as CRDs; the others are aggregated (stored in Postgres)."""

    api_version: str = Field(default=API_VERSION, pattern=r"^krate\.a5c\.ai/v1alpha1$")
    metadata: ObjectMeta

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str | None:
        return self.metadata.namespace
