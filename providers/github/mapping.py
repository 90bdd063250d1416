"""Pure functions from GitHub REST objects to our normalized models.

Webhook payloads carry the same object shapes (`issue`, `pull_request`, `workflow_run`, ...), so
these functions serve both. Parsing is lenient: an optional field that is missing or of the wrong
type becomes None; only the identity fields (id, number, name) are required. Every top-level
field that has no normalized home goes into `external.extensions.fields`, except GitHub's
hypermedia links (`*_url` templates and `_links`), which are derivable from `api_url`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from providers.base import (
    BranchProtectionSpec,
    CloneUrls,
    Extensions,
    ExternalBranchProtection,
    ExternalCollaborator,
    ExternalComment,
    ExternalCommit,
    ExternalDeployKey,
    ExternalEnvelope,
    ExternalIssue,
    ExternalJob,
    ExternalPipeline,
    ExternalPullRequest,
    ExternalRef,
    ExternalRepository,
    ExternalReview,
    ExternalTeamPermission,
    ExternalUser,
    GitSignature,
    Interface,
    ProviderProtocolError,
    PushRestrictions,
    ReviewRules,
    StatusChecks,
)
from providers.phases import PipelinePhase

PROVIDER_TYPE = "github"
SCHEMA_VERSION = "github-rest-2022-11-28"
Raw = Mapping[str, Any]

# Kept though it ends in _url: it is a clone URL or a link people follow, not hypermedia.
_KEPT_URL_KEYS = frozenset({"clone_url", "ssh_url", "git_url", "svn_url", "mirror_url"})


class MappingError(ProviderProtocolError):
    """A GitHub object lacks a field that identifies it."""


@dataclass(frozen=True)
class MappingContext:
    """Who the objects belong to on our side; stamped into every envelope."""

    provider_ref: str | None = None
    binding_ref: str | None = None


# ---------------------------------------------------------------------------------------------
# Field readers
# ---------------------------------------------------------------------------------------------


def _str(raw: Raw, key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _int(raw: Raw, key: str) -> int | None:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(raw: Raw, key: str, default: bool = False) -> bool:
    value = raw.get(key)
    return value if isinstance(value, bool) else default


def _obj(raw: Raw, key: str) -> Raw:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _objs(raw: Raw, key: str) -> list[Raw]:
    value = raw.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _time(raw: Raw, key: str) -> datetime | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _id(raw: Raw, key: str = "id") -> str:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise MappingError(f"GitHub object has no usable {key!r}")
    return str(value)


def _required_int(raw: Raw, key: str) -> int:
    value = _int(raw, key)
    if value is None:
        raise MappingError(f"GitHub object has no integer {key!r}")
    return value


def _required_str(raw: Raw, key: str) -> str:
    value = _str(raw, key)
    if value is None:
        raise MappingError(f"GitHub object has no string {key!r}")
    return value


def _logins(items: Iterable[Raw]) -> list[str]:
    return [login for item in items if (login := _str(item, "login"))]


def _label_names(raw: Raw) -> list[str]:
    # Labels arrive as objects from REST and webhooks; some older payloads use bare names.
    value = raw.get("labels")
    if not isinstance(value, list):
        return []
    names: list[str] = []
    for label in value:
        if isinstance(label, str):
            names.append(label)
        elif isinstance(label, Mapping) and isinstance(label.get("name"), str):
            names.append(label["name"])
    return names


def user(raw: Raw | None) -> ExternalUser | None:
    """A GitHub user/bot/organization reference (None for deleted accounts, shown as null)."""
    if not raw:
        return None
    login = _str(raw, "login")
    if login is None:
        return None
    native = raw.get("id")
    return ExternalUser(
        login=login,
        native_id=str(native) if isinstance(native, int) else None,
        node_id=_str(raw, "node_id"),
        type=_str(raw, "type"),
    )


def repository_from_api_url(url: str | None) -> str | None:
    """`owner/name` from an API URL such as https://api.github.com/repos/o/r/issues/1."""
    if not url:
        return None
    parts = urlsplit(url).path.split("/")
    try:
        i = parts.index("repos")
    except ValueError:
        return None
    if len(parts) < i + 3 or not parts[i + 1] or not parts[i + 2]:
        return None
    return f"{parts[i + 1]}/{parts[i + 2]}"


