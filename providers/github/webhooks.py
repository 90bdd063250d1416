"""GitHub webhook deliveries normalized: event + action + payload -> sync events and objects.

Pure functions (no store, no Temporal): the deliveries activity calls `normalize` and applies
what comes back. A delivery yields

- `events`: one `SyncEventDraft` per object the delivery is about (the ExternalSyncEvent spec
  minus our org/provider/binding refs);
- `objects`: the normalized `External*` models to upsert (version-guarded by the store);
- `deletions`: objects the provider says are gone (tombstoned, never removed);
- `ignored_reason`: set when nothing is projected, saying why (the delivery becomes `Ignored`).

Webhook objects have the REST shapes, so `providers.github.mapping` does the object mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from providers.base import (
    BranchProtectionSpec,
    ExternalBranchProtection,
    ExternalCollaborator,
    ExternalCommit,
    ExternalObject,
    ExternalUser,
    GitSignature,
    Interface,
    PushRestrictions,
    ReviewRules,
    StatusChecks,
)
from providers.github import mapping, repo_settings
from providers.github.mapping import MappingContext, MappingError
from providers.github.presence import mark_absent
from providers.ref_policies import ref_policy_of

Raw = Mapping[str, Any]

# The GitHub events this module understands (the issue's list); anything else is ignored.
SUPPORTED_EVENTS = frozenset(
    {
        "issues",
        "issue_comment",
        "label",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "push",
        "create",
        "delete",
        "workflow_run",
        "workflow_job",
        "check_run",
        "check_suite",
        "status",
        "repository",
        "member",
        "team_add",
        "team",
        "deploy_key",
        "branch_protection_rule",
        "ping",
        "meta",
    }
)
ZERO_SHA = "0" * 40


class SyncEventDraft(BaseModel):
    """An ExternalSyncEvent's spec without the org/provider/binding refs the caller adds."""

    interface: Interface
    resource_kind: str
    native_id: str
    node_id: str | None = None
    action: str | None = None
    event_time: datetime
    normalized: dict[str, Any] = Field(default_factory=dict)
    projected: bool = True
    """False for events recorded for the audit trail only (no projection for the kind)."""


class Deletion(BaseModel):
    """A projection row to tombstone: `identity` holds the identity columns minus org and
    provider (the caller adds those); `version` is the deletion time when GitHub gives one."""

    resource_kind: str
    identity: dict[str, Any]
    version: datetime | None = None


class NormalizedDelivery(BaseModel):
    events: list[SyncEventDraft] = Field(default_factory=list)
    objects: list[ExternalObject] = Field(default_factory=list)
    deletions: list[Deletion] = Field(default_factory=list)
    ignored_reason: str | None = None
    repository: str | None = None


class NormalizationError(ValueError):
    """The payload lacks what identifies the object it is about (a normalized error)."""


def payload_repository(payload: Raw) -> str | None:
    """`owner/name` of the repository a delivery is about, if it names one."""
    repo = payload.get("repository")
    if isinstance(repo, Mapping):
        full_name = repo.get("full_name")
        if isinstance(full_name, str) and "/" in full_name:
            return full_name
    return None


def payload_repository_id(payload: Raw) -> str | None:
    """GitHub's stable id of the repository a delivery is about (it survives renames and
    transfers, unlike `full_name`), if the payload names one."""
    repo = payload.get("repository")
    if isinstance(repo, Mapping):
        ident = repo.get("id")
        if isinstance(ident, int) and not isinstance(ident, bool):
            return str(ident)
        if isinstance(ident, str) and ident.isdigit():
            return ident
    return None


def _obj(raw: Raw, key: str) -> Raw:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _time(value: Any) -> datetime | None:
    # Push payloads give repository.pushed_at as epoch seconds; everything else is ISO 8601.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _first_time(*values: Any) -> datetime | None:
    for value in values:
        parsed = _time(value)
        if parsed is not None:
            return parsed
    return None


