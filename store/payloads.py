"""Webhook bodies, stored once per sha256 digest; deliveries reference them by digest."""

from __future__ import annotations

import hashlib

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from store.models.aggregated import WebhookPayload


def payload_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def put_payload(session: Session, body: bytes, content_type: str = "application/json") -> str:
    """Store `body` unless a payload with its digest is already there; return the digest.

    A redelivery carries the same bytes, so it costs no second copy.
    """
    digest = payload_digest(body)
    statement = (
        insert(WebhookPayload)
        .values(digest=digest, body=body, content_type=content_type, size=len(body))
        .on_conflict_do_nothing(index_elements=["digest"])
    )
    session.exec(statement)
    return digest


def get_payload(session: Session, digest: str) -> WebhookPayload | None:
    return session.get(WebhookPayload, digest)