def _leftovers(raw: Raw, consumed: Iterable[str]) -> dict[str, Any]:
    skip = set(consumed)
    return {
        key: value
        for key, value in raw.items()
        if key not in skip
        and key != "_links"
        and not (key.endswith("_url") and key not in _KEPT_URL_KEYS)
    }


def envelope(
    raw: Raw,
    ctx: MappingContext,
    *,
    interface: Interface,
    native_kind: str,
    native_id: str,
    consumed: Iterable[str],
    native_number: int | None = None,
    url: str | None = None,
    api_url: str | None = None,
    updated_at: datetime | None = None,
    sha: str | None = None,
    etag: str | None = None,
    extra_fields: Mapping[str, Any] | None = None,
) -> ExternalEnvelope:
    """The external envelope; every field of `raw` not in `consumed` lands in extensions."""
    fields = _leftovers(raw, consumed)
    if extra_fields:
        fields.update(extra_fields)
    return ExternalEnvelope(
        provider_ref=ctx.provider_ref,
        binding_ref=ctx.binding_ref,
        interface=interface,
        native_kind=native_kind,
        native_id=native_id,
        native_number=native_number,
        node_id=_str(raw, "node_id"),
        url=url if url is not None else _str(raw, "html_url"),
        api_url=api_url if api_url is not None else _str(raw, "url"),
        etag=etag,
        updated_at=updated_at if updated_at is not None else _time(raw, "updated_at"),
        sha=sha,
        extensions=Extensions(
            provider_type=PROVIDER_TYPE, schema_version=SCHEMA_VERSION, fields=fields
        ),
    )


_ENVELOPE_KEYS = ("id", "node_id", "html_url", "url", "updated_at")

# ---------------------------------------------------------------------------------------------
# Git forge
# ---------------------------------------------------------------------------------------------


def repository(raw: Raw, ctx: MappingContext, *, etag: str | None = None) -> ExternalRepository:
    """A `repository` object (REST /repos, /installation/repositories, webhooks)."""
    full_name = _required_str(raw, "full_name")
    owner = _str(_obj(raw, "owner"), "login") or full_name.split("/", 1)[0]
    visibility = _str(raw, "visibility")
    if visibility not in ("public", "private", "internal"):
        private = raw.get("private")
        visibility = ("private" if private else "public") if isinstance(private, bool) else None
    consumed = (
        *_ENVELOPE_KEYS,
        "name",
        "full_name",
        "owner",
        "description",
        "visibility",
        "private",
        "default_branch",
        "archived",
        "disabled",
        "fork",
        "clone_url",
        "ssh_url",
        "created_at",
        "pushed_at",
    )
    return ExternalRepository(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="repository",
            native_id=_id(raw),
            consumed=consumed,
            etag=etag,
        ),
        owner=owner,
        name=_str(raw, "name") or full_name.split("/", 1)[-1],
        full_name=full_name,
        description=_str(raw, "description"),
        visibility=visibility,
        default_branch=_str(raw, "default_branch"),
        archived=_bool(raw, "archived"),
        disabled=_bool(raw, "disabled"),
        fork=_bool(raw, "fork"),
        clone_urls=CloneUrls(https=_str(raw, "clone_url"), ssh=_str(raw, "ssh_url")),
        created_at=_time(raw, "created_at"),
        pushed_at=_time(raw, "pushed_at"),
    )


def _state(raw: Raw) -> Literal["open", "closed"]:
    return "closed" if _str(raw, "state") == "closed" else "open"


