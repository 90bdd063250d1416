"""providers/github/webhooks.py on GitHub's published example payloads (pure: no I/O)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from providers.base import ExternalBranchProtection, ExternalIssue, ExternalRef, ExternalRefPolicy
from providers.github.mapping import MappingContext
from providers.github.webhooks import NormalizationError, normalize
from tests.test_webhook_helpers import examples

CTX = MappingContext(provider_ref="github-a5c", binding_ref="b")
NOW = datetime(2026, 5, 11, 12, tzinfo=UTC)
EVENTS = (
    "issues issue_comment label pull_request pull_request_review pull_request_review_comment "
    "push create delete workflow_run workflow_job check_run check_suite status repository "
    "member deploy_key branch_protection_rule team_add team"
).split()
CASES = [
    pytest.param(event, index, id=f"{event}-{p.get('action', '')}-{index}")
    for event in EVENTS
    for index, p in enumerate(examples()[event])
]


@pytest.mark.parametrize(("event", "index"), CASES)
def test_every_example_normalizes_to_events_and_objects_or_a_reason(event: str, index: int) -> None:
    payload = examples()[event][index]
    result = normalize(event, payload.get("action"), payload, CTX, received_at=NOW)
    if "repository" not in payload:
        # Team events about the team alone (created, deleted): nothing of a repository changes.
        assert result.ignored_reason is not None
        assert not result.events
        return
    assert result.events, "every delivery records at least one sync event"
    for draft in result.events:
        assert draft.native_id
        assert draft.resource_kind
        assert draft.event_time.tzinfo is not None
    if result.ignored_reason is None:
        assert result.objects or result.deletions
    assert result.repository == payload["repository"]["full_name"]


def test_issue_event_carries_the_normalized_issue_and_its_version() -> None:
    payload = next(p for p in examples()["issues"] if p["action"] == "opened")
    result = normalize("issues", "opened", payload, CTX, received_at=NOW)
    (issue,) = result.objects
    assert isinstance(issue, ExternalIssue)
    assert issue.number == payload["issue"]["number"]
    (event,) = result.events
    assert event.resource_kind == "Issue"
    assert event.interface == "issueTracking"
    assert event.node_id == payload["issue"]["node_id"]
    assert event.event_time == issue.external.updated_at


def test_deleted_issue_is_a_tombstone_with_a_version() -> None:
    payload = next(p for p in examples()["issues"] if p["action"] == "deleted")
    result = normalize("issues", "deleted", payload, CTX, received_at=NOW)
    assert not result.objects
    (deletion,) = result.deletions
    assert deletion.resource_kind == "Issue"
    assert deletion.identity["number"] == payload["issue"]["number"]


def test_push_projects_the_ref_and_commits_and_branch_deletion_tombstones() -> None:
    payload = examples()["push"][0]
    result = normalize("push", None, payload, CTX, received_at=NOW)
    ref = result.objects[0]
    assert isinstance(ref, ExternalRef)
    assert ref.sha == payload["after"]
    deleted = copy.deepcopy(payload)
    deleted["deleted"] = True
    deleted["after"] = "0" * 40
    gone = normalize("push", None, deleted, CTX, received_at=NOW)
    assert gone.deletions[0].resource_kind == "GitRef"


def test_branch_protection_rule_levels_become_the_rest_spec() -> None:
    payload = next(p for p in examples()["branch_protection_rule"] if p["action"] == "created")
    result = normalize("branch_protection_rule", "created", payload, CTX, received_at=NOW)
    rule, policy = result.objects
    assert isinstance(rule, ExternalBranchProtection)
    assert rule.branch == payload["rule"]["name"]
    checks = rule.spec.required_status_checks
    assert checks is not None
    assert checks.contexts == payload["rule"]["required_status_checks"]
    # The same rule as Krate's ref policy (tests/test_mapping_rules.py checks its fields).
    assert isinstance(policy, ExternalRefPolicy)
    assert policy.pattern == rule.branch
    assert policy.required_checks == checks.contexts


def test_unsupported_and_repositoryless_events_are_ignored_with_reason() -> None:
    assert normalize("star", "created", {}, CTX, received_at=NOW).ignored_reason
    assert normalize("issues", "opened", {"issue": {}}, CTX, received_at=NOW).ignored_reason


def test_a_payload_without_identity_is_a_normalization_error() -> None:
    payload = copy.deepcopy(next(p for p in examples()["issues"] if p["action"] == "opened"))
    del payload["issue"]["number"]
    with pytest.raises(NormalizationError):
        normalize("issues", "opened", payload, CTX, received_at=NOW)
