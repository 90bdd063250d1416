"""The sweeper: signals deliveries that are `Queued` but that no workflow may have been told about.

That happens when Temporal was down as the delivery arrived (the ingress answered 202 anyway,
the row being durable), when the ingress stopped between the commit and its batched signal,
or when a signalled workflow was terminated before processing it. It runs as a background task
of the ingress app, and on its own: `python -m ingress.sweeper`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, String, cast, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from activities.deliveries import set_processing
from ingress.lookup import load_binding, load_provider, sync_config
from ingress.signaler import MAX_IDS_PER_SIGNAL, TemporalUnavailable, WorkflowSignaler
from resources.phases import DeliveryPhase
from store.db import session_scope
from store.models.aggregated import WebhookDelivery
from workflows.binding_sync import BindingSyncConfig

log = logging.getLogger("krate_sync.ingress.sweeper")

# The ingress signals every delivery it stores without noting that on the row (a row update per
# delivery would cost more than the rare second signal). So a Queued row the sweeper has not
# signalled is left alone while it is this young: its batched signal is on its way or taken and
# the row is being processed. Older, it was either never signalled (Temporal down at receipt, the
# ingress stopped first) or is still waiting in a long backlog; signalling it again is harmless,
# the workflow queues an id once and the activity skips a finished delivery.
GRACE = timedelta(seconds=30)
# A delivery signalled this long ago and still Queued was lost by its workflow: signal again
# (signal-with-start restarts a terminated workflow; the workflow dedupes ids).
RESIGNAL_AFTER = timedelta(minutes=10)
BATCH = 500


def due_deliveries(
    engine: Engine,
    *,
    now: datetime | None = None,
    grace: timedelta = GRACE,
    resignal_after: timedelta = RESIGNAL_AFTER,
    limit: int = BATCH,
) -> list[tuple[str, str, str | None, str]]:
    """(org, provider, binding, delivery id) of Queued deliveries that need a signal."""
    now = now or datetime.now(UTC)
    signaled_at = cast(col(WebhookDelivery.status_extra)["signaledAt"].astext, String)
    statement = (
        select(
            WebhookDelivery.org,
            WebhookDelivery.provider_ref,
            WebhookDelivery.binding_ref,
            WebhookDelivery.delivery_id,
        )
        .where(
            WebhookDelivery.phase == DeliveryPhase.QUEUED.value,
            col(WebhookDelivery.received_at) < now - grace,
            or_(
                signaled_at.is_(None),
                signaled_at < (now - resignal_after).isoformat(),
            ),
        )
        .order_by(col(WebhookDelivery.received_at))
        .limit(limit)
    )
    with session_scope(engine) as session:
        return [
            (org, provider, binding, delivery_id)
            for org, provider, binding, delivery_id in session.exec(statement)
        ]


def _configs(
    engine: Engine, due: list[tuple[str, str, str | None, str]]
) -> dict[tuple[str, str, str], BindingSyncConfig | None]:
    """The workflow config of each binding that has due deliveries; None when it is gone."""
    configs: dict[tuple[str, str, str], BindingSyncConfig | None] = {}
    with session_scope(engine) as session:
        for org, provider_name, binding_name, _ in due:
            key = (org, provider_name, binding_name or "")
            if key in configs:
                continue
            provider = load_provider(session, org, provider_name)
            binding = load_binding(session, org, binding_name) if binding_name else None
            configs[key] = sync_config(session, provider, binding) if provider and binding else None
    return configs


def _ignore_orphans(engine: Engine, orphans: list[tuple[str, str, str]]) -> None:
    """Mark Queued deliveries whose binding or provider is gone `Ignored`: one locked read per
    (org, provider), not one per delivery."""
    by_provider: dict[tuple[str, str], list[str]] = defaultdict(list)
    for org, provider, delivery_id in orphans:
        by_provider[(org, provider)].append(delivery_id)
    with session_scope(engine) as session:
        for (org, provider), ids in by_provider.items():
            statement = (
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.org == org,
                    WebhookDelivery.provider_ref == provider,
                    col(WebhookDelivery.delivery_id).in_(ids),
                    WebhookDelivery.phase == DeliveryPhase.QUEUED.value,
                )
                .order_by(col(WebhookDelivery.id))
                .with_for_update()
            )
            for row in session.exec(statement):
                set_processing(
                    row,
                    DeliveryPhase.IGNORED,
                    reason="the binding or provider was deleted before the delivery was processed",
                )
                session.add(row)


async def sweep_once(
    engine: Engine, signaler: WorkflowSignaler, *, grace: timedelta = GRACE
) -> int:
    """Signal every due delivery once (one `new_deliveries` signal per binding, its ids marked
    by one UPDATE); returns how many Temporal took."""
    from ingress.webhooks import mark_signaled

    due = await run_in_threadpool(functools.partial(due_deliveries, engine, grace=grace))
    if not due:
        return 0
    configs = await run_in_threadpool(_configs, engine, due)
    by_binding: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    orphans: list[tuple[str, str, str]] = []
    for org, provider, binding, delivery_id in due:
        key = (org, provider, binding or "")
        if configs.get(key) is None:
            orphans.append((org, provider, delivery_id))
            continue
        by_binding[key].append(delivery_id)
    signaled = 0
    for key, ids in by_binding.items():
        config = configs[key]
        assert config is not None
        try:
            for start in range(0, len(ids), MAX_IDS_PER_SIGNAL):
                chunk = ids[start : start + MAX_IDS_PER_SIGNAL]
                await signaler.signal_deliveries(config, chunk)
                await run_in_threadpool(mark_signaled, engine, key[0], key[1], chunk)
                signaled += len(chunk)
        except TemporalUnavailable as error:
            log.info("sweeper: Temporal still unavailable (%s); will retry", error)
            break
    if orphans:
        await run_in_threadpool(_ignore_orphans, engine, orphans)
    return signaled


async def run_sweeper(engine: Engine, signaler: WorkflowSignaler, *, interval: float = 5.0) -> None:
    """Sweep every `interval` seconds until cancelled; failures are logged, never fatal."""
    while True:
        try:
            count = await sweep_once(engine, signaler)
            if count:
                log.info("sweeper signalled %d queued deliveries", count)
        except SQLAlchemyError as error:
            log.warning("sweeper: database unavailable: %s", error)
        except Exception:
            log.exception("sweeper pass failed")
        await asyncio.sleep(interval)


def main() -> None:
    from settings import get_settings
    from store.db import make_engine

    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    engine = make_engine(settings.sqlalchemy_database_url)
    asyncio.run(run_sweeper(engine, WorkflowSignaler(settings)))


if __name__ == "__main__":
    main()