def issue(
    raw: Raw, ctx: MappingContext, *, repository: str | None = None, etag: str | None = None
) -> ExternalIssue:
    """An `issue` object. GitHub lists pull requests as issues too (they carry `pull_request`):
    those come back with `kind="pull_request"` so that sync links them to the pull request with
    the same number instead of creating an issue record."""
    number = _required_int(raw, "number")
    repo = (
        repository
        or _str(_obj(raw, "repository"), "full_name")
        or repository_from_api_url(_str(raw, "repository_url") or _str(raw, "url"))
    )
    if repo is None:
        raise MappingError("cannot tell which repository the issue belongs to")
    pr = _obj(raw, "pull_request")
    is_pr = "pull_request" in raw and raw["pull_request"] is not None
    milestone = _obj(raw, "milestone")
    consumed = (
        *_ENVELOPE_KEYS,
        "number",
        "title",
        "body",
        "state",
        "state_reason",
        "labels",
        "assignee",
        "assignees",
        "milestone",
        "user",
        "locked",
        "comments",
        "created_at",
        "closed_at",
        "pull_request",
        "repository",
    )
    extra: dict[str, Any] = {}
    if milestone:
        extra["milestone"] = _milestone_ref(milestone)
    if pr.get("merged_at") is not None:
        extra["pull_request_merged_at"] = pr.get("merged_at")
    return ExternalIssue(
        external=envelope(
            raw,
            ctx,
            interface="issueTracking",
            native_kind="issue",
            native_id=_id(raw),
            native_number=number,
            consumed=consumed,
            etag=etag,
            extra_fields=extra,
        ),
        kind="pull_request" if is_pr else "issue",
        repository=repo,
        number=number,
        title=_str(raw, "title") or "",
        body=_str(raw, "body"),
        state=_state(raw),
        state_reason=_str(raw, "state_reason"),
        labels=_label_names(raw),
        assignees=_logins(_objs(raw, "assignees")),
        milestone=_str(milestone, "title"),
        author=user(_obj(raw, "user")),
        locked=_bool(raw, "locked"),
        comments_count=_int(raw, "comments") or 0,
        created_at=_time(raw, "created_at"),
        closed_at=_time(raw, "closed_at"),
        pull_request_api_url=_str(pr, "url") if is_pr else None,
    )


def _milestone_ref(milestone: Raw) -> dict[str, Any]:
    """What extensions keep of a milestone: the fields REST, webhooks and GraphQL all give."""
    return {k: milestone.get(k) for k in ("node_id", "number", "title", "state")}


def _auto_merge(raw: Raw) -> dict[str, Any] | None:
    """Auto-merge settings without the full account object of who enabled them."""
    auto = raw.get("auto_merge")
    if not isinstance(auto, Mapping):
        return None
    return {
        "enabled_by": _str(_obj(auto, "enabled_by"), "login"),
        "merge_method": _str(auto, "merge_method"),
        "commit_title": _str(auto, "commit_title"),
        "commit_message": _str(auto, "commit_message"),
    }


def pull_request(
    raw: Raw, ctx: MappingContext, *, repository: str | None = None, etag: str | None = None
) -> ExternalPullRequest:
    """A `pull_request` object (list items lack the merge fields; get and webhooks have them)."""
    number = _required_int(raw, "number")
    head = _obj(raw, "head")
    base = _obj(raw, "base")
    repo = (
        repository
        or _str(_obj(base, "repo"), "full_name")
        or repository_from_api_url(_str(raw, "url"))
    )
    if repo is None:
        raise MappingError("cannot tell which repository the pull request belongs to")
    merged_at = _time(raw, "merged_at")
    merged = raw.get("merged")
    head_sha = _str(head, "sha")
    consumed = (
        *_ENVELOPE_KEYS,
        "number",
        "title",
        "body",
        "state",
        "merged",
        "merged_at",
        "draft",
        "head",
        "base",
        "mergeable_state",
        "mergeable",
        "merge_commit_sha",
        "labels",
        "assignee",
        "assignees",
        "requested_reviewers",
        "requested_teams",
        "milestone",
        "auto_merge",
        "user",
        "created_at",
        "closed_at",
    )
    # Nested objects are kept compact (slugs, logins, milestone reference): REST, webhooks and
    # GraphQL reads then leave the same extensions.
    extra: dict[str, Any] = {"auto_merge": _auto_merge(raw)}
    if teams := [slug for t in _objs(raw, "requested_teams") if (slug := _str(t, "slug"))]:
        extra["requested_team_slugs"] = teams
    if milestone := _obj(raw, "milestone"):
        extra["milestone"] = _milestone_ref(milestone)
    return ExternalPullRequest(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="pull_request",
            native_id=_id(raw),
            native_number=number,
            consumed=consumed,
            sha=head_sha,
            etag=etag,
            extra_fields=extra,
        ),
        repository=repo,
        number=number,
        title=_str(raw, "title") or "",
        body=_str(raw, "body"),
        state=_state(raw),
        merged=merged if isinstance(merged, bool) else merged_at is not None,
        draft=_bool(raw, "draft"),
        head=_str(head, "ref") or "",
        head_sha=head_sha,
        head_repository=_str(_obj(head, "repo"), "full_name"),
        base=_str(base, "ref") or "",
        base_sha=_str(base, "sha"),
        merge_state=_str(raw, "mergeable_state"),
        mergeable=raw.get("mergeable") if isinstance(raw.get("mergeable"), bool) else None,
        merge_commit_sha=_str(raw, "merge_commit_sha"),
        labels=_label_names(raw),
        assignees=_logins(_objs(raw, "assignees")),
        requested_reviewers=_logins(_objs(raw, "requested_reviewers")),
        author=user(_obj(raw, "user")),
        created_at=_time(raw, "created_at"),
        closed_at=_time(raw, "closed_at"),
        merged_at=merged_at,
    )


