"""The mapping rules of external-object-mapping.md beside the envelope, on GitHub's published
payloads (pure: no I/O): phases, rich-text bodies, labels, repository hooks, ref policies."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from activities.projection import Owner, project
from providers.base import (
    BranchProtectionSpec,
    ExternalBranchProtection,
    ExternalIssue,
    ExternalLabel,
    ExternalPipeline,
    ExternalPullRequest,
    ExternalRefPolicy,
    ExternalRepository,
    ExternalWebhookSubscription,
    PushRestrictions,
    ReviewRules,
    StatusChecks,
)
from providers.github.mapping import MappingContext
from providers.github.webhooks import normalize
from providers.ref_policies import ref_policy_of
from providers.rich_text import rich_text, source_digest
from store.models.projections import Label, RefPolicy, WebhookSubscription
from tests.test_webhook_helpers import examples

CTX = MappingContext(provider_ref="github-a5c", binding_ref="b")
NOW = datetime(2026, 5, 11, 12, tzinfo=UTC)
OWNER = Owner(org="o", provider_ref="github-a5c", binding_ref="b")


def _example(event: str, action: str | None, index: int = 0) -> dict[str, Any]:
    found = [p for p in examples()[event] if p.get("action") == action]
    return copy.deepcopy(found[index])


def _only(event: str, payload: dict[str, Any]) -> Any:
    result = normalize(event, payload.get("action"), payload, CTX, received_at=NOW)
    assert result.ignored_reason is None, result.ignored_reason
    (obj,) = result.objects
    return obj


# -- phases beside the native state ----------------------------------------------------------


@pytest.mark.parametrize(("state", "phase"), [("open", "Open"), ("closed", "Closed")])
def test_an_issue_has_a_phase_beside_its_state(state: str, phase: str) -> None:
    payload = _example("issues", "opened")
    payload["issue"]["state"] = state  # the examples hold no closed issue that still exists
    issue = _only("issues", payload)
    assert isinstance(issue, ExternalIssue)
    _, row = project(issue, OWNER) or (None, {})
    assert (row["state"], row["phase"]) == (issue.state, phase)


def test_a_pull_request_phase_tells_draft_merged_and_closed_apart() -> None:
    draft = _only("pull_request", _example("pull_request", "converted_to_draft"))
    closed = _only("pull_request", _example("pull_request", "closed"))
    # The examples hold no merged pull request: the closed one, merged as GitHub reports it.
    merged_payload = _example("pull_request", "closed")
    merged_payload["pull_request"].update(merged=True, merged_at="2019-05-15T15:20:40Z")
    merged = _only("pull_request", merged_payload)
    opened = _only("pull_request", _example("pull_request", "opened"))
    phases = {}
    for name, pull in (("draft", draft), ("closed", closed), ("merged", merged), ("open", opened)):
        assert isinstance(pull, ExternalPullRequest)
        _, row = project(pull, OWNER) or (None, {})
        phases[name] = (row["state"], row["phase"])
    assert phases == {
        "draft": ("open", "Draft"),
        "closed": ("closed", "Closed"),
        "merged": ("closed", "Merged"),
        "open": ("open", "Open"),
    }


def test_a_pipeline_keeps_its_phase_in_the_projection() -> None:
    done = next(
        p for p in examples()["workflow_run"] if p["workflow_run"]["conclusion"] == "success"
    )
    run = _only("workflow_run", copy.deepcopy(done))
    assert isinstance(run, ExternalPipeline)
    _, row = project(run, OWNER) or (None, {})
    assert (row["status"], row["conclusion"], row["phase"]) == ("completed", "success", "Succeeded")
    queued = _only("workflow_run", _example("workflow_run", "requested"))
    assert project(queued, OWNER)[1]["phase"] == "Pending"  # type: ignore[index]


@pytest.mark.parametrize(
    ("flags", "phase"),
    [({}, "Active"), ({"archived": True}, "Archived"), ({"disabled": True}, "Disabled")],
)
def test_a_repository_phase_comes_from_archived_and_disabled(
    flags: dict[str, bool], phase: str
) -> None:
    payload = _example("repository", "edited")
    payload["repository"].update({"archived": False, "disabled": False, **flags})
    repo = _only("repository", payload)
    assert isinstance(repo, ExternalRepository)
    _, row = project(repo, OWNER) or (None, {})
    assert row["phase"] == phase
    assert (row["archived"], row["disabled"]) == (
        flags.get("archived", False),
        flags.get("disabled", False),
    )


def test_a_phase_computed_from_a_missing_state_is_left_out_of_the_row() -> None:
    # `issues.pinned` carries no state: its phase would be a placeholder too.
    issue = _only("issues", _example("issues", "pinned"))
    assert {"state", "phase"} <= set(issue.absent_fields)
    _, row = project(issue, OWNER) or (None, {})
    assert "phase" not in row
    assert "state" not in row


# -- rich text -------------------------------------------------------------------------------


def test_issue_and_comment_bodies_are_stored_in_the_rich_text_shape() -> None:
    issue = _only("issues", _example("issues", "opened"))
    comment = _only("issue_comment", _example("issue_comment", "created"))
    for obj in (issue, comment):
        body = obj.body
        assert body
        assert obj.rich_body is not None
        assert obj.rich_body.model_dump(by_alias=True) == {
            "markdown": body,
            "sourceFormat": "markdown",
            "sourceDigest": source_digest(body),
            "renderWarnings": [],
        }
        _, row = project(obj, OWNER) or (None, {})
        assert (row["body"], row["body_format"], row["body_source_digest"]) == (
            body,
            "markdown",
            source_digest(body),
        )
        assert row["body_render_warnings"] == []
    assert source_digest("x") == (
        "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )


def test_a_body_in_another_format_says_it_was_not_converted() -> None:
    body = rich_text('{"type":"doc","content":[]}', "atlassian-document-format")
    assert body is not None
    assert body.source_format == "atlassian-document-format"
    assert body.render_warnings  # never passed off as Markdown silently
    assert rich_text(None) is None


# -- labels ----------------------------------------------------------------------------------


def test_label_events_create_edit_and_delete_the_label_projection() -> None:
    created = _only("label", _example("label", "created"))
    assert isinstance(created, ExternalLabel)
    raw = _example("label", "created")["label"]
    table, row = project(created, OWNER) or (None, {})
    assert table is Label
    assert (row["native_id"], row["name"], row["color"], row["description"]) == (
        str(raw["id"]),
        raw["name"],
        raw["color"],
        raw["description"],
    )
    assert row["repository"] == "Codertocat/Hello-World"
    edited = _example("label", "edited")
    assert "changes" in edited
    assert isinstance(_only("label", edited), ExternalLabel)
    deleted = normalize("label", "deleted", _example("label", "deleted"), CTX, received_at=NOW)
    (gone,) = deleted.deletions
    assert (gone.resource_kind, gone.identity["native_id"]) == ("Label", str(raw["id"]))
    assert [e.resource_kind for e in deleted.events] == ["Label"]


# -- repository webhooks ---------------------------------------------------------------------


def test_ping_projects_the_repository_hook_and_meta_deleted_tombstones_it() -> None:
    ping = copy.deepcopy(next(p for p in examples()["ping"] if "repository" in p))
    hook = _only("ping", ping)
    assert isinstance(hook, ExternalWebhookSubscription)
    table, row = project(hook, OWNER) or (None, {})
    assert table is WebhookSubscription
    raw = ping["hook"]
    assert (row["native_id"], row["events"], row["target_url"], row["active"]) == (
        str(raw["id"]),
        raw["events"],
        raw["config"]["url"],
        True,
    )
    assert row["api_url"] == raw["url"]
    assert row["extensions"]["fields"]["last_response"] == raw["last_response"]
    meta = _example("meta", "deleted", 1)
    assert meta["hook"]["config"]["secret"] == "********"
    deleted = normalize("meta", "deleted", meta, CTX, received_at=NOW)
    (gone,) = deleted.deletions
    assert (gone.resource_kind, gone.identity["native_id"]) == (
        "WebhookSubscription",
        str(meta["hook_id"]),
    )
    # What GitHub sends for the secret is a mask; only its presence is ever kept.
    kept = normalize("meta", "created", {**meta, "action": "created"}, CTX, received_at=NOW)
    (masked,) = kept.objects
    assert isinstance(masked, ExternalWebhookSubscription)
    assert masked.secret_set is True
    assert "********" not in str(project(masked, OWNER))


def test_an_organisation_hook_ping_is_not_a_repository_subscription() -> None:
    org_ping = next(p for p in examples()["ping"] if "repository" not in p)
    result = normalize("ping", None, org_ping, CTX, received_at=NOW)
    assert result.ignored_reason
    assert not result.objects


# -- branch protection as RefPolicy ----------------------------------------------------------


def test_a_branch_protection_becomes_a_ref_policy() -> None:
    protection = ExternalBranchProtection.model_validate(
        {
            "external": {
                "interface": "gitForge",
                "nativeKind": "branch_protection",
                "nativeId": "o/r:main",
                "extensions": {"providerType": "github", "schemaVersion": "x", "fields": {"a": 1}},
            },
            "repository": "o/r",
            "branch": "main",
            "spec": BranchProtectionSpec(
                required_status_checks=StatusChecks(strict=True, contexts=["CI", "lint"]),
                enforce_admins=True,
                required_pull_request_reviews=ReviewRules(
                    required_approving_review_count=2, require_code_owner_reviews=True
                ),
                restrictions=PushRestrictions(users=["ada"], teams=["core"], apps=["bot"]),
                required_linear_history=True,
                allow_deletions=True,
            ),
        }
    )
    policy = ref_policy_of(protection)
    assert isinstance(policy, ExternalRefPolicy)
    table, row = project(policy, OWNER) or (None, {})
    assert table is RefPolicy
    assert {k: row[k] for k in row if k in RefPolicy.model_fields and k not in _ENVELOPE} == {
        "repository": "o/r",
        "pattern": "main",
        "ref_kind": "branch",
        "required_approvals": 2,
        "require_code_owner_review": True,
        "dismiss_stale_reviews": False,
        "require_last_push_approval": False,
        "required_checks": ["CI", "lint"],
        "require_up_to_date": True,
        "enforce_admins": True,
        "allow_force_push": False,
        "allow_deletion": True,
        "require_linear_history": True,
        "require_conversation_resolution": False,
        "push_allowed": ["ada", "team:core", "app:bot"],
    }
    assert row["extensions"]["fields"] == {}  # the provider's leftovers stay with the protection
    assert row["native_kind"] == "ref_policy"
    # Unrestricted pushes: anyone with write access, not nobody.
    open_branch = protection.model_copy(update={"spec": BranchProtectionSpec()})
    assert ref_policy_of(open_branch).push_allowed is None


_ENVELOPE = {
    "id",
    "org",
    "provider_ref",
    "binding_ref",
    "interface",
    "native_kind",
    "native_id",
    "native_number",
    "node_id",
    "url",
    "api_url",
    "etag",
    "external_updated_at",
    "sha",
    "extensions",
    "base_snapshot",
    "local_generation",
    "local_changes",
    "conflict_ref",
    "synced_at",
    "refresh_wanted_at",
    "deleted_at",
    "recorded_at",
}


def test_a_branch_protection_rule_webhook_yields_its_ref_policy() -> None:
    payload = _example("branch_protection_rule", "created")
    result = normalize("branch_protection_rule", "created", payload, CTX, received_at=NOW)
    rule, policy = result.objects
    assert isinstance(policy, ExternalRefPolicy)
    rule_raw = payload["rule"]
    assert policy.pattern == rule_raw["name"]
    assert policy.required_checks == rule_raw["required_status_checks"]
    assert policy.external.updated_at == rule.external.updated_at  # one version for both
    gone = normalize(
        "branch_protection_rule",
        "deleted",
        _example("branch_protection_rule", "deleted"),
        CTX,
        received_at=NOW,
    )
    assert sorted(d.resource_kind for d in gone.deletions) == ["BranchProtection", "RefPolicy"]
