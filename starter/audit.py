"""Reading the audit trail. `krate-sync audit` and `GET /api/v1/orgs/{org}/audit` share these
filters: parsed from what a person types, then resolved to the names entries are recorded under.

An object is `KIND/NAME` (`intent/NAME`, `conflict/NAME`, `binding/NAME`, `issue/NAME`...), or a
bare name, or an id the provider gave it: a webhook delivery id, or `OWNER/REPO#NUMBER` for an
issue or pull request. An action is a full action (`intent.approved`) or its family (`intent`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from resources.kinds import UnknownKindError, kind_info, lookup_kind
from store.audit import AuditObject, audit_document, query_audit
from store.models.aggregated import WebhookDelivery
from store.models.projections import Issue, Projection, PullRequest

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# What the service records today (store/, starter/intents.py, activities/writes.py, replay,
# starter/binding_actions.py);
# a new family of actions belongs here too, or filtering by it is refused.
ACTION_FAMILIES = ("apply", "conflict", "delete", "intent", "local", "provider", "replay", "sync")
# Besides the nine kinds, local edits are recorded against the projections they change.
PROJECTION_KINDS = {
    "issue": "Issue",
    "issues": "Issue",
    "pr": "PullRequest",
    "prs": "PullRequest",
    "pullrequest": "PullRequest",
    "pullrequests": "PullRequest",
    "comment": "Comment",
    "comments": "Comment",
}
PROJECTION_MODELS: dict[str, type[Projection]] = {"Issue": Issue, "PullRequest": PullRequest}
DELIVERY_KIND = "ExternalWebhookDelivery"
NUMBERED = re.compile(r"(?P<repository>[^/#\s]+/[^/#\s]+)#(?P<number>[0-9]+)")
ACTION = re.compile(r"[a-z][a-z0-9.-]*")


class AuditFilterError(ValueError):
    """A filter that cannot mean anything (exit code 1, HTTP 400); the message says why."""


@dataclass(frozen=True)
class ObjectRef:
    """An object as given: its kind (None: any) and its name or provider id."""

    kind: str | None
    ref: str


@dataclass(frozen=True)
class AuditQuery:
    objects: tuple[ObjectRef, ...] = ()
    actions: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT


def _kind_of(name: str) -> str | None:
    try:
        return lookup_kind(name).kind
    except UnknownKindError:
        return PROJECTION_KINDS.get(name.strip().lower())


def parse_object(text: str) -> ObjectRef:
    value = text.strip()
    if not value:
        raise AuditFilterError("empty object: give KIND/NAME, a name or a provider id")
    head, slash, tail = value.partition("/")
    if not slash:
        return ObjectRef(None, value)
    kind = _kind_of(head)
    if kind is not None:
        if not tail.strip():
            raise AuditFilterError(f"object {text!r}: give a name after {head}/")
        return ObjectRef(kind, tail.strip())
    if NUMBERED.fullmatch(value):
        return ObjectRef(None, value)
    raise AuditFilterError(
        f"object {text!r}: {head!r} is not a kind; give KIND/NAME (intent, conflict, delivery, "
        "binding, provider, syncpolicy, issue, pullrequest, comment...), a name, a provider "
        "delivery id or OWNER/REPO#NUMBER"
    )


def parse_action(text: str) -> str:
    value = text.strip().lower()
    known = any(
        value == family or value.startswith((f"{family}.", f"{family}-"))
        for family in ACTION_FAMILIES
    )
    if not ACTION.fullmatch(value) or not known:
        raise AuditFilterError(
            f"unknown action {text!r}: give a family ({', '.join(ACTION_FAMILIES)}) or a full "
            "action such as intent.approved or conflict-resolved"
        )
    return value


def parse_limit(raw: int | str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise AuditFilterError(f"limit {raw!r}: give a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_query(
    objects: Sequence[str] = (), actions: Sequence[str] = (), limit: int | str | None = None
) -> AuditQuery:
    return AuditQuery(
        objects=tuple(parse_object(o) for o in objects),
        actions=tuple(dict.fromkeys(parse_action(a) for a in actions)),
        limit=parse_limit(limit),
    )


def _names(session: Session, ref: ObjectRef, org: str | None) -> tuple[str, ...]:
    """Every name `ref` may be recorded under: itself, the object name of a delivery with that
    provider id, the local name of an issue or pull request numbered so."""
    from store.conflicts import local_edit_name  # the names local edits are audited under

    names = {ref.ref}
    if ref.kind in (None, DELIVERY_KIND):
        deliveries = select(WebhookDelivery.name).where(WebhookDelivery.delivery_id == ref.ref)
        if org is not None:
            deliveries = deliveries.where(WebhookDelivery.org == org)
        names.update(session.exec(deliveries))
    numbered = NUMBERED.fullmatch(ref.ref)
    if numbered:
        for kind, model in PROJECTION_MODELS.items():
            if ref.kind not in (None, kind):
                continue
            rows = select(model).where(
                col(model.repository) == numbered["repository"],  # type: ignore[attr-defined]
                col(model.number) == int(numbered["number"]),  # type: ignore[attr-defined]
            )
            if org is not None:
                rows = rows.where(col(model.org) == org)
            names.update(local_edit_name(model, row) for row in session.exec(rows))
    return tuple(sorted(names))


def read_audit(session: Session, query: AuditQuery, org: str | None) -> list[dict[str, Any]]:
    """The entries `query` selects, newest first, as documents."""
    objects = [AuditObject(ref.kind, _names(session, ref, org)) for ref in query.objects]
    entries = query_audit(
        session, org=org, objects=objects, actions=query.actions, limit=query.limit
    )
    return [audit_document(entry) for entry in entries]


def object_label(kind: str, name: str) -> str:
    """`intent/NAME`: the short form `--object` accepts back."""
    info = kind_info(kind)
    short = info.singular if info is not None else kind.lower()
    return f"{short}/{name}"


AUDIT_HEADERS = ("TIME", "ORG", "ACTOR", "ACTION", "OBJECT")


def audit_rows(docs: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for doc in docs:
        at = doc.get("at")
        when = (
            datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else "-"
        )
        target = doc["object"]
        rows.append(
            [
                when,
                doc.get("org") or "-",
                doc["actor"],
                doc["action"],
                object_label(target["kind"], target["name"]),
            ]
        )
    return rows
