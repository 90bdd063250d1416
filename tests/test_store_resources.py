"""apply / get / delete with kubectl semantics, for the config and the aggregated kinds."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from store.aggregated import insert_aggregated, manifest_from_row, row_from_manifest
from store.audit import list_audit
from store.db import make_engine, session_scope
from store.kinds import AGGREGATED_KINDS, ALL_KINDS, API_VERSION, UnknownKind
from store.manifests import InvalidManifest
from store.models import AGGREGATED_TABLES
from store.payloads import get_payload, put_payload
from store.resources import (
    ApplyAction,
    apply_resource,
    delete_resource,
    get_resources,
    set_status,
)

NS = "krate-org-a5c"

PROVIDER = yaml.safe_load(
    """
apiVersion: krate.a5c.ai/v1alpha1
kind: ExternalBackendProvider
metadata:
  name: github-a5c
  namespace: krate-org-a5c
  labels:
    krate.a5c.ai/org: a5c
spec:
  organizationRef: a5c
  providerType: github
  displayName: GitHub a5c-ai
  baseUrl: https://github.com
  apiBaseUrl: https://api.github.com
  authRef:
    secretRef:
      name: github-app-a5c
  capabilities:
    issueTracking: true
    cicd: true
    gitForge: true
status:
  phase: Ready
  conditions: []
"""
)

BINDING = yaml.safe_load(
    """
apiVersion: krate.a5c.ai/v1alpha1
kind: ExternalBackendBinding
metadata:
  name: github-krate
  namespace: krate-org-a5c
spec:
  organizationRef: a5c
  providerRef: github-a5c
  targetRef: {kind: Repository, name: krate}
  externalRef: {owner: a5c-ai, repository: krate, installationId: 123456}
  interfaces:
    issueTracking: {enabled: true, mode: bidirectional}
    cicd: {enabled: true, mode: external-owned}
    gitForge: {enabled: true, mode: bidirectional}
"""
)

# The specs of external-backend-crds.md "Detailed resource schemas", plus the kinds it only
# names, each with a field no column holds (it must survive in the extra document).
AGGREGATED_SPECS: dict[str, dict[str, Any]] = yaml.safe_load(
    """
ExternalWebhookDelivery:
  organizationRef: a5c
  providerRef: github-a5c
  bindingRef: github-krate
  interfaceHints: [gitForge, issueTracking]
  deliveryId: "github-delivery-guid"
  eventType: pull_request
  action: opened
  receivedAt: 2026-05-11T12:00:00Z
  signature: {algorithm: sha256, verified: true}
  source: {owner: a5c-ai, repository: krate, installation: 123456}
  payloadRef: {storage: postgres, digest: PAYLOAD}
  processing: {phase: Queued, attempts: 0, lastError: null}
ExternalSyncEvent:
  organizationRef: a5c
  providerRef: github-a5c
  bindingRef: github-krate
  sourceDelivery: github-delivery-guid
  interface: gitForge
  resourceKind: PullRequest
  nativeId: "42"
  nodeId: PR_kwDO...
  action: opened
  eventTime: 2026-05-11T12:00:00Z
  normalized: {repository: krate, pullRequest: 42, headSha: abcdef1234}
ExternalSyncState:
  organizationRef: a5c
  providerRef: github-a5c
  bindingRef: github-krate
  interface: issueTracking
  resourceKind: Issue
  scope: {repository: a5c-ai/krate}
  backfillInterval: 15m
ExternalWriteIntent:
  organizationRef: a5c
  providerRef: github-a5c
  bindingRef: github-krate
  interface: issueTracking
  operation: createComment
  source: {kind: UserAction, actor: "user:alice"}
  target: {kind: Issue, name: issue-42}
  nativeTarget: {owner: a5c-ai, repository: krate, issueNumber: 42}
  requestDigest: sha256:request
  approvalPolicy: {required: false}
  idempotencyKey: a5c:issue-42:create-comment:01hx
