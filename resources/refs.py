"""References to Secrets and other resources, shared by several kinds."""

from __future__ import annotations

from pydantic import Field

from resources.meta import NAME_PATTERN
from resources.wire import WireModel


class SecretRef(WireModel):
    """A Kubernetes Secret that holds several keys (for example a GitHub App's id and key).

    `namespace` defaults to the organization's namespace and may only name that namespace.
    """

    name: str = Field(pattern=NAME_PATTERN)
    namespace: str | None = None
    key: str | None = None


class SecretKeyRef(WireModel):
    """One key of a Kubernetes Secret (for example the webhook verification secret)."""

    name: str = Field(pattern=NAME_PATTERN)
    namespace: str | None = None
    key: str = Field(min_length=1)


class ObjectRef(WireModel):
    """A Krate resource, as `localRef` of an object link or `target` of an intent or conflict."""

    api_version: str | None = None
    kind: str
    name: str
    namespace: str | None = None