def normalize(
    event: str, action: str | None, payload: Raw, ctx: MappingContext, *, received_at: datetime
) -> NormalizedDelivery:
    """Normalize one verified GitHub delivery. Raises NormalizationError (or MappingError, a
    subclass of the provider protocol error) when the payload cannot identify its object."""
    repo = payload_repository(payload)
    handler = _HANDLERS.get(event)
    if event == "installation_repositories":
        # issue 9: read by the owner-wide binding's workflow (providers/github/membership.py).
        return NormalizedDelivery(
            ignored_reason="installation_repositories: nothing to project; an owner-wide "
            "binding starts or stops the repositories' workflows"
        )
    if handler is None:
        return NormalizedDelivery(
            repository=repo, ignored_reason=f"GitHub event {event!r} is not synced"
        )
    if event == "ping" and repo is None:
        return NormalizedDelivery(ignored_reason="ping: the hook was set up")
    if repo is None:
        return NormalizedDelivery(
            ignored_reason=f"{event} delivery names no repository; only repository events sync"
        )
    try:
        result = handler(action, payload, ctx, repo, received_at)
    except MappingError as error:
        raise NormalizationError(f"{event}.{action or ''}: {error}") from error
    result.repository = repo
    if result.ignored_reason is None and not result.objects and not result.deletions:
        result.ignored_reason = f"{event}.{action or ''} changes nothing we project"
    return result


# ---------------------------------------------------------------------------------- handlers


def _event_for(
    obj: ExternalObject,
    resource_kind: str,
    action: str | None,
    received_at: datetime,
    **normalized: Any,
) -> SyncEventDraft:
    env = obj.external
    return SyncEventDraft(
        interface=env.interface,
        resource_kind=resource_kind,
        native_id=env.native_id,
        node_id=env.node_id,
        action=action,
        event_time=env.updated_at or received_at,
        normalized={k: v for k, v in normalized.items() if v is not None},
    )


def _present(obj: ExternalObject, name: str) -> Any:
    """A normalized field for a sync event's summary; None (left out) when the payload lacked
    it, so the event does not claim a placeholder value."""
    return None if name in obj.absent_fields else getattr(obj, name)


def _issues(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_issue = _obj(payload, "issue")
    issue = mark_absent(mapping.issue(raw_issue, ctx, repository=repo), raw_issue)
    event = _event_for(
        issue,
        "Issue",
        action,
        received_at,
        repository=repo,
        issue=issue.number,
        state=_present(issue, "state"),
    )
    if action in ("deleted", "transferred"):
        # A transferred issue lives on in another repository: gone from this one.
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="Issue",
                    identity={"repository": repo, "number": issue.number},
                    version=issue.external.updated_at,
                )
            ],
        )
    return NormalizedDelivery(events=[event], objects=[issue])


def _issue_comment(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_comment = _obj(payload, "comment")
    comment = mark_absent(mapping.issue_comment(raw_comment, ctx, repository=repo), raw_comment)
    raw_issue = _obj(payload, "issue")
    if _obj(raw_issue, "pull_request"):
        comment = comment.model_copy(update={"parent_kind": "pull_request"})
    if comment.parent_number is None and isinstance(raw_issue.get("number"), int):
        comment = comment.model_copy(update={"parent_number": raw_issue["number"]})
    event = _event_for(
        comment,
        "Comment",
        action,
        received_at,
        repository=repo,
        parentKind=comment.parent_kind,
        parentNumber=comment.parent_number,
    )
    if action == "deleted":
        return NormalizedDelivery(
            events=[event],
            deletions=[_comment_deletion(comment, received_at)],
        )
    return NormalizedDelivery(events=[event], objects=[comment])


def _comment_deletion(comment: ExternalObject, received_at: datetime) -> Deletion:
    return Deletion(
        resource_kind="Comment",
        identity={
            "native_kind": comment.external.native_kind,
            "native_id": comment.external.native_id,
        },
        version=comment.external.updated_at,
    )


def _label(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    """A repository label created, edited (renamed keeps its id) or deleted. Issue and pull
    request events carry the labels applied to each; this keeps the repository's own list."""
    label = repo_settings.label(_obj(payload, "label"), ctx, repository=repo)
    event = _event_for(
        label, "Label", action, received_at, repository=repo, name=label.name, color=label.color
    )
    if action == "deleted":
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="Label",
                    identity={"repository": repo, "native_id": label.external.native_id},
                )
            ],
        )
    return NormalizedDelivery(events=[event], objects=[label])


