"""Krate's normalized phases beside a provider's native state (external-object-mapping.md).

A provider reports state its own way (GitHub: `state` open/closed plus `merged` and `draft`;
`archived`/`disabled` flags on repositories; a status/conclusion pair on runs). Krate shows one
phase per object so that every provider's issues, pull requests, repositories and pipelines read
alike; the native state stays in its own fields. These rules work on the normalized fields, so
they hold for any provider whose adapter fills them; an adapter with richer states (Jira
workflows, Linear cycles) sets the phase itself.
"""

from __future__ import annotations

from typing import Literal

IssuePhase = Literal["Open", "Closed"]
PullRequestPhase = Literal["Open", "Draft", "Merged", "Closed"]
RepositoryPhase = Literal["Active", "Archived", "Disabled"]
PipelinePhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled", "Skipped"]


def issue_phase(state: str) -> IssuePhase:
    return "Closed" if state == "closed" else "Open"


def pull_request_phase(state: str, *, merged: bool, draft: bool) -> PullRequestPhase:
    if merged:
        return "Merged"  # a merged pull request is closed too; merged says more
    if state == "closed":
        return "Closed"
    return "Draft" if draft else "Open"


def repository_phase(*, archived: bool, disabled: bool) -> RepositoryPhase:
    if disabled:
        return "Disabled"  # the provider blocks all access; archived or not, nothing syncs
    return "Archived" if archived else "Active"