ExternalSyncConflict:
  organizationRef: a5c
  providerRef: github-a5c
  bindingRef: github-krate
  interface: issueTracking
  target: {kind: Issue, name: issue-42}
  nativeId: "42"
  nativeUrl: https://github.com/a5c-ai/krate/issues/42
  fields:
    - {path: spec.title, baseValue: Old, localValue: Local title, externalValue: GitHub title}
  localGeneration: 7
  recommendation: manual
  detectedAt: 2026-05-11T12:05:00.250000Z
ExternalObjectLink:
  organizationRef: a5c
  providerRef: github-a5c
  bindingRef: github-krate
  localRef: {apiVersion: krate.a5c.ai/v1alpha1, kind: PullRequest, name: pr-42}
  external:
    interface: gitForge
    nativeId: "42"
    nativeNumber: 42
    nodeId: PR_kwDO...
    url: https://github.com/a5c-ai/krate/pull/42
    apiUrl: https://api.github.com/repos/a5c-ai/krate/pulls/42
    etag: W/"..."
"""
)

STATUSES: dict[str, dict[str, Any]] = {
    "ExternalSyncState": {
        "phase": "Backfilling",
        "cursor": "page=3",
        "highWatermark": "2026-05-11T12:00:00Z",
        "conditions": [{"type": "BackfillHealthy", "status": "True"}],
    },
    "ExternalWriteIntent": {"phase": "Queued", "attempts": 1},
    "ExternalSyncConflict": {"phase": "Open"},
}


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    yield engine
    engine.dispose()


def aggregated_manifest(kind: str, payload_digest: str = "", name: str = "") -> dict[str, Any]:
    spec = copy.deepcopy(AGGREGATED_SPECS[kind])
    if kind == "ExternalWebhookDelivery":
        spec["payloadRef"]["digest"] = payload_digest
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {
            "name": name or f"{kind.lower()}-1",
            "namespace": NS,
            "labels": {"krate.a5c.ai/org": "a5c", "krate.a5c.ai/provider": "github-a5c"},
        },
        "spec": spec,
        "status": copy.deepcopy(STATUSES.get(kind, {})),
    }


def json_times(document: Any) -> Any:
    """YAML loads times as datetime; manifests from the store carry RFC 3339 strings."""
    from store.canonical import plain

    return plain(document)


def test_apply_creates_then_reapply_is_a_no_op(engine: Engine) -> None:
    with session_scope(engine) as session:
        created = apply_resource(session, PROVIDER)
        again = apply_resource(session, copy.deepcopy(PROVIDER))
    assert (created.action, created.generation) == (ApplyAction.CREATED, 1)
    assert (again.action, again.generation, again.uid) == (ApplyAction.UNCHANGED, 1, created.uid)


def test_changed_spec_or_labels_bump_the_generation_and_status_is_ignored(
    engine: Engine,
) -> None:
    changed = copy.deepcopy(PROVIDER)
    changed["spec"]["displayName"] = "GitHub (a5c)"
    relabelled = copy.deepcopy(changed)
    relabelled["metadata"]["labels"]["team"] = "sync"
    status_only = copy.deepcopy(relabelled)
    status_only["status"] = {"phase": "Failed"}
    with session_scope(engine) as session:
        apply_resource(session, PROVIDER)
        assert set_status(session, PROVIDER["kind"], NS, "github-a5c", {"phase": "Ready"})
        first = apply_resource(session, changed)
        second = apply_resource(session, relabelled)
        third = apply_resource(session, status_only)
    assert (first.action, first.generation) == (ApplyAction.CONFIGURED, 2)
    assert (second.action, second.generation) == (ApplyAction.CONFIGURED, 3)
    assert (third.action, third.generation) == (ApplyAction.UNCHANGED, 3)
    with session_scope(engine) as session:
        [manifest] = get_resources(session, "ExternalBackendProvider", NS, "github-a5c")
    assert manifest["spec"]["displayName"] == "GitHub (a5c)"
    assert manifest["status"] == {"phase": "Ready"}  # the controller's, not the manifest's


def test_get_returns_kubectl_style_manifests(engine: Engine) -> None:
    with session_scope(engine) as session:
        result = apply_resource(session, BINDING)
        apply_resource(session, PROVIDER)
        other = copy.deepcopy(BINDING)
        other["metadata"] = {"name": "github-other", "namespace": "krate-org-b"}
        apply_resource(session, other)
    with session_scope(engine) as session:
        bindings = get_resources(session, "ExternalBackendBinding")
        in_ns = get_resources(session, "ExternalBackendBinding", namespace=NS)
        by_name = get_resources(session, "ExternalBackendBinding", NS, "github-krate")
        missing = get_resources(session, "ExternalBackendBinding", NS, "nope")
    # Sorted by namespace, then name.
    assert [b["metadata"]["name"] for b in bindings] == ["github-krate", "github-other"]
    assert [b["metadata"]["name"] for b in in_ns] == ["github-krate"]
    assert missing == []
    [manifest] = by_name
    assert manifest["apiVersion"] == API_VERSION
    assert manifest["kind"] == "ExternalBackendBinding"
    assert manifest["spec"] == BINDING["spec"]
    assert manifest["status"] == {}
    metadata = manifest["metadata"]
    assert {k: metadata[k] for k in ("name", "namespace", "generation", "uid")} == {
        "name": "github-krate",
        "namespace": NS,
        "generation": 1,
        "uid": str(result.uid),
    }
    # The spec's required labels, stamped on apply (issue 9).
    assert metadata["labels"] == {
        "krate.a5c.ai/org": "a5c",
        "krate.a5c.ai/provider": "github-a5c",
        "krate.a5c.ai/interface": "issueTracking.cicd.gitForge",
        "krate.a5c.ai/repository": "krate",
        "krate.a5c.ai/external-owner": "a5c-ai",
    }
    assert metadata["annotations"] == {}
    assert metadata["creationTimestamp"].endswith("Z")


def test_delete_then_apply_again_is_a_new_object(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = apply_resource(session, PROVIDER)
        assert delete_resource(session, "ExternalBackendProvider", NS, "github-a5c")
        assert not delete_resource(session, "ExternalBackendProvider", NS, "github-a5c")
        assert get_resources(session, "ExternalBackendProvider") == []
        again = apply_resource(session, PROVIDER)
    assert (again.action, again.generation) == (ApplyAction.CREATED, 1)
    assert again.uid != first.uid
    with session_scope(engine) as session:
        actions = [e.action for e in list_audit(session, subject_name="github-a5c")]
    assert sorted(actions) == ["apply.created", "apply.created", "delete"]


@pytest.mark.parametrize("kind", list(AGGREGATED_KINDS))
def test_aggregated_kinds_round_trip_through_get(engine: Engine, kind: str) -> None:
    with session_scope(engine) as session:
        digest = put_payload(session, b'{"action": "opened"}')
        manifest = aggregated_manifest(kind, digest)
        row = insert_aggregated(session, manifest)
        assert row.org == "a5c"
    with session_scope(engine) as session:
        [got] = get_resources(session, kind, NS)
    expected = json_times(manifest)
    assert got["spec"] == expected["spec"]
    assert got["status"] == expected["status"]
    assert got["metadata"]["labels"] == manifest["metadata"]["labels"]
    assert got["metadata"]["uid"] == str(row.uid)


def test_aggregated_columns_hold_the_filtered_fields(engine: Engine) -> None:
    with session_scope(engine) as session:
        digest = put_payload(session, b"{}")
        delivery = insert_aggregated(
            session, aggregated_manifest("ExternalWebhookDelivery", digest)
        )
        intent = insert_aggregated(session, aggregated_manifest("ExternalWriteIntent"))
        payload = get_payload(session, digest)
    assert (delivery.delivery_id, delivery.event_type, delivery.action) == (  # type: ignore[attr-defined]
        "github-delivery-guid",
        "pull_request",
        "opened",
    )
    assert delivery.phase == "Queued"  # type: ignore[attr-defined]
    assert delivery.spec_extra == {
        "source": {"installation": 123456},
        "processing": {"lastError": None},
    }
    assert intent.idempotency_key == "a5c:issue-42:create-comment:01hx"  # type: ignore[attr-defined]
    assert intent.phase == "Queued"  # type: ignore[attr-defined]
    assert payload is not None
    assert (payload.size, payload.body, payload.content_type) == (2, b"{}", "application/json")


def test_payloads_are_stored_once_per_digest(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert put_payload(session, b"same") == put_payload(session, b"same")


def test_idempotency_keys_are_unique(engine: Engine) -> None:
    with session_scope(engine) as session:
        insert_aggregated(session, aggregated_manifest("ExternalWriteIntent", name="a"))
        duplicate = aggregated_manifest("ExternalWriteIntent", name="b")
        with pytest.raises(IntegrityError):
            insert_aggregated(session, duplicate)
        session.rollback()


def test_apply_on_aggregated_kinds_follows_the_same_rules(engine: Engine) -> None:
    manifest = aggregated_manifest("ExternalWriteIntent")
    with session_scope(engine) as session:
        created = apply_resource(session, manifest)
        again = apply_resource(session, copy.deepcopy(manifest))
        manifest["spec"]["approvalPolicy"]["required"] = True
        del manifest["spec"]["bindingRef"]
        changed = apply_resource(session, manifest)
        [got] = get_resources(session, "ExternalWriteIntent", NS)
    assert [r.action for r in (created, again, changed)] == ["created", "unchanged", "configured"]
    assert changed.generation == 2
    assert got["spec"]["approvalPolicy"] == {"required": True}
    assert "bindingRef" not in got["spec"]
    assert got["status"] == {}  # apply ignores status
    with session_scope(engine) as session:
        assert set_status(
            session, "ExternalWriteIntent", NS, got["metadata"]["name"], {"phase": "Approved"}
        )
        [got] = get_resources(session, "ExternalWriteIntent", NS)
        assert got["status"] == {"phase": "Approved"}
        assert delete_resource(session, "ExternalWriteIntent", NS, got["metadata"]["name"])
        assert get_resources(session, "ExternalWriteIntent") == []


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({**PROVIDER, "apiVersion": "v1"}, "apiVersion"),
        ({**PROVIDER, "kind": "Pod"}, "unknown kind"),
        ({**PROVIDER, "metadata": {"namespace": NS}}, "metadata.name"),
        (
            {
                "kind": "ExternalSyncEvent",
                "metadata": {"name": "e"},
                "spec": {"organizationRef": "a5c", "providerRef": "p", "interface": "gitForge"},
            },
            "spec.resourceKind is required",
        ),
        (
            {
                "kind": "ExternalSyncEvent",
                "metadata": {"name": "e"},
                "spec": {**AGGREGATED_SPECS["ExternalSyncEvent"], "eventTime": "yesterday"},
            },
            "RFC 3339",
        ),
    ],
)
def test_invalid_manifests_are_refused(
    engine: Engine, manifest: dict[str, Any], message: str
) -> None:
    with session_scope(engine) as session, pytest.raises(InvalidManifest, match=message):
        apply_resource(session, manifest)


def test_unknown_kinds_are_refused_by_get_and_delete(engine: Engine) -> None:
    with session_scope(engine) as session:
        with pytest.raises(UnknownKind):
            get_resources(session, "Pod")
        with pytest.raises(UnknownKind):
            delete_resource(session, "Pod", NS, "x")


def test_every_kind_has_a_home_and_every_mapped_path_a_column() -> None:
    assert len(ALL_KINDS) == 9
    for model in AGGREGATED_TABLES:
        columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
        mapped = [*model.spec_columns.values(), *model.status_columns.values()]
        assert set(mapped) <= columns, model.kind
        assert len(mapped) == len(set(mapped)), model.kind


def test_row_and_manifest_convert_without_a_database() -> None:
    manifest = aggregated_manifest("ExternalObjectLink")
    row = row_from_manifest(manifest)
    assert (row.local_kind, row.native_number) == ("PullRequest", 42)  # type: ignore[attr-defined]
    assert manifest_from_row(row)["spec"] == manifest["spec"]
