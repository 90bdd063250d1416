"""Deliveries of any event stored as the ingress stores them, then processed by the real
`process_deliveries` activity on a real Postgres (no Temporal). (No tests in this module.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, select

from activities.deliveries import DeliveryActivities
from activities.deliveries_models import ProcessDeliveriesInput, ProcessDeliveriesResult
from ingress.lookup import load_provider
from ingress.webhooks import prepare_verified
from ingress.writer import write_batch
from providers.webhooks.result import VerificationResult
from store.db import make_engine, session_scope
from store.models.projections import Projection
from store.resources import get_resources
from tests.test_webhook_helpers import (
    NAMESPACE,
    ORG,
    PROVIDER,
    apply_all,
    binding_manifest,
    provider_manifest,
)


class DeliveryStore:
    """A provider and one binding for `repository`, and the delivery activity."""

    def __init__(self, database_url: str, repository: str) -> None:
        owner, name = repository.split("/", 1)
        apply_all(database_url, [provider_manifest(), binding_manifest(owner, name)])
        self.engine: Engine = make_engine(database_url)
        with session_scope(self.engine) as session:
            provider = load_provider(session, ORG, PROVIDER)
            assert provider is not None
            self.provider = provider
            self.binding = get_resources(session, "ExternalBackendBinding", NAMESPACE)[0]

    def deliver(self, event: str, payload: Mapping[str, Any]) -> ProcessDeliveriesResult:
        """Store one verified delivery and process it; its result must not be a failure."""
        delivery_id = str(uuid.uuid4())
        action = payload.get("action")
        verified = VerificationResult(
            verified=True,
            provider_type="github",
            algorithm="hmac-sha256",
            delivery_id=delivery_id,
            event=event,
            action=action if isinstance(action, str) else None,
        )
        prepared = prepare_verified(
            self.provider,
            verified,
            json.dumps(payload).encode(),
            "application/json",
            datetime.now(UTC),
            lambda _name, _id, _owners: self.binding,
        )
        write_batch(self.engine, [prepared.pending])
        result = DeliveryActivities(self.engine).process_deliveries(
            ProcessDeliveriesInput(
                org=ORG,
                namespace=NAMESPACE,
                provider=PROVIDER,
                provider_type="github",
                binding=str(self.binding["metadata"]["name"]),
                delivery_ids=[delivery_id],
            )
        )
        assert (result.dead_lettered, result.retry) == (0, []), result
        return result

    def rows(self, model: type[Projection], **where: Any) -> list[dict[str, Any]]:
        table = model.__table__  # type: ignore[attr-defined]
        assert isinstance(table, Table)
        statement = select(table).where(*(table.c[k] == v for k, v in where.items()))
        with session_scope(self.engine) as session:
            return [dict(r._mapping) for r in session.execute(statement)]


def delivery_store(database_url: str, repository: str) -> Iterator[DeliveryStore]:
    made = DeliveryStore(database_url, repository)
    try:
        yield made
    finally:
        made.engine.dispose()
