"""Thin activities: an input model in, a provider adapter or the store called, a small result out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from settings import Settings


class LazyEngine:
    """The database engine, created at first use: a worker whose settings name no database
    still starts (and registers), and fails clearly on the first activity that needs one."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from activities.secrets import ConfigurationError
                    from store.db import make_engine

                    if not self._settings.database_url:
                        raise ConfigurationError(
                            "KRATE_DATABASE_URL is not set: the worker has nowhere to store "
                            "projections"
                        )
                    self._engine = make_engine(self._settings.database_url)
        return self._engine


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity the worker registers, bound to dependencies built once from `settings`."""
    from activities.backfill import BackfillActivities
    from activities.conflict_activities import build_conflict_activities
    from activities.deliveries import DeliveryActivities
    from activities.owner_repositories import OwnerRepositoryActivities
    from activities.provider_factory import ProviderFactory
    from activities.refresh import RefreshActivities
    from activities.sync_state import SyncStateActivities
    from activities.writes import write_activities

    engine = LazyEngine(settings)
    providers = ProviderFactory(settings.secrets_dir)
    backfill = BackfillActivities(engine, providers)
    refresh = RefreshActivities(engine, providers)
    sync_state = SyncStateActivities(engine)
    deliveries = DeliveryActivities(engine)
    owners = OwnerRepositoryActivities(engine, providers)
    return [
        backfill.backfill_page,
        backfill.tombstone_unseen,
        sync_state.mirror_sync_state,
        deliveries.process_deliveries,
        refresh.refresh_objects,
        # issue 9 (owner-wide bindings)
        owners.list_owner_repositories,
        owners.reconcile_owner_repositories,
        owners.note_repository_events,
        owners.note_repository_synced,
        *build_conflict_activities(settings, engine),  # issue 5 (conflicts)
        *write_activities(settings, engine),  # issue 5 (write intents)
    ]
