"""The nine kinds the store serves, and where each one lives: the one kind -> table mapping."""

from __future__ import annotations

from store.models.aggregated import AGGREGATED_TABLES, AggregatedObject

API_VERSION = "krate.a5c.ai/v1alpha1"

# Config kinds share the config_resources table (CRDs in Krate; applied copies here).
CONFIG_KINDS: tuple[str, ...] = (
    "ExternalBackendProvider",
    "ExternalBackendBinding",
    "ExternalBackendSyncPolicy",
)
# Aggregated kinds have a table each (Krate's aggregated API, backed by Postgres).
AGGREGATED_KINDS: dict[str, type[AggregatedObject]] = {t.kind: t for t in AGGREGATED_TABLES}
ALL_KINDS: tuple[str, ...] = (*CONFIG_KINDS, *AGGREGATED_KINDS)


class UnknownKind(ValueError):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"unknown kind {kind!r}; known kinds: {', '.join(ALL_KINDS)}")


def is_config_kind(kind: str) -> bool:
    return kind in CONFIG_KINDS


def aggregated_table(kind: str) -> type[AggregatedObject]:
    """The table of an aggregated kind; UnknownKind for anything else."""
    try:
        return AGGREGATED_KINDS[kind]
    except KeyError:
        raise UnknownKind(kind) from None


def check_kind(kind: str) -> str:
    """`kind` itself when the store serves it; UnknownKind otherwise."""
    if kind not in ALL_KINDS:
        raise UnknownKind(kind)
    return kind