def _hook(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    """`ping` (a hook was created or pinged) and `meta` (a hook was deleted): both carry the
    hook. Only the repository's own hooks are projected; an organisation's or app's hook is
    recorded and left alone."""
    raw = _obj(payload, "hook")
    if not raw and isinstance(payload.get("hook_id"), int):
        raw = {"id": payload["hook_id"]}
    if not raw:
        return NormalizedDelivery(ignored_reason="the delivery carries no hook")
    if not repo_settings.is_repository_hook(raw):
        return NormalizedDelivery(
            ignored_reason=f"a {raw.get('type')} hook: only repository hooks are projected"
        )
    hook = repo_settings.webhook_subscription(raw, ctx, repository=repo)
    deleted = action == "deleted"
    event = _event_for(
        hook,
        "WebhookSubscription",
        action or "ping",
        received_at,
        repository=repo,
        active=None if deleted else hook.active,
        events=None if deleted else hook.events,
    )
    if deleted:
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="WebhookSubscription",
                    identity={"repository": repo, "native_id": hook.external.native_id},
                    version=hook.external.updated_at,
                )
            ],
        )
    return NormalizedDelivery(events=[event], objects=[hook])


def _pull_request(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_pull = _obj(payload, "pull_request")
    pull = mark_absent(mapping.pull_request(raw_pull, ctx, repository=repo), raw_pull)
    event = _event_for(
        pull,
        "PullRequest",
        action,
        received_at,
        repository=repo,
        pullRequest=pull.number,
        headSha=pull.head_sha,
        state=_present(pull, "state"),
        merged=_present(pull, "merged"),
    )
    return NormalizedDelivery(events=[event], objects=[pull])


def _pull_number(payload: Raw) -> int:
    number = _obj(payload, "pull_request").get("number")
    if not isinstance(number, int):
        raise NormalizationError("pull_request.number is missing")
    return number


def _pull_request_review(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    number = _pull_number(payload)
    review = mapping.review(_obj(payload, "review"), ctx, repository=repo, pull_number=number)
    # Reviews have no updated_at; submitted_at orders them (a dismissal keeps it, so a
    # dismissal arriving after the submission ties and is kept only through a full resync).
    event = _event_for(
        review,
        "Review",
        action,
        received_at,
        repository=repo,
        pullRequest=number,
        state=review.state,
    )
    return NormalizedDelivery(events=[event], objects=[review])


def _pull_request_review_comment(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_comment = _obj(payload, "comment")
    comment = mark_absent(mapping.review_comment(raw_comment, ctx, repository=repo), raw_comment)
    if comment.parent_number is None:
        comment = comment.model_copy(update={"parent_number": _pull_number(payload)})
    event = _event_for(
        comment,
        "Comment",
        action,
        received_at,
        repository=repo,
        parentKind="pull_request",
        parentNumber=comment.parent_number,
        path=comment.path,
    )
    if action == "deleted":
        return NormalizedDelivery(
            events=[event], deletions=[_comment_deletion(comment, received_at)]
        )
    return NormalizedDelivery(events=[event], objects=[comment])


def _split_ref(ref: str) -> tuple[Literal["branch", "tag"], str] | None:
    """("branch" | "tag", short name) of a full ref; None for other refs (notes, pulls)."""
    if ref.startswith("refs/heads/"):
        return "branch", ref.removeprefix("refs/heads/")
    if ref.startswith("refs/tags/"):
        return "tag", ref.removeprefix("refs/tags/")
    return None


def _push(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    full_ref = payload.get("ref")
    if not isinstance(full_ref, str):
        raise NormalizationError("push.ref is missing")
    split = _split_ref(full_ref)
    if split is None:
        return NormalizedDelivery(ignored_reason=f"push to {full_ref}: not a branch or tag")
    kind, name = split
    after = payload.get("after")
    deleted = bool(payload.get("deleted")) or after == ZERO_SHA
    head = _obj(payload, "head_commit")
    event_time = (
        _first_time(head.get("timestamp"), _obj(payload, "repository").get("pushed_at"))
        or received_at
    )
    push_action = "deleted" if deleted else ("created" if payload.get("created") else "updated")
    event = SyncEventDraft(
        interface="gitForge",
        resource_kind="GitRef",
        native_id=full_ref,
        action=push_action,
        event_time=event_time,
        normalized={
            "repository": repo,
            "ref": full_ref,
            "before": payload.get("before"),
            "after": after,
            "forced": bool(payload.get("forced")),
            "commits": len(payload.get("commits") or []),
        },
    )
    if deleted:
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="GitRef",
                    identity={"repository": repo, "kind": kind, "name": name},
                )
            ],
        )
    if not isinstance(after, str):
        raise NormalizationError("push.after is missing")
    git_ref = mapping.ref({"name": name, "commit": {"sha": after}}, ctx, repository=repo, kind=kind)
    objects: list[ExternalObject] = [git_ref]
    for raw_commit in payload.get("commits") or []:
        if isinstance(raw_commit, Mapping) and isinstance(raw_commit.get("id"), str):
            objects.append(_push_commit(raw_commit, ctx, repo))
    return NormalizedDelivery(events=[event], objects=objects)


def _push_commit(raw: Raw, ctx: MappingContext, repo: str) -> ExternalCommit:
    """A commit as a push lists it (`{id, message, timestamp, author{name,email,username}}`)."""
    sha = str(raw["id"])
    author = _obj(raw, "author")
    committer = _obj(raw, "committer")
    when = _time(raw.get("timestamp"))
    return ExternalCommit(
        external=mapping.envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="commit",
            native_id=sha,
            consumed=("id", "message", "timestamp", "author", "committer", "url", "tree_id"),
            url=raw.get("url") if isinstance(raw.get("url"), str) else None,
            api_url=None,
            sha=sha,
            updated_at=when,
        ),
        repository=repo,
        sha=sha,
        message=str(raw.get("message") or ""),
        author=GitSignature(name=author.get("name"), email=author.get("email"), date=when),
        committer=GitSignature(name=committer.get("name"), email=committer.get("email")),
        author_login=author.get("username") if isinstance(author.get("username"), str) else None,
        tree_sha=raw.get("tree_id") if isinstance(raw.get("tree_id"), str) else None,
    )


