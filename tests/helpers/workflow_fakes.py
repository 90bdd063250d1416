"""Same-name stand-ins for activities that tests of a workflow do not exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.backfill_models import (
    MIRROR_SYNC_STATE_ACTIVITY,
    MirrorSyncStateInput,
    MirrorSyncStateResult,
)


class MirrorRecorder:
    """Records what the workflow would write to Postgres as its mirrored status."""

    def __init__(self) -> None:
        self.calls: list[MirrorSyncStateInput] = []

    @activity.defn(name=MIRROR_SYNC_STATE_ACTIVITY)
    async def mirror_sync_state(self, input: MirrorSyncStateInput) -> MirrorSyncStateResult:
        self.calls.append(input)
        return MirrorSyncStateResult(written=len(input.cursors))


def mirror_noop() -> Callable[..., Any]:
    """A fresh recorder's activity, for lists of activities."""
    return MirrorRecorder().mirror_sync_state
