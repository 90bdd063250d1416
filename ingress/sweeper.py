"""The sweeper: signals deliveries that are `Queued` but that no workflow was told about.

That happens when Temporal was down as the delivery arrived (the ingress answered 202 anyway,
the row being durable), or when a signalled workflow was terminated before processing it. It
runs as a background task of the ingress app, and on its own: `python -m ingress.sweeper`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, String, cast, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from activities.deliveries import set_processing
from ingress.lookup import load_binding, load_provider, sync_config
from ingress.signaler import TemporalUnavailable, WorkflowSignaler
from resources.phases import DeliveryPhase
from store.db import session_scope
from store.models.aggregated import WebhookDelivery
from workflows.binding_sync import BindingSyncConfig

log = logging.getLogger("krate_sync.ingress.sweeper")

# Leave deliveries this young to the request that stored them (it may be signalling now).
GRACE = timedelta(seconds=2)
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
        select(WebhookDelivery)
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
            (row.org, row.provider_ref, row.binding_ref, row.delivery_id)
            for row in session.exec(statement)
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
    from activities.deliveries import find_delivery

    with session_scope(engine) as session:
        for org, provider, delivery_id in orphans:
            row = find_delivery(session, org, provider, delivery_id, lock=True)
            if row is not None and row.phase == DeliveryPhase.QUEUED.value:
                set_processing(
                    row,
                    DeliveryPhase.IGNORED,
                    reason="the binding or provider was deleted before the delivery was processed",
                )
                session.add(row)


async def sweep_once(engine: Engine, signaler: WorkflowSignaler) -> int:
    """Signal every due delivery once; returns how many Temporal took."""
    from ingress.webhooks import mark_signaled

    due = await run_in_threadpool(due_deliveries, engine)
    if not due:
        return 0
    configs = await run_in_threadpool(_configs, engine, due)
    signaled: dict[tuple[str, str], list[str]] = defaultdict(list)
    orphans: list[tuple[str, str, str]] = []
    for org, provider, binding, delivery_id in due:
        config = configs.get((org, provider, binding or ""))
        if config is None:
            orphans.append((org, provider, delivery_id))
            continue
        try:
            await signaler.signal_delivery(config, delivery_id)
        except TemporalUnavailable as error:
            log.info("sweeper: Temporal still unavailable (%s); will retry", error)
            break
        signaled[(org, provider)].append(delivery_id)
    for (org, provider), ids in signaled.items():
        await run_in_threadpool(mark_signaled, engine, org, provider, ids)
    if orphans:
        await run_in_threadpool(_ignore_orphans, engine, orphans)
    return sum(len(ids) for ids in signaled.values())


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