def review(raw: Raw, ctx: MappingContext, *, repository: str, pull_number: int) -> ExternalReview:
    """A pull request review."""
    consumed = (*_ENVELOPE_KEYS, "state", "body", "user", "commit_id", "submitted_at")
    submitted = _time(raw, "submitted_at")
    return ExternalReview(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="pull_request_review",
            native_id=_id(raw),
            native_number=pull_number,
            consumed=consumed,
            # Reviews have no updated_at; a submitted review changes only by dismissal.
            updated_at=submitted,
            sha=_str(raw, "commit_id"),
        ),
        repository=repository,
        pull_number=pull_number,
        state=_str(raw, "state") or "COMMENTED",
        body=_str(raw, "body"),
        author=user(_obj(raw, "user")),
        commit_id=_str(raw, "commit_id"),
        submitted_at=submitted,
    )


def _number_from_url(url: str | None) -> int | None:
    if not url:
        return None
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def issue_comment(
    raw: Raw,
    ctx: MappingContext,
    *,
    repository: str | None = None,
    parent_number: int | None = None,
) -> ExternalComment:
    """A comment on an issue or on a pull request's conversation (GitHub keeps both as issue
    comments; `html_url` tells them apart)."""
    issue_url = _str(raw, "issue_url")
    repo = repository or repository_from_api_url(issue_url or _str(raw, "url"))
    if repo is None:
        raise MappingError("cannot tell which repository the comment belongs to")
    html = _str(raw, "html_url") or ""
    parent_kind: Literal["issue", "pull_request"] = "pull_request" if "/pull/" in html else "issue"
    consumed = (*_ENVELOPE_KEYS, "body", "user", "created_at")
    return ExternalComment(
        external=envelope(
            raw,
            ctx,
            interface="issueTracking",
            native_kind="issue_comment",
            native_id=_id(raw),
            consumed=consumed,
            extra_fields={"issue_url": issue_url} if issue_url else None,
        ),
        repository=repo,
        parent_kind=parent_kind,
        parent_number=parent_number if parent_number is not None else _number_from_url(issue_url),
        body=_str(raw, "body") or "",
        author=user(_obj(raw, "user")),
        created_at=_time(raw, "created_at"),
    )


def review_comment(
    raw: Raw, ctx: MappingContext, *, repository: str | None = None
) -> ExternalComment:
    """A comment on a pull request diff."""
    pr_url = _str(raw, "pull_request_url")
    repo = repository or repository_from_api_url(pr_url or _str(raw, "url"))
    if repo is None:
        raise MappingError("cannot tell which repository the review comment belongs to")
    line = _int(raw, "line")
    reply_to = raw.get("in_reply_to_id")
    review_id = raw.get("pull_request_review_id")
    consumed = (
        *_ENVELOPE_KEYS,
        "body",
        "user",
        "created_at",
        "path",
        "line",
        "commit_id",
        "in_reply_to_id",
        "pull_request_review_id",
    )
    return ExternalComment(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="pull_request_review_comment",
            native_id=_id(raw),
            consumed=consumed,
            sha=_str(raw, "commit_id"),
            extra_fields={"pull_request_url": pr_url} if pr_url else None,
        ),
        repository=repo,
        parent_kind="pull_request",
        parent_number=_number_from_url(pr_url),
        body=_str(raw, "body") or "",
        author=user(_obj(raw, "user")),
        created_at=_time(raw, "created_at"),
        path=_str(raw, "path"),
        line=line if line is not None else _int(raw, "original_line"),
        commit_id=_str(raw, "commit_id"),
        in_reply_to=str(reply_to) if isinstance(reply_to, int) else None,
        review_id=str(review_id) if isinstance(review_id, int) else None,
    )


