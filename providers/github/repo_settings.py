"""GitHub labels and repository webhooks as normalized objects (pure functions).

Both come from their repository's listing (GET /repos/{o}/{r}/labels, .../hooks) and from
webhooks (`label`; `ping` and `meta` carry a hook), in the same shapes.
"""

from __future__ import annotations

from typing import Any

from providers.base import ExternalLabel, ExternalWebhookSubscription
from providers.github.mapping import (
    MappingContext,
    Raw,
    _bool,
    _id,
    _obj,
    _str,
    _time,
    envelope,
)

# A hook's `type` says whose it is; only a repository's own hooks belong to its projection.
REPOSITORY_HOOK = "Repository"


def label(raw: Raw, ctx: MappingContext, *, repository: str) -> ExternalLabel:
    """A label (REST listing item or a `label` event's `label`). Labels carry no update time:
    the row is replaced by whichever read comes last."""
    return ExternalLabel(
        external=envelope(
            raw,
            ctx,
            interface="issueTracking",
            native_kind="label",
            native_id=_id(raw),
            consumed=("id", "node_id", "url", "name", "color", "description", "default"),
            url=None,  # GitHub gives labels no html_url
        ),
        repository=repository,
        name=_str(raw, "name") or "",
        color=_str(raw, "color"),
        description=_str(raw, "description"),
        default=_bool(raw, "default"),
    )


def _insecure(value: Any) -> bool:
    # "0"/"1" in most answers; some older payloads give a number.
    return str(value) == "1"


def webhook_subscription(
    raw: Raw, ctx: MappingContext, *, repository: str
) -> ExternalWebhookSubscription:
    """A repository hook (REST listing item, or the `hook` of a `ping` or `meta` event). The
    config's secret is masked by GitHub; only its presence is kept. `last_response` changes
    with every delivery and not the hook's `updated_at`, so it stays in extensions (not content
    that two reads of one version must agree on)."""
    config = _obj(raw, "config")
    events = raw.get("events")
    return ExternalWebhookSubscription(
        external=envelope(
            raw,
            ctx,
            interface="gitForge",
            native_kind="hook",
            native_id=_id(raw),
            consumed=(
                "id",
                "url",
                "updated_at",
                "name",
                "active",
                "events",
                "config",
                "created_at",
            ),
            url=None,  # hooks have no page of their own in the API's answers
        ),
        repository=repository,
        name=_str(raw, "name"),
        active=_bool(raw, "active", default=True),
        events=[e for e in events if isinstance(e, str)] if isinstance(events, list) else [],
        target_url=_str(config, "url"),
        content_type=_str(config, "content_type"),
        insecure_ssl=_insecure(config.get("insecure_ssl")),
        secret_set=bool(config.get("secret")),
        created_at=_time(raw, "created_at"),
    )


def is_repository_hook(raw: Raw) -> bool:
    return _str(raw, "type") in (None, REPOSITORY_HOOK)
