"""`mirror_sync_state`: one ExternalSyncState per scope, as `krate-sync get syncstates` reads."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from activities.backfill_models import (
    MirrorSyncStateInput,
    ScopeCursor,
    SyncCondition,
    SyncScope,
)
from activities.sync_state import SyncStateActivities
from store.db import make_engine, session_scope
from store.resources import get_resources
from tests.test_backfill_support import binding_ref


async def test_mirror_writes_one_state_per_scope_idempotently(clean_database: str) -> None:
    engine = make_engine(clean_database)
    acts = SyncStateActivities(lambda: engine)
    when = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    issues = ScopeCursor(
        scope=SyncScope(
            interface="issueTracking", resource_kind="Issue", owner="a5c-ai", repository="krate"
        ),
        watermark=when,
        etag='W/"abc"',
        last_pass_completed_at=when,
        objects=350,
        pages=4,
        requests=4,
    )
    pulls = ScopeCursor(
        scope=SyncScope(
            interface="gitForge", resource_kind="PullRequest", owner="a5c-ai", repository="krate"
        ),
        next_page='{"cursor": {}}',
    )
    input = MirrorSyncStateInput(
        binding=binding_ref("http://github.test"),
        phase="Degraded",
        cursors=[issues, pulls],
        scope_errors={pulls.scope.key: "403 Resource not accessible by integration"},
        conditions=[SyncCondition(type="Ready", status="False", reason="Degraded")],
    )
    env = ActivityEnvironment()
    assert (await env.run(acts.mirror_sync_state, input)).written == 2
    issues.objects = 351
    assert (await env.run(acts.mirror_sync_state, input)).written == 2
    with session_scope(engine) as session:
        states = get_resources(session, "ExternalSyncState")
    engine.dispose()
    assert len(states) == 2
    by_kind = {s["spec"]["resourceKind"]: s for s in states}
    issue_state = by_kind["Issue"]
    assert issue_state["metadata"]["name"] == "github-krate-issuetracking-issue-a5c-ai-krate"
    assert issue_state["spec"]["scope"] == "a5c-ai/krate"
    assert issue_state["spec"]["organizationRef"] == "acme"
    assert issue_state["status"]["phase"] == "Current"
    assert issue_state["status"]["etag"] == 'W/"abc"'
    assert issue_state["status"]["highWatermark"].startswith("2026-11-28T12:00:00")
    assert issue_state["status"]["objects"] == 351
    pull_state = by_kind["PullRequest"]
    assert pull_state["status"]["phase"] == "Degraded"
    assert "not accessible" in pull_state["status"]["message"]


async def test_mirrored_binding_status_keeps_the_manifest_valid(clean_database: str) -> None:
    """Regression: the mirror wrote phase Syncing, which the binding's status model refused, so
    the ingress (which re-reads stored manifests) answered 500 during every first pass."""
    import yaml

    from resources.loader import manifest_from_dict
    from store.resources import apply_resource
    from tests.helpers.paths import SPEC_EXAMPLES

    binding = yaml.safe_load((SPEC_EXAMPLES / "binding-github-krate.yaml").read_text())
    engine = make_engine(clean_database)
    with session_scope(engine) as session:
        apply_resource(session, binding)
    ref = binding_ref("http://github.test").model_copy(
        update={"binding": binding["metadata"]["name"], "namespace": "krate-org-a5c"}
    )
    acts = SyncStateActivities(lambda: engine)
    env = ActivityEnvironment()
    for phase in ("Pending", "Syncing", "Ready", "Degraded", "RateLimited", "Paused"):
        await env.run(
            acts.mirror_sync_state,
            MirrorSyncStateInput(
                binding=ref,
                phase=phase,
                conditions=[SyncCondition(type="Ready", status="False", reason=phase)],
                rate_limited_until=datetime(2026, 11, 28, 13, 0, tzinfo=UTC),
                generation=1,
            ),
        )
        with session_scope(engine) as session:
            [stored] = get_resources(session, "ExternalBackendBinding")
        assert stored["status"]["phase"] == phase
        assert stored["status"]["observedGeneration"] == 1
        manifest_from_dict(stored)  # raises if the stored status no longer validates
    engine.dispose()