def ref(
    raw: Raw,
    ctx: MappingContext,
    *,
    repository: str,
    kind: Literal["branch", "tag"],
    api_base: str | None = None,
) -> ExternalRef:
    """An item of /branches or /tags (`{name, commit: {sha, url}}`); `api_base` (the API root)
    lets the envelope name the ref's own API URL, which these listings do not give."""
    name = _required_str(raw, "name")
    commit = _obj(raw, "commit")
    sha = _required_str(commit, "sha")
    full_ref = f"refs/heads/{name}" if kind == "branch" else f"refs/tags/{name}"
    api_url = f"{api_base}/repos/{repository}/git/{full_ref}" if api_base else None
    protected = raw.get("protected")
    return ExternalRef(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind=kind,
            native_id=full_ref,
            consumed=("name", "commit", "protected", "node_id"),
            url=None,
            api_url=api_url,
            sha=sha,
        ),
        repository=repository,
        name=name,
        ref=full_ref,
        kind=kind,
        sha=sha,
        protected=protected if isinstance(protected, bool) else None,
    )


def _signature(raw: Raw) -> GitSignature | None:
    if not raw:
        return None
    return GitSignature(name=_str(raw, "name"), email=_str(raw, "email"), date=_time(raw, "date"))


def commit(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalCommit:
    """A commit from /repos/{o}/{r}/commits/{sha} (files and stats kept as extensions)."""
    sha = _required_str(raw, "sha")
    detail = _obj(raw, "commit")
    committer = _signature(_obj(detail, "committer"))
    return ExternalCommit(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="commit",
            native_id=sha,
            consumed=("sha", "node_id", "html_url", "url", "commit", "author", "parents"),
            updated_at=committer.date if committer else None,
            sha=sha,
        ),
        repository=repository,
        sha=sha,
        message=_str(detail, "message") or "",
        author=_signature(_obj(detail, "author")),
        committer=committer,
        author_login=_str(_obj(raw, "author"), "login"),
        parents=[s for p in _objs(raw, "parents") if (s := _str(p, "sha"))],
        tree_sha=_str(_obj(detail, "tree"), "sha"),
    )


def deploy_key(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalDeployKey:
    """A repository deploy key."""
    return ExternalDeployKey(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="deploy_key",
            native_id=_id(raw),
            consumed=("id", "url", "title", "key", "read_only", "verified", "created_at"),
            url=None,
            updated_at=_time(raw, "created_at"),  # keys are immutable: created is last change
        ),
        repository=repository,
        title=_str(raw, "title") or "",
        key=_required_str(raw, "key"),
        read_only=_bool(raw, "read_only", default=True),
        verified=raw.get("verified") if isinstance(raw.get("verified"), bool) else None,
        created_at=_time(raw, "created_at"),
    )


_PERMISSION_ORDER = (
    ("admin", "admin"),
    ("maintain", "maintain"),
    ("push", "write"),
    ("triage", "triage"),
    ("pull", "read"),
)


def collaborator(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalCollaborator:
    """A repository collaborator with permissions; `permission` is GitHub's role name
    (admin, maintain, write, triage, read or a custom role), derived from the flags if absent."""
    account = user(raw)
    if account is None:
        raise MappingError("collaborator without login")
    flags = {k: v for k, v in _obj(raw, "permissions").items() if isinstance(v, bool)}
    role = _str(raw, "role_name") or next((r for f, r in _PERMISSION_ORDER if flags.get(f)), None)
    return ExternalCollaborator(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="collaborator",
            native_id=_id(raw),
            consumed=(*_ENVELOPE_KEYS, "login", "type", "permissions", "role_name"),
        ),
        repository=repository,
        login=account.login,
        permission=role,
        permissions=flags,
        user=account,
    )


# GitHub's legacy permission names (team objects, older payloads) as role names.
_ROLE_OF_PERMISSION = {"pull": "read", "push": "write"}


def team_permission(
    raw: Raw, ctx: MappingContext, *, repository: str, flags: Raw | None = None
) -> ExternalTeamPermission:
    """A team with access to a repository (GET /repos/{o}/{r}/teams, `team_add`, `team`).
    `flags` are the team's permissions on the repository when they come apart from the team
    object (the `team` event puts them on `repository.permissions`)."""
    slug = _required_str(raw, "slug")
    given = flags if flags is not None else _obj(raw, "permissions")
    bools = {k: v for k, v in given.items() if isinstance(v, bool)}
    legacy = _str(raw, "permission")
    role = next((r for f, r in _PERMISSION_ORDER if bools.get(f)), None) or (
        _ROLE_OF_PERMISSION.get(legacy, legacy) if legacy else None
    )
    return ExternalTeamPermission(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="team",
            native_id=_id(raw),
            consumed=(*_ENVELOPE_KEYS, "slug", "name", "permission", "permissions", "parent"),
        ),
        repository=repository,
        slug=slug,
        name=_str(raw, "name"),
        permission=role,
        permissions=bools,
    )


