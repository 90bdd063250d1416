"""Normalized provider objects → projection rows (dicts for `store.upsert.upsert_many`).

Pure functions, one per kind, plus `project` that dispatches on the model's type. Backfill and
webhooks both use them, so nothing here knows where an object came from. Every row carries the
whole external envelope (org, provider_ref, binding_ref, interface, native kind/id/number, node
id, urls, etag, provider version, sha, extensions) and `base_snapshot`: the normalized fields
as the provider reported them, the base of three-way conflict detection.

Rows leave out `synced_at`: the database stamps it with its own clock, which is what full
resyncs compare with (`mark_unseen_deleted`).

An object whose source lacked some fields (`absent_fields`, set by the webhook normalizer)
becomes a `store.partial.PartialRow`: those columns are left out, so the stored values stay,
and the mapping's placeholders are kept aside for the case where no row exists yet. Callers
pass such rows through `store.partial.settle_partial` before the upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.base import (
    ExternalBranchProtection,
    ExternalCollaborator,
    ExternalComment,
    ExternalCommit,
    ExternalDeployKey,
    ExternalIssue,
    ExternalJob,
    ExternalLabel,
    ExternalObject,
    ExternalPipeline,
    ExternalPullRequest,
    ExternalRef,
    ExternalRefPolicy,
    ExternalRepository,
    ExternalReview,
    ExternalTeamPermission,
    ExternalWebhookSubscription,
)
from providers.rich_text import RichText
from store.models.projections import (
    BranchProtection,
    Comment,
    Commit,
    DeployKey,
    GitRef,
    Issue,
    Job,
    Label,
    Pipeline,
    Projection,
    PullRequest,
    RefPolicy,
    Repository,
    RepositoryPermission,
    Review,
    WebhookSubscription,
)
from store.partial import PartialRow

Row = dict[str, Any]


@dataclass(frozen=True)
class Owner:
    """Whose copy a row is: the org, provider and binding it is synced for. These win over the
    envelope's own refs, which an adapter shared between bindings cannot know."""

    org: str
    provider_ref: str
    binding_ref: str | None = None


def envelope_columns(obj: ExternalObject, owner: Owner) -> Row:
    """The envelope columns every projection has, and the base snapshot."""
    env = obj.external
    return {
        "org": owner.org,
        "provider_ref": owner.provider_ref,
        "binding_ref": owner.binding_ref,
        "interface": env.interface,
        "native_kind": env.native_kind,
        "native_id": env.native_id,
        "native_number": env.native_number,
        "node_id": env.node_id,
        "url": env.url,
        "api_url": env.api_url,
        "etag": env.etag,
        "external_updated_at": env.updated_at,
        "sha": env.sha,
        "extensions": env.extensions.model_dump(mode="json", by_alias=True),
        # Fields the source lacked are no part of what the provider reported.
        "base_snapshot": obj.model_dump(
            mode="json", by_alias=True, exclude={"external", "absent_fields", *obj.absent_fields}
        ),
    }


def body_columns(body: RichText | None, body_format: str) -> Row:
    """A body in its rich-text shape: `body` holds the Markdown, the rest says where it came
    from (the columns conflict detection and write intents use are `body` alone)."""
    if body is None:
        return {
            "body": None,
            "body_format": body_format,
            "body_source_digest": None,
            "body_render_warnings": [],
        }
    return {
        "body": body.markdown,
        "body_format": body.source_format,
        "body_source_digest": body.source_digest,
        "body_render_warnings": list(body.render_warnings),
    }


def _login(user: Any) -> str | None:
    return user.login if user is not None else None


def project_repository(repo: ExternalRepository, owner: Owner) -> Row:
    return {
        **envelope_columns(repo, owner),
        "owner": repo.owner,
        "name": repo.name,
        "full_name": repo.full_name,
        "description": repo.description,
        "visibility": repo.visibility,
        "default_branch": repo.default_branch,
        "archived": repo.archived,
        "disabled": repo.disabled,
        "phase": repo.phase,
        "clone_urls": repo.clone_urls.model_dump(exclude_none=True),
    }


def project_issue(issue: ExternalIssue, owner: Owner) -> Row | None:
    """An issue row, or None for a pull request listed as an issue.

    GitHub numbers issues and pull requests from one sequence and its issues listing returns
    both; the pull request's own listing is the record for that number (it carries labels and
    assignees too), so a second, Issue-shaped record is never made.
    """
    if issue.kind == "pull_request":
        return None
    return {
        **envelope_columns(issue, owner),
        "repository": issue.repository,
        "number": issue.number,
        "title": issue.title,
        **body_columns(issue.rich_body, issue.body_format),
        "state": issue.state,
        "phase": issue.phase,
        "labels": issue.labels,
        "assignees": issue.assignees,
        "milestone": issue.milestone,
        "created_at": issue.created_at,
        "closed_at": issue.closed_at,
    }


