"""Later phases of sync events: what became of a change that waited for a fresh read.

An event whose row tied with the stored one (same version, other content) is recorded
`Verifying` (activities/deliveries.py). It moves on when its object is settled: `Refreshed`
when the refresh round wrote the provider's current state, `Superseded` when a newer version
arrived first. One statement per batch of objects, through the (org, provider, kind, native id)
index of sync_events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, cast, func, literal, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from resources.phases import SyncEventPhase
from store.models.aggregated import SyncEvent
from store.models.projections import Projection
from store.projection_kinds import KIND_OF_TABLE
from store.upsert import UpsertOutcome, matching_identities

_EVENTS: Table = SyncEvent.__table__  # type: ignore[attr-defined]
_OBJECT = ("resource_kind", "native_id")


def settle_verifying_events(
    session: Session,
    *,
    org: str,
    provider_ref: str,
    objects: Iterable[tuple[str, str]],
    phase: SyncEventPhase,
    note: Mapping[str, Any] | None = None,
) -> int:
    """Move the `Verifying` events of `objects` ((resource kind, native id) pairs) to `phase`,
    adding `note` to their status. Returns how many events moved."""
    keys = [{"resource_kind": kind, "native_id": native} for kind, native in set(objects)]
    if not keys:
        return 0
    status = {
        "phase": phase.value,
        "lastTransitionTime": datetime.now(UTC).isoformat(),
        **(note or {}),
    }
    statement = (
        update(_EVENTS)
        .where(
            _EVENTS.c.org == org,
            _EVENTS.c.provider_ref == provider_ref,
            matching_identities(_EVENTS, _OBJECT, parameter="objects"),
            _EVENTS.c.status_extra["phase"].astext == SyncEventPhase.VERIFYING.value,
        )
        .values(
            status_extra=_EVENTS.c.status_extra.op("||")(cast(literal(status, JSONB), JSONB)),
            updated_at=func.now(),
        )
    )
    result = session.execute(statement, {"objects": keys})
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult has rowcount


def supersede_verifying(
    session: Session,
    model: type[Projection],
    rows: Sequence[Mapping[str, Any]],
    outcomes: Sequence[UpsertOutcome],
) -> int:
    """After an upsert of `rows` of `model`: the Verifying events of objects a newer version
    replaced are Superseded (the newer version settled the tie and cleared its mark)."""
    kind = KIND_OF_TABLE.get(model)
    if kind is None:
        return 0
    return supersede_replaced(
        session,
        (
            ((str(row["org"]), str(row["provider_ref"]), kind, str(row["native_id"])), outcome)
            for row, outcome in zip(rows, outcomes, strict=True)
            if row.get("native_id") is not None
        ),
    )


def supersede_replaced(
    session: Session, outcomes: Iterable[tuple[tuple[str, str, str, str], UpsertOutcome]]
) -> int:
    """Supersede the Verifying events of every object ((org, provider, kind, native id)) whose
    outcome is `updated`: one statement per org and provider."""
    replaced: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for (org, provider_ref, kind, native_id), outcome in outcomes:
        if outcome == UpsertOutcome.UPDATED:
            replaced.setdefault((org, provider_ref), []).append((kind, native_id))
    return sum(
        settle_verifying_events(
            session,
            org=org,
            provider_ref=provider_ref,
            objects=objects,
            phase=SyncEventPhase.SUPERSEDED,
            note={"reason": "a newer version arrived before the fresh read"},
        )
        for (org, provider_ref), objects in replaced.items()
    )