def _enabled(raw: Raw, key: str) -> bool:
    # GET answers `{"enabled": bool}` for these; older payloads and webhooks a plain bool.
    value = raw.get(key)
    if isinstance(value, Mapping):
        return _bool(value, "enabled")
    return value if isinstance(value, bool) else False


def branch_protection_spec(raw: Raw) -> BranchProtectionSpec:
    """The normalized settings of a GET .../branches/{branch}/protection answer."""
    checks = raw.get("required_status_checks")
    reviews = raw.get("required_pull_request_reviews")
    restrictions = raw.get("restrictions")
    return BranchProtectionSpec(
        required_status_checks=StatusChecks(
            strict=_bool(checks, "strict"),
            contexts=[c for c in checks.get("contexts", []) if isinstance(c, str)],
        )
        if isinstance(checks, Mapping)
        else None,
        enforce_admins=_enabled(raw, "enforce_admins"),
        required_pull_request_reviews=ReviewRules(
            required_approving_review_count=_int(reviews, "required_approving_review_count") or 0,
            dismiss_stale_reviews=_bool(reviews, "dismiss_stale_reviews"),
            require_code_owner_reviews=_bool(reviews, "require_code_owner_reviews"),
            require_last_push_approval=_bool(reviews, "require_last_push_approval"),
        )
        if isinstance(reviews, Mapping)
        else None,
        restrictions=PushRestrictions(
            users=_logins(_objs(restrictions, "users")),
            teams=[s for t in _objs(restrictions, "teams") if (s := _str(t, "slug"))],
            apps=[s for a in _objs(restrictions, "apps") if (s := _str(a, "slug"))],
        )
        if isinstance(restrictions, Mapping)
        else None,
        required_linear_history=_enabled(raw, "required_linear_history"),
        allow_force_pushes=_enabled(raw, "allow_force_pushes"),
        allow_deletions=_enabled(raw, "allow_deletions"),
        required_conversation_resolution=_enabled(raw, "required_conversation_resolution"),
    )


# Protection settings outside the normalized spec that the PUT body accepts: a write carries the
# current values forward so that syncing the spec never silently turns them off.
PRESERVED_PROTECTION_SETTINGS = ("lock_branch", "allow_fork_syncing", "block_creations")


def branch_protection(
    raw: Raw, ctx: MappingContext, *, repository: str, branch: str
) -> ExternalBranchProtection:
    consumed = (
        "url",
        "required_status_checks",
        "enforce_admins",
        "required_pull_request_reviews",
        "restrictions",
        "required_linear_history",
        "allow_force_pushes",
        "allow_deletions",
        "required_conversation_resolution",
    )
    return ExternalBranchProtection(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="branch_protection",
            native_id=f"{repository}:{branch}",
            consumed=consumed,
            url=None,
        ),
        repository=repository,
        branch=branch,
        spec=branch_protection_spec(raw),
    )


def branch_protection_body(
    spec: BranchProtectionSpec, *, preserved: Raw | None = None
) -> dict[str, Any]:
    """The PUT .../protection request body for `spec` (every top-level key is required there)."""
    checks = spec.required_status_checks
    reviews = spec.required_pull_request_reviews
    restrictions = spec.restrictions
    body: dict[str, Any] = {
        "required_status_checks": {"strict": checks.strict, "contexts": checks.contexts}
        if checks
        else None,
        "enforce_admins": spec.enforce_admins,
        "required_pull_request_reviews": reviews.model_dump() if reviews else None,
        "restrictions": restrictions.model_dump() if restrictions else None,
        "required_linear_history": spec.required_linear_history,
        "allow_force_pushes": spec.allow_force_pushes,
        "allow_deletions": spec.allow_deletions,
        "required_conversation_resolution": spec.required_conversation_resolution,
    }
    for key in PRESERVED_PROTECTION_SETTINGS:
        if preserved is not None and key in preserved:
            body[key] = _enabled(preserved, key)
    return body


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------

_SKIPPED = frozenset({"skipped", "stale"})