def project_pull_request(pr: ExternalPullRequest, owner: Owner) -> Row:
    return {
        **envelope_columns(pr, owner),
        "repository": pr.repository,
        "number": pr.number,
        "title": pr.title,
        **body_columns(pr.rich_body, pr.body_format),
        "state": pr.state,
        "phase": pr.phase,
        "head": pr.head,
        "base": pr.base,
        "head_sha": pr.head_sha,
        "merge_state": pr.merge_state,
        "merged": pr.merged,
        "draft": pr.draft,
        "labels": pr.labels,
        "assignees": pr.assignees,
        "created_at": pr.created_at,
        "closed_at": pr.closed_at,
        "merged_at": pr.merged_at,
    }


def project_review(review: ExternalReview, owner: Owner) -> Row:
    return {
        **envelope_columns(review, owner),
        "repository": review.repository,
        "pull_number": review.pull_number,
        "state": review.state,
        "author": _login(review.author),
        **body_columns(review.rich_body, review.body_format),
        "commit_sha": review.commit_id,
        "submitted_at": review.submitted_at,
    }


def project_comment(comment: ExternalComment, owner: Owner) -> Row:
    return {
        **envelope_columns(comment, owner),
        "repository": comment.repository,
        "parent_kind": comment.parent_kind,
        "parent_number": comment.parent_number,
        **body_columns(comment.rich_body, comment.body_format),
        "author": _login(comment.author),
        "path": comment.path,
        "line": comment.line,
        "created_at": comment.created_at,
    }


def project_pipeline(run: ExternalPipeline, owner: Owner) -> Row:
    # GitHub runs carry no completion time; a completed run's last update is its completion.
    completed = run.external.updated_at if run.status == "completed" else None
    return {
        **envelope_columns(run, owner),
        "repository": run.repository,
        "workflow": run.workflow,
        "ref": run.ref,
        "status": run.status,
        "conclusion": run.conclusion,
        "phase": run.phase,
        "run_number": run.run_number,
        "started_at": run.started_at,
        "completed_at": completed,
    }


def project_job(job: ExternalJob, owner: Owner) -> Row:
    return {
        **envelope_columns(job, owner),
        "repository": job.repository,
        "pipeline_native_id": job.pipeline_id,
        "name": job.name,
        "status": job.status,
        "conclusion": job.conclusion,
        "phase": job.phase,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
    }


def project_ref(ref: ExternalRef, owner: Owner) -> Row:
    row = envelope_columns(ref, owner)
    # Branch protection is a flag on the branch listing with no column of its own.
    row["extensions"]["fields"]["protected"] = ref.protected
    return {**row, "repository": ref.repository, "kind": ref.kind, "name": ref.name}


def project_commit(commit: ExternalCommit, owner: Owner) -> Row:
    author = commit.author_login or (commit.author.name if commit.author else None)
    return {
        **envelope_columns(commit, owner),
        "repository": commit.repository,
        "sha": commit.sha,
        "message": commit.message,
        "author": author,
        "authored_at": commit.author.date if commit.author else None,
        "parents": commit.parents,
    }


def project_deploy_key(key: ExternalDeployKey, owner: Owner) -> Row:
    return {
        **envelope_columns(key, owner),
        "repository": key.repository,
        "title": key.title,
        "key": key.key,
        "read_only": key.read_only,
    }


def project_collaborator(collaborator: ExternalCollaborator, owner: Owner) -> Row:
    return {
        **envelope_columns(collaborator, owner),
        "repository": collaborator.repository,
        "principal_kind": "user",
        "principal": collaborator.login,
        "permission": collaborator.permission or "none",
    }


def project_team_permission(team: ExternalTeamPermission, owner: Owner) -> Row:
    return {
        **envelope_columns(team, owner),
        "repository": team.repository,
        "principal_kind": "team",
        "principal": team.slug,
        "permission": team.permission or "none",
    }


def project_branch_protection(protection: ExternalBranchProtection, owner: Owner) -> Row:
    return {
        **envelope_columns(protection, owner),
        "repository": protection.repository,
        "pattern": protection.branch,
        "settings": protection.spec.model_dump(mode="json"),
    }


