"""What the webhook receiver needs from the applied config, cached per (org, provider).

A delivery needs its provider resource, the provider's webhook secrets, the binding of the
payload's repository (by its stable id once a binding has synced it, else by the name its
externalRef gives: ingress/routing.py), and that binding's BindingSyncConfig (the start input
of signal-with-start). Reading and validating those for every delivery cost about 12 ms
(docs/benchmarks.md); here they are read once and then revalidated every `ttl` seconds.

Revalidation is one small query: the (kind, name, uid, generation) of every live config
resource in the org's namespace, plus a `stat` of the secret files. `apply` bumps the
generation when a spec changes, a delete/re-create changes the uid, and rewriting a secret file
(a Kubernetes Secret mount swaps a symlink) changes its inode or mtime; any of these reloads the
whole view. Status writes (the sync-state mirror) change none of them, so they cost nothing.
The same read takes the (repository id, binding) pairs of the provider's Repository rows: a
binding's first sync adds one, and only the routes are rebuilt. A rename changes no id, so
routing by id stays right across it without any reload.

Staleness bound: a delivery is checked against config that was current at most `ttl` seconds
before its request asked for it (the clock starts when the revalidating read begins). The
previous secret's deadline (`previousSecretValidUntil`) is not cached: it is compared with each
delivery's receive time. Providers that do not exist are not cached (a 404 stays a query), so
requests for made-up names cannot grow the cache.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from activities.deliveries import namespace_of
from ingress.lookup import (
    ProviderInfo,
    SecretUnavailable,
    load_provider,
    plan_config,
    secret_files,
    secret_set,
)
from ingress.routing import BindingRoutes
from providers.webhooks import SecretSet
from store.db import session_scope
from store.models.config import ConfigResource
from store.renames import bound_repository_ids
from store.resources import get_resources
from workflows.binding_sync import BindingSyncConfig

DEFAULT_TTL = 1.0

# (kind, name, uid, generation) of each live config resource of a namespace.
ConfigFingerprint = tuple[tuple[str, str, str, int], ...]
# (path, inode, mtime_ns, size) of each secret file; None fields when it is missing.
SecretFingerprint = tuple[tuple[str, int | None, int | None, int | None], ...]


@dataclass
class ProviderView:
    """One consistent snapshot of a provider's config, as of one revalidation."""

    provider: ProviderInfo
    secrets: SecretSet | None
    secret_error: str | None
    routes: BindingRoutes
    bindings: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    # BindingSyncConfigs planned on first use (planning validates manifests: milliseconds).
    configs: dict[str, BindingSyncConfig] = field(default_factory=dict)

    def require_secrets(self) -> SecretSet:
        if self.secrets is None:
            raise SecretUnavailable(self.secret_error or "webhook secret unavailable")
        return self.secrets

    def binding_for(
        self,
        repository: str | None,
        repository_id: str | None = None,
        owners: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        return self.routes.binding_for(repository, repository_id, owners)

    def config_for(self, binding: dict[str, Any]) -> BindingSyncConfig:
        name = str(binding["metadata"]["name"])
        config = self.configs.get(name)
        if config is None:
            config = self.configs[name] = plan_config(self.provider, binding, self.policies)
        return config


@dataclass
class _Entry:
    view: ProviderView
    config_fingerprint: ConfigFingerprint
    secret_fingerprint: SecretFingerprint
    checked_at: float
    repository_ids: dict[str, str] = field(default_factory=dict)


class ConfigCache:
    """Provider views per (org, provider), revalidated every `ttl` seconds.

    One revalidation runs at a time per key; requests arriving meanwhile wait for it rather
    than each querying the database.
    """

    def __init__(
        self,
        engine: Engine,
        secrets_dir: Path,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.secrets_dir = secrets_dir
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._refreshing: dict[tuple[str, str], asyncio.Task[ProviderView | None]] = {}
        # Counters for tests and benchmarks: full reloads and revalidations that found no change.
        self.loads = 0
        self.revalidations = 0

    async def view(self, org: str, provider: str) -> ProviderView | None:
        """The provider's view, or None when there is no such provider."""
        key = (org, provider)
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.checked_at < self.ttl:
            return entry.view
        task = self._refreshing.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._refresh(key, entry))
            task.add_done_callback(_retrieve)
            self._refreshing[key] = task
        # Shielded: a request that goes away must not cancel the others' refresh.
        return await asyncio.shield(task)

    async def config_for(self, view: ProviderView, binding: dict[str, Any]) -> BindingSyncConfig:
        """The binding's workflow config, planned off the event loop the first time."""
        name = str(binding["metadata"]["name"])
        cached = view.configs.get(name)
        if cached is not None:
            return cached
        return await asyncio.to_thread(view.config_for, binding)

    def invalidate(self, org: str | None = None, provider: str | None = None) -> None:
        """Forget cached views (all, an org's, or one provider's): the next request reloads."""
        for key in list(self._entries):
            if (org is None or key[0] == org) and (provider is None or key[1] == provider):
                del self._entries[key]

    async def _refresh(self, key: tuple[str, str], entry: _Entry | None) -> ProviderView | None:
        try:
            started = self._clock()
            fresh = await asyncio.to_thread(self._load, key, entry)
            if fresh is None:
                self._entries.pop(key, None)
                return None
            fresh.checked_at = started  # staleness counts from when the read began
            self._entries[key] = fresh
            return fresh.view
        finally:
            self._refreshing.pop(key, None)

    def _load(self, key: tuple[str, str], entry: _Entry | None) -> _Entry | None:
        org, name = key
        namespace = namespace_of(org)
        with session_scope(self.engine) as session:
            rows = session.execute(
                select(
                    col(ConfigResource.kind),
                    col(ConfigResource.name),
                    col(ConfigResource.uid),
                    col(ConfigResource.generation),
                )
                .where(
                    col(ConfigResource.namespace) == namespace,
                    col(ConfigResource.deleted_at).is_(None),
                )
                .order_by(col(ConfigResource.kind), col(ConfigResource.name))
            ).all()
            config_fingerprint: ConfigFingerprint = tuple(
                (str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows
            )
            repository_ids = bound_repository_ids(session, org=org, provider_ref=name)
            if entry is not None and entry.config_fingerprint == config_fingerprint:
                files = secret_files(self.secrets_dir, entry.view.provider)
                if _stat_files(files) == entry.secret_fingerprint:
                    self.revalidations += 1
                    view = entry.view
                    if repository_ids != entry.repository_ids:
                        # A binding synced a repository for the first time: new routes only.
                        view = dataclasses.replace(
                            view,
                            routes=BindingRoutes.build(
                                view.provider, view.bindings, repository_ids
                            ),
                        )
                    return _Entry(
                        view, config_fingerprint, entry.secret_fingerprint, 0.0, repository_ids
                    )
            provider = load_provider(session, org, name)
            if provider is None:
                return None
            bindings = get_resources(session, "ExternalBackendBinding", namespace)
            policies = get_resources(session, "ExternalBackendSyncPolicy", namespace)
        self.loads += 1
        files = secret_files(self.secrets_dir, provider)
        secret_fingerprint = _stat_files(files)  # before reading: a later change reloads
        secrets: SecretSet | None = None
        error: str | None = None
        try:
            secrets = secret_set(self.secrets_dir, provider)
        except SecretUnavailable as problem:
            error = str(problem)
        view = ProviderView(
            provider=provider,
            secrets=secrets,
            secret_error=error,
            routes=BindingRoutes.build(provider, bindings, repository_ids),
            bindings=bindings,
            policies=policies,
        )
        return _Entry(view, config_fingerprint, secret_fingerprint, 0.0, repository_ids)


def _stat_files(files: list[Path]) -> SecretFingerprint:
    stats: list[tuple[str, int | None, int | None, int | None]] = []
    for path in files:
        try:
            st = os.stat(path)
        except OSError:
            stats.append((str(path), None, None, None))
            continue
        stats.append((str(path), st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(stats)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a refresh's exception as seen (its waiters got it; none may be left)."""
    if not task.cancelled():
        task.exception()