def _create(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    return _create_delete(payload, repo, received_at, is_delete=False)


def _delete(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    return _create_delete(payload, repo, received_at, is_delete=True)


def _create_delete(
    payload: Raw, repo: str, received_at: datetime, *, is_delete: bool
) -> NormalizedDelivery:
    ref = payload.get("ref")
    ref_type = payload.get("ref_type")
    if not isinstance(ref, str) or ref_type not in ("branch", "tag"):
        raise NormalizationError("create/delete without ref and ref_type branch|tag")
    full_ref = f"refs/heads/{ref}" if ref_type == "branch" else f"refs/tags/{ref}"
    verb = "deleted" if is_delete else "created"
    event = SyncEventDraft(
        interface="gitForge",
        resource_kind="GitRef",
        native_id=full_ref,
        action=verb,
        event_time=received_at,
        normalized={"repository": repo, "ref": full_ref, "refType": ref_type},
        projected=is_delete,
    )
    if is_delete:
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="GitRef",
                    identity={"repository": repo, "kind": ref_type, "name": ref},
                )
            ],
        )
    return NormalizedDelivery(
        events=[event],
        ignored_reason="create carries no commit sha; the push GitHub sends with it "
        "projects the new ref",
    )


def _workflow_run(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_run = _obj(payload, "workflow_run")
    run = mark_absent(mapping.workflow_run(raw_run, ctx, repository=repo), raw_run)
    event = _event_for(
        run,
        "Pipeline",
        action,
        received_at,
        repository=repo,
        workflow=run.workflow,
        status=run.status,
        conclusion=run.conclusion,
        phase=run.phase,
        headSha=run.sha,
    )
    return NormalizedDelivery(events=[event], objects=[run])


def _workflow_job(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_job = _obj(payload, "workflow_job")
    job = mark_absent(mapping.job(raw_job, ctx, repository=repo), raw_job)
    event = _event_for(
        job,
        "Job",
        action,
        received_at,
        repository=repo,
        pipeline=job.pipeline_id,
        status=job.status,
        conclusion=job.conclusion,
        phase=job.phase,
    )
    return NormalizedDelivery(events=[event], objects=[job])


def _actions_check(
    kind: str, raw: Raw, action: str | None, repo: str, received_at: datetime
) -> NormalizedDelivery:
    """A check suite or run of GitHub Actions itself: recorded, not projected (its workflow_run
    and workflow_job events are, with more detail)."""
    return NormalizedDelivery(
        events=[
            SyncEventDraft(
                interface="cicd",
                resource_kind=kind,
                native_id=str(raw.get("id") or "?"),
                node_id=raw.get("node_id") if isinstance(raw.get("node_id"), str) else None,
                action=action,
                event_time=_first_time(raw.get("completed_at"), raw.get("updated_at"))
                or received_at,
                normalized={"repository": repo, "headSha": raw.get("head_sha")},
                projected=False,
            )
        ],
        ignored_reason=f"GitHub Actions {kind}: Actions runs and jobs are projected from "
        "workflow_run and workflow_job",
    )


def _check_suite(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw = _obj(payload, "check_suite")
    if mapping.check_app_slug(raw) == mapping.ACTIONS_APP_SLUG:
        return _actions_check("CheckSuite", raw, action, repo, received_at)
    suite = mapping.check_suite(raw, ctx, repository=repo)
    event = _event_for(
        suite,
        "Pipeline",
        action,
        received_at,
        repository=repo,
        app=suite.workflow,
        status=suite.status,
        conclusion=suite.conclusion,
        phase=suite.phase,
        headSha=suite.sha,
    )
    return NormalizedDelivery(events=[event], objects=[suite])


def _check_run(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw = _obj(payload, "check_run")
    if mapping.check_app_slug(raw) == mapping.ACTIONS_APP_SLUG:
        return _actions_check("CheckRun", raw, action, repo, received_at)
    run = mapping.check_run(raw, ctx, repository=repo)
    event = _event_for(
        run,
        "Job",
        action,
        received_at,
        repository=repo,
        pipeline=run.pipeline_id,
        name=run.name,
        status=run.status,
        conclusion=run.conclusion,
        phase=run.phase,
        headSha=run.external.sha,
    )
    return NormalizedDelivery(events=[event], objects=[run])


def _status(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    # The delivery is the status itself: sha, context, state, target_url at the top level.
    status = mapping.commit_status(payload, ctx, repository=repo)
    event = _event_for(
        status,
        "Pipeline",
        payload.get("state") if isinstance(payload.get("state"), str) else None,
        received_at,
        repository=repo,
        context=status.workflow,
        phase=status.phase,
        headSha=status.sha,
    )
    return NormalizedDelivery(events=[event], objects=[status])


def _repository(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    raw_repository = _obj(payload, "repository")
    repository = mark_absent(mapping.repository(raw_repository, ctx), raw_repository)
    event = _event_for(
        repository, "Repository", action, received_at, repository=repository.full_name
    )
    if action == "deleted":
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="Repository",
                    identity={"native_id": repository.external.native_id},
                    version=repository.external.updated_at,
                )
            ],
        )
    return NormalizedDelivery(events=[event], objects=[repository])


def _member(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    member = mapping.user(_obj(payload, "member"))
    if member is None:
        raise NormalizationError("member.login is missing")
    changes = _obj(payload, "changes")
    # Newer payloads say the new permission (`changes.permission.to`); older ones do not.
    permission = _obj(changes, "permission").get("to")
    event = SyncEventDraft(
        interface="gitForge",
        resource_kind="RepositoryPermission",
        native_id=member.native_id or member.login,
        node_id=member.node_id,
        action=action,
        event_time=received_at,
        normalized={"repository": repo, "principal": member.login, "permission": permission},
    )
    if action == "removed":
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="RepositoryPermission",
                    identity={
                        "repository": repo,
                        "principal_kind": "user",
                        "principal": member.login,
                    },
                )
            ],
        )
    if not isinstance(permission, str):
        event.projected = False
        return NormalizedDelivery(
            events=[event],
            ignored_reason=f"member {action}: the payload does not say the new permission; "
            "the permissions backfill reads it",
        )
    collaborator = ExternalCollaborator(
        external=mapping.envelope(
            _obj(payload, "member"),
            ctx,
            interface="gitForge",
            native_kind="collaborator",
            native_id=member.native_id or member.login,
            consumed=("id", "node_id", "login", "type", "html_url", "url"),
        ),
        repository=repo,
        login=member.login,
        permission=permission,
        user=ExternalUser(login=member.login, native_id=member.native_id, node_id=member.node_id),
    )
    return NormalizedDelivery(events=[event], objects=[collaborator])


def _team_repository(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    """`team_add` and `team` (added_to_repository, removed_from_repository, edited with a
    repository): a team's access to the repository. Team events without a repository (created,
    deleted, edited elsewhere) name no repository and are ignored before this."""
    raw = _obj(payload, "team")
    repo_flags = _obj(payload, "repository").get("permissions")
    team = mapping.team_permission(
        raw,
        ctx,
        repository=repo,
        flags=repo_flags if isinstance(repo_flags, Mapping) else None,
    )
    event = SyncEventDraft(
        interface="gitForge",
        resource_kind="RepositoryPermission",
        native_id=team.external.native_id,
        node_id=team.external.node_id,
        action=action or "added",
        event_time=received_at,
        normalized={"repository": repo, "team": team.slug, "permission": team.permission},
    )
    if action == "removed_from_repository":
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="RepositoryPermission",
                    identity={"repository": repo, "principal_kind": "team", "principal": team.slug},
                )
            ],
        )
    if action not in (None, "added_to_repository", "edited"):
        event.projected = False
        return NormalizedDelivery(
            events=[event], ignored_reason=f"team {action}: no repository access changed"
        )
    return NormalizedDelivery(events=[event], objects=[team])


