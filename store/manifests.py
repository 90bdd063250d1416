"""Reading and writing Kubernetes-style manifests (apiVersion, kind, metadata, spec, status)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from store import canonical
from store.kinds import API_VERSION, check_kind

DEFAULT_NAMESPACE = "default"


class InvalidManifest(ValueError):
    """A manifest the store cannot accept; the message says which field and why."""


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest. Times are RFC 3339 strings, as they would be in JSON."""

    kind: str
    namespace: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidManifest(f"{where} must be a map of strings")
    return {k: str(v) for k, v in value.items()}


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidManifest(f"{where} must be an object")
    plain = canonical.plain(value)
    assert isinstance(plain, dict)
    return plain


def parse_manifest(manifest: Any) -> Manifest:
    """Check the envelope of `manifest` and return its parts (spec and status copied)."""
    if not isinstance(manifest, dict):
        raise InvalidManifest("a manifest must be an object")
    api_version = manifest.get("apiVersion", API_VERSION)
    if api_version != API_VERSION:
        raise InvalidManifest(f"apiVersion must be {API_VERSION}, not {api_version!r}")
    kind = manifest.get("kind")
    if not isinstance(kind, str) or not kind:
        raise InvalidManifest("kind is required")
    try:
        check_kind(kind)
    except ValueError as error:
        raise InvalidManifest(str(error)) from None
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidManifest("metadata must be an object")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidManifest(f"{kind}: metadata.name is required")
    namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(namespace, str):
        raise InvalidManifest(f"{kind}/{name}: metadata.namespace must be a string")
    return Manifest(
        kind=kind,
        namespace=namespace,
        name=name,
        labels=_string_map(metadata.get("labels"), "metadata.labels"),
        annotations=_string_map(metadata.get("annotations"), "metadata.annotations"),
        spec=_object(manifest.get("spec"), "spec"),
        status=_object(manifest.get("status"), "status"),
    )


def render_manifest(
    *,
    kind: str,
    namespace: str,
    name: str,
    uid: uuid.UUID,
    generation: int,
    created_at: datetime | None,
    labels: dict[str, str],
    annotations: dict[str, str],
    spec: dict[str, Any],
    status: dict[str, Any],
) -> dict[str, Any]:
    """A manifest as `kubectl get -o yaml` shows one."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "annotations": dict(annotations),
        "generation": generation,
        "uid": str(uid),
    }
    if created_at is not None:
        metadata["creationTimestamp"] = canonical.rfc3339(created_at.replace(microsecond=0))
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
        "status": status,
    }