def project_ref_policy(policy: ExternalRefPolicy, owner: Owner) -> Row:
    return {
        **envelope_columns(policy, owner),
        "repository": policy.repository,
        "pattern": policy.pattern,
        "ref_kind": policy.ref_kind,
        "required_approvals": policy.required_approvals,
        "require_code_owner_review": policy.require_code_owner_review,
        "dismiss_stale_reviews": policy.dismiss_stale_reviews,
        "require_last_push_approval": policy.require_last_push_approval,
        "required_checks": policy.required_checks,
        "require_up_to_date": policy.require_up_to_date,
        "enforce_admins": policy.enforce_admins,
        "allow_force_push": policy.allow_force_push,
        "allow_deletion": policy.allow_deletion,
        "require_linear_history": policy.require_linear_history,
        "require_conversation_resolution": policy.require_conversation_resolution,
        "push_allowed": policy.push_allowed,
    }


def project_label(label: ExternalLabel, owner: Owner) -> Row:
    return {
        **envelope_columns(label, owner),
        "repository": label.repository,
        "name": label.name,
        "color": label.color,
        "description": label.description,
        "is_default": label.default,
    }


def project_webhook_subscription(hook: ExternalWebhookSubscription, owner: Owner) -> Row:
    return {
        **envelope_columns(hook, owner),
        "repository": hook.repository,
        "name": hook.name,
        "active": hook.active,
        "events": hook.events,
        "target_url": hook.target_url,
        "content_type": hook.content_type,
        "insecure_ssl": hook.insecure_ssl,
        "secret_set": hook.secret_set,
        "created_at": hook.created_at,
    }


_PROJECTIONS: dict[type[ExternalObject], tuple[type[Projection], Any]] = {
    ExternalRepository: (Repository, project_repository),
    ExternalIssue: (Issue, project_issue),
    ExternalPullRequest: (PullRequest, project_pull_request),
    ExternalReview: (Review, project_review),
    ExternalComment: (Comment, project_comment),
    ExternalPipeline: (Pipeline, project_pipeline),
    ExternalJob: (Job, project_job),
    ExternalRef: (GitRef, project_ref),
    ExternalCommit: (Commit, project_commit),
    ExternalDeployKey: (DeployKey, project_deploy_key),
    ExternalCollaborator: (RepositoryPermission, project_collaborator),
    ExternalTeamPermission: (RepositoryPermission, project_team_permission),
    ExternalBranchProtection: (BranchProtection, project_branch_protection),
    ExternalRefPolicy: (RefPolicy, project_ref_policy),
    ExternalLabel: (Label, project_label),
    ExternalWebhookSubscription: (WebhookSubscription, project_webhook_subscription),
}


def table_for(model: type[ExternalObject]) -> type[Projection]:
    """The projection table a normalized model type lands in."""
    return _PROJECTIONS[model][0]


def project(obj: ExternalObject, owner: Owner) -> tuple[type[Projection], Row] | None:
    """(table, row) for any normalized object; None when it gets no row of its own (a pull
    request listed as an issue)."""
    entry = _PROJECTIONS.get(type(obj))
    if entry is None:
        raise TypeError(f"no projection for {type(obj).__name__}")
    table, function = entry
    row: Row | None = function(obj, owner)
    if row is None:
        return None
    if obj.absent_fields:
        row = _partial(table, row, obj.absent_fields)
    return table, row


# Columns computed from a normalized field that the payload may lack: a pipeline's completion
# time comes from its status (see project_pipeline); a rich body's digest and warnings from the
# body. (A phase is a normalized field of its own: the models list what it is derived from.)
_RICH_BODY: dict[str, tuple[str, ...]] = {
    "rich_body": ("body_source_digest", "body_render_warnings")
}
_DERIVED_COLUMNS: dict[type[Projection], dict[str, tuple[str, ...]]] = {
    Pipeline: {"status": ("completed_at",)},
    Issue: _RICH_BODY,
    PullRequest: _RICH_BODY,
    Review: _RICH_BODY,
    Comment: _RICH_BODY,
}


def _partial(table: type[Projection], row: Row, absent: list[str]) -> Row:
    """`row` without the columns whose source fields were absent (identity columns stay)."""
    derived = _DERIVED_COLUMNS.get(table, {})
    columns = {c for f in absent for c in (f, *derived.get(f, ())) if c in row}
    columns -= set(table.identity)
    # Even with every column present the row is partial: its base snapshot lacks the absent
    # fields, and must be merged with the stored one rather than replace it.
    return PartialRow(
        {c: v for c, v in row.items() if c not in columns},
        absent=columns,
        defaults={c: row[c] for c in columns},
    )
