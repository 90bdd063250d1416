"""Which normalized fields a GitHub webhook object actually carried.

Some deliveries hold a trimmed copy of their object: `issues` with `pinned`/`unpinned` lacks
`state`, `labels` and `locked`; the first `pull_request_review_comment` example has no `line`;
an `in_progress` `workflow_job` may come without `created_at`. The mapping fills such gaps with
defaults (state "open", no labels) because the normalized models need a value, so a projection
could not tell "the provider says open" from "the payload did not say". `mark_absent` records
the difference in `absent_fields`, and the projection leaves those columns out.

Only webhooks go through here: REST and GraphQL reads return whole objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from providers.base import ExternalObject

T = TypeVar("T", bound=ExternalObject)

# By native kind: normalized field -> the payload keys any one of which carries it. Identity
# fields (number, id, repository) are required by the mapping and never listed; fields a kind
# never has (an issue comment's diff position) are not listed for it.
_SOURCES: dict[str, dict[str, tuple[str, ...]]] = {
    "issue": {
        "title": ("title",),
        "body": ("body",),
        "state": ("state",),
        "state_reason": ("state_reason",),
        "labels": ("labels",),
        "assignees": ("assignees",),
        "milestone": ("milestone",),
        "author": ("user",),
        "locked": ("locked",),
        "comments_count": ("comments",),
        "created_at": ("created_at",),
        "closed_at": ("closed_at",),
    },
    "pull_request": {
        "title": ("title",),
        "body": ("body",),
        "state": ("state",),
        "merged": ("merged", "merged_at"),
        "draft": ("draft",),
        "head": ("head",),
        "head_sha": ("head",),
        "base": ("base",),
        "base_sha": ("base",),
        "merge_state": ("mergeable_state",),
        "labels": ("labels",),
        "assignees": ("assignees",),
        "requested_reviewers": ("requested_reviewers",),
        "author": ("user",),
        "created_at": ("created_at",),
        "closed_at": ("closed_at",),
        "merged_at": ("merged_at",),
    },
    "issue_comment": {
        "body": ("body",),
        "author": ("user",),
        "created_at": ("created_at",),
    },
    "pull_request_review_comment": {
        "body": ("body",),
        "author": ("user",),
        "created_at": ("created_at",),
        "path": ("path",),
        "line": ("line", "original_line"),
    },
    "workflow_run": {
        "workflow": ("name",),
        "ref": ("head_branch",),
        "status": ("status",),
        "conclusion": ("conclusion",),
        "run_number": ("run_number",),
        "created_at": ("created_at",),
        "started_at": ("run_started_at",),
    },
    "workflow_job": {
        "name": ("name",),
        "status": ("status",),
        "conclusion": ("conclusion",),
        "started_at": ("started_at",),
        "completed_at": ("completed_at",),
        "runner_name": ("runner_name",),
        "labels": ("labels",),
    },
    "repository": {
        "description": ("description",),
        "visibility": ("visibility", "private"),
        "default_branch": ("default_branch",),
        "archived": ("archived",),
        "disabled": ("disabled",),
        "clone_urls": ("clone_url", "ssh_url"),
    },
}


def absent_fields(obj: ExternalObject, raw: Mapping[str, Any]) -> list[str]:
    """The fields of `obj` whose every source key is missing from `raw` (sorted)."""
    sources = _SOURCES.get(obj.external.native_kind, {})
    return sorted(f for f, keys in sources.items() if not any(k in raw for k in keys))


def mark_absent(obj: T, raw: Mapping[str, Any]) -> T:
    """`obj` with `absent_fields` set from the payload object it was mapped from, and the
    fields computed from an absent one (a phase from a missing state) marked absent too."""
    absent = type(obj).with_derived(absent_fields(obj, raw))
    return obj.model_copy(update={"absent_fields": absent}) if absent else obj