def _deploy_key(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    key = mapping.deploy_key(_obj(payload, "key"), ctx, repository=repo)
    event = _event_for(
        key,
        "DeployKey",
        action,
        received_at,
        repository=repo,
        title=key.title,
        readOnly=key.read_only,
    )
    if action == "deleted":
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(
                    resource_kind="DeployKey",
                    identity={"repository": repo, "native_id": key.external.native_id},
                )
            ],
        )
    return NormalizedDelivery(events=[event], objects=[key])


def _level_on(raw: Raw, key: str) -> bool:
    value = raw.get(key)
    return isinstance(value, str) and value != "off"


def rule_spec(rule: Raw) -> BranchProtectionSpec:
    """A branch protection *rule* (webhook shape: enforcement levels) as the REST-shaped spec."""
    checks = rule.get("required_status_checks")
    return BranchProtectionSpec(
        required_status_checks=StatusChecks(
            strict=bool(rule.get("strict_required_status_checks_policy")),
            contexts=[c for c in checks if isinstance(c, str)] if isinstance(checks, list) else [],
        )
        if _level_on(rule, "required_status_checks_enforcement_level")
        else None,
        enforce_admins=bool(rule.get("admin_enforced")),
        required_pull_request_reviews=ReviewRules(
            required_approving_review_count=int(rule.get("required_approving_review_count") or 0),
            dismiss_stale_reviews=bool(rule.get("dismiss_stale_reviews_on_push")),
            require_code_owner_reviews=bool(rule.get("require_code_owner_review")),
            require_last_push_approval=bool(rule.get("require_last_push_approval")),
        )
        if _level_on(rule, "pull_request_reviews_enforcement_level")
        else None,
        restrictions=PushRestrictions(
            users=[n for n in rule.get("authorized_actor_names") or [] if isinstance(n, str)]
        )
        if rule.get("authorized_actors_only")
        else None,
        required_linear_history=_level_on(rule, "linear_history_requirement_enforcement_level"),
        allow_force_pushes=_level_on(rule, "allow_force_pushes_enforcement_level"),
        allow_deletions=_level_on(rule, "allow_deletions_enforcement_level"),
        required_conversation_resolution=_level_on(rule, "required_conversation_resolution_level"),
    )


