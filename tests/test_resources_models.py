"""Models of the nine kinds: wire names, strictness, enums, durations, kinds table, labels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from resources import (
    API_VERSION,
    KINDS,
    LABEL_EXTERNAL_OWNER,
    LABEL_INTERFACE,
    LABEL_ORG,
    LABEL_PROVIDER,
    LABEL_REPOSITORY,
    ConditionStatus,
    ConditionType,
    ConfigPhase,
    ConflictPhase,
    DeliveryPhase,
    ExternalBackendBinding,
    ExternalBackendProvider,
    ExternalBackendSyncPolicy,
    ExternalWebhookDelivery,
    ExternalWriteIntent,
    Interface,
    InterfaceMode,
    UnknownKindError,
    WriteIntentPhase,
    WritePolicyMode,
    format_duration,
    labels_for,
    lookup_kind,
    org_namespace,
    parse_duration,
    required_labels,
)
from resources.interfaces import ConflictResolution
from resources.labels import interfaces_from_label


def provider_dict(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "organizationRef": "a5c",
        "providerType": "github",
        "authRef": {"secretRef": {"name": "github-app-a5c"}},
        "capabilities": {"issueTracking": True, "gitForge": True},
    }
    base.update(spec)
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalBackendProvider",
        "metadata": {"name": "github-a5c", "namespace": "krate-org-a5c"},
        "spec": base,
    }


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("7d", timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15", "15 minutes", "1.5h", "m", "", "0s", "-5m"])
def test_parse_duration_refuses_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="duration") as caught:
        parse_duration(text)
    assert "15m" in str(caught.value) or "longer than zero" in str(caught.value)


def test_format_duration_round_trips_as_the_spec_writes_it() -> None:
    assert format_duration(parse_duration("24h")) == "24h"
    assert format_duration(parse_duration("90m")) == "1h30m"
    assert parse_duration(format_duration(timedelta(days=2, seconds=5))) == timedelta(
        days=2, seconds=5
    )


def test_sync_policy_durations_become_timedeltas_and_go_back_as_strings() -> None:
    policy = ExternalBackendSyncPolicy.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ExternalBackendSyncPolicy",
            "metadata": {"name": "p"},
            "spec": {
                "organizationRef": "a5c",
                "providerRef": "github-a5c",
                "backfill": {"interval": "15m", "fullResyncInterval": "24h"},
            },
        }
    )
    assert policy.spec.backfill.interval == timedelta(minutes=15)
    assert policy.spec.backfill.full_resync_interval == timedelta(hours=24)
    wire = policy.to_wire()
    assert wire["spec"]["backfill"] == {
        "enabled": True,
        "interval": "15m",
        "fullResyncInterval": "24h",
    }
    assert policy.spec.write_policy.default_mode is WritePolicyMode.READ_ONLY
    assert policy.spec.conflict_policy.default_resolution is ConflictResolution.MANUAL


# --- wire names and strictness ----------------------------------------------------------------


def test_camel_case_on_the_wire_snake_case_in_python() -> None:
    provider = ExternalBackendProvider.model_validate(
        provider_dict(apiBaseUrl="https://api.github.com")
    )
    assert provider.spec.api_base_url == "https://api.github.com"
    assert provider.spec.auth_ref.secret_ref.name == "github-app-a5c"
    assert provider.spec.capabilities.enabled() == [Interface.ISSUE_TRACKING, Interface.GIT_FORGE]
    wire = provider.to_wire()
    assert wire["spec"]["apiBaseUrl"] == "https://api.github.com"
    assert wire["spec"]["authRef"] == {"secretRef": {"name": "github-app-a5c"}}
    assert "labels" not in wire["metadata"]  # empty collections are left out


def test_python_names_are_accepted_too() -> None:
    provider = ExternalBackendProvider.model_validate(
        provider_dict(api_base_url="https://api.github.com")
    )
    assert provider.spec.api_base_url == "https://api.github.com"


def test_config_spec_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        ExternalBackendProvider.model_validate(provider_dict(capabilites={"cicd": True}))
    (error,) = caught.value.errors()
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ("spec", "capabilites")


def test_aggregated_spec_keeps_unknown_fields() -> None:
    delivery = ExternalWebhookDelivery.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ExternalWebhookDelivery",
            "metadata": {"name": "d1", "namespace": "krate-org-a5c"},
            "spec": {
                "organizationRef": "a5c",
                "providerRef": "github-a5c",
                "deliveryId": "guid",
                "eventType": "push",
                "receivedAt": "2026-05-11T12:00:00Z",
                "processing": {"phase": "DeadLettered", "attempts": 3},
                "hookId": 99,
            },
        }
    )
    assert delivery.spec.processing.phase is DeliveryPhase.DEAD_LETTERED
    assert delivery.to_wire()["spec"]["hookId"] == 99


def test_provider_webhook_adapter_and_auth_fields() -> None:
    provider = ExternalBackendProvider.model_validate(
        provider_dict(
            providerType="custom",
            adapterRef={"name": "youtrack"},
            authRef={"mode": "token", "secretRef": {"name": "yt", "namespace": "krate-org-a5c"}},
            webhook={
                "secretRef": {"name": "wh", "key": "secret"},
                "previousSecretRef": {"name": "wh-old", "key": "secret"},
            },
        )
    )
    assert provider.spec.adapter_ref is not None
    assert provider.spec.adapter_ref.name == "youtrack"
    assert provider.spec.auth_ref.mode == "token"
    assert provider.spec.auth_ref.secret_ref.namespace == "krate-org-a5c"
    webhook = provider.spec.webhook
    assert webhook is not None  # a webhook block means enabled
    assert webhook.enabled
    assert webhook.secret_ref is not None
    assert webhook.secret_ref.key == "secret"
    assert webhook.previous_secret_ref is not None


def test_webhook_secret_ref_needs_a_key() -> None:
    with pytest.raises(ValidationError) as caught:
        ExternalBackendProvider.model_validate(provider_dict(webhook={"secretRef": {"name": "wh"}}))
    assert caught.value.errors()[0]["loc"] == ("spec", "webhook", "secretRef", "key")


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="not an http"):
        ExternalBackendProvider.model_validate(provider_dict(baseUrl="github.com"))


def test_metadata_name_must_be_a_kubernetes_name() -> None:
    raw = provider_dict()
    raw["metadata"]["name"] = "GitHub_A5C"
    with pytest.raises(ValidationError):
        ExternalBackendProvider.model_validate(raw)


# --- enums, status, conditions ----------------------------------------------------------------


def test_interface_modes_accept_read_only_as_mirrored() -> None:
    binding = ExternalBackendBinding.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ExternalBackendBinding",
            "metadata": {"name": "b"},
            "spec": {
                "organizationRef": "a5c",
                "providerRef": "jira-a5c",
                "targetRef": {"kind": "Repository", "name": "krate"},
                "interfaces": {"issueTracking": {"mode": "read-only"}, "cicd": {"enabled": False}},
            },
        }
    )
    enabled = binding.spec.interfaces.enabled()
    assert list(enabled) == [Interface.ISSUE_TRACKING]
    assert enabled[Interface.ISSUE_TRACKING].mode is InterfaceMode.MIRRORED
    assert InterfaceMode.BIDIRECTIONAL.writes_to_provider
    assert not InterfaceMode.EXTERNAL_OWNED.writes_to_provider


def test_status_phase_and_conditions() -> None:
    raw = provider_dict()
    raw["status"] = {
        "phase": "RateLimited",
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "RateLimited",
                "status": "True",
                "reason": "SecondaryRateLimit",
                "message": "resets at 13:00",
                "lastTransitionTime": "2026-05-11T12:00:00Z",
                "observedGeneration": 3,
            },
            {"type": "Ready", "status": "False"},
        ],
    }
    provider = ExternalBackendProvider.model_validate(raw)
    assert provider.status.phase is ConfigPhase.RATE_LIMITED
    assert provider.status.is_true(ConditionType.RATE_LIMITED)
    assert not provider.status.is_true(ConditionType.READY)
    ready = provider.status.condition(ConditionType.READY)
    assert ready is not None
    assert ready.status is ConditionStatus.FALSE


def test_condition_type_is_one_of_the_ten() -> None:
    assert {c.value for c in ConditionType} == {
        "AuthReady",
        "InstallationReady",
        "WebhookReady",
        "IssueTrackingReady",
        "CicdReady",
        "GitForgeReady",
        "RateLimited",
        "BackfillHealthy",
        "ConflictsPresent",
        "Ready",
    }
    raw = provider_dict()
    raw["status"] = {"conditions": [{"type": "Healthy", "status": "True"}]}
    with pytest.raises(ValidationError):
        ExternalBackendProvider.model_validate(raw)


def test_phase_names_follow_the_spec() -> None:
    assert [p.value for p in WriteIntentPhase] == [
        "Pending",
        "AwaitingApproval",
        "Approved",
        "Executing",
        "Confirming",
        "Succeeded",
        "Rejected",
        "Cancelled",
        "Failed",
    ]
    assert WriteIntentPhase.CANCELLED.is_final
    assert not WriteIntentPhase.APPROVED.is_final
    assert "DeadLettered" in {p.value for p in DeliveryPhase}
    assert {"Open", "Resolved"} <= {p.value for p in ConflictPhase}
    assert {p.value for p in ConfigPhase} == {
        "Pending",
        "Syncing",
        "Ready",
        "Degraded",
        "RateLimited",
        "Paused",
        "Error",
    }


# --- kinds ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("binding", "ExternalBackendBinding"),
        ("bindings", "ExternalBackendBinding"),
        ("ExternalBackendBinding", "ExternalBackendBinding"),
        ("externalbackendbindings", "ExternalBackendBinding"),
        ("providers", "ExternalBackendProvider"),
        ("syncpolicies", "ExternalBackendSyncPolicy"),
        ("syncstate", "ExternalSyncState"),
        ("deliveries", "ExternalWebhookDelivery"),
        ("events", "ExternalSyncEvent"),
        ("writeintents", "ExternalWriteIntent"),
        ("intents", "ExternalWriteIntent"),
        ("Conflicts", "ExternalSyncConflict"),
        ("objectlinks", "ExternalObjectLink"),
        ("links", "ExternalObjectLink"),
    ],
)
def test_lookup_kind_like_kubectl(name: str, kind: str) -> None:
    assert lookup_kind(name).kind == kind


def test_lookup_kind_error_lists_valid_names() -> None:
    with pytest.raises(UnknownKindError) as caught:
        lookup_kind("pipelines")
    message = str(caught.value)
    assert "'pipelines'" in message
    assert "bindings (ExternalBackendBinding)" in message
    assert "objectlinks (ExternalObjectLink)" in message


def test_kinds_table_is_complete_and_unambiguous() -> None:
    assert len(KINDS) == 9
    assert [k.kind for k in KINDS if k.config] == [
        "ExternalBackendProvider",
        "ExternalBackendBinding",
        "ExternalBackendSyncPolicy",
    ]
    all_names = [name for info in KINDS for name in info.names]
    assert len(all_names) == len(set(all_names))
    for info in KINDS:
        assert info.api_version == API_VERSION
        assert info.model.KIND == info.kind


# --- labels -----------------------------------------------------------------------------------


def test_required_labels_helper() -> None:
    assert required_labels(
        org="a5c",
        provider="github-a5c",
        interfaces=[Interface.GIT_FORGE, "issueTracking"],
        repository="krate",
        external_owner="a5c-ai",
    ) == {
        LABEL_ORG: "a5c",
        LABEL_PROVIDER: "github-a5c",
        LABEL_INTERFACE: "issueTracking.gitForge",
        LABEL_REPOSITORY: "krate",
        LABEL_EXTERNAL_OWNER: "a5c-ai",
    }
    assert required_labels(org="a5c", provider="p") == {LABEL_ORG: "a5c", LABEL_PROVIDER: "p"}
    assert interfaces_from_label("issueTracking.gitForge") == [
        Interface.ISSUE_TRACKING,
        Interface.GIT_FORGE,
    ]


def test_labels_for_a_binding_and_a_write_intent() -> None:
    binding = ExternalBackendBinding.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ExternalBackendBinding",
            "metadata": {"name": "github-krate"},
            "spec": {
                "organizationRef": "a5c",
                "providerRef": "github-a5c",
                "targetRef": {"kind": "Repository", "name": "krate"},
                "externalRef": {"owner": "a5c-ai", "repository": "krate"},
                "interfaces": {"cicd": {"mode": "external-owned"}},
            },
        }
    )
    assert labels_for(binding) == {
        LABEL_ORG: "a5c",
        LABEL_PROVIDER: "github-a5c",
        LABEL_INTERFACE: "cicd",
        LABEL_REPOSITORY: "krate",
        LABEL_EXTERNAL_OWNER: "a5c-ai",
    }
    intent = ExternalWriteIntent.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ExternalWriteIntent",
            "metadata": {"name": "i"},
            "spec": {
                "organizationRef": "a5c",
                "providerRef": "github-a5c",
                "interface": "issueTracking",
                "operation": "createComment",
                "source": {"kind": "UserAction", "actor": "user:alice"},
                "target": {"kind": "Issue", "name": "issue-42"},
                "nativeTarget": {"owner": "a5c-ai", "issueNumber": 42},
                "idempotencyKey": "k",
            },
        }
    )
    assert labels_for(intent, repository="krate") == {
        LABEL_ORG: "a5c",
        LABEL_PROVIDER: "github-a5c",
        LABEL_INTERFACE: "issueTracking",
        LABEL_REPOSITORY: "krate",
        LABEL_EXTERNAL_OWNER: "a5c-ai",
    }


def test_org_namespace_convention() -> None:
    assert org_namespace("a5c") == "krate-org-a5c"
