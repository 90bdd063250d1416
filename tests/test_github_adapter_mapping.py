"""GitHub objects into normalized models: every envelope field filled, nothing silently lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from providers.base import BranchProtectionSpec, ExternalEnvelope, ReviewRules, StatusChecks
from providers.github import mapping
from providers.github.mapping import MappingContext, MappingError
from tests.test_github_adapter_fixtures import (
    deploy_key_payload,
    issue_payload,
    job_payload,
    pull_payload,
    repository_payload,
    workflow_run_payload,
)

CTX = MappingContext(provider_ref="github-a5c", binding_ref="github-krate")


def _assert_envelope_filled(env: ExternalEnvelope, *, allow_none: tuple[str, ...] = ()) -> None:
    for name in ExternalEnvelope.model_fields:
        if name in allow_none:
            continue
        assert getattr(env, name) is not None, f"envelope field {name} is empty"
    assert env.provider_ref == "github-a5c"
    assert env.binding_ref == "github-krate"
    assert env.extensions.provider_type == "github"
    assert env.extensions.schema_version == "github-rest-2022-11-28"
    assert isinstance(env.native_id, str)
    # Hypermedia templates are derivable from api_url and are not kept.
    assert not [k for k in env.extensions.fields if k.endswith("_url") and k != "issue_url"]


def test_repository() -> None:
    repo = mapping.repository(repository_payload(), CTX, etag='W/"r1"')
    _assert_envelope_filled(repo.external, allow_none=("native_number", "sha"))
    env = repo.external
    assert (env.interface, env.native_kind, env.native_id) == ("gitForge", "repository", "1296269")
    assert env.url == "https://github.com/octocat/Hello-World"
    assert env.api_url == "https://api.github.com/repos/octocat/Hello-World"
    assert env.etag == 'W/"r1"'
    assert env.updated_at == datetime(2011, 1, 26, 19, 14, 43, tzinfo=UTC)
    assert (repo.owner, repo.name, repo.visibility, repo.default_branch) == (
        "octocat",
        "Hello-World",
        "public",
        "master",
    )
    assert repo.clone_urls.ssh == "git@github.com:octocat/Hello-World.git"
    assert env.extensions.fields["topics"] == ["octocat", "atom", "electron", "api"]
    assert env.extensions.fields["homepage"] == "https://github.com"


def test_repository_visibility_from_private_flag_in_older_payloads() -> None:
    raw = repository_payload(private=True)
    del raw["visibility"]
    assert mapping.repository(raw, CTX).visibility == "private"


def test_issue() -> None:
    issue = mapping.issue(issue_payload(1347), CTX, etag='W/"i1"')
    _assert_envelope_filled(issue.external, allow_none=("sha",))
    env = issue.external
    assert (env.interface, env.native_kind, env.native_id, env.native_number) == (
        "issueTracking",
        "issue",
        "2347",
        1347,
    )
    assert env.node_id == "MDU6SXNzdWUx"
    assert (issue.repository, issue.kind, issue.labels, issue.assignees, issue.milestone) == (
        "octocat/Hello-World",
        "issue",
        ["bug"],
        ["octocat"],
        "v1.0",
    )
    assert issue.author is not None
    assert issue.author.login == "octocat"
    assert issue.author.native_id == "1"
    assert env.extensions.fields["author_association"] == "COLLABORATOR"
    assert env.extensions.fields["active_lock_reason"] == "too heated"
    assert env.extensions.fields["milestone"]["number"] == 1


def test_issue_from_webhook_shape_without_repository_url() -> None:
    """Webhook `issue` objects are the REST shape; the repository can come from the caller."""
    raw = issue_payload(7)
    del raw["repository_url"]
    raw["url"] = "https://ghe.example.com/api/v3/repos/a5c-ai/krate/issues/7"
    assert mapping.issue(raw, CTX).repository == "a5c-ai/krate"
    assert mapping.issue(raw, CTX, repository="x/y").repository == "x/y"


def test_issue_without_number_is_a_mapping_error() -> None:
    raw = issue_payload()
    del raw["number"]
    with pytest.raises(MappingError):
        mapping.issue(raw, CTX)


def test_pull_request() -> None:
    pr = mapping.pull_request(pull_payload(), CTX, etag='W/"p1"')
    _assert_envelope_filled(pr.external)
    env = pr.external
    assert (env.interface, env.native_kind, env.native_id, env.native_number) == (
        "gitForge",
        "pull_request",
        "3347",
        1347,
    )
    assert env.sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert (pr.head, pr.base, pr.head_repository) == ("new-topic", "master", "octocat/Hello-World")
    assert pr.requested_reviewers == ["other_user"]
    assert not pr.merged
    assert env.extensions.fields["requested_team_slugs"] == ["justice-league"]
    assert env.extensions.fields["auto_merge"] is None
    assert "_links" not in env.extensions.fields
    assert "head" not in env.extensions.fields


def test_merged_pull_request_from_list_item_without_merged_flag() -> None:
    pr = mapping.pull_request(pull_payload(state="closed", merged_at="2026-05-11T12:00:00Z"), CTX)
    assert pr.merged
    assert pr.merged_at == datetime(2026, 5, 11, 12, tzinfo=UTC)


def test_workflow_run_and_job() -> None:
    run = mapping.workflow_run(workflow_run_payload(), CTX)
    _assert_envelope_filled(run.external, allow_none=("etag",))
    assert (run.external.interface, run.external.native_kind, run.external.native_number) == (
        "cicd",
        "workflow_run",
        562,
    )
    assert (run.repository, run.workflow_id, run.ref, run.phase) == (
        "octo-org/octo-repo",
        "159038",
        "master",
        "Pending",
    )
    job = mapping.job(job_payload(), CTX)
    _assert_envelope_filled(job.external, allow_none=("etag", "native_number"))
    assert job.external.updated_at == datetime(2020, 1, 20, 17, 44, 39, tzinfo=UTC)
    assert job.external.extensions.fields["steps"][0]["name"] == "Set up job"
    assert (job.repository, job.pipeline_id, job.labels) == (
        "octo-org/octo-repo",
        "29679449",
        ["self-hosted", "foo", "bar"],
    )


@pytest.mark.parametrize(
    ("status", "conclusion", "phase"),
    [
        ("queued", None, "Pending"),
        ("waiting", None, "Pending"),
        ("in_progress", None, "Running"),
        ("completed", "success", "Succeeded"),
        ("completed", "neutral", "Succeeded"),
        ("completed", "failure", "Failed"),
        ("completed", "timed_out", "Failed"),
        ("completed", "startup_failure", "Failed"),
        ("completed", "cancelled", "Cancelled"),
        ("completed", "skipped", "Skipped"),
        ("completed", "action_required", "Pending"),
    ],
)
def test_pipeline_phase(status: str, conclusion: str | None, phase: str) -> None:
    assert mapping.pipeline_phase(status, conclusion) == phase


def test_review_and_comments() -> None:
    review = mapping.review(
        {
            "id": 80,
            "node_id": "MDE3OlB1bGxSZXF1ZXN0UmV2aWV3ODA=",
            "user": {"login": "octocat", "id": 1},
            "body": "Here is the body for the review.",
            "state": "APPROVED",
            "html_url": "https://github.com/octocat/Hello-World/pull/12#pullrequestreview-80",
            "pull_request_url": "https://api.github.com/repos/octocat/Hello-World/pulls/12",
            "submitted_at": "2019-11-17T17:43:43Z",
            "commit_id": "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091",
            "author_association": "COLLABORATOR",
        },
        CTX,
        repository="octocat/Hello-World",
        pull_number=12,
    )
    assert (review.state, review.external.native_id, review.external.sha) == (
        "APPROVED",
        "80",
        "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091",
    )
    assert review.external.updated_at == datetime(2019, 11, 17, 17, 43, 43, tzinfo=UTC)
    comment = mapping.review_comment(
        {
            "url": "https://api.github.com/repos/octocat/Hello-World/pulls/comments/1",
            "pull_request_review_id": 42,
            "id": 10,
            "node_id": "MDI0OlB1bGxSZXF1ZXN0UmV2aWV3Q29tbWVudDEw",
            "diff_hunk": "@@ -16,33 +16,40 @@ public class Connection",
            "path": "file1.txt",
            "commit_id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "in_reply_to_id": 8,
            "user": {"login": "octocat", "id": 1},
            "body": "Great stuff!",
            "created_at": "2011-04-14T16:00:49Z",
            "updated_at": "2011-04-14T16:00:49Z",
            "html_url": "https://github.com/octocat/Hello-World/pull/1#discussion-diff-1",
            "pull_request_url": "https://api.github.com/repos/octocat/Hello-World/pulls/1",
            "line": 2,
            "side": "RIGHT",
        },
        CTX,
    )
    assert (comment.repository, comment.parent_kind, comment.parent_number) == (
        "octocat/Hello-World",
        "pull_request",
        1,
    )
    assert (comment.path, comment.line, comment.in_reply_to, comment.review_id) == (
        "file1.txt",
        2,
        "8",
        "42",
    )
    assert comment.external.extensions.fields["diff_hunk"].startswith("@@")


def test_collaborator_permission_from_flags_or_role() -> None:
    raw = {
        "login": "octocat",
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "html_url": "https://github.com/octocat",
        "url": "https://api.github.com/users/octocat",
        "type": "User",
        "site_admin": False,
        "permissions": {
            "pull": True,
            "triage": True,
            "push": True,
            "maintain": False,
            "admin": False,
        },
    }
    derived = mapping.collaborator(raw, CTX, repository="octocat/Hello-World")
    assert derived.permission == "write"
    assert derived.permissions["push"] is True
    named = mapping.collaborator({**raw, "role_name": "maintain"}, CTX, repository="o/r")
    assert named.permission == "maintain"


def test_deploy_key_and_commit() -> None:
    key = mapping.deploy_key(
        deploy_key_payload(1, "ssh-rsa AAAAB3NzaC1yc2EAAA"), CTX, repository="octocat/Hello-World"
    )
    assert (key.external.native_id, key.read_only, key.title) == ("1", True, "octocat@octomac")
    assert key.external.extensions.fields["added_by"] == "octocat"
    commit = mapping.commit(
        {
            "url": "https://api.github.com/repos/octocat/Hello-World/commits/6dcb09b5",
            "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
            "node_id": "MDY6Q29tbWl0NmRjYjA5YjViNTc4NzVmMzM0ZjYxYWViZWQ2OTVlMmU0MTkzZGI1ZQ==",
            "html_url": "https://github.com/octocat/Hello-World/commit/6dcb09b5",
            "commit": {
                "author": {
                    "name": "Monalisa Octocat",
                    "email": "support@github.com",
                    "date": "2011-04-14T16:00:49Z",
                },
                "committer": {
                    "name": "Monalisa Octocat",
                    "email": "support@github.com",
                    "date": "2011-04-14T16:00:49Z",
                },
                "message": "Fix all the bugs",
                "tree": {
                    "url": "https://api.github.com/x",
                    "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                },
                "comment_count": 0,
            },
            "author": {"login": "octocat", "id": 1},
            "parents": [
                {
                    "url": "https://api.github.com/x",
                    "sha": "7638417db6d59f3c431d3e1f261cc637155684cd",
                }
            ],
            "stats": {"additions": 104, "deletions": 4, "total": 108},
            "files": [{"filename": "file1.txt", "status": "added"}],
        },
        CTX,
        repository="octocat/Hello-World",
    )
    _assert_envelope_filled(commit.external, allow_none=("native_number", "etag"))
    assert commit.parents == ["7638417db6d59f3c431d3e1f261cc637155684cd"]
    assert commit.author_login == "octocat"
    assert commit.external.extensions.fields["stats"]["total"] == 108


PROTECTION = {
    "url": "https://api.github.com/repos/octocat/Hello-World/branches/master/protection",
    "required_status_checks": {
        "url": "https://api.github.com/repos/octocat/hello-world/branches/master/protection/required_status_checks",
        "contexts": ["continuous-integration/travis-ci"],
        "contexts_url": "https://api.github.com/x",
        "enforcement_level": "non_admins",
        "strict": True,
        "checks": [{"context": "continuous-integration/travis-ci", "app_id": None}],
    },
    "enforce_admins": {"url": "https://api.github.com/x", "enabled": True},
    "required_pull_request_reviews": {
        "url": "https://api.github.com/x",
        "dismiss_stale_reviews": True,
        "require_code_owner_reviews": True,
        "required_approving_review_count": 2,
        "require_last_push_approval": True,
    },
    "restrictions": {
        "url": "https://api.github.com/x",
        "users": [{"login": "octocat", "id": 1}],
        "teams": [{"id": 1, "slug": "justice-league"}],
        "apps": [{"id": 1, "slug": "octoapp"}],
    },
    "required_linear_history": {"enabled": True},
    "allow_force_pushes": {"enabled": False},
    "allow_deletions": {"enabled": False},
    "required_conversation_resolution": {"enabled": True},
    "lock_branch": {"enabled": True},
    "allow_fork_syncing": {"enabled": False},
    "required_signatures": {"url": "https://api.github.com/x", "enabled": False},
}


def test_branch_protection_round_trip_preserves_settings_outside_the_spec() -> None:
    protection = mapping.branch_protection(
        PROTECTION, CTX, repository="octocat/Hello-World", branch="master"
    )
    spec = protection.spec
    assert spec.required_status_checks == StatusChecks(
        strict=True, contexts=["continuous-integration/travis-ci"]
    )
    assert spec.enforce_admins
    assert spec.required_pull_request_reviews == ReviewRules(
        required_approving_review_count=2,
        dismiss_stale_reviews=True,
        require_code_owner_reviews=True,
        require_last_push_approval=True,
    )
    assert spec.restrictions is not None
    assert spec.restrictions.teams == ["justice-league"]
    assert spec.required_linear_history
    assert not spec.allow_force_pushes
    fields = protection.external.extensions.fields
    assert fields["lock_branch"] == {"enabled": True}
    body = mapping.branch_protection_body(spec, preserved=fields)
    assert body["lock_branch"] is True
    assert body["allow_fork_syncing"] is False
    assert body["enforce_admins"] is True
    assert body["restrictions"] == {
        "users": ["octocat"],
        "teams": ["justice-league"],
        "apps": ["octoapp"],
    }
    unprotected = mapping.branch_protection_body(BranchProtectionSpec())
    assert unprotected["required_status_checks"] is None
    assert unprotected["required_pull_request_reviews"] is None
    assert unprotected["restrictions"] is None
    assert "lock_branch" not in unprotected


def test_envelope_serializes_with_the_specs_field_names() -> None:
    env = mapping.pull_request(pull_payload(), CTX).external
    dumped = env.model_dump(mode="json", by_alias=True)
    assert {
        "providerRef",
        "bindingRef",
        "nativeKind",
        "nativeId",
        "nativeNumber",
        "nodeId",
        "apiUrl",
        "updatedAt",
    } <= dumped.keys()
    assert dumped["extensions"]["providerType"] == "github"
    assert dumped["extensions"]["schemaVersion"] == "github-rest-2022-11-28"
    assert ExternalEnvelope.model_validate(dumped) == env
