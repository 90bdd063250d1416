"""Event, action and delivery id hints, from headers and (after verification) from the body.

Parsing is lenient: a hint is a convenience for logs and routing, never a reason to fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers.webhooks import headers as h
from providers.webhooks.headers import Headers
from providers.webhooks.result import Hints


def header_hints(provider_type: str, headers: Headers) -> Hints:
    """What the provider says in headers about the delivery (unverified until verified)."""
    match provider_type:
        case "github":
            return Hints(headers.value(h.GITHUB_DELIVERY), headers.value(h.GITHUB_EVENT))
        case "gitlab":
            # Idempotency-Key stays the same across retries, so it is the best dedup key;
            # X-Gitlab-Event-UUID is shared by recursive hooks, X-Gitlab-Webhook-UUID is older.
            # webhook-id (Standard Webhooks) equals Idempotency-Key when GitLab signs.
            delivery = headers.first(
                h.GITLAB_IDEMPOTENCY_KEY,
                h.STANDARD_WEBHOOK_ID,
                h.GITLAB_EVENT_UUID,
                h.GITLAB_WEBHOOK_UUID,
            )
            return Hints(delivery, headers.value(h.GITLAB_EVENT))
        case "gitea":
            return Hints(headers.value(h.GITEA_DELIVERY), headers.value(h.GITEA_EVENT))
        case "bitbucket":
            # X-Hook-UUID names the webhook subscription, not the delivery.
            key = headers.value(h.BITBUCKET_EVENT)
            action = key.rsplit(":", 1)[1] if key and ":" in key else None
            return Hints(headers.value(h.BITBUCKET_REQUEST_UUID), key, action)
        case "jira":
            return Hints(headers.value(h.JIRA_IDENTIFIER))
        case "linear":
            return Hints(headers.value(h.LINEAR_DELIVERY), headers.value(h.LINEAR_EVENT))
        case "buildkite":
            return Hints(event=headers.value(h.BUILDKITE_EVENT))
        case "circleci":
            return Hints(event=headers.value(h.CIRCLECI_EVENT))
        case _:
            return Hints()


def body_hints(provider_type: str, body: bytes) -> Hints:
    """Event, action and delivery id from the JSON body, for providers that put them there.

    Jira: `webhookEvent` (e.g. `jira:issue_updated`); Azure DevOps: `eventType` and `id`;
    CircleCI: `id` and `type`; Linear: `action`; GitHub: `action`; GitLab: `object_kind` and
    `object_attributes.action`. Returns empty hints for anything it cannot read.
    """
    payload = _json_object(body)
    if payload is None:
        return Hints()
    match provider_type:
        case "jira":
            return Hints(event=_str(payload, "webhookEvent"))
        case "azure-devops":
            return Hints(_str(payload, "id"), _str(payload, "eventType"))
        case "circleci":
            return Hints(_str(payload, "id"), _str(payload, "type"))
        case "linear":
            return Hints(event=_str(payload, "type"), action=_str(payload, "action"))
        case "github" | "gitea":
            return Hints(action=_str(payload, "action"))
        case "gitlab":
            attributes = payload.get("object_attributes")
            action = _str(attributes, "action") if isinstance(attributes, Mapping) else None
            return Hints(event=_str(payload, "object_kind"), action=action)
        case _:
            return Hints()


def jira_event(body: bytes) -> str | None:
    """Jira's event type (`webhookEvent`), which Jira sends in the body rather than a header."""
    return body_hints("jira", body).event


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def _str(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