def _branch_protection_rule(
    action: str | None, payload: Raw, ctx: MappingContext, repo: str, received_at: datetime
) -> NormalizedDelivery:
    rule = _obj(payload, "rule")
    pattern = rule.get("name")
    if not isinstance(pattern, str) or "id" not in rule:
        raise NormalizationError("rule.name or rule.id is missing")
    protection = ExternalBranchProtection(
        external=mapping.envelope(
            rule,
            ctx,
            interface="gitForge",
            native_kind="branch_protection_rule",
            native_id=str(rule["id"]),
            consumed=tuple(rule.keys()),  # every setting is in the spec or the event
            url=None,
            api_url=None,
            updated_at=_time(rule.get("updated_at")),
        ),
        repository=repo,
        branch=pattern,
        spec=rule_spec(rule),
    )
    event = _event_for(
        protection, "BranchProtection", action, received_at, repository=repo, pattern=pattern
    )
    if action == "deleted":
        identity = {"repository": repo, "pattern": pattern}
        return NormalizedDelivery(
            events=[event],
            deletions=[
                Deletion(resource_kind=kind, identity=identity)
                for kind in ("BranchProtection", "RefPolicy")
            ],
        )
    return NormalizedDelivery(events=[event], objects=[protection, ref_policy_of(protection)])


_HANDLERS = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "label": _label,
    "pull_request": _pull_request,
    "pull_request_review": _pull_request_review,
    "pull_request_review_comment": _pull_request_review_comment,
    "push": _push,
    "create": _create,
    "delete": _delete,
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "check_run": _check_run,
    "check_suite": _check_suite,
    "status": _status,
    "repository": _repository,
    "member": _member,
    "team_add": _team_repository,
    "team": _team_repository,
    "deploy_key": _deploy_key,
    "branch_protection_rule": _branch_protection_rule,
    "ping": _hook,
    "meta": _hook,
}


_INTERFACE_OF_EVENT: dict[str, Interface] = {
    "issues": "issueTracking",
    "issue_comment": "issueTracking",
    "label": "issueTracking",
    "workflow_run": "cicd",
    "workflow_job": "cicd",
    "check_run": "cicd",
    "check_suite": "cicd",
    "status": "cicd",
}


def interface_hints(event: str | None) -> list[Interface]:
    """The interfaces a delivery of `event` concerns (the delivery's `interfaceHints`)."""
    if not event or event == "ping":
        return []
    return [_INTERFACE_OF_EVENT.get(event, "gitForge")]