def pipeline_phase(status: str | None, conclusion: str | None) -> PipelinePhase:
    """Krate's phase for a GitHub Actions status/conclusion pair."""
    if status == "completed" or (status is None and conclusion is not None):
        if conclusion in ("success", "neutral"):
            return "Succeeded"
        if conclusion == "cancelled":
            return "Cancelled"
        if conclusion in _SKIPPED:
            return "Skipped"
        if conclusion == "action_required":
            return "Pending"
        return "Failed"  # failure, timed_out, startup_failure and anything GitHub adds
    if status == "in_progress":
        return "Running"
    return "Pending"  # queued, requested, waiting, pending


def workflow_run(
    raw: Raw, ctx: MappingContext, *, repository: str | None = None
) -> ExternalPipeline:
    """A workflow run (Actions) as a pipeline."""
    repo = (
        repository
        or _str(_obj(raw, "repository"), "full_name")
        or repository_from_api_url(_str(raw, "url"))
    )
    if repo is None:
        raise MappingError("cannot tell which repository the workflow run belongs to")
    status = _str(raw, "status")
    conclusion = _str(raw, "conclusion")
    workflow_id = raw.get("workflow_id")
    sha = _str(raw, "head_sha")
    consumed = (
        *_ENVELOPE_KEYS,
        "name",
        "workflow_id",
        "head_branch",
        "head_sha",
        "event",
        "status",
        "conclusion",
        "run_number",
        "run_attempt",
        "created_at",
        "run_started_at",
        "repository",
        "head_repository",
    )
    return ExternalPipeline(
        external=envelope(
            raw,
            ctx,
            interface="cicd",
            native_kind="workflow_run",
            native_id=_id(raw),
            native_number=_int(raw, "run_number"),
            consumed=consumed,
            sha=sha,
        ),
        repository=repo,
        workflow=_str(raw, "name"),
        workflow_id=str(workflow_id) if isinstance(workflow_id, int) else None,
        ref=_str(raw, "head_branch"),
        sha=sha,
        event=_str(raw, "event"),
        status=status,
        conclusion=conclusion,
        phase=pipeline_phase(status, conclusion),
        run_number=_int(raw, "run_number"),
        run_attempt=_int(raw, "run_attempt"),
        created_at=_time(raw, "created_at"),
        started_at=_time(raw, "run_started_at"),
    )


def job(raw: Raw, ctx: MappingContext, *, repository: str | None = None) -> ExternalJob:
    """A workflow job. Jobs have no updated_at: the latest of completed/started/created stands
    in for it, so version guards still order them."""
    repo = repository or repository_from_api_url(_str(raw, "url"))
    if repo is None:
        raise MappingError("cannot tell which repository the job belongs to")
    status = _str(raw, "status")
    conclusion = _str(raw, "conclusion")
    started = _time(raw, "started_at")
    completed = _time(raw, "completed_at")
    last_change = completed or started or _time(raw, "created_at")
    consumed = (
        *_ENVELOPE_KEYS,
        "run_id",
        "name",
        "status",
        "conclusion",
        "started_at",
        "completed_at",
        "runner_name",
        "labels",
        "head_sha",
    )
    return ExternalJob(
        external=envelope(
            raw,
            ctx,
            interface="cicd",
            native_kind="workflow_job",
            native_id=_id(raw),
            consumed=consumed,
            updated_at=last_change,
            sha=_str(raw, "head_sha"),
        ),
        repository=repo,
        pipeline_id=_id(raw, "run_id"),
        name=_str(raw, "name") or "",
        status=status,
        conclusion=conclusion,
        phase=pipeline_phase(status, conclusion),
        started_at=started,
        completed_at=completed,
        runner_name=_str(raw, "runner_name"),
        labels=[x for x in raw.get("labels", []) if isinstance(x, str)]
        if isinstance(raw.get("labels"), list)
        else [],
    )


# ---------------------------------------------------------------------------------------------
# Checks and commit statuses (CI that reports to GitHub from outside Actions)
# ---------------------------------------------------------------------------------------------

# Check suites, check runs and workflow runs are numbered in separate id spaces, and pipelines
# and jobs are keyed by native id within a repository: the kind prefix keeps them apart.
CHECK_SUITE_PREFIX = "check_suite/"
CHECK_RUN_PREFIX = "check_run/"
# The app GitHub Actions reports its checks as: its runs and jobs come as workflow_run and
# workflow_job with more detail, so its check suites and runs would be duplicates.
ACTIONS_APP_SLUG = "github-actions"


def check_app_slug(raw: Raw) -> str | None:
    return _str(_obj(raw, "app"), "slug")


