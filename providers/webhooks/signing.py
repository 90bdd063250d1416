"""Produce the headers each provider sends, for tests and simulators.

Each function returns the headers a real delivery of `body` carries, signed with `secret`;
ids default to fresh UUIDs. Pass the same `body` bytes on to the request unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from providers.webhooks import headers as h
from providers.webhooks import standard_webhooks


def hmac_sha256_hex(secret: str | bytes, message: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _id(value: str | None) -> str:
    return value if value is not None else str(uuid.uuid4())


def sign_github(
    body: bytes, secret: str | bytes, *, event: str = "ping", delivery_id: str | None = None
) -> dict[str, str]:
    key = secret.encode() if isinstance(secret, str) else secret
    return {
        h.GITHUB_SIGNATURE: "sha256=" + hmac_sha256_hex(key, body),
        # GitHub still sends the legacy SHA-1 header; verifiers must ignore it.
        h.GITHUB_SIGNATURE_SHA1: "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
        h.GITHUB_DELIVERY: _id(delivery_id),
        h.GITHUB_EVENT: event,
        "Content-Type": "application/json",
    }


def sign_gitlab(
    body: bytes,
    token: str | None = None,
    *,
    signing_token: str | None = None,
    now: datetime | None = None,
    event: str = "Push Hook",
    idempotency_key: str | None = None,
    instance: str = "https://gitlab.example.com",
) -> dict[str, str]:
    """A secret `token` travels as is; a `signing_token` (`whsec_...`) adds Standard Webhooks
    headers over `body` at `now`. Either or both, as GitLab sends them."""
    key = _id(idempotency_key)
    headers = {
        h.GITLAB_EVENT: event,
        h.GITLAB_IDEMPOTENCY_KEY: key,
        h.GITLAB_EVENT_UUID: str(uuid.uuid4()),
        h.GITLAB_WEBHOOK_UUID: str(uuid.uuid4()),
        h.GITLAB_INSTANCE: instance,
        "Content-Type": "application/json",
    }
    if token is not None:
        headers[h.GITLAB_TOKEN] = token
    if signing_token is not None:
        signing = standard_webhooks.signing_key(signing_token)
        if signing is None or now is None:
            raise ValueError("signing_token must be whsec_<base64> and needs now")
        timestamp = int(now.timestamp())
        headers[h.STANDARD_WEBHOOK_ID] = key
        headers[h.STANDARD_WEBHOOK_TIMESTAMP] = str(timestamp)
        headers[h.STANDARD_WEBHOOK_SIGNATURE] = standard_webhooks.sign(
            signing, key, timestamp, body
        )
    return headers


def sign_gitea(
    body: bytes, secret: str | bytes, *, event: str = "push", delivery_id: str | None = None
) -> dict[str, str]:
    digest = hmac_sha256_hex(secret, body)
    delivery = _id(delivery_id)
    return {
        h.GITEA_SIGNATURE: digest,
        h.GITEA_DELIVERY: delivery,
        h.GITEA_EVENT: event,
        h.GITEA_EVENT_TYPE: event,
        # Gitea also sends GitHub-compatible headers with the same digest.
        h.GITHUB_SIGNATURE: "sha256=" + digest,
        h.GITHUB_DELIVERY: delivery,
        h.GITHUB_EVENT: event,
        "Content-Type": "application/json",
    }


def sign_bitbucket(
    body: bytes,
    secret: str | bytes,
    *,
    event_key: str = "repo:push",
    request_uuid: str | None = None,
    hook_uuid: str | None = None,
    attempt: int = 1,
) -> dict[str, str]:
    return {
        h.BITBUCKET_SIGNATURE: "sha256=" + hmac_sha256_hex(secret, body),
        h.BITBUCKET_EVENT: event_key,
        h.BITBUCKET_REQUEST_UUID: _id(request_uuid),
        h.BITBUCKET_HOOK_UUID: "{" + _id(hook_uuid) + "}",
        h.BITBUCKET_ATTEMPT: str(attempt),
        "Content-Type": "application/json",
    }


def sign_jira(
    body: bytes, secret: str | bytes, *, identifier: str | None = None, retry: int = 0
) -> dict[str, str]:
    headers = {
        h.JIRA_SIGNATURE: "sha256=" + hmac_sha256_hex(secret, body),
        h.JIRA_IDENTIFIER: _id(identifier),
        "X-Atlassian-Webhook-Flow": "Primary",
        "Content-Type": "application/json",
    }
    if retry:
        headers[h.JIRA_RETRY] = str(retry)
    return headers


def linear_body(payload: Mapping[str, Any], now: datetime) -> bytes:
    """A Linear body: `payload` plus `webhookTimestamp` in milliseconds, compact JSON."""
    stamped = {**payload, h.LINEAR_TIMESTAMP_FIELD: int(now.timestamp() * 1000)}
    return json.dumps(stamped, separators=(",", ":")).encode()


def sign_linear(
    body: bytes, secret: str | bytes, *, event: str = "Issue", delivery_id: str | None = None
) -> dict[str, str]:
    """Linear's timestamp lives in the body (see `linear_body`), so only the body is signed."""
    return {
        h.LINEAR_SIGNATURE: hmac_sha256_hex(secret, body),
        h.LINEAR_DELIVERY: _id(delivery_id),
        h.LINEAR_EVENT: event,
        "Content-Type": "application/json",
    }


def sign_buildkite(
    body: bytes, secret: str | bytes, now: datetime, *, event: str = "ping"
) -> dict[str, str]:
    """Signature mode: HMAC-SHA256 of `<unix seconds>.<body>`."""
    timestamp = str(int(now.timestamp()))
    signature = hmac_sha256_hex(secret, timestamp.encode() + b"." + body)
    return {
        h.BUILDKITE_SIGNATURE: f"timestamp={timestamp},signature={signature}",
        h.BUILDKITE_EVENT: event,
        "Content-Type": "application/json",
    }


def buildkite_token_headers(token: str, *, event: str = "ping") -> dict[str, str]:
    """Token mode: the webhook token in clear."""
    return {h.BUILDKITE_TOKEN: token, h.BUILDKITE_EVENT: event, "Content-Type": "application/json"}


def sign_circleci(
    body: bytes, secret: str | bytes, *, event: str = "workflow-completed"
) -> dict[str, str]:
    return {
        h.CIRCLECI_SIGNATURE: "v1=" + hmac_sha256_hex(secret, body),
        h.CIRCLECI_EVENT: event,
        "User-Agent": "CircleCI-Webhook/1.0",
        "Content-Type": "application/json",
    }


def basic_authorization(username: str, password: str) -> str:
    """`Basic base64(user:password)` (RFC 7617)."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def sign_azure_devops(username: str, password: str) -> dict[str, str]:
    """Azure DevOps service hooks send the subscription's basic credentials; nothing is signed."""
    return {
        h.AUTHORIZATION: basic_authorization(username, password),
        "Content-Type": "application/json",
    }


def sign_jenkins(token: str) -> dict[str, str]:
    """The Generic Webhook Trigger plugin's preferred form: a bearer token."""
    return {h.AUTHORIZATION: f"Bearer {token}", "Content-Type": "application/json"}