def check_suite(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalPipeline:
    """A check suite: one app's checks on one commit, as a pipeline (`native_kind`
    check_suite). `workflow` is the app's name (Buildkite, CircleCI, ...)."""
    status = _str(raw, "status")
    conclusion = _str(raw, "conclusion")
    sha = _str(raw, "head_sha")
    app = _obj(raw, "app")
    consumed = (
        "node_id",
        "url",
        "updated_at",
        "head_branch",
        "head_sha",
        "status",
        "conclusion",
        "created_at",
        "app",
        "repository",
        "head_commit",
    )
    return ExternalPipeline(
        external=envelope(
            raw,
            ctx,
            interface="cicd",
            native_kind="check_suite",
            native_id=CHECK_SUITE_PREFIX + _id(raw),
            consumed=consumed,
            url=None,
            sha=sha,
            extra_fields={"app": {k: app.get(k) for k in ("id", "slug", "name")}} if app else None,
        ),
        repository=repository,
        workflow=_str(app, "name") or _str(app, "slug"),
        workflow_id=str(app["id"]) if isinstance(app.get("id"), int) else None,
        ref=_str(raw, "head_branch"),
        sha=sha,
        status=status,
        conclusion=conclusion,
        phase=pipeline_phase(status, conclusion),
        created_at=_time(raw, "created_at"),
        started_at=_time(raw, "created_at"),
    )


def check_run(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalJob:
    """A check run as a job of its check suite (`native_kind` check_run). Check runs have no
    updated_at: completion, else start, stands in for it, as for workflow jobs."""
    suite = _obj(raw, "check_suite")
    status = _str(raw, "status")
    conclusion = _str(raw, "conclusion")
    started = _time(raw, "started_at")
    completed = _time(raw, "completed_at")
    output = _obj(raw, "output")
    consumed = (
        "node_id",
        "url",
        "html_url",
        "name",
        "status",
        "conclusion",
        "started_at",
        "completed_at",
        "head_sha",
        "check_suite",
        "app",
        "output",
        "pull_requests",
    )
    extra: dict[str, Any] = {
        "output": {k: output.get(k) for k in ("title", "summary")} if output else None,
        "app_slug": check_app_slug(raw),
    }
    return ExternalJob(
        external=envelope(
            raw,
            ctx,
            interface="cicd",
            native_kind="check_run",
            native_id=CHECK_RUN_PREFIX + _id(raw),
            consumed=consumed,
            updated_at=completed or started,
            sha=_str(raw, "head_sha"),
            extra_fields=extra,
        ),
        repository=repository,
        pipeline_id=CHECK_SUITE_PREFIX + _id(suite),
        name=_str(raw, "name") or "",
        status=status,
        conclusion=conclusion,
        phase=pipeline_phase(status, conclusion),
        started_at=started,
        completed_at=completed,
    )


COMMIT_STATUS_PREFIX = "status/"


def commit_status(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalPipeline:
    """A commit status (the `status` event: context + state on a sha) as a pipeline with
    `native_kind` commit_status. GitHub makes a new status object per report; what the pull
    request shows is the latest per (sha, context), so that pair is the identity and each new
    report updates one row (the status's own id stays in extensions)."""
    sha = _required_str(raw, "sha")
    context = _str(raw, "context") or "default"
    state = _str(raw, "state")
    # pending is still running; success, failure and error are final.
    status = "pending" if state == "pending" else "completed"
    conclusion = None if state == "pending" else state
    commit_url = _str(_obj(raw, "commit"), "url")
    return ExternalPipeline(
        external=envelope(
            raw,
            ctx,
            interface="cicd",
            native_kind="commit_status",
            native_id=f"{COMMIT_STATUS_PREFIX}{sha}/{context}",
            consumed=(
                "node_id",
                "sha",
                "context",
                "state",
                "target_url",
                "updated_at",
                "created_at",
                "branches",
                "commit",
                "name",
                "repository",
                "sender",
                "organization",
                "installation",
                "enterprise",
            ),
            url=_str(raw, "target_url"),
            api_url=f"{commit_url}/statuses" if commit_url else None,
            sha=sha,
        ),
        repository=repository,
        workflow=context,
        sha=sha,
        status=status,
        conclusion=conclusion,
        phase=pipeline_phase(status, conclusion if state != "error" else "failure"),
        created_at=_time(raw, "created_at"),
        started_at=_time(raw, "created_at"),
    )
